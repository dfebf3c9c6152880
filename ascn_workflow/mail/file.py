"""The embedded default: one `.eml` file per message in the outbox folder; no server needed."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path


def file_name(message_id: str) -> str:
    """The file a message lands in; a resend of the same Message-ID overwrites, never duplicates."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>")) + ".eml"


TEMP_PREFIX = ".ascn-"
TEMP_SUFFIX = ".tmp"
STALE_SECONDS = 3600  # a temporary file this old belongs to no writer still running


class FileMailer:
    idempotent = True  # a resend of a Message-ID overwrites its file (`file_name`)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._swept_at: float | None = None  # time.monotonic() of the last sweep

    def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
        """Write to a temporary file, then rename it into place: a reader never sees half a message,
        and a failed write (a full disk) removes its temporary file instead of leaving it behind."""
        from . import MailError

        tmp: str | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._sweep()
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.folder / file_name(message_id))
            tmp = None
        except OSError as exc:
            raise MailError(f"cannot write to {self.folder}: {exc.strerror or exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return None

    def close(self) -> None:
        """Nothing is kept open between messages."""

    def _sweep(self) -> None:
        """Temporary files left by a process killed mid-write (kill -9, power loss): at the first
        send, then at most once an hour (a scheduler keeps its mailer for months).

        Only old ones: the portal's workers and the scheduler write to the same folder, and a
        younger file (even an empty one, just created) may be another writer's message in flight."""
        if self._swept_at is not None and time.monotonic() - self._swept_at < STALE_SECONDS:
            return
        self._swept_at = time.monotonic()
        cutoff = time.time() - STALE_SECONDS
        for old in self.folder.glob(f"*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                if old.stat().st_mtime < cutoff:
                    old.unlink()
