"""Many people at once on `ascn serve --workers 2`, on SQLite and on PostgreSQL, each request free
to land on either worker: one sign-in link pressed in several tabs at once, one trigger pressed in
tabs and on the command line at once, a flood of sign-in requests for one address, new calendar
feeds asked in several tabs at once, and the portal, schedulers and `ascn tick` mailing into one
outbox folder at once (docs/reliability.md, row 13)."""

from __future__ import annotations

import email
import hashlib
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ascn_workflow.web.accounts import LINKS_PER_HOUR

from .conftest import ASEC, FEBRUARY_PEOPLE, NR, Ascn, start_scheduler, stored, write_config
from .portal import free_port

pytestmark = pytest.mark.slow  # separate processes

SECRET = "a-test-secret-that-is-long-enough-0123456789"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
NOW = "2018-02-10T09:00+08:00"
T = TypeVar("T")


@pytest.fixture
def served(tmp_path: Path, db_url: str) -> Iterator[tuple[Ascn, str]]:
    """The portal as `ascn serve --workers 2` (two processes, one database, one outbox folder)."""
    port = free_port()
    a = Ascn(tmp_path, write_config(tmp_path, db_url, extra=f'\n[web]\nbase_url = "http://127.0.0.1:{port}"\n'))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", FEBRUARY_PEOPLE))
    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_WEB_SECRET": SECRET, "ASCN_NOW": NOW}
    process = subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "ascn serve exited"
            assert time.monotonic() < deadline, "ascn serve did not answer within a minute"
            try:
                if httpx.get(url + "/framework.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield a, url
    finally:
        process.terminate()
        process.wait(timeout=60)


def _at_once(n: int, act: Callable[[int], T]) -> list[T]:
    """`act(i)` for i in range(n), each in a thread of its own, released together."""
    start = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        start.wait(timeout=60)
        try:
            results[i] = act(i)
        except Exception as error:  # reported, not swallowed
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not [r for r in results if isinstance(r, Exception)], results
    return results


def _mails_to(a: Ascn, address: str) -> list[email.message.EmailMessage]:
    found = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in (a.folder / "outbox").glob("*.eml")
    ]
    return [m for m in found if address in str(m["To"])]


def _ask_link(client: httpx.Client, address: str) -> int:
    csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
    return client.post("/signin", data={"email": address, "csrf": csrf}).status_code


def test_one_link_pressed_in_many_tabs_at_once_makes_one_session(served: tuple[Ascn, str]) -> None:
    a, url = served
    with httpx.Client(base_url=url, timeout=60) as client:
        assert _ask_link(client, NR["TH"]) == 200
    (mail,) = _mails_to(a, NR["TH"])
    link = re.search(r"/signin/[A-Za-z0-9_-]+", mail.get_body(("plain",)).get_content()).group(0)  # type: ignore[union-attr]
    tabs = [httpx.Client(base_url=url, timeout=60) for _ in range(8)]
    try:
        forms = [CSRF.search(tab.get(link).text).group(1) for tab in tabs]  # type: ignore[union-attr]
        answers = _at_once(len(tabs), lambda i: tabs[i].post(link, data={"csrf": forms[i]}).status_code)
        signed_in = [i for i, tab in enumerate(tabs) if "My work" in tab.get("/").text]
    finally:
        for tab in tabs:
            tab.close()
    assert sorted(answers) == [303] + [410] * (len(tabs) - 1), answers
    assert signed_in == [answers.index(303)]
    sessions = [s for s in stored(a.app(), "web_session") if s.email == NR["TH"]]
    assert len(sessions) == 1


def test_links_asked_at_once_for_one_address_stay_under_the_hourly_limit(served: tuple[Ascn, str]) -> None:
    """Every request gets the same answer; no more links are made (and mailed) than the limit."""
    a, url = served
    n = 3 * LINKS_PER_HOUR

    def ask(_i: int) -> int:
        with httpx.Client(base_url=url, timeout=60) as client:
            return _ask_link(client, NR["VN"])

    assert _at_once(n, ask) == [200] * n
    links = [s for s in stored(a.app(), "web_signin") if s.email == NR["VN"]]
    assert len(links) == LINKS_PER_HOUR
    assert len(_mails_to(a, NR["VN"])) == LINKS_PER_HOUR
    assert Counter(m.status for m in stored(a.app(), "outbox") if NR["VN"] in m.recipients) == {"sent": LINKS_PER_HOUR}


def test_new_calendar_feeds_asked_at_once_leave_one_that_works(served: tuple[Ascn, str]) -> None:
    """ "Making a new one stops the old one": pressed in several tabs at once, one feed stays."""
    a, url = served
    client = _signed_in(url, a, NR["TH"], set())
    try:
        csrf = CSRF.search(client.get("/calendar").text).group(1)  # type: ignore[union-attr]
        pages = _at_once(10, lambda _i: client.post("/calendar", data={"csrf": csrf, "action": "new"}).text)
        tokens = [re.search(r"/calendar/([A-Za-z0-9_-]+)\.ics", page).group(1) for page in pages]  # type: ignore[union-attr]
        working = [t for t in tokens if client.get(f"/calendar/{t}.ics").status_code == 200]
    finally:
        client.close()
    assert len(set(tokens)) == 10 and len(working) == 1, working
    feeds = [f for f in stored(a.app(), "calendar_feed") if f.email == NR["TH"] and f.revoked_at is None]
    assert len(feeds) == 1


def _signed_in(url: str, a: Ascn, address: str, used: set[str]) -> httpx.Client:
    """A client signed in through a fresh mailed link (one not in `used`)."""
    client = httpx.Client(base_url=url, timeout=60)
    assert _ask_link(client, address) == 200
    texts = [m.get_body(("plain",)).get_content() for m in _mails_to(a, address)]  # type: ignore[union-attr]
    (link,) = {found for t in texts for found in re.findall(r"/signin/[A-Za-z0-9_-]+", t)} - used
    used.add(link)
    csrf = CSRF.search(client.get(link).text).group(1)  # type: ignore[union-attr]
    assert client.post(link, data={"csrf": csrf}).status_code == 303
    return client


def test_one_trigger_pressed_at_once_in_tabs_and_on_the_command_line_has_one_winner(
    served: tuple[Ascn, str],
) -> None:
    """Officers acting on one deliverable at once: one wins, every other gets a conflict or a
    refusal in the page (409) or on the command line (exit 6 or 4), and the history has one row."""
    a, url = served
    used: set[str] = set()
    tabs = [_signed_in(url, a, ASEC, used) for _ in range(3)]
    try:
        page = "/deliverables/2018/framework"
        forms = [CSRF.search(tab.get(page).text).group(1) for tab in tabs]  # type: ignore[union-attr]
        env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": NOW, "ASCN_ACTOR": ASEC}

        def act(i: int) -> int:
            if i == len(tabs):
                command = [sys.executable, "-m", "ascn_workflow", "advance", "2018/framework", "circulate"]
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
                assert done.returncode == 0 or len(done.stderr.strip().splitlines()) == 1, done.stderr
                return done.returncode
            answer = tabs[i].post(page + "/advance", data={"csrf": forms[i], "trigger": "circulate"})
            return answer.status_code

        outcomes = _at_once(len(tabs) + 1, act)
    finally:
        for tab in tabs:
            tab.close()
    web, cli = outcomes[:-1], outcomes[-1]
    winners = web.count(303) + (cli == 0)
    assert winners == 1 and set(web) <= {303, 409} and cli in (0, 4, 6), outcomes
    history = [h for h in stored(a.app(), "history") if h.deliverable_id == "2018/framework"]
    assert [h.trigger for h in history] == ["circulate"]
    assert a.json("audit", "verify")["problems"] == []


def test_portal_workers_schedulers_and_ticks_share_one_outbox_and_lose_no_mail(served: tuple[Ascn, str]) -> None:
    """Two portal workers mailing sign-in links, two schedulers and two `ascn tick` delivering ~100
    reminders, all into one outbox folder at once: every message is one whole file, none is lost,
    no temporary file is left, and every outbox row ends `sent`."""
    a, url = served
    people = "".join(
        f'[[people]]\nemail = "fp{i}@{code.lower()}.example"\nname = "FP {i} {code}"\nrole = "focal_point"\n'
        f'member_state = "{code}"\n\n'
        for code in ("BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN")
        for i in range(10)
    )
    a.ok("people", "import", a.file("focal.toml", people), actor=ASEC)
    due = "2018-02-16T12:00+08:00"
    env = {**os.environ, "ASCN_CONFIG": str(a.config), "ASCN_NOW": due}
    ascn = [sys.executable, "-m", "ascn_workflow"]
    logs = [a.folder / f"scheduler{i}.log" for i in range(2)]
    schedulers = [start_scheduler(a, log, "--interval", "0.2", now=due) for log in logs]
    try:
        who = [ASEC, *NR.values()]

        def act(i: int) -> int:
            if i < 2:
                return subprocess.run(
                    [*ascn, "tick"], env=env, capture_output=True, timeout=300, check=False
                ).returncode
            client = _signed_in(url, a, who[i - 2], set())
            client.close()
            return 0

        assert _at_once(2 + len(who), act) == [0] * (2 + len(who))
        assert subprocess.run([*ascn, "tick"], env=env, capture_output=True, timeout=300, check=False).returncode == 0
    finally:
        for s in schedulers:
            s.terminate()
        codes = [s.wait(timeout=60) for s in schedulers]
    assert codes == [0, 0]
    for log in logs:  # no failed pass, no failed delivery
        lines = log.read_text().splitlines()
        assert lines and [ln for ln in lines if " INFO " not in ln] == [], lines
    outbox = stored(a.app(), "outbox")
    assert Counter(m.status for m in outbox) == {"sent": len(outbox)}
    assert sum(m.kind == "reminder" for m in outbox) > 100 and sum(m.kind == "signin" for m in outbox) == len(who)
    folder = a.folder / "outbox"
    assert sorted(p.name for p in folder.iterdir()) == sorted(  # one whole file each, no temporary one
        re.sub(r"[^A-Za-z0-9._-]+", "_", m.message_id.strip("<>")) + ".eml" for m in outbox
    )
    for m in outbox:
        if m.kind == "reminder":
            parsed = email.message_from_bytes(
                (folder / (re.sub(r"[^A-Za-z0-9._-]+", "_", m.message_id.strip("<>")) + ".eml")).read_bytes(),
                policy=policy.default,
            )
            assert parsed["Message-ID"] == m.message_id and parsed.get_body(("plain",)) is not None


def test_sign_in_mails_asked_at_once_over_smtp_each_reach_their_own_person(smtp_ascn: Ascn, mail_server: Any) -> None:
    """`[mail] backend = "smtp"`, 30 people asking for a link at once (the portal mails each after
    answering, in a thread of its own): each gets one message, to them alone, carrying their own
    link, and every sign-in message ends `sent`. The threads shared one SMTP connection: 5 of 40
    were delivered, the others left `sending` for the lease's 10 minutes."""
    from ascn_workflow.dates import parse_instant

    from .conftest import PEOPLE
    from .portal import Clock, Portal

    who = [f"fp{i}@th.example" for i in range(30)]
    people = PEOPLE + "".join(
        f'\n[[people]]\nemail = "{address}"\nname = "FP {i}"\nrole = "focal_point"\nmember_state = "TH"\n'
        for i, address in enumerate(who)
    )
    smtp_ascn.ok("people", "import", smtp_ascn.file("people.toml", people))
    portal = Portal(smtp_ascn, Clock(parse_instant("2018-02-10T09:00+08:00")), free_port())
    portal.start()
    clients = [httpx.Client(base_url=portal.url, timeout=60) for _ in who]
    try:
        forms = [CSRF.search(c.get("/").text).group(1) for c in clients]  # type: ignore[union-attr]
        answers = _at_once(
            len(who), lambda i: clients[i].post("/signin", data={"email": who[i], "csrf": forms[i]}).status_code
        )
        assert answers == [200] * len(who)
        assert mail_server.wait_for(lambda got: len(got) >= len(who), timeout=120)

        def settled() -> bool:
            return {m.status for m in stored(smtp_ascn.app(), "outbox")} == {"sent"}

        give_up = time.monotonic() + 60  # the message is marked sent just after the server took it
        while not settled():
            assert time.monotonic() < give_up, Counter(m.status for m in stored(smtp_ascn.app(), "outbox"))
            time.sleep(0.05)
    finally:
        for c in clients:
            c.close()
        portal.stop()
    owners = {s.token_hash: s.email for s in stored(smtp_ascn.app(), "web_signin")}
    delivered = []
    for got in mail_server.received:
        tokens = re.findall(r"/signin/([A-Za-z0-9_-]+)", got.text)
        linked = {owners.get(hashlib.sha256(t.encode()).hexdigest()) for t in tokens}
        assert got.rcpt == [str(got.message["To"]).split("<")[-1].rstrip(">")] and linked == set(got.rcpt), got.rcpt
        delivered += got.rcpt
    assert sorted(delivered) == sorted(who)
    assert len(stored(smtp_ascn.app(), "outbox")) == len(who)
