"""One MIME message, as every ascn mail is shaped: text and HTML alternatives, and an optional
calendar attachment (RFC 6047).

Built with the standard library's `email.mime` classes under the `compat32` policy: the
`EmailMessage` API parses every header it is given back into a syntax tree and refolds it when
written, which cost about 2 ms a message, most of a due pass's rendering. The message is the same
on the wire. Address headers stay structural: each (name, address) pair goes through
`email.utils.formataddr`, which quotes a name with specials or encodes a non-ASCII one as a single
RFC 2047 phrase, so a display name such as `Jösé, evil@attacker.example` never reads as a second
recipient; a line break in any header value is refused outright.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Sequence
from datetime import datetime
from email import encoders
from email.charset import QP, Charset
from email.generator import Generator
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import format_datetime, formataddr


class _Wire(Compat32):
    """compat32 as SMTP carries it (CRLF, lines folded at 78), writing a short ASCII header as it
    is: the general folding runs each header through `email.header.Header`, about 0.1 ms apiece."""

    def fold(self, name: str, value: object) -> str:
        limit = self.max_line_length or 0
        if isinstance(value, str) and value.isascii() and len(name) + len(value) + 2 <= limit:
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)  # type: ignore[arg-type]


_WIRE = _Wire(linesep="\r\n", max_line_length=78)
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in the raw message, and 7-bit clean for any relay


_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


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
    return f"{Header(name, 'utf-8', header_name='To').encode(linesep='')} <{email}>"


def _addresses(people: Sequence[tuple[str, str]]) -> str:
    return ", ".join(_address(name, email) for name, email in people)


def _text(name: str, value: str) -> Header | str:
    """An unstructured header; a non-ASCII one as RFC 2047 words, folded to fit after its name."""
    return value if value.isascii() else Header(value, "utf-8", header_name=name)  # base64 words: QP's are slow to size


def _part(body: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(body, _UTF8)
    del part["MIME-Version"]  # said once, on the message itself
    return part


def _boundary(message_id: str, part: str) -> str:
    """A boundary that cannot occur in the parts: they are all quoted-printable or base64, and
    neither ever writes `=_` (QP follows `=` with two hex digits; base64 has no `_`). The general
    generator instead checks a random boundary against the whole text with a fresh regex."""
    return f"=_ascn_{part}_{hashlib.sha256(message_id.encode()).hexdigest()[:24]}"


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
    body = MIMEMultipart(
        "alternative", boundary=_boundary(message_id, "alt"), _subparts=[_part(text, "plain"), _part(html, "html")]
    )
    if calendar is not None:
        filename, ics = calendar
        attachment = MIMEBase("text", "calendar", method="PUBLISH", charset="utf-8")
        del attachment["MIME-Version"]
        attachment.set_payload(ics)
        encoders.encode_base64(attachment)
        attachment.add_header("Content-Disposition", "attachment", filename=filename)
        del body["MIME-Version"]
        msg = MIMEMultipart("mixed", boundary=_boundary(message_id, "mix"), _subparts=[body, attachment])
    else:
        msg = body
    msg["From"] = _addresses([sender])
    msg["To"] = _addresses(to)
    if cc:
        msg["Cc"] = _addresses(cc)
    msg["Subject"] = _text("Subject", _clean(subject))  # type: ignore[assignment]  # compat32 takes a Header
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _clean(message_id)
    out = io.StringIO()
    Generator(out, mangle_from_=False, policy=_WIRE).flatten(msg)
    return out.getvalue()
