"""Workflow, rule, network and calendar definitions: parsed once from `workflows/` into frozen specs.

The parser collects every problem before failing (like SpiffWorkflow's `validate`), each with the
file, the line where it can be found and the key, so that `ascn workflows check` lists them all.
Nothing here does I/O except `load`, which reads the files and hands their text to the parsers.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from .errors import DefinitionError
from .spec import (
    EFFECTS,
    MEMBER_STATE_CODES,
    NETWORK_ROLES,
    OPENS,
    ROLES,
    SUBJECTS,
    Calendar,
    ChairRotation,
    City,
    Definitions,
    MemberState,
    Milestone,
    Network,
    RuleSpec,
    Stage,
    Transition,
    Workflow,
    check_slug,
    slugify,
)

# The spec types are re-exported: a caller that loads definitions gets their types from here too.
__all__ = [
    "EFFECTS",
    "MEMBER_STATE_CODES",
    "NETWORK_ROLES",
    "OPENS",
    "ROLES",
    "SUBJECTS",
    "Calendar",
    "ChairRotation",
    "City",
    "Definitions",
    "MemberState",
    "Milestone",
    "Network",
    "RuleSpec",
    "Stage",
    "Transition",
    "Workflow",
    "load",
    "parse_all",
    "read_tree",
    "slugify",
]

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class _Source:
    """A file's text, to say on which line a key stands and to collect the file's problems."""

    def __init__(self, name: str, text: str, problems: list[str]) -> None:
        self.name = name
        self.lines = text.splitlines()
        self.problems = problems

    def line_of(self, key: str) -> int | None:
        """Best effort: the line of a `[table]` header, the n-th `[[array]]` or a `key =`."""
        m = re.fullmatch(r"(\w+)\[(\d+)\](?:\.(\w+))?", key)
        if m:
            headers = [i for i, ln in enumerate(self.lines) if ln.strip() == f"[[{m.group(1)}]]"]
            index = int(m.group(2))
            if index < len(headers):
                return self._key_after(headers[index], m.group(3)) + 1
        parts = key.split(".")
        for depth in range(len(parts), 0, -1):
            header = ".".join(parts[:depth])
            for i, ln in enumerate(self.lines):
                if ln.strip() in (f"[{header}]", f'[{parts[0]}."{".".join(parts[1:depth])}"]'):
                    rest = parts[depth] if depth < len(parts) else None
                    return self._key_after(i, rest) + 1
        for i, ln in enumerate(self.lines):
            if re.match(rf"\s*{re.escape(parts[-1])}\s*=", ln) or f"{parts[-1]} =" in ln:
                return i + 1
        return None

    def _key_after(self, start: int, key: str | None) -> int:
        if key is None:
            return start
        for i in range(start + 1, len(self.lines)):
            stripped = self.lines[i].strip()
            if stripped.startswith("["):
                break
            if re.match(rf"{re.escape(key)}\s*=", stripped):
                return i
        return start

    def problem(self, key: str, message: str) -> None:
        line = self.line_of(key) if key else None
        where = f"{self.name}:{line}" if line else self.name
        self.problems.append(f"{where}: {key}: {message}" if key else f"{where}: {message}")


def _parse_toml(name: str, text: str, problems: list[str]) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{name}: {exc}")
        return None


def _strings(value: Any) -> tuple[str, ...] | None:
    """A string or a list of strings as a tuple; None when it is neither."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def valid_zone(zone: object) -> bool:
    """A canonical IANA name only (`Asia/Singapore`, `UTC`): not the machine's own `localtime`,
    tzdata's `Factory` and `posixrules`, nor its `posix/` and `right/` trees, which ZoneInfo
    opens but which are no zone a person lives in (and would reach an .ics as its TZID)."""
    return isinstance(zone, str) and _iana_zone(zone)


@functools.cache
def _iana_zone(name: str) -> bool:
    """`name in zoneinfo.available_timezones()` minus the names above, asked of the one file the
    name points at: listing every zone file costs ~8 ms at each start, and the network names a
    dozen zones (tests/test_definitions.py holds the answer to the full listing's)."""
    if (
        not name
        or name in NOT_ZONES
        or name.startswith(("posix/", "right/", "/"))
        or name.endswith((".tab", ".zi"))
        or os.path.normpath(name) != name
        or name.split("/", 1)[0] == ".."
    ):
        return False
    import zoneinfo

    for root in zoneinfo.TZPATH:  # as available_timezones walks them: files, not through linked folders
        path = os.path.join(root, name)
        parents = [os.path.join(root, *name.split("/")[:depth]) for depth in range(1, name.count("/") + 1)]
        if os.path.isfile(path) and not any(os.path.islink(parent) for parent in parents):
            try:
                with open(path, "rb") as file:
                    if file.read(4) == b"TZif":
                        return True
            except OSError:
                pass
    return name in _tzdata_zones()


@functools.cache
def _tzdata_zones() -> frozenset[str]:
    """The zones of the `tzdata` package, which available_timezones also lists (one small file)."""
    from importlib.util import find_spec

    spec = find_spec("tzdata")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    try:
        text = Path(next(iter(spec.submodule_search_locations)), "zones").read_text()
    except OSError:
        return frozenset()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


# --------------------------------------------------------------------------- network


def parse_network(name: str, text: str, problems: list[str]) -> Network:
    src = _Source(name, text, problems)
    doc = _parse_toml(name, text, problems) or {}
    states: dict[str, MemberState] = {}
    seen_slugs: dict[str, str] = {}
    for code, raw in (doc.get("member_states") or {}).items():
        key = f"member_states.{code}"
        if code not in MEMBER_STATE_CODES:
            src.problem(key, f"{code!r} is not the ISO code of an ASEAN Member State")
            continue
        zone = raw.get("zone")
        if not valid_zone(zone):
            src.problem(f"{key}.zone", f"unknown time zone {zone!r}")
            zone = "UTC"
        cities = []
        for i, craw in enumerate(raw.get("cities") or []):
            city_name = craw.get("name") if isinstance(craw, dict) else None
            if not isinstance(city_name, str) or not city_name.strip():
                src.problem(f"{key}.cities", f"city #{i + 1} has no name")
                continue
            city_zone = craw.get("zone", zone)
            if not valid_zone(city_zone):
                src.problem(f"{key}.cities", f"{city_name}: unknown time zone {city_zone!r}")
                city_zone = zone
            slug = check_slug(craw.get("slug")) or slugify(city_name)
            if not slug:
                src.problem(f"{key}.cities", f'{city_name!r} gives no slug: add slug = "…" (lowercase ASCII)')
                continue
            if slug in seen_slugs:
                src.problem(f"{key}.cities", f"city {city_name!r} repeats {seen_slugs[slug]!r}")
                continue
            seen_slugs[slug] = city_name
            cities.append(City(slug, city_name, code, city_zone, bool(craw.get("capital", False))))
        if sum(c.capital for c in cities) != 1:
            src.problem(f"{key}.cities", "exactly one city must be marked `capital = true`")
            continue
        since = raw.get("since")
        if since is not None and not isinstance(since, int):
            src.problem(f"{key}.since", "must be a year, e.g. since = 2026")
            since = None
        states[code] = MemberState(code, str(raw.get("name", code)), zone, tuple(cities), since)
    if not states:
        src.problem("member_states", "no member states defined")
    return Network(states)


# --------------------------------------------------------------------------- calendars


def parse_chairs(name: str, text: str, problems: list[str], network: Network) -> ChairRotation | None:
    src = _Source(name, text, problems)
    doc = _parse_toml(name, text, problems)
    if doc is None:
        return None
    rotation = _strings(doc.get("rotation"))
    anchor = doc.get("anchor") or {}
    if not isinstance(anchor.get("year"), int) or anchor.get("member_state") not in (rotation or ()):
        src.problem("anchor", "needs a year and a member_state of the rotation")
        return None
    founders = network.in_cycle(anchor["year"])  # a state that joined later is not yet in the rotation
    if not rotation or sorted(rotation) != sorted(founders):
        src.problem("rotation", "must list every member state of the anchor year once")
        return None
    overrides = {}
    for year, code in (doc.get("overrides") or {}).items():
        if not (str(year).isascii() and str(year).isdigit()) or code not in network.member_states:
            src.problem(f"overrides.{year}", f"{year!r} = {code!r} is not a year and a member state")
            continue
        overrides[int(year)] = code
    return ChairRotation(rotation, anchor["year"], anchor["member_state"], overrides)


def parse_template(name: str, text: str, problems: list[str]) -> dict[str, str]:
    """The recurring calendar: milestone ids and titles every later cycle must date."""
    doc = _parse_toml(name, text, problems) or {}
    return {mid: str(raw.get("title", mid)) for mid, raw in (doc.get("milestones") or {}).items()}


def parse_calendar(
    name: str,
    text: str,
    problems: list[str],
    network: Network,
    chairs: ChairRotation | None = None,
    template: Mapping[str, str] | None = None,
) -> Calendar | None:
    src = _Source(name, text, problems)
    doc = _parse_toml(name, text, problems)
    if doc is None:
        return None
    cycle = doc.get("cycle")
    if not isinstance(cycle, int):
        src.problem("cycle", "must be a year, e.g. 2018")
        return None
    zone = doc.get("zone")
    if not valid_zone(zone):
        src.problem("zone", f"unknown time zone {zone!r}")
        zone = "UTC"
    founding = bool(doc.get("founding", False))
    chair = doc.get("chair") or (chairs.chair(cycle) if chairs else None)
    host = doc.get("host") or chair
    shepherd = doc.get("shepherd")
    for key, value in (("chair", chair), ("host", host), ("shepherd", shepherd)):
        if (value is not None or key != "shepherd") and value not in network.member_states:
            src.problem(key, f"{value!r} is not a member state of the network")
    raw_milestones = doc.get("milestones") or {}
    milestones: dict[str, Milestone] = {}
    pending_aliases: list[tuple[str, dict[str, Any]]] = []
    for mid, raw in raw_milestones.items():
        key = f"milestones.{mid}"
        if not _KEBAB.match(mid):
            src.problem(key, "milestone ids are kebab-case")
        if "same_as" in raw:
            pending_aliases.append((mid, raw))
            continue
        start, end = raw.get("date"), raw.get("end", raw.get("date"))
        if not isinstance(start, date) or not isinstance(end, date):
            src.problem(f"{key}.date", "needs a date, e.g. date = 2018-02-28")
            continue
        if end < start:
            src.problem(f"{key}.end", "ends before it starts")
            continue
        mzone = raw.get("zone", zone)
        if not valid_zone(mzone):
            src.problem(f"{key}.zone", f"unknown time zone {mzone!r}")
            mzone = zone
        title = raw.get("title", (template or {}).get(mid, mid))
        milestones[mid] = Milestone(mid, str(title), start, end, mzone)
    for mid, raw in pending_aliases:
        target = milestones.get(raw["same_as"])
        if target is None:
            src.problem(f"milestones.{mid}.same_as", f"unknown milestone {raw['same_as']!r}")
            continue
        # "end of the SCGW unless set": the alias's deadline is the target's last day.
        title = raw.get("title", (template or {}).get(mid, mid))
        milestones[mid] = Milestone(mid, str(title), target.end, target.end, target.zone, target.id)
    if not founding and template:
        for mid in template:
            if mid not in milestones:
                src.problem("milestones", f"milestone {mid!r} of the recurring calendar has no date")
    return Calendar(cycle, str(chair), str(host), str(zone), milestones, founding, shepherd)


# --------------------------------------------------------------------------- rules


def parse_rules(name: str, text: str, problems: list[str]) -> dict[str, RuleSpec]:
    from .rules import KINDS

    src = _Source(name, text, problems)
    doc = _parse_toml(name, text, problems) or {}
    specs: dict[str, RuleSpec] = {}
    for rule_name, raw in doc.items():
        if not isinstance(raw, dict):
            src.problem(rule_name, "a rule is a table with a `kind`")
            continue
        kind = raw.get("kind")
        if kind not in KINDS:
            src.problem(f"{rule_name}.kind", f"unknown rule kind {kind!r} (known: {', '.join(sorted(KINDS))})")
            continue
        params = {k: v for k, v in raw.items() if k != "kind"}
        missing = [p for p in KINDS[kind].params if p not in params]
        if missing:
            src.problem(rule_name, f"rule kind {kind!r} needs {', '.join(missing)}")
            continue
        specs[rule_name] = RuleSpec(rule_name, kind, params)
    return specs


# --------------------------------------------------------------------------- workflows


def parse_workflow(name: str, text: str, problems: list[str]) -> Workflow | None:
    src = _Source(name, text, problems)
    doc = _parse_toml(name, text, problems)
    if doc is None:
        return None
    wf_name = doc.get("name")
    if not isinstance(wf_name, str) or not _KEBAB.match(wf_name):
        src.problem("name", f"workflow name {wf_name!r} must be kebab-case")
        return None
    subject = doc.get("subject")
    if subject not in SUBJECTS:
        src.problem("subject", f"must be one of {', '.join(SUBJECTS)}")
    stages = _parse_stages(src, doc.get("stages"))
    transitions = _parse_transitions(src, doc.get("transitions"))
    initial = doc.get("initial")
    if initial not in {s.name for s in stages}:
        src.problem("initial", f"initial stage {initial!r} is not a stage of the workflow")
    opens = doc.get("opens", "every-cycle")
    if opens not in OPENS:
        src.problem("opens", f"must be one of {', '.join(OPENS)}")
    elif subject not in OPENS[opens]:
        src.problem("opens", f"a {subject} workflow cannot open {opens!r}")
    return Workflow(
        wf_name, str(doc.get("title", wf_name)), str(subject), str(initial), stages, transitions, str(opens)
    )


def _parse_stages(src: _Source, raw_stages: Any) -> tuple[Stage, ...]:
    if not isinstance(raw_stages, dict) or not raw_stages:
        src.problem("stages", "a workflow needs at least one stage")
        return ()
    stages = []
    for stage_name, raw in raw_stages.items():
        key = f"stages.{stage_name}"
        if not _SNAKE.match(stage_name):
            src.problem(key, "stage names are snake_case")
        responsible = _strings(raw.get("responsible", []))
        if responsible is None:
            src.problem(f"{key}.responsible", "must be a list of roles")
            responsible = ()
        for role in responsible:
            if role not in ROLES:
                src.problem(f"{key}.responsible", f"unknown role {role!r}")
        offsets = raw.get("reminder_offsets_days")
        if offsets is not None and not (
            isinstance(offsets, list) and all(isinstance(o, int) and o > 0 for o in offsets)
        ):
            src.problem(f"{key}.reminder_offsets_days", "must be a list of positive whole days")
            offsets = None
        stages.append(
            Stage(
                stage_name,
                responsible,
                raw.get("deadline"),
                raw.get("deadline_trigger"),
                tuple(offsets) if offsets is not None else None,
            )
        )
    return tuple(stages)


def _parse_transitions(src: _Source, raw_list: Any) -> tuple[Transition, ...]:
    transitions = []
    for i, raw in enumerate(raw_list or []):
        key = f"transitions[{i}]"
        trigger, dest = raw.get("trigger"), raw.get("dest")
        sources, roles = _strings(raw.get("source")), _strings(raw.get("roles"))
        if not isinstance(trigger, str) or not _SNAKE.match(trigger):
            src.problem(f"{key}.trigger", f"trigger {trigger!r} must be a snake_case name")
            continue
        if sources is None or not isinstance(dest, str):
            src.problem(key, f"trigger {trigger!r} needs `source` and `dest`")
            continue
        if not roles:
            src.problem(f"{key}.roles", f"trigger {trigger!r} needs at least one role")
            continue
        lists = {k: _strings(raw.get(k, [])) for k in ("rules", "required_data", "clears_data", "effects")}
        for list_key, value in lists.items():
            if value is None:
                src.problem(f"{key}.{list_key}", "must be a list of names")
        transitions.append(
            Transition(
                trigger,
                sources,
                dest,
                roles,
                lists["rules"] or (),
                bool(raw.get("note_required", False)),
                lists["required_data"] or (),
                lists["clears_data"] or (),
                lists["effects"] or (),
            )
        )
    return tuple(transitions)


def check_workflow(wf: Workflow, src: _Source, rules: Mapping[str, RuleSpec], milestones: set[str]) -> None:
    """Cross-checks of one workflow against its own stages, the rules and the calendars."""
    stage_names = {s.name for s in wf.stages}
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(wf.transitions):
        key = f"transitions[{i}]"
        for source in t.sources:
            if source not in stage_names:
                src.problem(f"{key}.source", f"trigger {t.trigger!r}: unknown stage {source!r}")
            if (t.trigger, source) in seen:
                src.problem(
                    f"{key}.trigger",
                    f"duplicate trigger {t.trigger!r} from stage {source!r} (also transitions[{seen[(t.trigger, source)]}])",
                )
            seen[(t.trigger, source)] = i
        if t.dest not in stage_names:
            src.problem(f"{key}.dest", f"trigger {t.trigger!r}: unknown stage {t.dest!r}")
        for role in t.roles:
            if role not in ROLES:
                src.problem(f"{key}.roles", f"trigger {t.trigger!r}: unknown role {role!r}")
        for rule in t.rules:
            if rule not in rules:
                src.problem(f"{key}.rules", f"trigger {t.trigger!r}: unknown rule {rule!r}")
        for effect in t.effects:
            if effect not in EFFECTS:
                src.problem(f"{key}.effects", f"trigger {t.trigger!r}: unknown effect {effect!r}")
    for stage in wf.stages:
        key = f"stages.{stage.name}"
        if stage.deadline is not None and stage.deadline not in milestones:
            src.problem(f"{key}.deadline", f"unknown milestone {stage.deadline!r}")
        if stage.deadline_trigger is not None:
            lapse = wf.transition(stage.deadline_trigger, stage.name)
            if lapse is None or "scheduler" not in lapse.roles:
                src.problem(
                    f"{key}.deadline_trigger",
                    f"{stage.deadline_trigger!r} is not a trigger the scheduler may fire from {stage.name!r}",
                )
            if stage.deadline is None:
                src.problem(f"{key}.deadline_trigger", "a deadline trigger needs a `deadline`")
    for unreachable in sorted(stage_names - _reachable(wf)):
        src.problem(f"stages.{unreachable}", f"stage {unreachable!r} cannot be reached from {wf.initial!r}")


def _reachable(wf: Workflow) -> set[str]:
    reached, frontier = {wf.initial}, [wf.initial]
    while frontier:
        stage = frontier.pop()
        for t in wf.transitions_from(stage):
            if t.dest not in reached:
                reached.add(t.dest)
                frontier.append(t.dest)
    return reached


def check_rule_specs(
    rules: Mapping[str, RuleSpec], src: _Source, workflows: Mapping[str, Workflow], milestones: set[str]
) -> None:
    for rule in rules.values():
        if "milestone" in rule.params and rule.params["milestone"] not in milestones:
            src.problem(f"{rule.name}.milestone", f"unknown milestone {rule.params['milestone']!r}")
        if "workflow" in rule.params:
            target = workflows.get(rule.params["workflow"])
            if target is None:
                src.problem(f"{rule.name}.workflow", f"unknown workflow {rule.params['workflow']!r}")
            elif target.subject != "network":
                src.problem(f"{rule.name}.workflow", "only network deliverables can be required")
            elif rule.params.get("stage") not in {s.name for s in target.stages}:
                src.problem(f"{rule.name}.stage", f"workflow {target.name!r} has no stage {rule.params.get('stage')!r}")


# --------------------------------------------------------------------------- loading


def parse_all(files: Mapping[str, str]) -> tuple[Definitions | None, list[str]]:
    """Parse a definitions tree given as {relative path: text}; returns every problem found."""
    problems: list[str] = []
    if "network.toml" not in files:
        return None, ["network.toml: missing"]
    network = parse_network("network.toml", files["network.toml"], problems)
    chairs = parse_chairs("chairs.toml", files["chairs.toml"], problems, network) if "chairs.toml" in files else None
    template = parse_template("calendars/recurring.toml", files.get("calendars/recurring.toml", ""), problems)
    calendars: dict[int, Calendar] = {}
    for name in sorted(f for f in files if f.startswith("calendars/") and f != "calendars/recurring.toml"):
        cal = parse_calendar(name, files[name], problems, network, chairs, template)
        if cal is not None:
            if Path(name).stem != str(cal.cycle):
                problems.append(f"{name}: cycle {cal.cycle} does not match the file name")
            calendars[cal.cycle] = cal
    milestones = {m for cal in calendars.values() for m in cal.milestones}
    rules_src = _Source("rules.toml", files.get("rules.toml", ""), problems)
    rules = parse_rules("rules.toml", files.get("rules.toml", ""), problems)
    workflows: dict[str, Workflow] = {}
    for name in sorted(f for f in files if f.startswith("definitions/")):
        wf = parse_workflow(name, files[name], problems)
        if wf is None:
            continue
        src = _Source(name, files[name], problems)
        if Path(name).stem != wf.name:
            src.problem("name", f"workflow {wf.name!r} must live in {wf.name}.toml")
        if wf.name in workflows:
            src.problem("name", f"workflow {wf.name!r} is defined twice")
        check_workflow(wf, src, rules, milestones)
        workflows[wf.name] = wf
    for cal in calendars.values():
        for wf in workflows.values():
            if (wf.opens == "founding-cycle" and not cal.founding) or (wf.opens == "later-cycles" and cal.founding):
                continue  # never opens in this cycle
            for stage in wf.stages:
                if stage.deadline in milestones and stage.deadline not in cal.milestones:
                    problems.append(
                        f"calendars/{cal.cycle}.toml: milestones: {wf.name}.{stage.name} needs milestone {stage.deadline!r}"
                    )
    check_rule_specs(rules, rules_src, workflows, milestones)
    if not workflows:
        problems.append("definitions/: no workflow files")
    return Definitions(workflows, rules, network, calendars, None, chairs), problems


def read_tree(root: Path) -> dict[str, str]:
    files = {}
    for path in sorted(root.rglob("*.toml")):
        rel = path.relative_to(root).as_posix()
        if rel in ("network.toml", "rules.toml", "chairs.toml") or rel.startswith(("calendars/", "definitions/")):
            files[rel] = path.read_text(encoding="utf-8")
    return files


def load(root: Path) -> Definitions:
    """Load and validate the definitions under `root`; DefinitionError lists every problem."""
    if not root.is_dir():
        raise DefinitionError([f"{root}: no such workflows folder"])
    definitions, problems = parse_all(read_tree(root))
    if problems or definitions is None:
        raise DefinitionError(problems)
    return Definitions(
        definitions.workflows, definitions.rules, definitions.network, definitions.calendars, root, definitions.chairs
    )
