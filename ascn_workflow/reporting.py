"""The annual report ASEC drafts for the JCM, from the database: figures first, then Markdown or HTML.

`annual_report` gathers every section as plain data, one function per section; the templates only
lay them out, so a test can check each figure against the database and find it in the document.
The report depends only on the database and `now` (no wall clock): one instant, one output.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from html import escape
from typing import Any

from msgspec import Struct, field

from . import views
from .app import App
from .dates import milestone_start, show
from .definitions import Definitions
from .store import HistoryEntry

PAIRED = ("matched", "finalised", "announced", "noted")


class _Year(Struct):
    """What every section reads: the cycle's deliverables, their history, the cities and the people."""

    defs: Definitions
    year: int
    zone: str
    now: datetime
    rows: list[Any]
    events: list[HistoryEntry]
    cities: dict[str, Any]
    people: list[tuple[Any, Any]]
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        history: dict[str, list[HistoryEntry]] = defaultdict(list)
        for e in self.events:
            history[e.deliverable_id].append(e)
        self.history = history

    @property
    def ids(self) -> set[str]:
        return {r.id for r in self.rows}

    def of(self, workflow: str) -> list[Any]:
        return [r for r in self.rows if r.workflow == workflow]

    def when(self, e: HistoryEntry | None) -> str | None:
        return show(e.effective_at, self.zone) if e else None

    def city_name(self, slug: str | None) -> str:
        return self.cities[slug].name if slug in self.cities else slug or ""

    @property
    def member_cities(self) -> list[str]:
        slugs = {r.city for r in self.of("action-plan") if r.city}
        return sorted(slugs, key=lambda s: (self.cities[s].member_state, s))


def _read(app: App, year: int, now: datetime) -> _Year:
    defs = app.definitions
    with app.store.read() as tx:
        rows = tx.deliverables(cycle=year)
        events = tx.history_of_cycle(year)
        cities = {c.slug: c for c in tx.cities()}
        people = tx.people()
    return _Year(defs, year, defs.calendar(year).zone, now, list(rows), list(events), cities, list(people))


def annual_report(app: App, year: int, now: datetime) -> dict[str, Any]:
    y = _read(app, year, now)
    calendar = y.defs.calendar(year)
    members = _members(y)
    nominations = _nominations(y)
    action_plans = _action_plans(y)
    twinning = _twinning(y)
    reviews = _progress_reviews(y)
    projects = _projects(y)
    overdue, lapsed, waived = _overdue(y), _lapsed(y), _waived(y)
    framework = views.framework(app, now, year) if f"{year}/framework" in y.ids else None
    milestones = _milestones(y)
    return {
        "cycle": year,
        "chair": y.defs.network.member_state(calendar.chair).name,
        "host": y.defs.network.member_state(calendar.host).name,
        "generated_at": show(now, y.zone),
        "figures": {
            "member_states": sum(1 for m in members if m["cities"]),
            "member_cities": len(y.member_cities),
            "nominations_accepted": sum(1 for n in nominations if n["stage"] == "accepted"),
            "action_plans": len(action_plans["cities_all"]),
            "action_plans_noted": _count(action_plans["by_stage"], "noted"),
            "twinning_pairs": len(twinning["pairs"]),
            "twinning_opt_outs": len(twinning["opted_out"]),
            "overdue": len(overdue),
            "waivers": len(waived),
            "progress_reviews": len(reviews["all"]),
            "progress_reviews_published": _count(reviews["by_stage"], "published"),
            "projects": len(projects),
            "projects_dropped": sum(p["stage"] == "dropped" for p in projects),
        },
        "members": members,
        "nominations": nominations,
        "framework": framework,
        "action_plans": {k: v for k, v in action_plans.items() if k != "cities_all"},
        "twinning": twinning,
        "progress_reviews": {k: v for k, v in reviews.items() if k != "all"},
        "projects": projects,
        "overdue": overdue,
        "lapsed": lapsed,
        "waived": waived,
        "milestones": [{k: v for k, v in m.items() if k != "day"} for m in milestones],
        "timeline_svg": timeline_svg(year, milestones, framework),
    }


def _count(by_stage: list[dict[str, Any]], stage: str) -> int:
    return next((s["count"] for s in by_stage if s["stage"] == stage), 0)


def _by_stage(y: _Year, workflow: str, rows: Iterable[Any]) -> list[dict[str, Any]]:
    counts = Counter(r.stage for r in rows)
    return [{"stage": s.name, "count": counts.get(s.name, 0)} for s in y.defs.workflow(workflow).stages]


# ---------------------------------------------------------------------------- sections


def _members(y: _Year) -> list[dict[str, Any]]:
    """Each member state with its NR(s), its member cities and their CSCOs."""
    nrs: dict[str, list[str]] = defaultdict(list)
    cscos: dict[str, list[str]] = defaultdict(list)
    for person, role in y.people:
        if role.role == "nr":
            nrs[role.member_state].append(f"{person.name} <{person.email}>")
        elif role.role == "csco":
            cscos[role.city].append(f"{person.name} <{person.email}>")
    members = []
    for code, state in y.defs.network.in_cycle(y.year).items():
        mine = [s for s in y.member_cities if y.cities[s].member_state == code]
        members.append(
            {
                "code": code,
                "name": state.name,
                "nr": nrs.get(code, []),
                "cities": [{"slug": s, "name": y.cities[s].name, "csco": cscos.get(s, [])} for s in mine],
            }
        )
    return members


def _nominations(y: _Year) -> list[dict[str, Any]]:
    """Each member state's nomination: when submitted, lapsed and accepted; in the order submitted."""
    by_id = {r.id: r for r in y.rows}
    nominations = []
    for code in y.defs.network.member_states:
        row = by_id.get(f"{y.year}/nomination/{code.lower()}")
        if row is None:
            continue
        evs = y.history[row.id]

        def first(trigger: str, evs: list[HistoryEntry] = evs) -> str | None:
            return y.when(next((e for e in evs if e.trigger == trigger), None))

        nominations.append(
            {
                "member_state": code,
                "stage": row.stage,
                "submitted": first("submit"),
                "lapsed": first("lapse"),
                "accepted": first("accept"),
                "cities": len([s for s in y.member_cities if y.cities[s].member_state == code]),
            }
        )
    nominations.sort(key=lambda n: (n["submitted"] is None, n["submitted"] or "", n["member_state"]))
    return nominations


def _action_plans(y: _Year) -> dict[str, Any]:
    plans = y.of("action-plan")
    return {
        "by_stage": _by_stage(y, "action-plan", plans),
        "cities": [
            {"city": y.city_name(r.city), "member_state": r.member_state, "stage": r.stage}
            for r in sorted(plans, key=lambda r: (r.member_state or "", r.city or ""))
            if r.city
        ],
        "cities_all": plans,
    }


def _twinning(y: _Year) -> dict[str, Any]:
    twins = y.of("twinning")
    pairs = sorted(
        (
            {
                "city": y.city_name(r.city),
                "member_state": r.member_state,
                "partner": r.data.get("partner"),
                "stage": r.stage,
            }
            for r in twins
            if r.stage in PAIRED and r.city
        ),
        key=lambda p: (p["member_state"], p["city"]),
    )
    opted_out = sorted(y.city_name(r.city) for r in twins if r.stage == "opted_out" and r.city)
    return {"pairs": pairs, "opted_out": opted_out}


def _progress_reviews(y: _Year) -> dict[str, Any]:
    reviews = y.of("progress-review")
    return {
        "by_stage": _by_stage(y, "progress-review", reviews) if reviews else [],
        "cities": [
            {"city": y.city_name(r.city), "stage": r.stage, "projects": len(r.data.get("projects") or [])}
            for r in sorted(reviews, key=lambda r: r.city or "")
            if r.city in y.cities
        ],
        "all": reviews,
    }


def _projects(y: _Year) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "city": y.city_name(r.city),
            "title": r.data.get("title"),
            "stage": r.stage,
            "provider": r.data.get("provider"),
            "focus": r.data.get("focus"),
            "funding": (r.data.get("funding") or {}).get("name"),
            "reason": next((e.note for e in reversed(y.history[r.id]) if e.trigger == "drop"), None),
        }
        for r in y.of("project")
    ]


def _overdue(y: _Year) -> list[str]:
    return sorted(r.id for r in y.rows if r.deadline is not None and r.deadline < y.now)


def _lapsed(y: _Year) -> list[str]:
    return sorted({e.deliverable_id for e in y.events if e.actor == "scheduler"})


def _waived(y: _Year) -> list[dict[str, Any]]:
    return [
        {
            "deliverable_id": e.deliverable_id,
            "trigger": e.trigger,
            "rule": rule,
            "reason": reason,
            "actor": e.actor,
            "effective_at": y.when(e),
        }
        for e in y.events
        for rule, reason in (e.waivers or {}).items()
    ]


def _milestones(y: _Year) -> list[dict[str, Any]]:
    calendar = y.defs.calendar(y.year)
    return [
        {
            "id": m.id,
            "title": m.title,
            "start": show(milestone_start(m), m.zone),
            "first_day": m.start.isoformat(),
            "last_day": m.end.isoformat(),
            "day": m.start,
        }
        for m in sorted(calendar.milestones.values(), key=lambda m: (m.start, m.id))
    ]


# ---------------------------------------------------------------------------- the timeline

_CHAR_WIDTH = 6.6  # 11px Helvetica/Arial/DejaVu Sans averages under 6.5px a character: an upper bound
_ROW = 16


def _rows(marks: list[tuple[float, str]]) -> list[int]:
    """A row for each label so that no label overlaps another label or another mark's line.

    A label starts at its mark and runs right; a mark's line rises from the axis through every
    row below its own label. So, right to left, a label goes one row above every label that
    starts under it: their lines stop below it, and its own line is left of all of them.
    """
    placed: list[tuple[float, int]] = []  # (where the label starts, its row)
    rows = [0] * len(marks)
    for i in sorted(range(len(marks)), key=lambda i: -marks[i][0]):
        x, text = marks[i]
        end = x + 3 + _CHAR_WIDTH * len(text) + 6
        under = [row for start, row in placed if start < end]
        rows[i] = max(under) + 1 if under else 0
        placed.append((x, rows[i]))
    return rows


def timeline_svg(year: int, milestones: list[dict[str, Any]], framework: dict[str, Any] | None) -> str:
    """The year on one axis: milestones above it, the Framework's steps below. Inline SVG, no script."""
    left, right = 40, 920
    first, last = date(year, 1, 1), date(year, 12, 31)

    def x(day: date) -> float:
        return left + (right - left) * (day - first).days / (last - first).days

    above = [(x(m["day"]), m["id"]) for m in milestones]
    steps = [p for p in (framework or {}).get("path", []) if p.get("at")]
    below = [(x(date.fromisoformat(p["at"][:10])), f"Framework: {p['stage']}") for p in steps]
    up, down = _rows(above), _rows(below)
    axis = 40 + _ROW * (max(up, default=0) + 1)
    height = axis + 40 + _ROW * (max(down, default=0) + 1)
    width = max([960.0] + [mx + 3 + _CHAR_WIDTH * len(t) + 10 for mx, t in above + below])
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" role="img" aria-label="ASCN {year} timeline" '
        f'font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height}" fill="#ffffff"/>',
        f'<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#333" stroke-width="2"/>',
    ]
    for month in range(1, 13):
        mx = x(date(year, month, 1))
        parts.append(f'<line x1="{mx:.1f}" y1="{axis - 4}" x2="{mx:.1f}" y2="{axis + 4}" stroke="#333"/>')
        parts.append(f'<text x="{mx + 2:.1f}" y="{axis + 16}" fill="#555">{date(year, month, 1):%b}</text>')
    for (mx, text), row in zip(above, up, strict=True):
        y = axis - 20 - _ROW * row
        parts.append(f'<circle cx="{mx:.1f}" cy="{axis}" r="5" fill="#1f6fb2"/>')
        parts.append(
            f'<line x1="{mx:.1f}" y1="{axis - 5}" x2="{mx:.1f}" y2="{y + 2}" stroke="#1f6fb2" class="milestone"/>'
        )
        parts.append(f'<text x="{mx + 3:.1f}" y="{y}" fill="#1f6fb2" class="milestone">{escape(text)}</text>')
    for (mx, text), row in zip(below, down, strict=True):
        y = axis + 40 + _ROW * row
        parts.append(f'<rect x="{mx - 4:.1f}" y="{axis - 4}" width="8" height="8" fill="#c0392b"/>')
        parts.append(f'<line x1="{mx:.1f}" y1="{axis + 4}" x2="{mx:.1f}" y2="{y - 10}" stroke="#c0392b" class="step"/>')
        parts.append(f'<text x="{mx + 3:.1f}" y="{y}" fill="#c0392b" class="step">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# ---------------------------------------------------------------------------- rendering


MARKDOWN_PUNCTUATION = "\\`*[]"  # what makes emphasis, code or a link (`[x](javascript:…)`) out of a name


def _markdown_text(value: Any) -> Any:
    """Keep a value inside its Markdown table cell and out of any HTML a Markdown viewer passes
    through, and make no link, emphasis or code of it: a partner named `[x](javascript:…)` is text."""
    if not isinstance(value, str):
        return value
    for ch in MARKDOWN_PUNCTUATION:
        value = value.replace(ch, "\\" + ch)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")


def render(report: dict[str, Any], fmt: str) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("ascn_workflow", "report_templates"),
        # Templates are named `annual.html.j2`: the rule must match that whole ending.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_markdown_text if fmt == "md" else None,
    )
    return env.get_template(f"annual.{fmt}.j2").render(r=report)
