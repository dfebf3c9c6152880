"""The mail port: deliver one already-rendered message. Backends: `file` (default) and `smtp`."""

from __future__ import annotations

from typing import Protocol

from ..config import MailConfig


class MailError(Exception):
    """Delivery failed. `permanent` failures are not retried (e.g. every recipient refused)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Mailer(Protocol):
    #: Whether sending a message again replaces it instead of delivering a second copy (a file
    #: named by its Message-ID): the due pass may then claim and record messages in batches.
    idempotent: bool

    def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
        """Deliver or raise MailError; a returned text is a warning (some recipients refused)."""
        ...

    def close(self) -> None:
        """End the batch: release what `send` kept open (an SMTP connection)."""
        ...


def make_mailer(config: MailConfig) -> Mailer:
    if config.backend == "smtp":
        from .smtp import SmtpMailer

        return SmtpMailer(config)
    from .file import FileMailer

    return FileMailer(config.outbox)
