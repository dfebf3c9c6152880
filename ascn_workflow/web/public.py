"""The Framework's public page and JSON, the status board, and the calendar feeds."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from .. import views
from ..errors import Denied, NotFound
from . import accounts
from .plumbing import Context, cycle_param


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
    cycle = cycle_param(ctx.request.query_params.get("cycle"), ctx.app.config.cycle)
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
