"""Named rules: plain functions of (context, parameters) that say why a transition may not happen.

`workflows/rules.toml` gives each rule its name and parameters; this registry holds the kinds.
A rule returns None when it holds and a one-line reason when it does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from msgspec import Struct

from .dates import milestone_start, show
from .spec import Calendar, Network, Workflow


class RuleContext(Struct, frozen=True):
    """What a rule may look at: never the database or the clock, only what the caller passes."""

    cycle: int
    member_state: str | None
    data: Mapping[str, Any]
    at: datetime
    calendar: Calendar
    network: Network
    workflows: Mapping[str, Workflow]
    stage_of: Callable[[str], str | None]
    members: Callable[[], tuple[str, ...]] = tuple  # the member state's cities that are members already

    @property
    def member_cities(self) -> tuple[str, ...]:
        """Looked up only by the rules that need it (a query per transition otherwise)."""
        return self.members()


RuleFn = Callable[[RuleContext, Mapping[str, Any]], str | None]


class RuleKind(Struct, frozen=True):
    fn: RuleFn
    params: tuple[str, ...]


KINDS: dict[str, RuleKind] = {}


def rule_kind(name: str, *params: str) -> Callable[[RuleFn], RuleFn]:
    def register(fn: RuleFn) -> RuleFn:
        KINDS[name] = RuleKind(fn, params)
        return fn

    return register


def _cities(ctx: RuleContext) -> list[Mapping[str, Any]]:
    cities = ctx.data.get("cities")
    return [c for c in cities if isinstance(c, Mapping)] if isinstance(cities, list) else []


@rule_kind("max-cities", "max")
def max_cities(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    """Members after this nomination, the cities already in the network included (expansion)."""
    nominated = {str(c.get("slug")) for c in _cities(ctx)}
    count, limit = len(nominated | set(ctx.member_cities)), int(params["max"])
    if count <= limit:
        return None
    already = len(set(ctx.member_cities) - nominated)
    if not already:
        return f"{count} cities nominated, at most {limit} allowed"
    return f"{count} member cities with this nomination ({already} already members), at most {limit} allowed"


@rule_kind("capital-included")
def capital_included(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    if ctx.member_state is None:
        return "no member state"
    capital = ctx.network.member_state(ctx.member_state).capital
    slugs = {c.get("slug") for c in _cities(ctx)} | set(ctx.member_cities)
    return None if capital.slug in slugs else f"the capital {capital.name} is neither nominated nor a member"


def _email_of(person: Any) -> Any:
    return person.get("email") if isinstance(person, Mapping) else None


@rule_kind("csco-per-city")
def csco_per_city(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    missing = [str(c.get("name")) for c in _cities(ctx) if not _email_of(c.get("csco"))]
    return None if not missing else f"no Chief Smart City Officer named for {', '.join(missing)}"


@rule_kind("nr-named")
def nr_named(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    nr = ctx.data.get("national_representative")
    return None if isinstance(nr, Mapping) and nr.get("email") else "no National Representative named"


@rule_kind("document-attached")
def document_attached(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    """The version a body endorses is recorded (effect `record-document-version` gathers it)."""
    if ctx.data.get("version"):
        return None
    return (  # read on the portal too, which cannot attach files
        "no version of the document is attached: the portal cannot attach files; one who may "
        "edit the deliverable attaches one at a terminal with `ascn document add ID FILE`"
    )


@rule_kind("milestone-reached", "milestone")
def milestone_reached(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    milestone = ctx.calendar.milestone(params["milestone"])
    starts = milestone_start(milestone)
    if ctx.at >= starts:
        return None
    return f"only on or after {milestone.title} ({show(starts, milestone.zone)})"


@rule_kind("deliverable-reached", "workflow", "stage")
def deliverable_reached(ctx: RuleContext, params: Mapping[str, Any]) -> str | None:
    workflow = ctx.workflows[params["workflow"]]
    target_id = f"{ctx.cycle}/{workflow.name}"
    stage = ctx.stage_of(target_id)
    wanted = params["stage"]
    if stage is not None and workflow.stage_index(stage) >= workflow.stage_index(wanted):
        return None
    return f"{target_id} must be {wanted} or later (it is {stage or 'not opened'})"
