"""One MIME message, as every ascn mail is shaped: text and HTML alternatives, and an optional
calendar attachment (RFC 6047).

The message is assembled here from parts the standard library encodes: address headers by
`email.utils.formataddr` (a name with specials quoted), ASCII header folding by the `compat32`
policy, bodies by `binascii` (quoted-printable) and `base64`. Written here: the multipart frame,
with boundaries no encoded part can contain, and a non-ASCII subject or name as RFC 2047 words
(`_encoded_words`, the words `email.header.Header` writes). Why not `EmailMessage`, or
`email.mime` and its generator: they produce the same message, in 3 ms and 1 ms; this takes
about 0.1 ms, and a due pass renders one message per reminder (docs/performance.md). Tests read
every message back with the modern parser (`policy.default`).

A display name such as `Jösé, evil@attacker.example` never reads as a second recipient, and a
line break or any other control character in a header value is refused outright.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from email.policy import Compat32
from email.utils import format_datetime, formataddr
from functools import lru_cache

CRLF = "\r\n"
_WIRE = Compat32(linesep=CRLF, max_line_length=78)  # folds a header as SMTP carries it
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_LINE = 78  # characters on a header line (RFC 5322 §2.1.1)
_WORD = 75  # characters in an encoded word (RFC 2047 §2)
_WORD_FRAME = "=?utf-8?b??="


def _clean(value: str) -> str:
    """A header value as it is given, or refused: a line break would start a header of its own."""
    if _CONTROLS.search(value):
        raise ValueError(f"a control character in a mail header: {value!r}")
    return value


def _address(name: str, email: str) -> str:
    """`Name <address>`: an ASCII name quoted where it holds specials (`formataddr`), any other
    as RFC 2047 words (several, each short enough to fold; together one phrase)."""
    if not email.isascii():  # SMTPUTF8 is not assumed of every relay on the way
        raise ValueError(f"a non-ASCII address cannot be carried by SMTP: {email!r}")
    _clean(name)
    _clean(email)
    if not name or name.isascii():
        return formataddr((name, email))
    return f"{' '.join(_encoded_words(name, len('To: ')))} <{email}>"


def _addresses(people: Sequence[tuple[str, str]]) -> str:
    return ", ".join(_address(name, email) for name, email in people)


@lru_cache(maxsize=1024)
def _header(name: str, value: str) -> str:
    """`Name: value` CRLF, folded at 78; a non-ASCII value as RFC 2047 words. Cached: one
    deliverable's recipients share a subject, and every message its sender."""
    unfoldable = " " not in value and len(value) <= 990  # a Message-ID: a fold could only put it on a line alone
    if value.isascii() and (len(name) + len(value) + 2 <= 78 or unfoldable):
        return f"{name}: {value}{CRLF}"
    if value.isascii():
        return _WIRE.fold(name, value)
    return f"{name}: {f'{CRLF} '.join(_encoded_words(value, len(name) + 2))}{CRLF}"


def _encoded_words(value: str, taken: int) -> list[str]:
    """`value` as RFC 2047 "B" words in UTF-8, each at most 75 characters and whole characters
    (§2, §5), the first fitting a 78-character line after the `taken` characters before it, the
    others a line each after the folding space. Together one phrase: a reader drops the white
    space between adjacent words (§6.2). What `email.header.Header` writes, in a tenth of the time.
    """
    data = value.encode("utf-8")
    words: list[str] = []
    start, room = 0, min(_WORD, _LINE - taken)
    while start < len(data):
        end = min(start + (room - len(_WORD_FRAME)) // 4 * 3, len(data))  # base64: 4 characters per 3 octets
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never inside a UTF-8 sequence
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start, room = end, min(_WORD, _LINE - 1)
    return words


def _boundary(message_id: str, part: str) -> str:
    """A boundary that cannot occur in the parts: they are all quoted-printable or base64, and
    neither ever writes `=_` (QP follows `=` with two hex digits; base64 has no `_`)."""
    return f"=_ascn_{part}_{hashlib.sha256(message_id.encode()).hexdigest()[:24]}"


def _text_part(body: str, subtype: str) -> str:
    """A UTF-8 text part, quoted-printable: readable in the raw message, 7-bit clean for any relay."""
    lines = body.replace("\r\n", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(lines, istext=True).decode("ascii").replace("\n", CRLF)
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{encoded}"
    )


def _calendar_part(filename: str, ics: bytes) -> str:
    """The .ics as an iTIP PUBLISH attachment (RFC 6047 §2.4: the part names the method too)."""
    encoded = base64.encodebytes(ics).decode("ascii").replace("\n", CRLF)
    disposition = _header("Content-Disposition", f'attachment; filename="{_clean(filename)}"')
    return (
        f'Content-Type: text/calendar; charset="utf-8"; method="PUBLISH"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{disposition}{CRLF}{encoded}"
    )


def _multipart_type(subtype: str, boundary: str) -> str:
    """The Content-Type header of a multipart, folded before its boundary when the line would
    pass 78 characters, as the `compat32` policy folds it (each boundary is new: no cache helps)."""
    line = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(line) <= _LINE:
        return f"{line}{CRLF}"
    return f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}'


def _multipart(boundary: str, parts: Sequence[str]) -> str:
    """The parts between their boundary lines (RFC 2046 §5.1.1)."""
    framed = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return f"{framed}--{boundary}--{CRLF}"


def compose(
    *,
    message_id: str,
    sender: tuple[str, str],
    now: datetime,
    subject: str,
    to: Sequence[tuple[str, str]],
    cc: Sequence[tuple[str, str]] = (),
    text: str,
    html: str,
    calendar: tuple[str, bytes] | None = None,
) -> str:
    """The message as it is sent (CRLF line ends). `sender`, `to` and `cc` are (name, address)
    pairs; `calendar` is (file name, the .ics bytes), attached as an iTIP PUBLISH."""
    alternative = _boundary(message_id, "alt")
    body = _multipart(alternative, [_text_part(text, "plain"), _text_part(html, "html")])
    content_type = _multipart_type("alternative", alternative)
    if calendar is not None:
        mixed = _boundary(message_id, "mix")
        inner = f"{content_type}{CRLF}{body}"
        body = _multipart(mixed, [inner, _calendar_part(*calendar)])
        content_type = _multipart_type("mixed", mixed)
    headers = [
        _header("From", _addresses([sender])),
        _header("To", _addresses(to)),
        _header("Cc", _addresses(cc)) if cc else "",
        _header("Subject", _clean(subject)),
        _header("Date", format_datetime(now)),
        _header("Message-ID", _clean(message_id)),
        _header("MIME-Version", "1.0"),
        content_type,
    ]
    return f"{''.join(headers)}{CRLF}{body}"
