"""A deliverable's page, acting on it, and its workflow diagram."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from .. import services, views
from ..errors import AscnError, BadInput, Denied, NotFound
from ..names import check_data, check_text
from .plumbing import STATUS, Context, refusal


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
            ctx, STATUS.get(error.kind, 400), refusal=refusal(error), refused_trigger=trigger, kept=ctx.form
        )
    return ctx.redirect(f"/deliverables/{deliverable_id}?done={quote(trigger)}")


def diagram(ctx: Context) -> Response:
    from ..diagrams import dot, svg

    deliverable_id = ctx.request.path_params["id"]
    assert ctx.user is not None
    _actor_seeing(ctx, deliverable_id)
    with ctx.app.store.transaction(write=False) as db:
        row = db.deliverable(deliverable_id)
    image = svg(dot(ctx.app.definitions.workflow(row.workflow), highlight=row.stage))
    return ctx.finish(Response(image, media_type="image/svg+xml"))
