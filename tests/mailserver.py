"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives; it can go down and come back."""

from __future__ import annotations

import email
import socket
import threading
import time
from email.message import EmailMessage
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Received:
    def __init__(self, envelope: Any) -> None:
        self.sender: str = envelope.mail_from
        self.rcpt: list[str] = list(envelope.rcpt_tos)
        self.message: EmailMessage = email.message_from_bytes(envelope.content, policy=default)  # type: ignore[assignment]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]


class MailServer:
    def __init__(self, delay: float = 0.0) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self.delay = delay  # a slow server, for tests of a batch under load
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.controller: Controller | None = None
        self.sessions = 0  # SMTP sessions opened (EHLO/HELO), to see connections reused

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self._lock:
            self.sessions += 1
        return responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        session.host_name = hostname
        with self._lock:
            self.sessions += 1
        return f"250 {server.hostname}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)  # the server is slow on purpose: the time a real relay takes
        with self._arrived:
            self.received.append(Received(envelope))
            self._arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Block until `predicate(received)` holds or `timeout` seconds pass."""
        with self._arrived:
            return self._arrived.wait_for(lambda: predicate(self.received), timeout=timeout)

    def distinct(self) -> set[str]:
        return {r.message_id for r in self.received}

    def start(self) -> None:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address: str) -> list[Received]:
        return [r for r in self.received if address in r.rcpt]
