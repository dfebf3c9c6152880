"""Issue 16 item 9: a full disk leaves no temporary files; a hung SMTP server costs a bounded time.

Deadline transitions are applied before any sending, so a slow server never delays a lapse.
"""

from __future__ import annotations

import os
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ascn_workflow.mail import MailError
from ascn_workflow.mail.file import FileMailer

from .conftest import Ascn, write_config


def test_a_write_that_fails_midway_leaves_no_temporary_file(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path / "outbox")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # files may not grow past 4 KiB: EFBIG
    try:
        with pytest.raises(MailError, match="cannot write"):
            mailer.send("<big@ascn-workflow>", b"x" * 100_000, "s@a.example", ["r@b.example"])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert sorted(p.name for p in (tmp_path / "outbox").iterdir()) == []


def test_temporary_files_left_by_a_killed_writer_are_swept(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    killed = outbox / ".ascn-killed.tmp"
    killed.write_bytes(b"")  # what a full disk or kill -9 left behind, an hour and more ago
    os.utime(killed, (time.time() - 3601, time.time() - 3601))
    old = outbox / "tmpabc123.tmp"
    old.write_bytes(b"half a message")
    os.utime(old, (0, 0))
    FileMailer(outbox).send("<m@ascn-workflow>", b"Subject: x\r\n\r\nbody\r\n", "s@a.example", ["r@b.example"])
    assert sorted(p.name for p in outbox.iterdir()) == ["m_ascn-workflow.eml"]


def test_a_long_running_mailer_sweeps_again_each_hour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler keeps its mailer for as long as it runs: it swept once, at its first message,
    so what a writer killed later left behind stayed for good. The hour is the monotonic clock's,
    moved here rather than waited for."""
    from ascn_workflow.mail import file as file_module

    clock = [1000.0]
    monkeypatch.setattr(file_module.time, "monotonic", lambda: clock[0])
    outbox = tmp_path / "outbox"
    mailer = FileMailer(outbox)
    mailer.send("<a@ascn-workflow>", b"Subject: a\r\n\r\nbody\r\n", "s@a.example", ["r@b.example"])
    killed = outbox / ".ascn-killed.tmp"
    killed.write_bytes(b"half a message")
    os.utime(killed, (time.time() - 3601, time.time() - 3601))
    mailer.send("<b@ascn-workflow>", b"Subject: b\r\n\r\nbody\r\n", "s@a.example", ["r@b.example"])
    assert killed.exists()  # swept within the hour already: not every message pays for a sweep
    clock[0] += 3601
    mailer.send("<c@ascn-workflow>", b"Subject: c\r\n\r\nbody\r\n", "s@a.example", ["r@b.example"])
    assert sorted(p.name for p in outbox.iterdir()) == [
        "a_ascn-workflow.eml",
        "b_ascn-workflow.eml",
        "c_ascn-workflow.eml",
    ]


def test_another_writers_message_in_flight_is_left_alone(tmp_path: Path) -> None:
    """The portal's workers and the scheduler share the outbox: one's sweep must not delete the
    temporary file another has just created and not yet written (its rename would then fail)."""
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    in_flight = outbox / ".ascn-in-flight.tmp"
    in_flight.write_bytes(b"")  # the other writer's mkstemp, before its first write
    FileMailer(outbox).send("<m@ascn-workflow>", b"Subject: x\r\n\r\nbody\r\n", "s@a.example", ["r@b.example"])
    assert sorted(p.name for p in outbox.iterdir()) == [".ascn-in-flight.tmp", "m_ascn-workflow.eml"]


@pytest.fixture
def hung_smtp() -> Iterator[int]:
    """A server that accepts connections and never says a word (the issue's hung SMTP server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(50)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_hung_smtp_server_costs_a_bounded_time_and_no_lapse(tmp_path: Path, db_url: str, hung_smtp: int) -> None:
    config = write_config(tmp_path, db_url).read_text().replace('backend = "file"', 'backend = "smtp"')
    config += f'host = "127.0.0.1"\nport = {hung_smtp}\ntimeout_seconds = 0.5\npass_budget_seconds = 0.8\n'
    (tmp_path / "config.toml").write_text(config)
    a = Ascn(tmp_path, tmp_path / "config.toml")
    a.ok("init")
    from .conftest import PEOPLE

    a.ok("people", "import", a.file("people.toml", PEOPLE))
    report = a.json("tick", now="2018-03-01T12:00+08:00")
    assert len(report["lapsed"]) == 10  # every nomination lapsed before the first message was tried
    assert report["retrying"] and report["deferred"] >= 1 and not report["delivered"]
    assert len(report["retrying"]) + report["deferred"] == len(a.json("outbox", "list"))
    untried = [m for m in a.json("outbox", "list", "--status", "queued") if m["attempts"] == 0]
    assert len(untried) == report["deferred"]


def test_sign_in_mails_to_a_hung_server_leave_the_pages_their_threads(
    tmp_path: Path, db_url: str, hung_smtp: int
) -> None:
    """A sign-in mail is delivered after the answer. It was delivered on the threads that serve
    the pages (anyio's 40), so 45 sign-ins with a hung SMTP server held every one of them for
    `timeout_seconds`, and every page after them waited as long (reliability.md row 13). The
    portal now delivers on its own few mail threads: the sign-ins and a page after them are all
    answered while every delivery still hangs."""
    import re

    import httpx

    from ascn_workflow.dates import parse_instant

    from .portal import Clock, Portal, free_port

    config = write_config(tmp_path, db_url).read_text().replace('backend = "file"', 'backend = "smtp"')
    config += f'host = "127.0.0.1"\nport = {hung_smtp}\ntimeout_seconds = 120\n'
    (tmp_path / "config.toml").write_text(config)
    a = Ascn(tmp_path, tmp_path / "config.toml")
    a.ok("init", now="2018-01-15T09:00+08:00")
    addresses = [f"fp{i}@{code.lower()}.example" for code in ("TH", "VN", "MY") for i in range(15)]
    people = '[[people]]\nemail = "officer@asec.example"\nname = "Officer"\nrole = "asec"\n' + "".join(
        f'\n[[people]]\nemail = "{e}"\nname = "FP {e}"\nrole = "focal_point"\nmember_state = "{e[-10:-8].upper()}"\n'
        for e in addresses
    )
    a.ok("people", "import", a.file("people.toml", people))
    portal = Portal(a, Clock(parse_instant("2018-02-10T09:00+08:00")), free_port())
    portal.start()
    try:
        with httpx.Client(base_url=portal.url, timeout=60) as client:  # a page held by a mail: 120 s
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text).group(1)  # type: ignore[union-attr]
            for address in addresses:
                assert client.post("/signin", data={"email": address, "csrf": csrf}).status_code == 200
            assert client.get("/framework").status_code == 200
    finally:
        portal.stop()
