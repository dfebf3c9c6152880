"""Signing in and out: the mailed link, confirmed by a click (mail scanners open links), and "My work"."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.responses import Response

from ..errors import BadInput
from ..names import check_email
from . import accounts
from .plumbing import SESSION_COOKIE, Context

# Where a person may be sent back to after signing in: one of the portal's own pages, as a path
# only (no scheme, no host, no `//` or `\\`, no query), so `next` can never lead off the site.
NEXT = re.compile(r"/(?:deliverables|nominate|status|calendar|framework)(?:/[A-Za-z0-9._~-]+)*")


def safe_next(value: str | None) -> str:
    """The page to return to after signing in, if it is one of the portal's; else "My work"."""
    return value if value and NEXT.fullmatch(value) and "/../" not in value + "/" else "/"


def home(ctx: Context) -> Response:
    if ctx.user is None:
        return ctx.page("signin.html.j2", title="Sign in", next=safe_next(ctx.request.query_params.get("next")))
    from .work import my_work, person_zone

    zone = person_zone(ctx.app, ctx.user.actor)
    work = my_work(ctx.app, ctx.user.email, ctx.now, zone)
    return ctx.page("work.html.j2", title="My work", work=work, zone=zone)


def request_link(ctx: Context) -> Response:
    """The same answer whoever asks: no account discovery; at most a few mails per address per hour."""
    back = safe_next(ctx.field("next"))
    try:
        email = check_email(ctx.field("email"), "E-mail")
    except BadInput:
        return ctx.page(
            "signin.html.j2",
            400,
            title="Sign in",
            error="Enter an e-mail address such as name@example.org.",
            next=back,
        )
    issued = accounts.issue_link(ctx.app, email, ctx.now)
    answer = ctx.page(
        "signin_sent.html.j2", title="Check your mail", email=email, minutes=ctx.app.config.web.link_minutes
    )
    if issued is not None:
        from .signin_mail import send_signin

        token, name = issued
        link = f"{ctx.app.config.web.base_url}/signin/{token}" + (f"?next={quote(back)}" if back != "/" else "")
        if ctx.app.config.mail.backend == "smtp":
            # After the answer: an SMTP round trip (up to mail.timeout_seconds) only for addresses in
            # the directory would tell who is in it by the time the page takes.
            # After the answer, and on the portal's mail threads, not the pages' (Portal.mail_later).
            answer.background = BackgroundTask(ctx.portal.mail_later, send_signin, ctx.app, email, name, link, ctx.now)
        else:
            send_signin(ctx.app, email, name, link, ctx.now)  # a file on this machine: as fast as no mail
    return answer


def confirm_link(ctx: Context) -> Response:
    token = ctx.request.path_params["token"]
    if not accounts.link_is_open(ctx.app, token, ctx.now):
        return ctx.page("signin_dead.html.j2", 410, title="Link no longer valid")
    back = safe_next(ctx.request.query_params.get("next"))
    return ctx.page("signin_confirm.html.j2", title="Sign in", token=token, next=back)


def use_link(ctx: Context) -> Response:
    token = ctx.request.path_params["token"]
    found = accounts.redeem(ctx.app, token, ctx.now)
    if found is None:
        return ctx.page("signin_dead.html.j2", 410, title="Link no longer valid")
    cookie, _user = found
    response = ctx.redirect(safe_next(ctx.field("next")))  # the page the mail or the visit began at
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=ctx.app.config.web.session_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=ctx.portal.cookie_secure,
        path="/",
    )
    return response


def sign_out(ctx: Context) -> Response:
    if ctx.user is not None:
        accounts.sign_out(ctx.app, ctx.user, ctx.now, everywhere=ctx.field("everywhere") == "yes")
    ctx.user = None
    response = ctx.redirect("/")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=ctx.portal.cookie_secure)
    return response
