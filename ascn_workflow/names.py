"""Names and e-mail addresses as they may enter the system, checked once for every boundary.

`people add`, `people import`, nomination files, scenario steps, `ascn import` and the config's
sender all go through these two functions, so a record that could not be put in a mail header
never reaches the database (issue 16, item 1). Pure: no I/O.

Addresses are RFC 5321/5322 `dot-atom@domain` in ASCII. Internationalised addresses (RFC 6531,
SMTPUTF8) are refused with a message saying so: not every relay on the way to a ministry accepts
them, and a message that one relay refuses would sit in the outbox for good.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import BadInput

MAX_NAME = 200
MAX_ADDRESS = 254  # RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets
MAX_LOCAL = 64  # RFC 5321 §4.5.3.1.1
MAX_LABEL = 63  # RFC 1035 §2.3.4
# Unicode categories no name may hold: controls (\v, \f, \x1c-\x1e, …), format characters (bidi
# overrides, zero-width joiners), line and paragraph separators, surrogates, private use, unassigned.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"^{_ATEXT}(?:\.{_ATEXT})*$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def forbidden_character(text: str) -> str | None:
    """The first character no name or address may hold, as `U+000B`, or None."""
    for ch in text:
        if unicodedata.category(ch) in FORBIDDEN_CATEGORIES:
            return f"U+{ord(ch):04X}"
    return None


def check_name(value: Any, where: str, limit: int = MAX_NAME) -> str:
    """A person's or city's name, a title: printable text of sane length, NFC-normalised."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{where}: a name is required")
    bad = forbidden_character(value)
    if bad is not None:
        raise BadInput(f"{where}: {value!r} contains a line break, control or invisible character ({bad})")
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise BadInput(f"{where}: the name is {len(text)} characters long; at most {limit}")
    return text


def check_email(value: Any, where: str) -> str:
    """An addr-spec safe in any mail header: ASCII `local@domain`, lowercased."""
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{where}: an e-mail address is required")
    bad = forbidden_character(value)
    if bad is not None:
        raise BadInput(
            f"{where}: {value!r} is not a valid e-mail address: it contains a line break, control or invisible character ({bad})"
        )
    text = value.strip()
    if not text.isascii():
        raise BadInput(
            f"{where}: {value!r} is not a valid e-mail address here: not ASCII; internationalised addresses (SMTPUTF8) "
            "are not supported: give the person's ASCII address"
        )
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise BadInput(f"{where}: {value!r} is not an e-mail address (expected name@domain)")
    if len(text) > MAX_ADDRESS or len(local) > MAX_LOCAL:
        raise BadInput(f"{where}: {value!r} is too long for an e-mail address (RFC 5321)")
    if not _LOCAL.match(local):
        raise BadInput(f"{where}: {value!r} is not a valid e-mail address: bad part before the @")
    labels = domain.split(".")
    if len(labels) < 2 or not all(len(label) <= MAX_LABEL and _LABEL.match(label) for label in labels):
        raise BadInput(f"{where}: {value!r} is not a valid e-mail address: bad domain {domain!r}")
    return text.lower()


MAX_TEXT = 2000
_TEXT_ALLOWED = frozenset("\n\t")  # a note may run over several lines; nothing else invisible


def check_text(value: str, where: str, *, multiline: bool = False, limit: int = MAX_TEXT) -> str:
    """A note or a reason: free text, but no terminal escapes or other control characters.

    Notes and reasons are printed by `history`, `show` and `calendar history` and put in mail; an
    ESC or BEL in them would drive the reader's terminal (retitle it, clear it). A note may hold
    line breaks and tabs; a reason is one line, as the tables that list it expect.
    """
    if not (value.isascii() and value.isprintable()):  # printable ASCII holds none of them
        allowed = _TEXT_ALLOWED if multiline else frozenset()
        for ch in value:
            if ch not in allowed and unicodedata.category(ch) in FORBIDDEN_CATEGORIES:
                kind = "a line break" if ch in "\n\r" else "a control or invisible character"
                raise BadInput(f"{where}: the text contains {kind} (U+{ord(ch):04X}); write it as plain text")
    text = unicodedata.normalize("NFC", value.strip())
    if len(text) > limit:
        raise BadInput(f"{where}: the text is {len(text)} characters long; at most {limit}")
    return text


# Fields that hold structured data only commands build: a text typed by a person would not be one.
STRUCTURED_DATA = {
    "cities": "a nomination's cities come from its file: use `ascn nominate XX --file FILE`",
    "national_representative": "a nomination's NR comes from its file: use `ascn nominate XX --file FILE`",
    "member_state": "the member state is the deliverable's own",
    "projects": "a progress review records the city's projects itself",
}
MAX_DATA_KEY = 64


def check_data(data: Mapping[str, Any], where: str = "--data") -> dict[str, str]:
    """Fields a person types (`--data KEY=VALUE`, the portal's forms): each one line of plain text.

    They are stored in the deliverable's data and printed by `history`, the portal and the annual
    report like a reason, so they get a reason's checks; the fields only commands fill are refused
    here for every channel, not only the command line.
    """
    checked = {}
    for key, value in data.items():
        name = check_text(str(key), f"{where} {key!r}", limit=MAX_DATA_KEY)
        if not name:
            raise BadInput(f"{where}: a field needs a name (KEY=VALUE)")
        if name in STRUCTURED_DATA:
            raise BadInput(f"{where} {name}: {STRUCTURED_DATA[name]}")
        if not isinstance(value, str):
            raise BadInput(f"{where} {name}: the value must be text")
        checked[name] = check_text(value, f"{where} {name}")
    return checked
