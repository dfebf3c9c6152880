"""People and their roles: who may act, and where (SPEC §1). Pure: parsing and checking only."""

from __future__ import annotations

import tomllib
from typing import Any

from msgspec import Struct

from .errors import BadInput, NotFound, did_you_mean
from .names import check_email, check_name
from .spec import NETWORK_ROLES, ROLES, Network, slugify

SCHEDULER_EMAIL = "scheduler"


class Grant(Struct, frozen=True):
    """One role held by a person, with its scope: a member state (focal_point, nr, chair) or a city."""

    role: str
    member_state: str | None = None
    city: str | None = None

    def covers(self, member_state: str | None, city: str | None) -> bool:
        """Whether this grant's scope includes a deliverable about `member_state` / `city`."""
        if self.role in NETWORK_ROLES:
            return True
        if self.role == "csco":
            return city is not None and self.city == city
        return member_state is not None and self.member_state == member_state


class Actor(Struct, frozen=True):
    email: str
    grants: tuple[Grant, ...]


SCHEDULER = Actor(SCHEDULER_EMAIL, (Grant("scheduler"),))


class PersonEntry(Struct, frozen=True):
    email: str
    name: str
    grant: Grant


def person_entry(raw: dict[str, Any], network: Network, where: str) -> PersonEntry:
    """Check one person record (from `people add` or an import file) against the network."""
    email = check_email(raw.get("email"), where)
    name = check_name(raw.get("name"), where)
    role = raw.get("role")
    if role not in ROLES or role == "scheduler":
        raise BadInput(f"{where}: role {role!r} is not one of {', '.join(r for r in ROLES if r != 'scheduler')}")
    member_state = raw.get("member_state") or None
    city = raw.get("city") or None
    if role == "shepherd" and member_state is not None:  # a shepherd of a member state: its cycles only
        if str(member_state).upper() not in network.member_states:
            raise NotFound(f"{where}: unknown member state {member_state!r}", member_state=member_state)
        member_state = str(member_state).upper()
    if role in ("focal_point", "nr", "chair"):
        if member_state is None:
            raise BadInput(f"{where}: role {role} needs a member_state")
        if str(member_state).upper() not in network.member_states:
            hint = did_you_mean(str(member_state), network.member_states, cutoff=0.5)
            raise NotFound(f"{where}: unknown member state {member_state!r}{hint}", member_state=member_state)
        member_state = str(member_state).upper()
    if role == "csco":
        if city is None:
            raise BadInput(f"{where}: role csco needs a city")
        city = slugify(str(city))
        if not city:
            raise BadInput(f"{where}: city {raw.get('city')!r} is not a city name or slug")
        known = {c.slug: c for c in network.cities}
        if city in known:
            member_state = known[city].member_state
    if role == "asec":
        member_state, city = None, None
    if role == "shepherd":
        city = None
    return PersonEntry(email, name, Grant(role, member_state, city))


def parse_people(text: str, network: Network, source: str) -> list[PersonEntry]:
    """All entries of a people file, or BadInput naming the first bad one: imports are all or nothing."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: {exc}") from None
    return people_from_doc(doc.get("people"), network, source)


def people_from_doc(raw_people: Any, network: Network, source: str) -> list[PersonEntry]:
    if not isinstance(raw_people, list) or not all(isinstance(p, dict) for p in raw_people):
        raise BadInput(f"{source}: expected [[people]] entries")
    return [person_entry(raw, network, f"{source}: people #{i}") for i, raw in enumerate(raw_people, start=1)]
