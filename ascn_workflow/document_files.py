"""Document versions on disk, content-addressed: a file's name is the SHA-256 of its bytes.

A version is written once (to a temporary name, then linked into place, so a reader never sees
half a file) and never overwritten: adding the same bytes again finds the same file. The folder is
`[documents] dir` of the config; the database keeps the metadata (see `services.document_add`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from .errors import BadInput, Conflict, NotFound

MAX_BYTES = 200 * 1024 * 1024
INCOMING = ".incoming-"  # a version being written: linked into place, then removed
STALE_SECONDS = 3600  # an incoming file this old belongs to no writer still running


def path_of(folder: Path, sha256: str) -> Path:
    return folder / sha256[:2] / sha256


def read_source(source: Path) -> bytes:
    """The bytes of a regular, non-empty file (a FIFO, a device or a folder is refused, never read)."""
    try:
        if not stat.S_ISREG(source.stat().st_mode):
            kind = "a folder" if source.is_dir() else "not a regular file (a pipe, a device or a socket)"
            raise BadInput(f"{source} is {kind}: give a document file")
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # swapped for a pipe meanwhile: no hang
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise BadInput(f"{source} is not a regular file: give a document file")
            if info.st_size > MAX_BYTES:
                raise BadInput(f"{source} is larger than {MAX_BYTES // (1024 * 1024)} MB")
            content = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise NotFound(f"document file {source} not found") from None
    except PermissionError as exc:
        raise BadInput(f"document file {source}: {exc.strerror}") from None
    if not content:
        raise BadInput(f"{source} is empty: a document version needs some bytes")
    if len(content) > MAX_BYTES:
        raise BadInput(f"{source} is larger than {MAX_BYTES // (1024 * 1024)} MB")
    return content


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def store(folder: Path, content: bytes) -> tuple[str, bool]:
    """(the SHA-256, whether the file was new). An existing file is checked, never replaced."""
    sha = digest(content)
    target = path_of(folder, sha)
    if target.exists():
        if digest(target.read_bytes()) != sha:
            raise Conflict(f"{target} does not hold the bytes its name says: the document folder was altered")
        return sha, False
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(folder)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=INCOMING)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o444)
        try:
            os.link(temp, target)  # fails if another process put it there first: never overwritten
        except FileExistsError:
            return sha, False
    finally:
        os.unlink(temp)
    return sha, True


def _sweep(folder: Path) -> None:
    """Incoming files left by a writer killed mid-write (kill -9, power loss); only hour-old ones,
    as a younger one may be another process's version in flight (CLI and portal share the folder)."""
    cutoff = time.time() - STALE_SECONDS
    for old in folder.glob(f"*/{INCOMING}*"):
        with suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
