"""`ascn serve` as a real process (uvicorn, one worker on SQLite, two on PostgreSQL), the links in
reminders, and the simulation's sandbox opened in the portal."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import httpx
import pytest

from .conftest import FEBRUARY_PEOPLE, NR, Ascn, write_config
from .portal import free_port

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def _messages(folder: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def test_reminders_and_overdue_notices_link_to_the_deliverables_page(ready: Ascn) -> None:
    import html5lib

    ready.ok("tick", now="2018-02-14T12:00+08:00")
    ready.ok("tick", now="2018-03-01T12:00+08:00")
    kinds = set()
    for message in _messages(ready.folder / "outbox"):
        subject = str(message["Subject"])
        deliverable = subject.split()[2]
        link = f"http://127.0.0.1:8000/deliverables/{deliverable}"
        assert link in message.get_body(("plain",)).get_content(), subject  # type: ignore[union-attr]
        tree = html5lib.parse(message.get_body(("html",)).get_content(), namespaceHTMLElements=False)  # type: ignore[union-attr]
        assert link in [a.get("href") for a in tree.iter("a")], subject
        kinds.add(subject.split(":")[0])
    assert kinds == {"[ASCN] Reminder", "[ASCN] OVERDUE"}


def test_serve_without_a_secret_is_one_clear_line(ascn: Ascn) -> None:
    ascn.ok("init")
    result = ascn.run("serve")
    assert result.exit_code == 2
    assert "ASCN_WEB_SECRET" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("host", ["999.1.1.1", "example.invalid", "taken"])
def test_serve_on_a_bad_address_or_a_taken_port_is_one_line(
    ascn: Ascn, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn said "ERROR: [Errno 98] …" and exited 3, which means "not found" to a script."""
    import socket

    ascn.ok("init")
    monkeypatch.setenv("ASCN_WEB_SECRET", SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ["--port", port] if host == "taken" else ["--host", host, "--port", port]
        result = ascn.run("serve", *args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("ascn: "), result.stderr
    assert ("already in use" if host == "taken" else host) in result.stderr


def _serve(
    a: Ascn, port: int, *args: str, secret: str | None = SECRET, now: str | None = None
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ASCN_WEB_SECRET", "ASCN_NOW")}
    env["ASCN_CONFIG"] = str(a.config)
    if secret:
        env["ASCN_WEB_SECRET"] = secret
    if now:
        env["ASCN_NOW"] = now
    return subprocess.Popen(
        [sys.executable, "-m", "ascn_workflow", "serve", "--port", str(port), *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"ascn serve exited: {process.communicate()}")
        try:
            if httpx.get(url + "/framework.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("ascn serve did not answer within a minute")


def _sign_in(client: httpx.Client, outbox: Path, address: str) -> None:
    page = client.get("/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/signin", data={"email": address, "csrf": csrf}).status_code == 200
    text = [m for m in _messages(outbox) if address in str(m["To"])][-1].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"/signin/[A-Za-z0-9_-]+", text).group(0)  # type: ignore[union-attr]
    confirm = client.get(link)
    csrf = re.search(r'name="csrf" value="([^"]+)"', confirm.text).group(1)  # type: ignore[union-attr]
    assert client.post(link, data={"csrf": csrf}).status_code == 303


@pytest.mark.slow
def test_serve_runs_the_portal_and_never_logs_a_link(tmp_path: Path, db_url: str) -> None:
    port = free_port()
    extra = f'\n[web]\nbase_url = "http://127.0.0.1:{port}"\n'
    a = Ascn(tmp_path, write_config(tmp_path, db_url, extra=extra))
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", FEBRUARY_PEOPLE))
    workers = "2" if db_url.startswith("postgresql") else "1"
    process = _serve(a, port, "--workers", workers, now="2018-02-10T09:00+08:00")
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_up(url, process)
        with httpx.Client(base_url=url) as client:
            _sign_in(client, tmp_path / "outbox", NR["TH"])
            work = client.get("/")
            assert work.status_code == 200 and "2018/nomination/th" in work.text
            assert "frame-ancestors 'none'" in work.headers["content-security-policy"]
            assert work.headers["cache-control"] == "no-store"
            assert client.get("/deliverables/2018/nomination/vn").status_code == 403
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=30)
    printed = re.findall(r"sign-in link for nr@th\.example: (\S+)", err)
    assert len(printed) == 1  # the file backend's console copy, as development mail set-ups do
    token = printed[0].rsplit("/", 1)[1]
    assert err.count(token) == 1  # the access log wrote /signin/… instead
    assert "GET /signin/… 200" in err and "POST /signin/… 303" in err


def test_simulation_leaves_a_sandbox_the_portal_opens(tmp_path: Path) -> None:
    from ascn_workflow.config import load_config
    from ascn_workflow.web.serving import signing_secret

    a = Ascn(tmp_path, write_config(tmp_path))
    sandbox = tmp_path / "sim" / "ascn.db"
    result = a.ok("simulate", "--until", "2018-03-05", "--db", str(sandbox), "--quiet", now=None)
    hint = re.search(r"ascn --config (\S+) serve.* sign in as (\S+) \((\w+)\)", result.output)
    assert hint, result.output
    config = load_config(Path(hint.group(1)), explicit=True)
    assert config.web.simulation and signing_secret(config).startswith("simulation:")
    people = Ascn(sandbox.parent, Path(hint.group(1))).json("people", "list")
    assert {"email": hint.group(2), "role": hint.group(3)}.items() <= next(
        p for p in people if p["email"] == hint.group(2)
    ).items()
