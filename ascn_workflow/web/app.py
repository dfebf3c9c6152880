"""The portal (SPEC §8): a Starlette application, pages rendered on the server, thin over the services.

Every route parses the request, calls the same service or view the CLI calls, and renders. Acting
is a POST from a signed-in page carrying the session's CSRF token; a GET never changes anything
(the sign-in link asks for a confirming click, because mail scanners open links).

This module lists the routes; plumbing.py runs a handler, and the handlers live by area in
signin.py, deliverables.py, nominations.py and public.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from ..app import App
from .deliverables import advance, deliverable_page, diagram
from .nominations import nominate, nominate_form, nominate_index
from .plumbing import Guard, Handler, Portal, endpoint
from .public import calendar_feed, calendar_new, calendar_page, framework_json, framework_page, status_page
from .render import TEMPLATES
from .signin import confirm_link, home, request_link, sign_out, use_link


def create_app(app: App, clock: Callable[[], datetime], secret: str) -> ASGIApp:
    """The ASGI application for one database: `ascn serve` runs it under uvicorn, tests in a thread."""
    portal = Portal(app, clock, secret)

    def route(path: str, handler: Handler, methods: list[str], signed_in: bool = False) -> Route:
        return Route(
            path, endpoint(portal, handler, signed_in=signed_in, ended_session_ok=handler is sign_out), methods=methods
        )

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
