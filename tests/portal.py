"""The portal served for a test: uvicorn in a thread on a free loopback port, with a clock the test moves."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ascn_workflow.dates import parse_instant

from .conftest import Ascn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def set(self, text: str) -> None:
        self.now = parse_instant(text)

    def forward(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Portal:
    ascn: Ascn
    clock: Clock
    port: int
    server: Any = field(repr=False, default=None)
    thread: threading.Thread | None = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        from ascn_workflow.web.app import create_app

        web = create_app(self.ascn.app(), self.clock, "a test secret, long enough to sign with")
        config = uvicorn.Config(web, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the portal did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)

    def outbox(self) -> Path:
        return self.ascn.folder / "outbox"


def portal_config(folder: Path, port: int, db_url: str | None = None) -> str:
    return f'\n[web]\nbase_url = "http://127.0.0.1:{port}"\nlink_minutes = 15\nsession_hours = 12\n'
