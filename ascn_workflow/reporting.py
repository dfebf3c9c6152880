"""The annual report ASEC drafts for the JCM, from the database: figures first, then Markdown or HTML.

`annual_report` gathers every figure as plain data; the templates only lay them out, so a test can
check each figure against the database and find it in the rendered document.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from html import escape
from typing import Any

from . import views
from .app import App
from .dates import milestone_start, show
from .store import HistoryEntry

PAIRED = ("matched", "finalised", "announced", "noted")


def annual_report(app: App, year: int, now: datetime) -> dict[str, Any]:
    defs = app.definitions
    calendar = defs.calendar(year)
    zone = calendar.zone
    with app.store.read() as tx:
        rows = tx.deliverables(cycle=year)
        events = tx.history_of_cycle(year)
        cities = {c.slug: c for c in tx.cities()}
        people = tx.people()
    by_id = {r.id: r for r in rows}
    history: dict[str, list[HistoryEntry]] = defaultdict(list)
    for e in events:
        history[e.deliverable_id].append(e)

    def when(e: HistoryEntry | None) -> str | None:
        return show(e.effective_at, zone) if e else None

    member_cities = sorted(
        {r.city for r in rows if r.workflow == "action-plan" and r.city}, key=lambda s: (cities[s].member_state, s)
    )
    nrs: dict[str, list[str]] = defaultdict(list)
    cscos: dict[str, list[str]] = defaultdict(list)
    for person, role in people:
        if role.role == "nr":
            nrs[role.member_state].append(f"{person.name} <{person.email}>")
        elif role.role == "csco":
            cscos[role.city].append(f"{person.name} <{person.email}>")
    members = []
    for code, state in defs.network.in_cycle(year).items():
        mine = [s for s in member_cities if cities[s].member_state == code]
        members.append(
            {
                "code": code,
                "name": state.name,
                "nr": nrs.get(code, []),
                "cities": [{"slug": s, "name": cities[s].name, "csco": cscos.get(s, [])} for s in mine],
            }
        )

    nominations = []
    for code in defs.network.member_states:
        row = by_id.get(f"{year}/nomination/{code.lower()}")
        if row is None:
            continue
        evs = history[row.id]
        nominations.append(
            {
                "member_state": code,
                "stage": row.stage,
                "submitted": when(next((e for e in evs if e.trigger == "submit"), None)),
                "lapsed": when(next((e for e in evs if e.trigger == "lapse"), None)),
                "accepted": when(next((e for e in evs if e.trigger == "accept"), None)),
                "cities": len([s for s in member_cities if cities[s].member_state == code]),
            }
        )
    nominations.sort(key=lambda n: (n["submitted"] is None, n["submitted"] or "", n["member_state"]))

    plans = [r for r in rows if r.workflow == "action-plan"]
    plan_stages = Counter(r.stage for r in plans)
    twins = [r for r in rows if r.workflow == "twinning"]
    pairs = sorted(
        (
            {
                "city": cities[r.city].name,
                "member_state": r.member_state,
                "partner": r.data.get("partner"),
                "stage": r.stage,
            }
            for r in twins
            if r.stage in PAIRED and r.city
        ),
        key=lambda p: (p["member_state"], p["city"]),
    )
    opted_out = sorted(cities[r.city].name for r in twins if r.stage == "opted_out" and r.city)
    overdue = sorted(r.id for r in rows if r.deadline is not None and r.deadline < now)
    lapsed = sorted({e.deliverable_id for e in events if e.actor == "scheduler"})
    waived = [
        {
            "deliverable": e.deliverable_id,
            "trigger": e.trigger,
            "rule": rule,
            "reason": reason,
            "by": e.actor,
            "at": when(e),
        }
        for e in events
        for rule, reason in (e.waivers or {}).items()
    ]
    reviews = [r for r in rows if r.workflow == "progress-review"]
    review_stages = Counter(r.stage for r in reviews)
    projects = [
        {
            "id": r.id,
            "city": cities[r.city].name if r.city in cities else r.city,
            "title": r.data.get("title"),
            "stage": r.stage,
            "provider": r.data.get("provider"),
            "focus": r.data.get("focus"),
            "funding": (r.data.get("funding") or {}).get("name"),
            "reason": next((e.note for e in reversed(history[r.id]) if e.trigger == "drop"), None),
        }
        for r in rows
        if r.workflow == "project"
    ]
    framework = views.framework(app, now, year) if f"{year}/framework" in by_id else None
    milestones = [
        {"id": m.id, "title": m.title, "start": show(milestone_start(m), m.zone), "day": m.start}
        for m in sorted(calendar.milestones.values(), key=lambda m: m.start)
    ]
    return {
        "cycle": year,
        "chair": defs.network.member_state(calendar.chair).name,
        "host": defs.network.member_state(calendar.host).name,
        "generated_at": show(now, zone),
        "figures": {
            "member_states": sum(1 for m in members if m["cities"]),
            "member_cities": len(member_cities),
            "nominations_accepted": sum(1 for n in nominations if n["stage"] == "accepted"),
            "action_plans": len(plans),
            "action_plans_noted": plan_stages.get("noted", 0),
            "twinning_pairs": len(pairs),
            "twinning_opt_outs": len(opted_out),
            "overdue": len(overdue),
            "waivers": len(waived),
            "progress_reviews": len(reviews),
            "progress_reviews_published": review_stages.get("published", 0),
            "projects": len(projects),
            "projects_dropped": sum(p["stage"] == "dropped" for p in projects),
        },
        "members": members,
        "nominations": nominations,
        "framework": framework,
        "action_plans": {
            "by_stage": [
                {"stage": s.name, "count": plan_stages.get(s.name, 0)} for s in defs.workflow("action-plan").stages
            ],
            "cities": [
                {"city": cities[r.city].name, "member_state": r.member_state, "stage": r.stage}
                for r in sorted(plans, key=lambda r: (r.member_state or "", r.city or ""))
                if r.city
            ],
        },
        "twinning": {"pairs": pairs, "opted_out": opted_out},
        "progress_reviews": {
            "by_stage": [
                {"stage": st.name, "count": review_stages.get(st.name, 0)}
                for st in defs.workflow("progress-review").stages
            ]
            if reviews
            else [],
            "cities": [
                {"city": cities[r.city].name, "stage": r.stage, "projects": len(r.data.get("projects") or [])}
                for r in sorted(reviews, key=lambda r: r.city or "")
                if r.city in cities
            ],
        },
        "projects": projects,
        "overdue": overdue,
        "lapsed": lapsed,
        "waived": waived,
        "milestones": [{k: v for k, v in m.items() if k != "day"} for m in milestones],
        "timeline_svg": timeline_svg(year, milestones, framework, zone),
    }


def timeline_svg(year: int, milestones: list[dict[str, Any]], framework: dict[str, Any] | None, zone: str) -> str:
    """The year on one axis: milestones above it, the Framework's steps below. Inline SVG, no script."""
    width, left, right, axis = 960, 40, 920, 120
    first, last = date(year, 1, 1), date(year, 12, 31)

    def x(day: date) -> float:
        return left + (right - left) * (day - first).days / (last - first).days

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="240" viewBox="0 0 {width} 240" '
        f'role="img" aria-label="ASCN {year} timeline" font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f'<rect x="0" y="0" width="{width}" height="240" fill="#ffffff"/>',
        f'<line x1="{left}" y1="{axis}" x2="{right}" y2="{axis}" stroke="#333" stroke-width="2"/>',
    ]
    for month in range(1, 13):
        mx = x(date(year, month, 1))
        parts.append(f'<line x1="{mx:.1f}" y1="{axis - 4}" x2="{mx:.1f}" y2="{axis + 4}" stroke="#333"/>')
        parts.append(f'<text x="{mx + 2:.1f}" y="{axis + 16}" fill="#555">{date(year, month, 1):%b}</text>')
    for i, m in enumerate(milestones):
        mx, y = x(m["day"]), axis - 24 - 18 * (i % 4)
        parts.append(f'<circle cx="{mx:.1f}" cy="{axis}" r="6" fill="#1f6fb2"/>')
        parts.append(f'<line x1="{mx:.1f}" y1="{axis - 6}" x2="{mx:.1f}" y2="{y + 3}" stroke="#1f6fb2"/>')
        parts.append(f'<text x="{mx + 3:.1f}" y="{y}" fill="#1f6fb2">{escape(m["id"])}</text>')
    steps = [p for p in (framework or {}).get("path", []) if p.get("at")]
    for i, p in enumerate(steps):
        day = date.fromisoformat(p["at"][:10])
        mx, y = x(day), axis + 40 + 16 * (i % 4)
        parts.append(f'<rect x="{mx - 5:.1f}" y="{axis - 5}" width="10" height="10" fill="#c0392b"/>')
        parts.append(f'<line x1="{mx:.1f}" y1="{axis + 5}" x2="{mx:.1f}" y2="{y - 10}" stroke="#c0392b"/>')
        parts.append(f'<text x="{mx + 3:.1f}" y="{y}" fill="#c0392b">Framework: {escape(p["stage"])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render(report: dict[str, Any], fmt: str) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("ascn_workflow", "report_templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(f"annual.{fmt}.j2").render(r=report)
