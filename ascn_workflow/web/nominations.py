"""A member state's nomination, entered on a form as `ascn nominate --file` takes it."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .. import services
from ..errors import AscnError, BadInput, Denied, NotFound
from .plumbing import STATUS, Context, cycle_param, refusal


def _nominating_states(ctx: Context) -> list[str]:
    assert ctx.user is not None
    actor = ctx.user.actor
    if any(g.role == "asec" for g in actor.grants):
        return sorted(ctx.app.definitions.network.member_states)
    return sorted({g.member_state for g in actor.grants if g.role in ("focal_point", "nr") and g.member_state})


def nominate_index(ctx: Context) -> Response:
    states = _nominating_states(ctx)
    cycle = cycle_param(ctx.request.query_params.get("cycle"), ctx.app.config.cycle)
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
    cycle = extra.pop("cycle", None) or cycle_param(ctx.request.query_params.get("cycle"), ctx.app.config.cycle)
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
        cycle = cycle_param(ctx.field("cycle") or None, cycle)  # a later cycle's nomination, as `nominate --cycle`
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
        return nominate_form(ctx, STATUS.get(error.kind, 400), refusal=refusal(error), kept=ctx.form, cycle=shown)
    return ctx.redirect(f"/deliverables/{result['id']}?done=submit")
