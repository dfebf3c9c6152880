"""Issue 16 items 7 and 8: every city gets a real slug; an instant's cycle is its local year."""

from __future__ import annotations

import json

import pytest
from click.testing import Result

from ascn_workflow.definitions import Definitions
from ascn_workflow.spec import slugify

from .conftest import ASEC, NR, Ascn, join, utc


def test_slugs_transliterate_and_keep_the_spec_examples() -> None:
    assert slugify("Ho Chi Minh City") == "ho-chi-minh-city"
    assert slugify("Thành phố Hồ Chí Minh") == "thanh-pho-ho-chi-minh"
    assert slugify("Đà Nẵng") == "da-nang"
    assert slugify("ยะลา") and slugify("ယာင်ကုန်")  # Thai, Burmese: never empty
    assert slugify("★ ★") == ""  # symbols only: the callers refuse it and ask for a slug


def _nominate(a: Ascn, *cities: dict[str, str]) -> Result:
    """TH nominates `cities` (name, slug, timezone); each gets a CSCO so that no rule refuses."""
    text = f'member_state = "TH"\n\n[national_representative]\nname = "NR TH"\nemail = "{NR["TH"]}"\n'
    for i, city in enumerate(cities, start=1):
        text += "\n[[cities]]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in city.items())
        text += f'csco = {{ name = "CSCO {i}", email = "csco{i}@th.example" }}\n'
    return a.run("nominate", "TH", "--file", a.file("th.toml", text), actor=NR["TH"], now="2018-02-20T10:00+07:00")


BKK = {"name": "Bangkok"}
TZ = {"timezone": "Asia/Bangkok"}


def test_a_city_named_in_thai_joins_with_a_transliterated_slug(ready: Ascn) -> None:
    assert _nominate(ready, BKK, {"name": "ยะลา", **TZ}).exit_code == 0
    ready.ok("advance", "2018/nomination/th", "accept", actor=ASEC, now="2018-02-21T10:00+07:00")
    slug = slugify("ยะลา")
    assert ready.json("show", f"2018/action-plan/{slug}")["stage"] == "not_started"


def test_a_name_with_no_letters_needs_an_explicit_slug(ready: Ascn) -> None:
    result = _nominate(ready, BKK, {"name": "★ ★", **TZ})
    assert result.exit_code == 2 and "explicit slug" in result.stderr
    assert ready.json("show", "2018/nomination/th")["stage"] == "awaiting"
    assert _nominate(ready, BKK, {"name": "★ ★", "slug": "star-city", **TZ}).exit_code == 0
    ready.ok("advance", "2018/nomination/th", "accept", actor=ASEC, now="2018-02-21T10:00+07:00")
    assert ready.json("show", "2018/action-plan/star-city")["stage"] == "not_started"


def test_two_names_with_one_slug_are_refused_clearly(ready: Ascn) -> None:
    result = _nominate(ready, BKK, {"name": "Pattaya", **TZ}, {"name": "Páttaya", **TZ})
    assert result.exit_code == 2 and "would both be `pattaya`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("instant", "cycle"),
    [
        ("2019-01-01T05:00+08:00", 2019),  # the case: still 2018 in UTC
        ("2018-12-31T23:30+08:00", 2018),
        ("2019-01-01T00:00+07:00", 2019),
    ],
)
def test_the_cycle_of_an_instant_is_its_local_year(defs: Definitions, instant: str, cycle: int) -> None:
    assert defs.cycle_of(utc(instant)) == cycle


def test_a_project_added_on_new_years_morning_in_singapore_is_filed_under_the_new_year(ready: Ascn) -> None:
    join(ready, "TH", ["Bangkok"])
    ready.ok("cycle", "open", "2019", now="2018-12-20T09:00+07:00")
    project = ready.json(
        "project", "add", "bangkok", "--title", "Canal sensors", actor=ASEC, now="2019-01-01T05:00+08:00"
    )
    assert project["id"] == "2019/project/bangkok/1"
