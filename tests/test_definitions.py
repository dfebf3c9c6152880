"""Loading validates everything and reports every problem with its file, line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ascn_workflow.dates import milestone_deadline, show
from ascn_workflow.definitions import load
from ascn_workflow.errors import DefinitionError
from ascn_workflow.spec import Definitions, slugify

from .conftest import Ascn


def test_real_definitions_load(defs: Definitions) -> None:
    assert set(defs.workflows) == {
        "nomination",
        "framework",
        "action-plan",
        "twinning",
        "scgw",
        "annual-meeting",
        "annual-report",
        "launch",
        "progress-review",
        "twinning-follow-up",
        "project",
    }
    assert sorted(defs.calendars) == list(range(2018, 2027)) and defs.founding_cycle == 2018
    assert len(defs.network.in_cycle(2018)) == 10 and len(defs.network.member_states) == 11  # Timor-Leste, 2026
    assert len([c for c in defs.network.cities if c.member_state in defs.network.in_cycle(2018)]) == 26
    assert defs.network.member_state("MY").capital.name == "Kuala Lumpur"
    assert {c.zone for c in defs.network.cities if c.name in ("Kota Kinabalu", "Kuching")} == {"Asia/Kuching"}
    assert next(c for c in defs.network.cities if c.name == "Makassar").zone == "Asia/Makassar"
    assert defs.network.member_state("MM").zone == "Asia/Yangon"


def test_deadline_is_end_of_day_in_host_zone(defs: Definitions) -> None:
    due = milestone_deadline(defs.calendar(2018).milestone("nominations-due"))
    assert show(due, "Asia/Singapore") == "2018-02-28T23:59:59+08:00"
    assert show(due, "Asia/Yangon") == "2018-02-28T22:29:59+06:30"


def test_action_plans_due_defaults_to_last_day_of_scgw(defs: Definitions) -> None:
    cal = defs.calendar(2018)
    assert cal.milestone("action-plans-due").end == cal.milestone("scgw").end


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Ho Chi Minh City", "ho-chi-minh-city"), ("DKI Jakarta", "dki-jakarta"), ("Nay Pyi Taw", "nay-pyi-taw")],
)
def test_city_slugs(name: str, slug: str) -> None:
    assert slugify(name) == slug


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), start=1) if needle in ln)


def test_every_problem_reported_with_file_and_line(workflows_copy: Path) -> None:
    d = workflows_copy / "definitions"
    _edit(d / "framework.toml", 'dest = "revised"', 'dest = "revized"')
    _edit(d / "scgw.toml", "[stages.concluded]", "[stages.concluded]\n\n[stages.limbo]")
    _edit(d / "launch.toml", '"framework-endorsed-by-jcm"', '"framework-blessed"')
    _edit(d / "twinning.toml", 'roles = ["csco", "nr", "asec"]', 'roles = ["csco", "mayor", "asec"]')
    _edit(
        d / "nomination.toml",
        'deadline = "nominations-due"\ndeadline_trigger',
        'deadline = "nominations-dew"\ndeadline_trigger',
    )
    _edit(
        d / "framework.toml",
        '[[transitions]]\ntrigger = "revise"',
        '[[transitions]]\ntrigger = "circulate"\nsource = "drafting"\ndest = "revised"\nroles = ["asec"]\n\n'
        '[[transitions]]\ntrigger = "revise"',
    )
    _edit(workflows_copy / "network.toml", '"Asia/Bangkok"', '"Asia/Bangkokk"')

    with pytest.raises(DefinitionError) as caught:
        load(workflows_copy)
    problems = caught.value.problems
    expected = [
        ("definitions/framework.toml", "unknown stage 'revized'", _line_of(d / "framework.toml", '"revized"')),
        ("definitions/scgw.toml", "'limbo' cannot be reached", _line_of(d / "scgw.toml", "[stages.limbo]")),
        (
            "definitions/launch.toml",
            "unknown rule 'framework-blessed'",
            _line_of(d / "launch.toml", "framework-blessed"),
        ),
        ("definitions/twinning.toml", "unknown role 'mayor'", _line_of(d / "twinning.toml", '"mayor"')),
        (
            "definitions/nomination.toml",
            "unknown milestone 'nominations-dew'",
            _line_of(d / "nomination.toml", "nominations-dew"),
        ),
        ("definitions/framework.toml", "duplicate trigger 'circulate'", None),
        ("network.toml", "unknown time zone 'Asia/Bangkokk'", _line_of(workflows_copy / "network.toml", "Bangkokk")),
    ]
    for file, message, line in expected:
        match = [p for p in problems if p.startswith(file + ":") and message in p]
        assert match, f"no problem {message!r} in {file}: {problems}"
        if line is not None:
            assert any(p.startswith(f"{file}:{line}:") for p in match), (line, match)


def test_malformed_toml_is_reported(workflows_copy: Path) -> None:
    (workflows_copy / "definitions" / "launch.toml").write_text('name = "launch"\n[stages\n')
    with pytest.raises(DefinitionError) as caught:
        load(workflows_copy)
    assert any(p.startswith("definitions/launch.toml") for p in caught.value.problems)


def test_workflows_check_cli(ascn: Ascn, workflows_copy: Path) -> None:
    clean = ascn.run("workflows", "check", "--dir", str(workflows_copy))
    assert clean.exit_code == 0 and "all definitions valid" in clean.output

    _edit(workflows_copy / "definitions" / "scgw.toml", 'dest = "concluded"', 'dest = "closed"')
    _edit(workflows_copy / "calendars" / "2018.toml", 'zone = "Asia/Singapore"', 'zone = "Mars/Olympus"')
    broken = ascn.run("workflows", "check", "--dir", str(workflows_copy))
    assert broken.exit_code == 2
    lines = broken.stderr.strip().splitlines()
    assert any(re.match(r"definitions/scgw\.toml:\d+: transitions\[1\]\.dest: .*'closed'", ln) for ln in lines), lines
    assert any(ln.startswith("calendars/2018.toml:") and "Mars/Olympus" in ln for ln in lines), lines


def test_commands_refuse_to_run_on_broken_definitions(ascn: Ascn, workflows_copy: Path) -> None:
    _edit(workflows_copy / "definitions" / "scgw.toml", 'initial = "planned"', 'initial = "dreaming"')
    text = ascn.config.read_text().replace(
        str(Path(__file__).resolve().parent.parent / "workflows"), str(workflows_copy)
    )
    ascn.config.write_text(text)
    result = ascn.run("init")
    assert result.exit_code == 2
    assert "definitions/scgw.toml" in result.stderr and "dreaming" in result.stderr
    assert "Traceback" not in result.output


def test_only_canonical_iana_zones_are_valid() -> None:
    from ascn_workflow.definitions import valid_zone

    for zone in ("Asia/Singapore", "Asia/Yangon", "UTC", "Etc/UTC", "Asia/Ho_Chi_Minh"):
        assert valid_zone(zone), zone
    for zone in ("localtime", "Factory", "posixrules", "right/UTC", "posix/Asia/Singapore", "Mars/Olympus", "", None):
        assert not valid_zone(zone), zone  # would otherwise reach an .ics as its TZID


def test_the_zone_check_answers_as_the_full_listing_does() -> None:
    """valid_zone asks the one file a name points at (start-up, issue 15); its answer is the full
    listing's, less the names that are no zone a person lives in."""
    import os
    import zoneinfo

    from ascn_workflow.definitions import NOT_ZONES, valid_zone

    listed = {
        z
        for z in zoneinfo.available_timezones()
        if z not in NOT_ZONES and not z.startswith(("posix/", "right/")) and not z.endswith((".tab", ".zi"))
    }
    assert len(listed) > 300
    for zone in listed:
        assert valid_zone(zone), zone
    tricky = [
        "Asia//Singapore",
        "./UTC",
        "Asia/../UTC",
        "Asia/Singapore/",
        "/usr/share/zoneinfo/UTC",
        "../zoneinfo/UTC",
    ]
    tricky += ["asia/singapore", "Asia", "zone.tab", "tzdata.zi", "leapseconds", "posix/UTC", "Asia/Singapore\0"]
    for root in zoneinfo.TZPATH:
        if os.path.isdir(root):
            tricky += [name for name in os.listdir(root) if name not in listed]
    for zone in tricky:
        assert valid_zone(zone) == (zone in listed), zone


def test_plain_names_slug_as_python_slugify_does() -> None:
    """A plain ASCII name skips the transliteration (start-up, issue 15): the same slug."""
    from slugify import slugify as transliterate

    from ascn_workflow.definitions import load
    from ascn_workflow.spec import slugify

    from .conftest import ROOT

    names = [c.name for c in load(ROOT / "workflows").network.cities]
    names += ["Bandar Seri Begawan", "  Kota--Kinabalu ", "-", "", "A 1 b-2", "Ha Noi\n", "O'Brien", "AT&T", "1,000"]
    for name in names:
        assert slugify(name) == re.sub(r"[^a-z0-9]+", "-", transliterate(name).lower()).strip("-"), name
