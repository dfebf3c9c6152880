"""A member state's nomination file (SPEC §7) parsed into the data its `submit` carries.

Parsing checks the form (names, addresses, zones); the rules (`max-cities`, `capital-included`,
`csco-per-city`, `nr-named`) judge the content, so that the Chair or the shepherd can waive them.
"""

from __future__ import annotations

import tomllib
from typing import Any

from .definitions import valid_zone
from .errors import BadInput
from .names import check_email, check_name
from .spec import Network, check_slug, slugify


def parse_nomination(text: str, code: str, network: Network, source: str = "nomination") -> dict[str, Any]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{source}: {exc}") from None
    return nomination_from_doc(doc, code, network, source)


def nomination_from_doc(doc: dict[str, Any], code: str, network: Network, source: str) -> dict[str, Any]:
    """The nomination's data from its parsed TOML (a file, or a step of a scenario)."""
    state = network.member_state(code)
    declared = doc.get("member_state", state.code)
    if str(declared).upper() != state.code:
        raise BadInput(f"{source}: member_state {declared!r} does not match {state.code}")
    nr = _person(doc.get("national_representative"), f"{source}: national_representative", required=False)
    raw_cities = doc.get("cities")
    if not isinstance(raw_cities, list) or not raw_cities:
        raise BadInput(f"{source}: no [[cities]] given")
    known = {c.slug: c for c in network.cities}
    cities: list[dict[str, Any]] = []
    for i, raw in enumerate(raw_cities, start=1):
        where = f"{source}: cities #{i}"
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"].strip():
            raise BadInput(f"{where}: needs a name")
        name = check_name(raw["name"], f"{where} name")
        slug = _slug(raw, name, where)
        city = known.get(slug)
        if city is not None and city.member_state != state.code:
            raise BadInput(f"{where}: {city.name} is a city of {city.member_state}, not {state.code}")
        zone = raw.get("timezone", city.zone if city else None)
        if city is None and not valid_zone(zone):
            raise BadInput(
                f'{where}: {name} is not yet in the network: give its timezone, e.g. timezone = "{state.zone}"'
            )
        twin = next((c for c in cities if c["slug"] == slug), None)
        if twin is not None:
            same = twin["name"] == (city.name if city else name)
            raise BadInput(
                f"{where}: {name} is nominated twice"
                if same
                else f'{where}: {name} and {twin["name"]} would both be `{slug}`: give one an explicit slug = "…"'
            )
        cities.append(
            {
                "slug": slug,
                "name": city.name if city else name,
                "zone": zone,
                "new": city is None,
                "csco": _person(raw.get("csco"), f"{where} csco", required=False),
            }
        )
    return {"member_state": state.code, "national_representative": nr, "cities": cities}


def _slug(raw: dict[str, Any], name: str, where: str) -> str:
    """The city's slug: an explicit `slug = "…"` (kebab-case ASCII), else its name transliterated."""
    if "slug" in raw:
        slug = check_slug(raw["slug"])
        if slug is None:
            raise BadInput(f"{where}: slug {raw['slug']!r} must be lowercase ASCII words joined by '-', e.g. yala")
        return slug
    slug = slugify(name)
    if not slug:
        raise BadInput(f'{where}: {name!r} gives no slug: add an explicit slug = "…" (lowercase ASCII, e.g. yala)')
    return slug


def _person(raw: Any, where: str, required: bool) -> dict[str, str] | None:
    if raw is None and not required:
        return None
    if not isinstance(raw, dict):
        raise BadInput(f'{where}: expected {{ name = "…", email = "…" }}')
    return {
        "name": check_name(raw.get("name"), f"{where} name"),
        "email": check_email(raw.get("email"), f"{where} email"),
    }
