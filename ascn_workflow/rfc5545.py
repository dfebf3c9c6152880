"""RFC 5545 content lines, written by hand: the few value types ascn's calendars use.

What is written here, and where the RFC says so:
- TEXT escaped (§3.3.11): backslash, semicolon and comma preceded by a backslash, a line break
  (CRLF, LF or a lone CR) written as `\\n`; any other control character but HTAB is refused, as
  TEXT cannot carry it.
- a parameter value (§3.2) always in DQUOTEs, which any value may be and a value holding `:`, `;`
  or `,` must be; a DQUOTE or a control character in it is refused (no form carries them).
- DATE-TIME in UTC (`…Z`) or in local time for a `TZID` parameter, and DATE (§3.3.4, §3.3.5),
  to the second.
- each content line folded (§3.1) so that no physical line is longer than 75 octets: a fold
  never splits a UTF-8 sequence, nor a backslash from the character it escapes (some clients
  unfold badly there); lines end in CRLF.

Why not icalendar, which wrote these before: building and serialising its component objects
took about 0.3–0.8 ms per calendar file, and the due pass attaches one to every reminder
(docs/performance.md). A zone's VTIMEZONE is still icalendar's, built once per process
(`calendar_feed`). tests/test_rfc5545.py reads what this writes with vobject and with
icalendar's parser and holds it to what icalendar wrote.
"""

from __future__ import annotations

import re
from datetime import date, datetime

CRLF = "\r\n"
LIMIT = 75  # octets on a physical line, without its CRLF (§3.1)

_BREAKS = re.compile(r"\r\n|\r|\n")
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f]")  # controls but HTAB, LF, CR
_NOT_PARAM = re.compile(r'["\x00-\x08\x0a-\x1f\x7f]')  # QSAFE-CHAR excludes DQUOTE and controls
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_BACKSLASH = 0x5C


def text(value: str) -> str:
    """A TEXT value, escaped (§3.3.11)."""
    if _NOT_TEXT.search(value):
        raise ValueError(f"a control character cannot be written in a calendar's text: {value!r}")
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _BREAKS.sub("\\\\n", escaped) if "\n" in escaped or "\r" in escaped else escaped


def param(value: str) -> str:
    """A parameter value, quoted (§3.2: `quoted-string`, which may hold `:`, `;` and `,`)."""
    if _NOT_PARAM.search(value):
        raise ValueError(f"a DQUOTE or a control character cannot be written in a calendar parameter: {value!r}")
    return f'"{value}"'


def uri(value: str) -> str:
    """A URI value (`mailto:…`) as it is: no escaping applies (§3.3.13), but a line break would
    end the content line."""
    if _CONTROLS.search(value):
        raise ValueError(f"a control character cannot be written in a calendar address: {value!r}")
    return value


def utc(moment: datetime) -> str:
    """DATE-TIME in UTC, `19980119T070000Z` (§3.3.5 form #2); `moment` is aware and in UTC."""
    return f"{moment:%Y%m%dT%H%M%S}Z"


def local(moment: datetime) -> str:
    """DATE-TIME as the wall clock shows it, for a `TZID` parameter (§3.3.5 form #3)."""
    return f"{moment:%Y%m%dT%H%M%S}"


def day(value: date) -> str:
    """DATE, `19970714` (§3.3.4)."""
    return f"{value:%Y%m%d}"


def fold(line: str) -> bytes:
    """One content line as octets, folded at `LIMIT` and ended by CRLF (§3.1)."""
    data = line.encode("utf-8")
    if len(data) <= LIMIT:
        return data + b"\r\n"
    pieces: list[bytes] = []
    start, room, end = 0, LIMIT, len(data)
    while end - start > room:
        cut = start + room
        while data[cut] & 0xC0 == 0x80:  # a continuation octet: back to its sequence's first
            cut -= 1
        run = cut  # a backslash ending the piece that begins an escape goes to the next one
        while run > start and data[run - 1] == _BACKSLASH:
            run -= 1
        if (cut - run) % 2:
            cut -= 1
        pieces.append(data[start:cut])
        start, room = cut, LIMIT - 1  # each further line begins with the folding space
    pieces.append(data[start:])
    return b"\r\n ".join(pieces) + b"\r\n"
