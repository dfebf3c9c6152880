"""The one MIME composer every ascn mail goes through (mail/compose.py), read back by the
standard library's modern parser (`policy.default`), not by the compat32 code that wrote it."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage

import pytest

from ascn_workflow.mail.compose import compose

NOW = datetime(2018, 2, 14, 4, 0, tzinfo=UTC)
ICS = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nMETHOD:PUBLISH\r\nEND:VCALENDAR\r\n"


def _compose(**changes: object) -> str:
    fields: dict[str, object] = {
        "message_id": "<reminder.2018.nomination.th@ascn-workflow>",
        "sender": ("ASCN Secretariat", "asec@asean.example"),
        "now": NOW,
        "subject": "[ASCN] Reminder: 2018/nomination/th — Nomination — due 2018-02-28",
        "to": [("Somchai Jaidee", "nr@th.example")],
        "text": "Dear Somchai,\nthe nomination is due on 28 February — 14 days from today.\n",
        "html": '<!DOCTYPE html><html lang="en"><body><p>Dear Somchai — due soon</p></body></html>',
        "calendar": ("deadline.ics", ICS),
    }
    fields.update(changes)
    return compose(**fields)  # type: ignore[arg-type]


def _parse(raw: str) -> EmailMessage:
    message = email.message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_the_message_reads_back_whole_with_its_text_html_and_calendar() -> None:
    raw = _compose()
    message = _parse(raw)
    assert message.defects == [] and all(part.defects == [] for part in message.walk())
    assert [p.get_content_type() for p in message.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
    ]
    assert message["Subject"] == "[ASCN] Reminder: 2018/nomination/th — Nomination — due 2018-02-28"
    assert message["Message-ID"] == "<reminder.2018.nomination.th@ascn-workflow>"
    assert message["Date"].datetime == NOW
    text = message.get_body(("plain",))
    assert text is not None and "14 days from today" in text.get_content()
    calendar = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    assert calendar.get_param("method") == "PUBLISH" and calendar.get_filename() == "deadline.ics"
    assert calendar.get_content().encode() == ICS
    assert raw.count("MIME-Version") == 1


def test_a_long_message_id_stays_on_its_header_line() -> None:
    long_id = "<date-changed.1527472800.19c34871cf01.csco=yangon.example.org@ascn-workflow>"
    raw = _compose(message_id=long_id)
    assert f"\r\nMessage-ID: {long_id}\r\n" in raw
    assert _parse(raw)["Message-ID"] == long_id


def test_every_line_is_short_seven_bit_and_ends_in_crlf() -> None:
    raw = _compose(to=[("Nguyễn Thị Minh Khai, Ủy ban Nhân dân Thành phố Hồ Chí Minh", "cs@vn.example")])
    assert raw.isascii()
    lines = raw.split("\r\n")
    assert "\n" not in "".join(lines) and "\r" not in "".join(lines)
    assert max(len(line) for line in lines) <= 78
    for word in (w for line in lines for w in line.split() if w.startswith("=?")):
        assert len(word) <= 75, word  # RFC 2047 §2: an encoded-word is at most 75 characters


def test_a_display_name_with_specials_stays_one_recipient() -> None:
    for name in ("Jösé, evil@attacker.example", 'Smith, "Bob" <evil@attacker.example>', "a;b:c@d"):
        message = _parse(_compose(to=[(name, "nr@th.example")], cc=[("ASEC", "asec@asean.example")]))
        assert [(a.display_name, a.addr_spec) for a in message["To"].addresses] == [(name, "nr@th.example")]
        assert [a.addr_spec for a in message["Cc"].addresses] == ["asec@asean.example"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Reminder\r\nBcc: everyone@example.org"),
        ("to", [("Somchai\nBcc: everyone@example.org", "nr@th.example")]),
        ("to", [("Old\vRecord", "nr@th.example")]),
        ("message_id", "<a@b>\r\nX-Injected: 1"),
    ],
)
def test_a_line_break_or_control_character_in_a_header_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValueError, match="control character"):
        _compose(**{field: value})


def test_a_non_ascii_address_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="non-ASCII address"):
        _compose(to=[("Nö", "nö@th.example")])


def test_without_a_calendar_the_message_is_the_two_alternatives() -> None:
    message = _parse(_compose(calendar=None))
    assert [p.get_content_type() for p in message.walk()] == ["multipart/alternative", "text/plain", "text/html"]


def test_the_boundaries_never_occur_in_the_parts() -> None:
    """The composer names its own boundaries (=_ascn_…); parts are QP or base64, which never write `=_`."""
    hostile = "--=_ascn_alt_ and =_ascn_mix_ and =_ =_=_ ==__\n" * 40
    raw = _compose(text=hostile, html=f"<p>{hostile}</p>")
    message = _parse(raw)
    text = message.get_body(("plain",))
    assert text is not None and text.get_content().replace("\r\n", "\n") == hostile
    boundaries = {p.get_boundary() for p in message.walk() if p.is_multipart()}
    for boundary in boundaries:
        assert boundary is not None
        assert raw.count(f"--{boundary}\r\n") + raw.count(f"--{boundary}--") == raw.count(f"--{boundary}")


_PHRASES = [
    "[ASCN] Reminder: 2018/nomination/th — Nomination — due 2018-02-28",
    "Nguyễn Thị Minh Khai, Ủy ban Nhân dân Thành phố Hồ Chí Minh",
    "é",
    "เมืองอัจฉริยะ" * 12,
    "😀" * 40,
    "Jösé, evil@attacker.example",
    '"quoted" =?utf-8?b?bm90IGEgd29yZA==?= and ?= specials, é',  # a look-alike word stays text
]


@pytest.mark.parametrize("pad", range(4))
@pytest.mark.parametrize("phrase", _PHRASES)
def test_non_ascii_subjects_and_names_are_encoded_words_read_back_whole(phrase: str, pad: int) -> None:
    """Encoded by hand (`_encoded_words`): read back whole by the modern parser, each word whole
    characters and at most 75 long, every line at most 78; read back by email.header's decoder too."""
    from email.header import decode_header, make_header

    value = "x" * pad + phrase
    raw = _compose(subject=value, to=[(value, "nr@th.example")])
    message = _parse(raw)
    assert message["Subject"] == value
    [to] = message["To"].addresses
    assert to.addr_spec == "nr@th.example"
    # The modern parser puts a space between two adjacent encoded words of a display name, which
    # RFC 2047 §6.2 says a reader drops (as email.header's decoder does, below); so did the
    # words email.header wrote here before.
    assert to.display_name.replace(" ", "") == value.replace(" ", "")
    head = raw.split("\r\n\r\n", 1)[0]
    to_value = head.split("\r\nTo: ", 1)[1].split("\r\nSubject:", 1)[0].replace("\r\n ", " ")
    assert str(make_header(decode_header(to_value.removesuffix(" <nr@th.example>")))) == value
    assert max(len(line) for line in head.split("\r\n")) <= 78
    for word in (w for line in head.split("\r\n") for w in line.split() if w.startswith("=?")):
        assert len(word) <= 75, word
        [(octets, charset)] = decode_header(word.rstrip(">").strip())
        assert charset == "utf-8" and isinstance(octets, bytes)
        octets.decode("utf-8")  # whole characters in each word (RFC 2047 §5)
    subject = head.split("\r\nSubject: ", 1)[1].split("\r\nDate:", 1)[0].replace("\r\n ", " ")
    assert str(make_header(decode_header(subject))) == value
