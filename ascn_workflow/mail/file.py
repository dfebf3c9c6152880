"""The embedded default: one `.eml` file per message in the outbox folder; no server needed."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path


def file_name(message_id: str) -> str:
    """The file a message lands in; a resend of the same Message-ID overwrites, never duplicates."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>")) + ".eml"


class FileMailer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
        from . import MailError

        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            os.replace(tmp, self.folder / file_name(message_id))
        except OSError as exc:
            raise MailError(f"cannot write to {self.folder}: {exc}") from exc
        return None
