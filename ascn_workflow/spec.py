"""The spec types: frozen definitions of the network, calendars, rules and workflows.

Parsed once from `workflows/` by `definitions.load` and never changed at run time (SpiffWorkflow's
spec/runtime split). The runtime side — a deliverable's stage, history and reminders — lives in the
store and points at a workflow by name. This module imports nothing of the package but `errors`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from msgspec import Struct

from .errors import NotFound, did_you_mean

ROLES = ("asec", "shepherd", "chair", "focal_point", "nr", "csco", "scheduler")
NETWORK_ROLES = frozenset({"asec", "shepherd", "chair", "scheduler"})
SUBJECTS = ("network", "member_state", "city")
EFFECTS = ("open-city-deliverables", "record-project-status", "record-document-version")
# When a workflow's deliverables open, and for which subjects that makes sense.
OPENS = {
    "founding-cycle": ("network", "member_state"),  # `init` of the founding cycle (2018)
    "every-cycle": ("network",),  # every cycle (`init`, `cycle open`)
    "later-cycles": ("network", "city"),  # every cycle after the founding one; cities that joined before it
    "on-joining": ("city",),  # when the city's nomination is accepted
    "on-demand": ("city", "member_state"),  # by a command (`project add`, a later cycle's `nominate`)
}
# Where the network keeps time when no cycle's calendar says otherwise: the ASEAN Secretariat's seat.
NETWORK_ZONE = "Asia/Jakarta"
MEMBER_STATE_CODES = ("BN", "KH", "ID", "LA", "MY", "MM", "PH", "SG", "TH", "VN", "TL")


def slugify(name: str) -> str:
    """A city's slug: transliterated to ASCII, lowercased, each run of other characters made one
    `-` (SPEC §3): "Hà Nội" -> `ha-noi`, "กรุงเทพมหานคร" -> `krungethphmhaankhr`. It may be empty
    (a name of symbols only): callers refuse that and ask for an explicit slug."""
    if PLAIN_NAME.match(name):  # nothing to transliterate: python-slugify's answer, without its import (~3 ms)
        return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    from slugify import slugify as transliterate  # python-slugify, over text-unidecode

    return re.sub(r"[^a-z0-9]+", "-", transliterate(name).lower()).strip("-")


PLAIN_NAME = re.compile(r"[A-Za-z0-9 -]*\Z")  # ASCII letters, digits, spaces and hyphens only


SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def check_slug(value: object) -> str | None:
    """An explicit slug as given, or None when it is not kebab-case ASCII."""
    return value if isinstance(value, str) and SLUG.match(value) and len(value) <= 80 else None


class City(Struct, frozen=True):
    slug: str
    name: str
    member_state: str
    zone: str
    capital: bool = False


class MemberState(Struct, frozen=True):
    code: str
    name: str
    zone: str
    cities: tuple[City, ...]
    since: int | None = None  # the first cycle in the network of a state that joined ASEAN later (TL: 2026)

    def in_network(self, cycle: int) -> bool:
        return self.since is None or self.since <= cycle

    @property
    def capital(self) -> City:
        return next(c for c in self.cities if c.capital)


class Network(Struct, frozen=True):
    member_states: Mapping[str, MemberState]

    def member_state(self, code: str) -> MemberState:
        try:
            return self.member_states[code.upper()]
        except KeyError:
            hint = did_you_mean(code, self.member_states, cutoff=0.5)
            raise NotFound(f"unknown member state {code!r}{hint}", member_state=code) from None

    @property
    def cities(self) -> tuple[City, ...]:
        return tuple(c for ms in self.member_states.values() for c in ms.cities)

    def in_cycle(self, cycle: int) -> dict[str, MemberState]:
        """The member states in the network in `cycle` (Timor-Leste from 2026)."""
        return {code: ms for code, ms in self.member_states.items() if ms.in_network(cycle)}


class Milestone(Struct, frozen=True):
    id: str
    title: str
    start: date
    end: date
    zone: str
    same_as: str | None = None  # follows that milestone's last day (`action-plans-due` = the SCGW's)
    revision: int = 0  # how many times `calendar set` moved it: the SEQUENCE of its calendar event


class Calendar(Struct, frozen=True):
    cycle: int
    chair: str
    host: str
    zone: str
    milestones: Mapping[str, Milestone]
    founding: bool = False
    shepherd: str | None = None  # the member state shepherding the network in this cycle

    def milestone(self, milestone_id: str) -> Milestone:
        try:
            return self.milestones[milestone_id]
        except KeyError:
            raise NotFound(f"cycle {self.cycle} has no milestone {milestone_id!r}") from None


class ChairRotation(Struct, frozen=True):
    """The ASEAN Chair by year: alphabetical rotation from an anchor year, with overrides for swaps."""

    rotation: tuple[str, ...]
    anchor_year: int
    anchor_state: str
    overrides: Mapping[int, str]

    def chair(self, year: int) -> str:
        if year in self.overrides:
            return self.overrides[year]
        start = self.rotation.index(self.anchor_state)
        return self.rotation[(start + year - self.anchor_year) % len(self.rotation)]


class RuleSpec(Struct, frozen=True):
    name: str
    kind: str
    params: Mapping[str, Any]


class Stage(Struct, frozen=True):
    name: str
    responsible: tuple[str, ...] = ()
    deadline: str | None = None
    deadline_trigger: str | None = None
    reminder_offsets_days: tuple[int, ...] | None = None


class Transition(Struct, frozen=True):
    trigger: str
    sources: tuple[str, ...]
    dest: str
    roles: tuple[str, ...]
    rules: tuple[str, ...] = ()
    note_required: bool = False
    required_data: tuple[str, ...] = ()
    clears_data: tuple[str, ...] = ()
    effects: tuple[str, ...] = ()


class Workflow(Struct, frozen=True):
    name: str
    title: str
    subject: str
    initial: str
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    opens: str = "every-cycle"

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        hint = did_you_mean(name, [s.name for s in self.stages])
        raise NotFound(f"workflow {self.name!r} has no stage {name!r}{hint}", workflow=self.name)

    def stage_index(self, name: str) -> int:
        return [s.name for s in self.stages].index(name)

    def transitions_from(self, stage: str) -> tuple[Transition, ...]:
        return tuple(t for t in self.transitions if stage in t.sources)

    def transition(self, trigger: str, stage: str) -> Transition | None:
        return next((t for t in self.transitions_from(stage) if t.trigger == trigger), None)

    def triggers_from(self, stage: str) -> tuple[str, ...]:
        """The triggers that may fire at `stage`, in the order the workflow's machine lists them
        (each where it is first declared), without building the machine: `show` needs no
        transitions (tests/test_engine.py holds the two answers equal)."""
        found = {t.trigger for t in self.transitions_from(stage)}
        return tuple(dict.fromkeys(t.trigger for t in self.transitions if t.trigger in found))

    @property
    def triggers(self) -> frozenset[str]:
        return frozenset(t.trigger for t in self.transitions)


class Definitions(Struct, frozen=True):
    workflows: Mapping[str, Workflow]
    rules: Mapping[str, RuleSpec]
    network: Network
    calendars: Mapping[int, Calendar]
    source: Path | None = None  # the folder they were read from
    chairs: ChairRotation | None = None

    @property
    def founding_cycle(self) -> int:
        founding = [c.cycle for c in self.calendars.values() if c.founding]
        return min(founding or self.calendars or [0])

    def cycle_of(self, instant: datetime) -> int:
        """The cycle an instant falls in: its local year in the network's zone (the coming cycle's
        host zone, else ASEC's), not its UTC year: 05:00 on 1 January 2019 in Singapore is 2019."""
        utc_year = instant.astimezone(UTC).year
        coming = self.calendars.get(utc_year + 1)
        zone = coming.zone if coming is not None else NETWORK_ZONE
        return instant.astimezone(ZoneInfo(zone)).year

    def chair(self, cycle: int) -> str | None:
        """The ASEAN Chair of `cycle`: the calendar's, else the rotation's."""
        if cycle in self.calendars:
            return self.calendars[cycle].chair
        return self.chairs.chair(cycle) if self.chairs else None

    def shepherd(self, cycle: int) -> str | None:
        """The member state shepherding the network in `cycle`: its calendar's, else the last one named."""
        named = [(year, cal.shepherd) for year, cal in self.calendars.items() if cal.shepherd and year <= cycle]
        return max(named)[1] if named else None

    def workflows_opening(self, opens: str, subject: str | None = None) -> tuple[Workflow, ...]:
        return tuple(w for w in self.workflows.values() if w.opens == opens and subject in (None, w.subject))

    def workflow(self, name: str) -> Workflow:
        try:
            return self.workflows[name]
        except KeyError:
            raise NotFound(f"unknown workflow {name!r}{did_you_mean(name, self.workflows)}", workflow=name) from None

    def calendar(self, cycle: int) -> Calendar:
        try:
            return self.calendars[cycle]
        except KeyError:
            known = ", ".join(str(c) for c in sorted(self.calendars))
            raise NotFound(
                f"no calendar for cycle {cycle} (workflows/calendars/{cycle}.toml); cycles: {known}"
            ) from None


# --------------------------------------------------------------------------- problems and lines
