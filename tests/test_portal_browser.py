"""The portal in a real browser: Debian's Chromium driven by Playwright, against uvicorn on loopback.

Each scenario is what a person does (sign in through the mailed link, nominate, send a plan back,
waive a rule) and what an attacker tries (another state's deliverable, a hostile name, a forged
POST, a used or expired link). Every page is checked with axe-core and photographed at desktop
and phone widths into test-artifacts/portal/.
"""

from __future__ import annotations

import email
import json
import re
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest

from .conftest import ASEC, CHAIR, FEBRUARY_PEOPLE, NR, ROOT, SHEPHERD, Ascn, join, write_config
from .portal import Clock, Portal, free_port, portal_config

pytestmark = pytest.mark.slow
playwright_api = pytest.importorskip("playwright.sync_api")
ARTIFACTS = ROOT / "test-artifacts" / "portal"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOSTILE = "<img src=x onerror=alert(1)>"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Portal]:
    """2018 opened on the embedded database, the February directory, a hostile name, and the portal serving it."""
    port = free_port()
    a = Ascn(tmp_path, write_config(tmp_path, extra=portal_config(tmp_path, port)))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", FEBRUARY_PEOPLE))
    a.ok(
        "people",
        "add",
        "--email",
        "fp@kh.example",
        "--name",
        HOSTILE,
        "--role",
        "focal_point",
        "--member-state",
        "KH",
        actor=ASEC,
    )
    portal = Portal(a, Clock.__new__(Clock), port)
    portal.clock.set("2018-02-10T09:00+08:00")
    portal.start()
    yield portal
    portal.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    tab.on("dialog", lambda dialog: pytest.fail(f"a script ran: dialog {dialog.message!r}"))
    yield tab
    context.close()


# ---------------------------------------------------------------------------- helpers


def links_for(portal: Portal, address: str) -> list[str]:
    """Sign-in links mailed to `address`, oldest first, read from the outbox folder as a mail client would."""
    found = []
    for path in sorted(portal.outbox().glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if address in str(message["To"]) and "sign-in" in str(message["Subject"]):
            text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            found += re.findall(r"http://127\.0\.0\.1:\d+/signin/[A-Za-z0-9_-]+", text)
    return found


def ask_link(page: Any, portal: Portal, address: str) -> str:
    """The link mailed for this request: the one that was not in the outbox before it (over the
    hourly limit, no mail comes: ""). Never "the newest file": two mails written within one tick
    of the file system's clock have the same mtime."""
    before = set(links_for(portal, address))
    page.goto(portal.url + "/")
    page.get_by_label("E-mail").fill(address)
    page.get_by_role("button", name="Send me a sign-in link").click()
    page.get_by_role("heading", name="Check your mail").wait_for()  # the file backend wrote it before answering
    fresh = [link for link in links_for(portal, address) if link not in before]
    assert len(fresh) <= 1, fresh
    return fresh[0] if fresh else ""


def sign_in(page: Any, portal: Portal, address: str) -> None:
    link = ask_link(page, portal, address)
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My work").wait_for()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.get_by_role("heading", name="Sign in").wait_for()


def check_page(page: Any, name: str) -> None:
    """No serious or critical axe-core violation; a screenshot at desktop and phone widths."""
    from axe_playwright_python.sync_playwright import Axe

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        results = Axe().run(page)
        bad = [
            (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
            for v in results.response["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert bad == [], f"{name} at {label} width: {bad}"
    page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})


def history(portal: Portal, deliverable_id: str) -> list[dict[str, Any]]:
    return portal.ascn.json("history", deliverable_id)


# ---------------------------------------------------------------------------- sign-in


def test_sign_in_by_mailed_link_once_and_only_while_fresh(site: Portal, page: Any) -> None:
    page.goto(site.url + "/")
    check_page(page, "signin")
    link = ask_link(page, site, NR["TH"])
    check_page(page, "signin-sent")
    response = page.goto(link)
    assert response.status == 200
    check_page(page, "signin-confirm")
    assert history(site, "2018/nomination/th") == []  # opening the link (as a mail scanner would) did nothing
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="My work").wait_for()
    assert "2018/nomination/th" in page.content()
    check_page(page, "work")
    cookie = next(c for c in page.context.cookies() if c["name"] == "ascn_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    again = page.goto(link)  # a used link is refused, even to the person already signed in
    assert again.status == 410
    page.get_by_role("heading", name="This link no longer works").wait_for()
    check_page(page, "signin-dead")

    page.goto(site.url + "/")
    sign_out(page)
    assert page.goto(site.url + "/deliverables/2018/nomination/th").url.startswith(site.url + "/?next=")

    stale = ask_link(page, site, NR["TH"])
    site.clock.forward(minutes=16)  # the link lasts 15 minutes
    assert page.goto(stale).status == 410
    fresh = ask_link(page, site, NR["TH"])  # its answer came before the mail was read (the click does not wait)
    assert page.goto(stale).status == 410 and page.goto(fresh).status == 200


def test_signing_out_on_every_device_ends_every_session(site: Portal, page: Any, browser: Any) -> None:
    other = browser.new_context().new_page()
    sign_in(other, site, NR["TH"])
    sign_in(page, site, NR["TH"])
    page.get_by_role("button", name="Sign out on every device").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    other.reload()
    other.get_by_role("heading", name="Sign in").wait_for()  # the other browser's session ended on the server
    other.context.close()


def test_unknown_addresses_get_the_same_answer_and_no_mail(site: Portal, page: Any) -> None:
    known = page.goto(site.url + "/") and ask_link(page, site, NR["VN"])
    known_text = page.locator("main").inner_text().replace(NR["VN"], "ADDRESS")
    page.goto(site.url + "/")
    page.get_by_label("E-mail").fill("stranger@nowhere.example")
    page.get_by_role("button", name="Send me a sign-in link").click()
    page.get_by_role("heading", name="Check your mail").wait_for()
    assert page.locator("main").inner_text().replace("stranger@nowhere.example", "ADDRESS") == known_text
    assert known and links_for(site, "stranger@nowhere.example") == []


def test_sign_in_mails_are_rate_limited_per_address(site: Portal, page: Any) -> None:
    for _ in range(8):
        ask_link(page, site, NR["VN"])
    assert len(links_for(site, NR["VN"])) == 5
    site.clock.forward(hours=1, minutes=1)
    ask_link(page, site, NR["VN"])
    assert len(links_for(site, NR["VN"])) == 6


# ---------------------------------------------------------------------------- acting


def test_the_framework_page_says_why_it_cannot_be_endorsed_yet(site: Portal, page: Any) -> None:
    """Before the annual meeting and with no version attached, ASEC sees the endorsement it may
    make and both rules that stand in its way, the document's saying that files are attached at
    a terminal, since the portal cannot attach them."""
    a = site.ascn
    a.ok("advance", "2018/framework", "circulate", actor=ASEC, now="2018-03-30T10:00+08:00")
    waive = ("--waive", "scgw-convened", "--reason", "the workshop was held")
    a.ok("advance", "2018/framework", "revise", *waive, actor=SHEPHERD, now="2018-05-26T10:00+08:00")
    site.clock.set("2018-07-09T10:00+08:00")
    sign_in(page, site, ASEC)
    page.goto(f"{site.url}/deliverables/2018/framework")
    refusal = page.locator(".warn").inner_text()
    assert "rule annual-meeting-convened" in refusal and "rule document-attached" in refusal
    assert "the portal cannot attach files" in refusal and "ascn document add" in refusal
    check_page(page, "framework-not-yet")


def test_nominate_refused_by_a_rule_then_accepted(site: Portal, page: Any) -> None:
    sign_in(page, site, NR["TH"])
    page.get_by_role("link", name="Nominate").click()
    page.get_by_role("heading", name="Nomination: Thailand").wait_for()
    assert "including the capital (Bangkok)" in page.locator("main").inner_text()
    page.get_by_label("Name").first.fill("Somchai P.")
    page.locator("#nr_email").fill(NR["TH"])
    page.locator("#city1_name").fill("Phuket")
    page.locator("#city1_csco_name").fill("Anong K.")
    page.locator("#city1_csco_email").fill("csco@phuket.example")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Submit the nomination").click()
    assert answer.value.status == 409
    alert = page.get_by_role("alert")
    assert "capital-included" in alert.inner_text()
    assert page.locator("#city1_name").input_value() == "Phuket"  # the input is kept
    check_page(page, "nominate-refused")
    assert history(site, "2018/nomination/th") == []

    page.locator("#city2_name").fill("Bangkok")
    page.locator("#city2_csco_name").fill("Malee S.")
    page.locator("#city2_csco_email").fill("csco@bangkok.example")
    page.get_by_role("button", name="Submit the nomination").click()
    page.get_by_role("heading", name=re.compile("Nomination")).wait_for()
    assert "/deliverables/2018/nomination/th" in page.url
    assert "submitted" in page.locator(".facts").inner_text()
    check_page(page, "deliverable")
    (event,) = history(site, "2018/nomination/th")
    assert (event["trigger"], event["actor"], event["channel"], event["recorded_by"]) == (
        "submit",
        NR["TH"],
        "web",
        NR["TH"],
    )
    assert site.ascn.json("audit", "verify")["problems"] == []


def test_csco_sends_the_plan_and_the_nr_sends_it_back_with_a_note(site: Portal, page: Any) -> None:
    join(site.ascn, "TH", ["Bangkok", "Phuket"])
    site.clock.set("2018-05-22T10:00+08:00")
    plan = "2018/action-plan/bangkok"
    sign_in(page, site, "csco@bangkok.example")
    page.get_by_role("link", name=re.compile("Action plan", re.I)).first.click()
    page.get_by_role("button", name="Start").click()
    page.get_by_role("button", name="Send to nr").click()
    page.get_by_text("nr_review").first.wait_for()
    check_page(page, "deliverable-plan")
    sign_out(page)

    sign_in(page, site, NR["TH"])
    page.goto(f"{site.url}/deliverables/{plan}")
    send_back = page.locator("form", has=page.get_by_role("button", name="Send back"))
    send_back.get_by_label(re.compile("Note")).fill(f"Add the budget {HOSTILE}")
    send_back.get_by_role("button", name="Send back").click()
    page.get_by_role("heading", name="History").wait_for()
    assert "drafting" in page.locator(".facts").inner_text()
    assert page.locator("img[src='x']").count() == 0
    assert f"Add the budget {HOSTILE}" in page.locator("table").inner_text()  # shown as text
    events = history(site, plan)
    assert [(e["trigger"], e["actor"], e["channel"]) for e in events] == [
        ("start", "csco@bangkok.example", "web"),
        ("send_to_nr", "csco@bangkok.example", "web"),
        ("send_back", NR["TH"], "web"),
    ]
    assert events[-1]["note"] == f"Add the budget {HOSTILE}"


def test_the_chair_waives_a_rule_with_a_reason(site: Portal, page: Any) -> None:
    a = site.ascn
    a.ok("advance", "2018/framework", "circulate", actor=SHEPHERD, now="2018-03-20T09:00+08:00")
    a.ok("advance", "2018/scgw", "convene", actor=SHEPHERD, now="2018-05-22T09:00+08:00")
    a.ok("advance", "2018/framework", "revise", actor=SHEPHERD, now="2018-05-25T18:00+08:00")
    draft = a.file("framework-v2.txt", "ASEAN Smart Cities Framework, revised after the SCGW\n")
    a.ok(
        "document",
        "add",
        "2018/framework",
        draft,
        "--title",
        "Revised draft",
        actor=SHEPHERD,
        now="2018-05-26T09:00+08:00",
    )
    site.clock.set("2018-06-01T10:00+08:00")
    sign_in(page, site, CHAIR)
    page.goto(f"{site.url}/deliverables/2018/framework")
    endorse = page.locator("form", has=page.get_by_role("button", name="Endorse"))
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        endorse.get_by_role("button", name="Endorse").click()
    assert answer.value.status == 409
    assert "annual-meeting-convened" in page.get_by_role("alert").inner_text()
    check_page(page, "deliverable-refused")
    endorse = page.locator("form", has=page.get_by_role("button", name="Endorse"))
    endorse.get_by_label("Rule").select_option("annual-meeting-convened")
    endorse.get_by_label("Reason for the waiver").fill("Leaders asked for it before the meeting")
    endorse.get_by_role("button", name="Endorse").click()
    page.get_by_text("waived annual-meeting-convened").wait_for()
    event = history(site, "2018/framework")[-1]
    assert event["waivers"] == {"annual-meeting-convened": "Leaders asked for it before the meeting"}
    assert (event["actor"], event["channel"]) == (CHAIR, "web")

    sign_out(page)  # the Framework page is public, and its JSON is `ascn framework --json`
    page.goto(site.url + "/framework")
    assert "endorsed_by_ascn" in page.locator(".facts").inner_text()
    check_page(page, "framework")
    served = json.loads(page.goto(site.url + "/framework.json").text())
    assert served == a.json("framework", now="2018-06-01T10:00+08:00")


# ---------------------------------------------------------------------------- what is refused


def test_another_states_deliverable_is_denied(site: Portal, page: Any) -> None:
    sign_in(page, site, NR["TH"])
    response = page.goto(f"{site.url}/deliverables/2018/nomination/vn")
    assert response.status == 403
    assert "2018/nomination/vn" in page.get_by_role("alert").inner_text()
    check_page(page, "denied")
    csrf = page.locator("input[name=csrf]").first.input_value()
    forged = page.request.post(
        f"{site.url}/deliverables/2018/nomination/vn/advance", form={"csrf": csrf, "trigger": "submit"}
    )
    assert forged.status == 403 and history(site, "2018/nomination/vn") == []
    assert page.goto(f"{site.url}/status").status == 403  # status is ASEC's


def test_a_hostile_name_is_shown_as_text(site: Portal, page: Any) -> None:
    sign_in(page, site, "fp@kh.example")
    assert page.locator(".who").inner_text() == HOSTILE
    assert page.locator("img[src='x']").count() == 0


def test_a_post_without_the_sessions_csrf_token_is_refused(site: Portal, page: Any, browser: Any) -> None:
    join(site.ascn, "TH", ["Bangkok", "Phuket"])
    site.clock.set("2018-05-22T10:00+08:00")
    plan = "2018/action-plan/bangkok"
    sign_in(page, site, "csco@bangkok.example")
    for form in ({"trigger": "start"}, {"trigger": "start", "csrf": "forged"}):
        refused = page.request.post(f"{site.url}/deliverables/{plan}/advance", form=form)
        assert refused.status == 403 and "CSRF" in refused.text()
    other = browser.new_context().new_page()  # another session's token does not fit this session
    sign_in(other, site, NR["TH"])
    theirs = other.locator("input[name=csrf]").first.input_value()
    assert (
        page.request.post(f"{site.url}/deliverables/{plan}/advance", form={"trigger": "start", "csrf": theirs}).status
        == 403
    )
    other.context.close()
    assert history(site, plan) == []
    page.goto(f"{site.url}/deliverables/{plan}")
    page.get_by_role("button", name="Start").click()  # the page's own form works
    page.get_by_role("heading", name="History").wait_for()
    assert [e["trigger"] for e in history(site, plan)] == ["start"]


# ---------------------------------------------------------------------------- ASEC and the calendar


def test_asec_status_with_filters_and_a_revocable_calendar_feed(site: Portal, page: Any) -> None:
    import vobject

    join(site.ascn, "TH", ["Bangkok", "Phuket"])
    site.clock.set("2018-03-05T10:00+08:00")
    sign_in(page, site, ASEC)
    page.get_by_role("link", name="Status").click()
    page.get_by_label("Workflow").select_option("nomination")
    page.get_by_label("Overdue only").check()
    page.get_by_role("button", name="Filter").click()
    shown = set(page.locator("tbody td:first-child").all_inner_texts())
    expected = {
        d["id"] for d in site.ascn.json("status", "--workflow", "nomination", "--overdue", now="2018-03-05T10:00+08:00")
    }
    assert shown == expected and "2018/nomination/vn" in shown and "2018/nomination/th" not in shown
    check_page(page, "status")

    sign_out(page)
    sign_in(page, site, NR["TH"])
    page.get_by_role("link", name="Calendar feed").click()
    page.get_by_role("button", name="Make my feed address").click()
    url = page.locator("code.feed").inner_text()
    check_page(page, "calendar")
    feed = page.request.get(url)
    assert feed.status == 200 and feed.headers["content-type"].startswith("text/calendar")
    calendar = vobject.readOne(feed.text())
    uids = {e.uid.value for e in calendar.vevent_list}
    assert any("2018/action-plan/bangkok" in uid for uid in uids)
    page.get_by_role("button", name="Make a new feed address").click()
    assert page.request.get(url).status == 404  # the old address stops working
    newer = page.locator("code.feed").inner_text()
    assert page.request.get(newer).status == 200
    page.get_by_role("button", name="Stop my feed").click()
    assert page.request.get(newer).status == 404
