"""The sign-in mail: queued in the outbox like every message, delivered at once, then redacted.

Once delivered, the stored copy of the message loses its text (the outbox keeps who, when and
the subject), so the database never holds a usable sign-in link for longer than a send.
"""

from __future__ import annotations

import secrets
import sys
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid

from ..app import App
from ..mail import MailError, make_mailer
from ..store import Message
from .render import render

KIND = "signin"
REDACTED = "(a sign-in message: its text was removed from the outbox once delivered)"


def send_signin(app: App, email: str, name: str, link: str, now: datetime) -> None:
    config = app.config
    context = {"name": name, "link": link, "minutes": config.web.link_minutes, "base_url": config.web.base_url}
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr(("ASCN Secretariat", config.mail.sender))
    msg["To"] = formataddr((name, email))
    msg["Subject"] = "[ASCN] Your sign-in link"
    msg["Date"] = format_datetime(now)
    message_id = make_msgid(idstring=f"signin.{secrets.token_hex(6)}", domain="ascn-workflow")
    msg["Message-ID"] = message_id
    msg.set_content(render("mail_signin.txt.j2", context))
    msg.add_alternative(render("mail_signin.html.j2", context), subtype="html")
    raw = msg.as_string()
    with app.store.transaction() as tx:
        tx.queue_message(Message(message_id, KIND, "", [email], str(msg["Subject"]), raw, now, now))
        queued = tx.message(message_id)
        assert queued is not None and queued.id is not None
        claimed = tx.claim_message(queued, now)
    if config.mail.backend == "file":  # as development mail set-ups do: the link on the server's console
        print(f"ascn serve: sign-in link for {email}: {link}", file=sys.stderr, flush=True)
    if not claimed:
        return
    # An SMTP mailer of its own, closed after this message: the portal's threads send sign-in mail at
    # once, and a shared one was one SMTP conversation for all of them (smtplib is not thread-safe:
    # 40 sign-ins at once delivered 5 and left 35 `sending`, and interleaved commands could put
    # one person's link in a message to another). The file backend shares nothing between writes.
    mailer = app.mailer if app.mailer.idempotent else make_mailer(config.mail)
    try:
        warning = mailer.send(message_id, raw.encode("utf-8"), config.mail.sender, [email])
    except MailError as error:  # kept queued with its error; `ascn tick` retries it while the link lasts
        with app.store.transaction() as tx:
            tx.finish_message(queued.id, now, str(error), retry=not error.permanent, attempts=queued.attempts + 1)
        return
    finally:
        if mailer is not app.mailer:
            mailer.close()
    with app.store.transaction() as tx:
        tx.finish_message(queued.id, now)
        if warning:
            tx.note_warning(queued.id, warning)
        tx.redact_message(message_id, REDACTED)
