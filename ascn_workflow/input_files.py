"""Files a person names on the command line (a nomination, a people file, an export, a scenario).

Only a regular file is read: a FIFO would block the command until something writes to it, and a
device such as /dev/zero would never end. The file is opened without blocking and checked by its
descriptor, so a path swapped for a pipe meanwhile is refused too (as `document_files.read_source`).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import BadInput, NotFound


def read_text(path: Path, what: str) -> str:
    """A regular file's UTF-8 text; NotFound when it is missing, BadInput for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise NotFound(f"{what} file {path} not found") from None
    except OSError as exc:
        raise BadInput(f"{what} file {path}: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise BadInput(f"{what} file {path} is a folder: give a file")
        raise BadInput(f"{what} file {path} is not a regular file (a pipe, a device or a socket): give a file")
    with os.fdopen(fd, "rb") as handle:
        try:
            data = handle.read()
        except OSError as exc:
            raise BadInput(f"{what} file {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{what} file {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
