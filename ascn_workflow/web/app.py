"""The portal (SPEC §8): a Starlette application, pages rendered on the server, thin over the services.

Every route parses the request, calls the same service or view the CLI calls, and renders. Acting
is a POST from a signed-in page carrying the session's CSRF token; a GET never changes anything
(the sign-in link asks for a confirming click, because mail scanners open links).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import services, views
from ..app import App
from ..errors import AscnError, BadInput, Denied, NotFound
from ..names import check_data, check_email, check_text
from . import accounts
from .accounts import SignedIn
from .render import TEMPLATES, render

log = logging.getLogger("ascn.web")

SESSION_COOKIE = "ascn_session"
ANON_COOKIE = "ascn_anon"
STATUS = {"bad_input": 400, "not_found": 404, "refused": 409, "denied": 403, "conflict": 409}
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


class Portal:
    """The application's state: the App (config, definitions, store), the clock and the signing secret."""

    def __init__(self, app: App, clock: Callable[[], datetime], secret: str) -> None:
        self.app = app
        self.clock = clock
        self.secret = secret.encode("utf-8")
        self.cookie_secure = app.config.web.secure

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


def endpoint(portal: Portal, handler: Handler, *, signed_in: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Run `handler` in the thread pool (the store is synchronous); check CSRF on every POST."""

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
            if request.method == "POST" and handler is sign_out and ctx.user is None:
                return sign_out(ctx)  # a session that already ended: nothing to protect, nothing to refuse
            if request.method == "POST" and not ctx.csrf_ok():
                return ctx.page("error.html.j2", 403, title="Refused", message=CSRF_MESSAGE)
            if signed_in and ctx.user is None:
                return ctx.redirect("/?next=" + quote(request.url.path))
            try:
                portal.app.follow_calendar()  # `ascn calendar set` may have moved a milestone meanwhile
                return handler(ctx)
            except AscnError as error:
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


# ---------------------------------------------------------------------------- sign-in


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
            answer.background = BackgroundTask(send_signin, ctx.app, email, name, link, ctx.now)
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


# ---------------------------------------------------------------------------- deliverables


def _actor_seeing(ctx: Context, deliverable_id: str) -> Any:
    from .work import check_may_see

    assert ctx.user is not None
    with ctx.app.store.transaction(write=False) as db:
        actor = views.resolve_actor(db, ctx.user.email)
        row = db.deliverable(deliverable_id)
        chairs = views.chairs_for(ctx.app.definitions, db, actor, row.cycle)
    check_may_see(ctx.app.definitions, actor, row, chairs)
    return actor


def deliverable_page(ctx: Context, status: int = 200, **extra: Any) -> Response:
    from ..engine import WAIVING_ROLES, in_cycle
    from .work import chairs_seen, check_may_see_view

    deliverable_id = ctx.request.path_params["id"]
    assert ctx.user is not None
    actor = ctx.user.actor
    view = views.show_deliverable(ctx.app, deliverable_id, ctx.now, ctx.user.email)
    chairs = chairs_seen(ctx.app, actor, view["cycle"])
    check_may_see_view(ctx.app.definitions, actor, view, chairs)  # before anything of it is shown
    workflow = ctx.app.definitions.workflow(view["workflow"])
    forms = []
    for option in view["next"]:
        if not option["permitted"]:
            continue
        transition = workflow.transition(option["trigger"], view["stage"])
        assert transition is not None
        forms.append(
            {
                **option,
                "note_required": transition.note_required,
                "fields": list(transition.required_data),
                "failing": [r for r in option["rules"] if not r["met"]],
            }
        )
    acting = in_cycle(ctx.app.definitions, actor, view["cycle"], chairs)  # as the engine judges a waiver
    may_waive = any(g.role in WAIVING_ROLES for g in acting.grants)
    return ctx.page(
        "deliverable.html.j2",
        status,
        title=view["id"],
        d=view,
        forms=forms,
        may_waive=may_waive,
        done=ctx.request.query_params.get("done") if status == 200 else None,
        **extra,
    )


def advance(ctx: Context) -> Response:
    deliverable_id = ctx.request.path_params["id"]
    assert ctx.user is not None
    _actor_seeing(ctx, deliverable_id)
    trigger = ctx.field("trigger")
    typed = {k[len("data_") :]: ctx.field(k) for k in (ctx.form or {}) if k.startswith("data_") and ctx.field(k)}
    waive = ctx.field("waive")
    try:
        if waive and not ctx.field("reason"):
            raise BadInput("a waiver needs a reason")
        # the checks `advance` makes of --note and --reason, named as the form names the fields
        note = check_text(ctx.field("note"), "Note", multiline=True) if ctx.field("note") else None
        waivers = {waive: check_text(ctx.field("reason"), "Reason for the waiver")} if waive else {}
        data = check_data(typed, "data")  # the checks of `--data`: one line of text, no command-only field
        services.advance(
            ctx.app,
            deliverable_id,
            trigger,
            ctx.now,
            ctx.user.email,
            note=note,
            data=data,
            waivers=waivers,
            channel="web",
            recorded_by=ctx.user.email,
        )
    except AscnError as error:
        if isinstance(error, NotFound | Denied) and error.context.get("deliverable") is None:
            raise
        return deliverable_page(
            ctx, STATUS.get(error.kind, 400), refusal=_refusal(error), refused_trigger=trigger, kept=ctx.form
        )
    return ctx.redirect(f"/deliverables/{deliverable_id}?done={quote(trigger)}")


def _refusal(error: AscnError) -> dict[str, Any]:
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


def diagram(ctx: Context) -> Response:
    from ..diagrams import dot, svg

    deliverable_id = ctx.request.path_params["id"]
    assert ctx.user is not None
    _actor_seeing(ctx, deliverable_id)
    with ctx.app.store.transaction(write=False) as db:
        row = db.deliverable(deliverable_id)
    image = svg(dot(ctx.app.definitions.workflow(row.workflow), highlight=row.stage))
    return ctx.finish(Response(image, media_type="image/svg+xml"))


# ---------------------------------------------------------------------------- nomination


def _cycle(text: str | None, default: int) -> int:
    """A `cycle` parameter or field: a year in ASCII digits (not "²", which isdigit() accepts), else `default`."""
    if not text:
        return default
    if not (text.isascii() and text.isdigit()):
        raise BadInput(f"cycle must be a year, not {text!r}")
    return int(text)


def _nominating_states(ctx: Context) -> list[str]:
    assert ctx.user is not None
    actor = ctx.user.actor
    if any(g.role == "asec" for g in actor.grants):
        return sorted(ctx.app.definitions.network.member_states)
    return sorted({g.member_state for g in actor.grants if g.role in ("focal_point", "nr") and g.member_state})


def nominate_index(ctx: Context) -> Response:
    states = _nominating_states(ctx)
    cycle = _cycle(ctx.request.query_params.get("cycle"), ctx.app.config.cycle)
    suffix = "" if cycle == ctx.app.config.cycle else f"?cycle={cycle}"  # a later cycle's, kept to the form
    if len(states) == 1:
        return ctx.redirect(f"/nominate/{states[0].lower()}{suffix}")
    network = ctx.app.definitions.network
    return ctx.page(
        "nominate_index.html.j2", title="Nominate", states=[network.member_state(s) for s in states], suffix=suffix
    )


CITY_ROWS = 4


def nominate_form(ctx: Context, status: int = 200, **extra: Any) -> Response:
    code = ctx.request.path_params["code"].upper()
    if code not in ctx.app.definitions.network.member_states:
        raise NotFound(f"unknown member state {code!r}")
    if code not in _nominating_states(ctx):
        raise Denied(f"{ctx.user.email if ctx.user else 'you'} may not nominate for {code}")
    state = ctx.app.definitions.network.member_state(code)
    cycle = extra.pop("cycle", None) or _cycle(ctx.request.query_params.get("cycle"), ctx.app.config.cycle)
    ctx.app.definitions.calendar(cycle)  # a cycle with no calendar: not found, as `nominate --cycle` says
    deliverable_id = f"{cycle}/nomination/{code.lower()}"
    return ctx.page(
        "nominate.html.j2",
        status,
        title=f"Nomination: {state.name}",
        state=state,
        cycle=cycle,
        deliverable_id=deliverable_id,
        rows=range(1, CITY_ROWS + 1),
        kept=extra.pop("kept", None),
        **extra,
    )


def nominate(ctx: Context) -> Response:
    from ..nominations import nomination_from_doc

    code = ctx.request.path_params["code"].upper()
    if code not in _nominating_states(ctx):
        raise Denied(f"{ctx.user.email if ctx.user else 'you'} may not nominate for {code}")
    assert ctx.user is not None
    doc: dict[str, Any] = {"member_state": code, "cities": []}
    if ctx.field("nr_name") or ctx.field("nr_email"):
        doc["national_representative"] = {"name": ctx.field("nr_name"), "email": ctx.field("nr_email")}
    for i in range(1, CITY_ROWS + 1):
        name = ctx.field(f"city{i}_name")
        if not name:
            continue
        city: dict[str, Any] = {"name": name}
        if ctx.field(f"city{i}_zone"):
            city["timezone"] = ctx.field(f"city{i}_zone")
        if ctx.field(f"city{i}_csco_name") or ctx.field(f"city{i}_csco_email"):
            city["csco"] = {"name": ctx.field(f"city{i}_csco_name"), "email": ctx.field(f"city{i}_csco_email")}
        doc["cities"].append(city)
    waive = ctx.field("waive")
    cycle = ctx.app.config.cycle
    try:
        cycle = _cycle(ctx.field("cycle") or None, cycle)  # a later cycle's nomination, as `nominate --cycle`
        if waive and not ctx.field("reason"):
            raise BadInput("a waiver needs a reason")
        nomination = nomination_from_doc(doc, code, ctx.app.definitions.network, "nomination")
        result = services.submit_nomination(
            ctx.app,
            code,
            nomination,
            ctx.now,
            ctx.user.email,
            waivers={waive: ctx.field("reason")} if waive else {},
            cycle=cycle,
            channel="web",
            recorded_by=ctx.user.email,
        )
    except AscnError as error:
        shown = cycle if cycle in ctx.app.definitions.calendars else ctx.app.config.cycle
        return nominate_form(ctx, STATUS.get(error.kind, 400), refusal=_refusal(error), kept=ctx.form, cycle=shown)
    return ctx.redirect(f"/deliverables/{result['id']}?done=submit")


# ---------------------------------------------------------------------------- public and ASEC pages


def framework_page(ctx: Context) -> Response:
    return ctx.page("framework.html.j2", title="The ASEAN Smart Cities Framework", f=views.framework(ctx.app, ctx.now))


def framework_json(ctx: Context) -> Response:
    return ctx.finish(JSONResponse(views.framework(ctx.app, ctx.now)))


def status_page(ctx: Context) -> Response:
    if not ctx.is_asec():
        raise Denied("the status of every deliverable is for ASEC")
    defs = ctx.app.definitions
    workflow = ctx.request.query_params.get("workflow") or None
    stage = ctx.request.query_params.get("stage") or None
    member_state = ctx.request.query_params.get("member_state") or None
    overdue = ctx.request.query_params.get("overdue") == "yes"
    cycle = _cycle(ctx.request.query_params.get("cycle"), ctx.app.config.cycle)
    rows = views.status(
        ctx.app, ctx.now, cycle=cycle, workflow=workflow, stage=stage, member_state=member_state, overdue=overdue
    )
    return ctx.page(
        "status.html.j2",
        title=f"Status {cycle}",
        rows=rows,
        cycle=cycle,
        cycles=sorted(defs.calendars),
        workflows=sorted(defs.workflows),
        states=sorted(defs.network.member_states),
        chosen={"workflow": workflow, "stage": stage, "member_state": member_state, "overdue": overdue},
    )


def calendar_page(ctx: Context, fresh: str | None = None) -> Response:
    assert ctx.user is not None
    url = f"{ctx.app.config.web.base_url}/calendar/{fresh}.ics" if fresh else None
    return ctx.page(
        "calendar.html.j2", title="Calendar feed", url=url, has_feed=accounts.has_feed(ctx.app, ctx.user.email)
    )


def calendar_new(ctx: Context) -> Response:
    assert ctx.user is not None
    if ctx.field("action") == "revoke":
        accounts.revoke_feeds(ctx.app, ctx.user.email, ctx.now)
        return calendar_page(ctx)
    return calendar_page(ctx, fresh=accounts.new_feed(ctx.app, ctx.user.email, ctx.now))


def calendar_feed(ctx: Context) -> Response:
    from .. import calendar_feed as feed

    email = accounts.feed_owner(ctx.app, ctx.request.path_params["token"])
    if email is None:
        raise NotFound("no such calendar feed (it may have been replaced by a newer one)")
    cycle = ctx.app.config.cycle
    rows = feed.entries(ctx.app, cycle, ctx.now, email, milestones=True)  # never empty: a 404 breaks a subscription
    return Response(feed.to_ics(rows, cycle, ctx.now), media_type="text/calendar; charset=utf-8")


# ---------------------------------------------------------------------------- the application


def create_app(app: App, clock: Callable[[], datetime], secret: str) -> ASGIApp:
    """The ASGI application for one database: `ascn serve` runs it under uvicorn, tests in a thread."""
    portal = Portal(app, clock, secret)

    def route(path: str, handler: Handler, methods: list[str], signed_in: bool = False) -> Route:
        return Route(path, endpoint(portal, handler, signed_in=signed_in), methods=methods)

    routes = [
        route("/", home, ["GET"]),
        route("/signin", request_link, ["POST"]),
        route("/signin/{token}", confirm_link, ["GET"]),
        route("/signin/{token}", use_link, ["POST"]),
        route("/signout", sign_out, ["POST"]),
        route("/deliverables/{id:path}/diagram.svg", diagram, ["GET"], signed_in=True),
        route("/deliverables/{id:path}/advance", advance, ["POST"], signed_in=True),
        route("/deliverables/{id:path}", deliverable_page, ["GET"], signed_in=True),
        route("/nominate", nominate_index, ["GET"], signed_in=True),
        route("/nominate/{code}", nominate_form, ["GET"], signed_in=True),
        route("/nominate/{code}", nominate, ["POST"], signed_in=True),
        route("/framework", framework_page, ["GET"]),
        route("/framework.json", framework_json, ["GET"]),
        route("/status", status_page, ["GET"], signed_in=True),
        route("/calendar", calendar_page, ["GET"], signed_in=True),
        route("/calendar", calendar_new, ["POST"], signed_in=True),
        route("/calendar/{token}.ics", calendar_feed, ["GET"]),
        Mount("/static", StaticFiles(directory=TEMPLATES.parent / "static"), name="static"),
    ]
    return Guard(Starlette(routes=routes))
