"""What a tester sent the portal over HTTP (uvicorn on loopback, httpx, both backends).

The portal must refuse what the command line refuses, with a 4xx page and nothing stored: fields
only commands fill (`cities`, `national_representative`, `member_state`), typed values a note or
a reason could not hold (a NUL reached PostgreSQL's jsonb and ended in a 500), a form token that is
not ASCII (a 500 before any sign-in), a cycle in other digits.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from ascn_workflow.dates import parse_instant

from .conftest import ASEC, CHAIR, NR, PEOPLE, Ascn, join
from .portal import Clock, Portal, free_port

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def site(ready: Ascn) -> Iterator[Portal]:
    join(ready, "VN", ["Ha Noi", "Da Nang"], nr=NR["VN"])
    portal = Portal(ready, Clock(parse_instant("2018-03-05T10:00+08:00")), free_port())
    portal.start()
    yield portal
    portal.stop()


@contextmanager
def signed_in(portal: Portal, address: str) -> Iterator[httpx.Client]:
    """A client signed in through the mailed link, as a person would."""
    with httpx.Client(base_url=portal.url) as client:
        yield _sign_in(client, portal, address)


def _sign_in(client: httpx.Client, portal: Portal, address: str) -> httpx.Client:
    csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
    assert client.post("/signin", data={"email": address, "csrf": csrf}).status_code == 200
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(portal.outbox().glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]
    text = [m for m in mails if address in str(m["To"])][-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"/signin/[A-Za-z0-9_-]+", text).group(0)  # type: ignore[union-attr]
    csrf = CSRF.search(client.get(link).text).group(1)  # type: ignore[union-attr]
    assert client.post(link, data={"csrf": csrf}).status_code == 303
    return client


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"data_partner": "Ja\x00pan"}, "U+0000"),
        ({"data_partner": "Ja\x1b[2Jpan"}, "U+001B"),
        ({"data_partner": "Japan", "data_cities": "x"}, "nominate"),
        ({"data_partner": "Japan", "data_member_state": "TH"}, "member state"),
        ({"data_partner": "Japan", "data_national_representative": "me"}, "nominate"),
    ],
    ids=["nul", "esc", "cities", "member_state", "national_representative"],
)
def test_typed_fields_are_checked_as_on_the_command_line(site: Portal, fields: dict[str, str], needle: str) -> None:
    deliverable = "2018/twinning/da-nang"
    before = site.ascn.json("show", deliverable)
    with signed_in(site, ASEC) as client:
        page = client.get(f"/deliverables/{deliverable}")
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        refused = client.post(f"/deliverables/{deliverable}/advance", data={"csrf": csrf, "trigger": "match", **fields})
        assert refused.status_code == 400, refused.text
        assert needle in refused.text
        assert site.ascn.json("show", deliverable) == before
        done = client.post(
            f"/deliverables/{deliverable}/advance", data={"csrf": csrf, "trigger": "match", "data_partner": "Japan"}
        )
        assert done.status_code == 303
    assert site.ascn.json("history", deliverable)[-1]["data"] == {"partner": "Japan"}


def test_a_form_token_that_is_not_ascii_is_refused_not_a_crash(site: Portal) -> None:
    body = b"csrf=%ff%fe&email=x%40y.example&trigger=circulate"
    form = {"content-type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=site.url) as client:  # signed out: the sign-in form's token
        client.get("/")
        assert client.post("/signin", content=body, headers=form).status_code == 403
    with signed_in(site, ASEC) as client:  # signed in: the session's token
        for path in ("/signout", "/deliverables/2018/framework/advance"):
            assert client.post(path, content=body, headers=form).status_code == 403, path
        assert "My work" in client.get("/").text
    assert site.ascn.json("history", "2018/framework") == []


def test_a_cycle_in_other_digits_is_a_bad_request(site: Portal) -> None:
    with signed_in(site, ASEC) as client:
        assert client.get("/status?cycle=%C2%B2").status_code == 400
        assert client.get("/status?cycle=2018").status_code == 200


def test_a_cycles_chair_opens_its_network_deliverables_and_a_past_chair_does_not(ready: Ascn) -> None:
    """Thailand's NR chairs 2019 (`engine.in_cycle`): 'My work' listed 2019/annual-meeting, but its
    page answered 403, so the Chair could not convene the meeting on the web. The 2018 Chair's
    `chair` grant (Singapore) counts in 2018 only, so it sees nothing of 2019."""
    ready.ok("cycle", "open", "2019", actor=ASEC, now="2019-01-10T09:00+07:00")
    portal = Portal(ready, Clock(parse_instant("2019-03-06T10:00+07:00")), free_port())
    portal.start()
    try:
        with signed_in(portal, NR["TH"]) as client:
            assert 'href="/deliverables/2019/annual-meeting"' in client.get("/").text
            page = client.get("/deliverables/2019/annual-meeting")
            assert page.status_code == 200 and "Convene" in page.text
            csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
            done = client.post("/deliverables/2019/annual-meeting/advance", data={"csrf": csrf, "trigger": "convene"})
            assert done.status_code == 303
            assert client.get("/deliverables/2018/nomination/vn").status_code == 403
        with signed_in(portal, CHAIR) as client:
            assert client.get("/deliverables/2018/framework").status_code == 200
            assert client.get("/deliverables/2019/annual-meeting").status_code == 403
            assert client.get("/deliverables/2019/annual-report").status_code == 403
    finally:
        portal.stop()
    history = ready.json("history", "2019/annual-meeting")
    assert [(h["trigger"], h["actor"], h["role"], h["channel"]) for h in history] == [
        ("convene", NR["TH"], "chair", "web")
    ]


def _signin_via(client: httpx.Client, portal: Portal, address: str, start: str) -> httpx.Response:
    """Sign in from the page `start` redirects to, carrying its `next` as a person's browser would."""
    form = client.get(start)
    csrf = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
    nexts = re.findall(r'name="next" value="([^"]*)"', form.text)
    data = {"email": address, "csrf": csrf, **({"next": nexts[0]} if nexts else {})}
    assert client.post("/signin", data=data).status_code == 200
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(portal.outbox().glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]
    text = [m for m in mails if address in str(m["To"])][-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://\S+/signin/[A-Za-z0-9_-]+(?:\?next=\S+)?", text).group(0)  # type: ignore[union-attr]
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]  # the portal under test, whatever base_url says
    confirm = client.get(path)
    csrf = CSRF.search(confirm.text).group(1)  # type: ignore[union-attr]
    nexts = re.findall(r'name="next" value="([^"]*)"', confirm.text)
    return client.post(path.split("?")[0], data={"csrf": csrf, **({"next": nexts[0]} if nexts else {})})


def test_signing_in_from_a_mailed_deliverable_link_returns_to_that_page(site: Portal) -> None:
    """A reminder links to /deliverables/<id>; signed out, the portal sent the person to the
    sign-in form with ?next=… and then dropped it, landing them on 'My work'."""
    with httpx.Client(base_url=site.url) as client:
        first = client.get("/deliverables/2018/nomination/th")
        assert first.status_code == 303 and first.headers["location"] == "/?next=/deliverables/2018/nomination/th"
        signed = _signin_via(client, site, NR["TH"], first.headers["location"])
        assert signed.status_code == 303 and signed.headers["location"] == "/deliverables/2018/nomination/th"
        assert client.get(signed.headers["location"]).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/deliverables/x?a=b",
        "javascript:alert(1)",
    ],
)
def test_next_never_leads_off_the_portal(site: Portal, target: str) -> None:
    with httpx.Client(base_url=site.url) as client:
        signed = _signin_via(client, site, NR["TH"], "/?next=" + quote(target, safe=""))
        assert signed.status_code == 303 and signed.headers["location"] == "/"


def test_the_chairing_states_nr_is_offered_the_waiver_as_the_engine_allows_it(ascn: Ascn) -> None:
    """With no explicit Chair in the directory, Singapore's NR acts as Chair in 2018 and may waive a
    rule (the CLI accepts it); the page offered the waiver only to a person holding a `chair`
    grant, so on the web that Chair could not."""
    ascn.ok("init")
    people = f'[[people]]\nemail = "{ASEC}"\nname = "ASEC"\nrole = "asec"\n'
    ascn.ok("people", "import", ascn.file("people.toml", people))
    join(ascn, "SG", ["Singapore"], nr=NR["SG"], actor=ASEC)
    join(ascn, "TH", ["Bangkok"], nr=NR["TH"], actor=ASEC)
    for state, city in (("SG", "singapore"), ("TH", "bangkok")):
        plan = f"2018/action-plan/{city}"
        ascn.ok("advance", plan, "start", actor=f"csco@{city}.example", now="2018-05-22T10:00+08:00")
        ascn.ok("advance", plan, "send_to_nr", actor=f"csco@{city}.example", now="2018-05-23T10:00+08:00")
        ascn.ok("advance", plan, "approve", actor=NR[state], now="2018-05-24T10:00+08:00")
    plan = "2018/action-plan/singapore"
    portal = Portal(ascn, Clock(parse_instant("2018-06-01T10:00+08:00")), free_port())
    portal.start()
    try:
        with signed_in(portal, NR["SG"]) as client:
            page = client.get(f"/deliverables/{plan}")
            assert page.status_code == 200 and "Waive a rule" in page.text
            csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
            refused = client.post(f"/deliverables/{plan}/advance", data={"csrf": csrf, "trigger": "share"})
            alert = _alert(refused.text)
            assert refused.status_code == 409, refused.text
            assert "share is refused by rule annual-meeting-convened" in alert and "You may waive it" in alert
            assert "--" not in alert  # the page's words, not the command line's `--waive NAME --reason TEXT`
            data = {"csrf": csrf, "trigger": "share", "waive": "annual-meeting-convened", "reason": "shared early"}
            assert client.post(f"/deliverables/{plan}/advance", data=data).status_code == 303
        with signed_in(portal, ASEC) as client:  # may share, may not waive: told who may, offered no form
            page = client.get("/deliverables/2018/action-plan/bangkok")
            assert page.status_code == 200 and "Waive a rule" not in page.text
            csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
            refused = client.post(
                "/deliverables/2018/action-plan/bangkok/advance", data={"csrf": csrf, "trigger": "share"}
            )
            alert = _alert(refused.text)
            assert refused.status_code == 409 and "The Chair or the shepherd may waive it" in alert
            assert "--" not in alert and "Waive a rule" not in refused.text
            bad_note = {"csrf": csrf, "trigger": "share", "note": "early\x1b[2J"}
            refused = client.post("/deliverables/2018/action-plan/bangkok/advance", data=bad_note)
            assert refused.status_code == 400 and "Note: the text contains" in _alert(refused.text)
    finally:
        portal.stop()
    last = ascn.json("history", plan)[-1]
    assert (last["trigger"], last["actor"], last["waivers"]) == (
        "share",
        NR["SG"],
        {"annual-meeting-convened": "shared early"},
    )


def _alert(page: str) -> str:
    """The text of the page's alert (the refusal), read with an HTML parser as a browser would."""
    import html5lib

    tree = html5lib.parse(page, namespaceHTMLElements=False)
    alerts = [" ".join("".join(e.itertext()).split()) for e in tree.iter() if e.get("role") == "alert"]
    assert len(alerts) == 1, alerts
    return alerts[0]


def test_a_known_address_is_answered_before_its_mail_is_delivered(smtp_ascn: Ascn, mail_server: Any) -> None:
    """With `[mail] backend = "smtp"` the sign-in mail was delivered inside the request, so a known
    address was answered an SMTP round trip later than an unknown one (up to mail.timeout_seconds
    with a hung server): the time told who is in the directory. The answer now comes first."""
    smtp_ascn.ok("people", "import", smtp_ascn.file("people.toml", PEOPLE))
    mail_server.delay = 5.0  # the server takes its time over each message
    portal = Portal(smtp_ascn, Clock(parse_instant("2018-02-10T09:00+08:00")), free_port())
    portal.start()
    try:
        with httpx.Client(base_url=portal.url, timeout=60) as client:
            csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
            answer = client.post("/signin", data={"email": ASEC, "csrf": csrf})
            assert answer.status_code == 200 and "Check your mail" in answer.text
            assert mail_server.received == []  # answered while the server still works on the mail
            assert mail_server.wait_for(lambda got: len(got) == 1, timeout=60)
            link = re.search(r"/signin/[A-Za-z0-9_-]+", mail_server.received[0].text).group(0)  # type: ignore[union-attr]
            confirm = client.get(link)
            csrf = CSRF.search(confirm.text).group(1)  # type: ignore[union-attr]
            assert client.post(link, data={"csrf": csrf}).status_code == 303
            assert "My work" in client.get("/").text
    finally:
        portal.stop()


def test_a_post_larger_than_any_form_is_refused_before_it_is_parsed(site: Portal) -> None:
    """Starlette's form parser held any urlencoded body in memory, for anyone, before the CSRF check."""
    big = b"csrf=x&email=" + b"a" * (1024 * 1024)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    form = {"content-type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=site.url) as client:
        assert client.post("/signin", content=big, headers=form).status_code == 413
        assert client.post("/signin", content=chunks(), headers=form).status_code == 413
        csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        assert client.post("/signin", data={"email": ASEC, "csrf": csrf}).status_code == 200


def test_signing_out_after_the_session_ended_is_not_a_refusal(site: Portal) -> None:
    """A page left open past `session_hours` offered "Sign out"; pressing it said the form had
    expired or came from another site (403), though the person was signed out already."""
    with signed_in(site, ASEC) as client:
        csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        site.clock.forward(hours=13)  # past session_hours (12)
        answer = client.post("/signout", data={"csrf": csrf})
        assert answer.status_code == 303, re.findall(r"<p>[^<]*</p>", answer.text)[:3]
        assert answer.headers["location"] == "/"
        assert "Sign in" in client.get("/").text
    with signed_in(site, ASEC) as client:  # a live session still needs the token to end
        assert client.post("/signout", data={"csrf": "forged"}).status_code == 403
        assert "My work" in client.get("/").text


def test_a_feed_of_someone_with_no_deadline_left_still_answers_with_the_years_milestones(site: Portal) -> None:
    """A subscribed feed must not break when its owner has nothing due: it answers 200 with the
    cycle's milestones (an empty VCALENDAR is not allowed by RFC 5545, and a 404 makes calendar
    apps report the subscription broken)."""
    import vobject

    with signed_in(site, CHAIR) as client:  # the Chair answers for no deliverable at a stage now
        csrf = CSRF.search(client.get("/calendar").text).group(1)  # type: ignore[union-attr]
        page = client.post("/calendar", data={"csrf": csrf})
        url = re.search(r'<code class="feed">([^<]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    assert site.ascn.run("calendar", "--for", CHAIR, "--ics", "x.ics", now="2018-03-05T10:00+08:00").exit_code == 3
    feed = httpx.get(site.url + urlsplit(url).path)  # the address names the configured base URL
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    events = vobject.readOne(feed.text).vevent_list
    uids = {e.uid.value for e in events}
    assert any(u.startswith("milestone/2018/") for u in uids)
    assert not [u for u in uids if u.endswith("/deadline@ascn-workflow")]


def test_a_later_cycles_nomination_can_be_made_on_the_web(site: Portal) -> None:
    """The form nominated for `[calendar] cycle` only, so in 2019 Viet Nam's NR could add a city on
    the command line (`nominate --cycle 2019`) but not on the web. The cycle is a field now,
    checked as the CLI's --cycle is: a year with a calendar."""
    site.clock.set("2019-02-10T10:00+07:00")
    with signed_in(site, NR["VN"]) as client:
        assert client.get("/nominate/vn?cycle=%C2%B2").status_code == 400
        assert client.get("/nominate/vn?cycle=2099").status_code == 404
        assert client.get("/nominate?cycle=2019").headers["location"] == "/nominate/vn?cycle=2019"
        page = client.get("/nominate/vn?cycle=2019")
        assert (
            page.status_code == 200 and 'name="cycle" value="2019"' in page.text and "2019/nomination/vn" in page.text
        )
        csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        fields = {
            "csrf": csrf,
            "cycle": "2019",
            "city1_name": "Ho Chi Minh City",
            "nr_name": "NR VN",
            "nr_email": NR["VN"],
        }
        fields |= {"city1_csco_name": "Tran Van B", "city1_csco_email": "csco@hcmc.example"}
        assert client.post("/nominate/vn", data={**fields, "cycle": "2O19"}).status_code == 400
        assert site.ascn.run("show", "2019/nomination/vn").exit_code == 3  # nothing opened by the refusal
        answer = client.post("/nominate/vn", data=fields)
        assert answer.status_code == 303, re.findall(r"<p>[^<]*</p>", answer.text)[:3]
        assert answer.headers["location"].startswith("/deliverables/2019/nomination/vn")
    submitted = site.ascn.json("history", "2019/nomination/vn")[-1]
    assert (submitted["trigger"], submitted["actor"], submitted["channel"]) == ("submit", NR["VN"], "web")
    assert [c["name"] for c in submitted["data"]["cities"]] == ["Ho Chi Minh City"]
