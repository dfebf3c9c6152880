"""SMTP delivery: STARTTLS and login as configured; the password comes from an environment variable.

One connection serves a whole batch (a due pass): `send` opens it on first use and keeps it;
`close` ends it. Any failure drops the connection, so the next message starts on a fresh one; a
kept connection the server has meanwhile closed (an idle timeout, between messages) is reopened
once for the message at hand.
"""

from __future__ import annotations

import os
import smtplib
import ssl

from ..config import MailConfig
from . import MailError


class SmtpMailer:
    idempotent = False  # a message sent twice is delivered twice

    def __init__(self, config: MailConfig, timeout: float | None = None) -> None:
        self.config = config
        # Every network operation of a message (connect, each reply) waits at most this long: a
        # hung server costs one timeout per message, and the pass's budget bounds the messages.
        self.timeout = timeout if timeout is not None else config.timeout_seconds
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout)
        try:
            if cfg.starttls:
                # Verify the certificate: smtplib's own default context would not.
                smtp.starttls(context=ssl.create_default_context(cafile=cfg.ca_file or None))
            if cfg.username:
                smtp.login(cfg.username, os.environ.get(cfg.password_env, ""))
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
        cfg = self.config
        try:
            refused = self._sendmail(raw, sender, recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            raise MailError(f"every recipient refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPSenderRefused as exc:
            self.close()
            raise MailError(f"sender refused: SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            # Anything else (a failed login, a 4xx or 5xx from the server) is about the server or
            # the configuration, not this message: keep it queued and retry once that is fixed.
            self.close()
            raise MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise MailError(f"{cfg.host}:{cfg.port}: {exc}") from exc
        # Some recipients took it: resending would duplicate it for them, so report, don't retry.
        return f"refused by the server for {sorted(refused)}" if refused else None

    def _sendmail(self, raw: bytes, sender: str, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
        if self._smtp is not None:
            try:
                return self._smtp.sendmail(sender, recipients, raw)
            except smtplib.SMTPServerDisconnected:
                self.close()  # the server hung up the kept connection (an idle timeout): reopen once
        self._smtp = self._connect()
        return self._smtp.sendmail(sender, recipients, raw)

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
