"""A sign-in link is for the person's record as it was mailed (django-sesame's rule): once their
address, name, login or roles change, or they are removed, the link no longer works; and a
signed-in session loses a removed person, or a removed role, at its next request. Real portal
(uvicorn on loopback), real store on both backends."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from email import policy

import httpx
import pytest
from sqlalchemy import text

from ascn_workflow.dates import parse_instant
from ascn_workflow.store.migrate import make_engine

from .conftest import ASEC, NR, Ascn
from .portal import Clock, Portal, free_port

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
TH = NR["TH"]


@pytest.fixture
def site(ready: Ascn) -> Iterator[Portal]:
    portal = Portal(ready, Clock(parse_instant("2018-02-01T10:00+07:00")), free_port())
    portal.start()
    yield portal
    portal.stop()


def _link(client: httpx.Client, portal: Portal, address: str) -> str:
    """Ask for a link as a person would, and read it from the mail they get."""
    csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
    assert client.post("/signin", data={"email": address, "csrf": csrf}).status_code == 200
    mails = [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(portal.outbox().glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]
    body = [m for m in mails if address in str(m["To"])][-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    return re.search(r"/signin/[A-Za-z0-9_-]+", body).group(0)  # type: ignore[union-attr]


def _use(client: httpx.Client, link: str) -> int:
    """Open the link and press its button; the status of the last answer (303 signed in, 410 dead)."""
    page = client.get(link)
    if page.status_code != 200:
        return page.status_code
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    return client.post(link, data={"csrf": csrf}).status_code


def _sql(a: Ascn, *statements: str) -> None:
    """Changes the commands do not make (an address corrected, a person or a role removed), made as a
    database administrator would."""
    engine = make_engine(a.app().config.database_url)
    with engine.begin() as c:
        for statement in statements:
            c.execute(text(statement))
    engine.dispose()


MOVE_TH = (
    f"INSERT INTO person (email, name) SELECT 'nr.new@th.example', name FROM person WHERE email = '{TH}'",
    f"UPDATE person_role SET email = 'nr.new@th.example' WHERE email = '{TH}'",
    f"DELETE FROM person WHERE email = '{TH}'",
)
CHANGES: dict[str, Callable[[Ascn], object]] = {
    "renamed": lambda a: a.ok(
        "people", "add", "--email", TH, "--name", "Somchai P.", "--role", "nr", "--member-state", "TH", actor=ASEC
    ),
    "role added": lambda a: a.ok(
        "people", "add", "--email", TH, "--name", "NR TH", "--role", "focal_point", "--member-state", "TH", actor=ASEC
    ),
    "login linked": lambda a: a.ok(
        "people",
        "add",
        "--email",
        TH,
        "--name",
        "NR TH",
        "--role",
        "nr",
        "--member-state",
        "TH",
        "--login",
        "somchai",
        actor=ASEC,
    ),
    "role removed": lambda a: _sql(a, f"DELETE FROM person_role WHERE email = '{TH}' AND role = 'nr'"),
    "address changed": lambda a: _sql(a, *MOVE_TH),
    "person removed": lambda a: _sql(
        a, f"DELETE FROM person_role WHERE email = '{TH}'", f"DELETE FROM person WHERE email = '{TH}'"
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_link_mailed_before_the_persons_record_changed_no_longer_works(
    ready: Ascn, site: Portal, change: str
) -> None:
    with httpx.Client(base_url=site.url) as client:
        link = _link(client, site, TH)
        CHANGES[change](ready)
        assert client.get(link).status_code == 410  # the confirming page already says so
        csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
        assert client.post(link, data={"csrf": csrf}).status_code == 410
        assert "My work" not in client.get("/").text


def test_an_unchanged_record_keeps_its_link_working_once(site: Portal) -> None:
    with httpx.Client(base_url=site.url) as client:
        link = _link(client, site, TH)
        assert _use(client, link) == 303
        assert "My work" in client.get("/").text
    with httpx.Client(base_url=site.url) as other:
        assert _use(other, link) == 410


def test_a_session_loses_a_removed_role_and_a_removed_person_at_once(ready: Ascn, site: Portal) -> None:
    with httpx.Client(base_url=site.url) as client:
        assert _use(client, _link(client, site, TH)) == 303
        assert client.get("/deliverables/2018/nomination/th").status_code == 200
        _sql(ready, f"DELETE FROM person_role WHERE email = '{TH}' AND role = 'nr'")
        assert client.get("/deliverables/2018/nomination/th").status_code == 403
        _sql(ready, f"DELETE FROM person_role WHERE email = '{TH}'", f"DELETE FROM person WHERE email = '{TH}'")
        assert "My work" not in client.get("/").text
        gone = client.get("/deliverables/2018/nomination/th")  # signed out: to the sign-in form
        assert gone.status_code == 303 and gone.headers["location"].startswith("/?next=")


def test_a_session_ends_when_the_address_changes(ready: Ascn, site: Portal) -> None:
    with httpx.Client(base_url=site.url) as client:
        assert _use(client, _link(client, site, TH)) == 303
        _sql(ready, *MOVE_TH)
        assert "My work" not in client.get("/").text
        assert client.get("/deliverables/2018/nomination/th").status_code == 303
