"""SMTP delivery: STARTTLS and login as configured; the password comes from an environment variable."""

from __future__ import annotations

import os
import smtplib

from ..config import MailConfig
from . import MailError


class SmtpMailer:
    def __init__(self, config: MailConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout

    def send(self, message_id: str, raw: bytes, sender: str, recipients: list[str]) -> str | None:
        cfg = self.config
        try:
            with smtplib.SMTP(cfg.host, cfg.port, timeout=self.timeout) as smtp:
                if cfg.starttls:
                    smtp.starttls()
                if cfg.username:
                    smtp.login(cfg.username, os.environ.get(cfg.password_env, ""))
                refused = smtp.sendmail(sender, recipients, raw)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"every recipient refused: {exc.recipients}", permanent=True) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", permanent=500 <= exc.smtp_code < 600) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"{cfg.host}:{cfg.port}: {exc}") from exc
        # Some recipients took it: resending would duplicate it for them, so report, don't retry.
        return f"refused by the server for {sorted(refused)}" if refused else None
