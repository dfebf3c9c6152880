"""The portal's plumbing: its state, the security headers and access log, one request as the
handlers see it (who, the form, CSRF, the clock), and running a handler."""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..app import App
from ..errors import AscnError, BadInput
from ..outages import database_failure
from . import accounts
from .accounts import SignedIn
from .render import render

if TYPE_CHECKING:
    from concurrent.futures import Executor

log = logging.getLogger("ascn.web")

SESSION_COOKIE = "ascn_session"
ANON_COOKIE = "ascn_anon"
STATUS = {
    "bad_input": 400,
    "not_found": 404,
    "refused": 409,
    "denied": 403,
    "conflict": 409,
    "unavailable": 503,  # the database went away or is full: nothing was half-applied, try again
}
CSP = (
    "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'none'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # links carry secrets (sign-in, calendar feed): never leak them
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
SECRET_PATHS = ("/signin/", "/calendar/")


MAIL_THREADS = 4  # sign-in mails delivered at once by one portal process


class Portal:
    """The application's state: the App (config, definitions, store), the clock and the signing secret."""

    def __init__(self, app: App, clock: Callable[[], datetime], secret: str) -> None:
        self.app = app
        self.clock = clock
        self.secret = secret.encode("utf-8")
        self.cookie_secure = app.config.web.secure
        self._mail: Executor | None = None
        self._mail_lock = threading.Lock()

    def mail_later(self, send: Callable[..., None], *args: Any) -> None:
        """Run a mail's delivery on the portal's own few mail threads, never on the pages' threads:
        with a hung SMTP server each delivery waits up to `[mail] timeout_seconds`, and a burst of
        sign-ins would otherwise hold every thread the pages need. Deliveries still pending when
        the process stops are finished first (the executor's threads are joined at exit)."""
        with self._mail_lock:
            if self._mail is None:
                from concurrent.futures import ThreadPoolExecutor

                self._mail = ThreadPoolExecutor(MAIL_THREADS, thread_name_prefix="ascn-portal-mail")
        self._mail.submit(send, *args)

    def anon_csrf(self, anon: str) -> str:
        """The CSRF token of a visitor not signed in, bound to their `ascn_anon` cookie by the secret."""
        return hmac.new(self.secret, f"anon:{anon}".encode(), "sha256").hexdigest()


# ---------------------------------------------------------------------------- middleware


class Guard:
    """Security headers on every response, and an access log that never writes a secret path."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers", []) if h[0] not in dict(SECURITY_HEADERS)]
                message["headers"] = [*headers, *SECURITY_HEADERS]
            await send(message)

        try:
            await self.inner(scope, receive, with_headers)
        finally:
            log.info(
                "%s %s %s %.1f ms",
                scope["method"],
                loggable(scope["path"]),
                status,
                1000 * (time.perf_counter() - started),
            )


def loggable(path: str) -> str:
    for prefix in SECRET_PATHS:
        if path.startswith(prefix) and len(path) > len(prefix):
            return prefix + "…"
    return path


# ---------------------------------------------------------------------------- plumbing


Handler = Callable[["Context"], Response]


class Context:
    """One request as the handlers see it: who is signed in, the form, the clock's instant."""

    def __init__(self, portal: Portal, request: Request, form: FormData | None) -> None:
        self.portal = portal
        self.app = portal.app
        self.request = request
        self.form = form
        self.now = portal.clock()
        self.user: SignedIn | None = accounts.signed_in(self.app, request.cookies.get(SESSION_COOKIE), self.now)
        self.anon = request.cookies.get(ANON_COOKIE) or secrets.token_urlsafe(24)
        self.set_anon = ANON_COOKIE not in request.cookies

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""

    @property
    def csrf(self) -> str:
        return self.user.csrf if self.user else self.portal.anon_csrf(self.anon)

    def csrf_ok(self) -> bool:
        sent = self.field("csrf")
        # as bytes: compare_digest refuses a str with non-ASCII characters, which anyone may send
        return bool(sent) and hmac.compare_digest(sent.encode("utf-8"), self.csrf.encode("utf-8"))

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        base = {
            "user": self.user,
            "csrf": self.csrf,
            "path": self.request.url.path,
            "is_asec": self.is_asec(),
        }
        response = HTMLResponse(render(template, {**base, **context}), status_code=status)
        return self.finish(response)

    def finish(self, response: Response) -> Response:
        if self.set_anon:
            response.set_cookie(
                ANON_COOKIE, self.anon, httponly=True, samesite="lax", secure=self.portal.cookie_secure, path="/"
            )
        if self.user is not None:
            response.headers["cache-control"] = "no-store"
        return response

    def is_asec(self) -> bool:
        return self.user is not None and any(g.role == "asec" for g in self.user.actor.grants)

    def redirect(self, to: str) -> Response:
        return self.finish(RedirectResponse(to, status_code=303))


def endpoint(
    portal: Portal, handler: Handler, *, signed_in: bool = False, ended_session_ok: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Run `handler` in the thread pool (the store is synchronous); check CSRF on every POST.

    `ended_session_ok`: a POST from a session that already ended is answered by the handler, not
    refused (signing out: nothing to protect, nothing to refuse)."""

    async def run(request: Request) -> Response:
        form = None
        if request.method == "POST":
            body = await _bounded_body(request)
            if body is None:
                return HTMLResponse(TOO_LARGE, status_code=413)
            request = _replaying(request, body)
            form = await request.form(max_files=0, max_fields=200)

        def call() -> Response:
            ctx = Context(portal, request, form)
            if request.method == "POST" and ended_session_ok and ctx.user is None:
                return handler(ctx)
            if request.method == "POST" and not ctx.csrf_ok():
                return ctx.page("error.html.j2", 403, title="Refused", message=CSRF_MESSAGE)
            if signed_in and ctx.user is None:
                return ctx.redirect("/?next=" + quote(request.url.path))
            try:
                portal.app.follow_calendar()  # `ascn calendar set` may have moved a milestone meanwhile
                return handler(ctx)
            except Exception as raised:
                # A database failure (the server restarted mid-request, a race lost at a unique key)
                # is said in one line, as the command line says it, not an internal error.
                error = raised if isinstance(raised, AscnError) else database_failure(raised)
                if error is None:
                    raise
                return ctx.page(
                    "error.html.j2",
                    STATUS.get(error.kind, 400),
                    title=error.kind.replace("_", " "),
                    message=error.message,
                )

        return await run_in_threadpool(call)

    return run


MAX_BODY = 256 * 1024  # the largest form (a nomination) is a few kilobytes; a note is at most 2,000 characters
TOO_LARGE = "<!doctype html><title>Too large</title><p>This form is larger than the portal accepts.</p>"


async def _bounded_body(request: Request) -> bytes | None:
    """The request's body, or None past MAX_BODY: the form parser would hold any size in memory,
    for anyone, before the CSRF check (a declared length is refused before anything is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return None
    except ClientDisconnect:
        return b""
    return bytes(body)


def _replaying(request: Request, body: bytes) -> Request:
    """The same request, its body read once already (to bound it) and given again to the form parser."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


CSRF_MESSAGE = (
    "This form has expired or did not come from this site (missing or wrong CSRF token). Reload the page and try again."
)


def refusal(error: AscnError) -> dict[str, Any]:
    """What a page says of a refusal. A rule's refusal is put in the portal's words: the engine's
    message ends with the command line's `--waive NAME --reason TEXT`; the page says who may waive
    it and, to them, offers the form."""
    rule = error.context.get("rule")
    message = error.message
    if rule is not None and "reason" in error.context:
        rules = error.context.get("rules")
        others = [str(r) for r in rules if r != rule] if isinstance(rules, list) else []
        also = f" (also not met: {', '.join(others)})" if others else ""
        message = f"{error.context.get('trigger')} is refused by rule {rule}: {error.context['reason']}{also}."
    return {"kind": error.kind, "rule": rule, "message": message}


def cycle_param(text: str | None, default: int) -> int:
    """A `cycle` parameter or field: a year in ASCII digits (not "²", which isdigit() accepts), else `default`."""
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):
        raise BadInput(f"cycle must be a year, not {text!r}")
    return int(text)
