"""Administration: the database, people, cycles, projects, audit, export/import, definitions."""

from __future__ import annotations

from pathlib import Path

import click

from . import Invocation, cli, json_option
from .options import cycle_choice, pass_invocation
from .render import emit_json, line, plural, table

# ---------------------------------------------------------------------------- init


@cli.command()
@click.option("--cycle", type=int, help="The cycle to open (default: [calendar] cycle of the config).")
@json_option
@pass_invocation
def init(invocation: Invocation, cycle: int | None, as_json: bool) -> None:
    """Create the database, load the network and calendar, open the cycle's deliverables.

    Running it again changes nothing that exists. Example: ascn init --cycle 2018
    """
    from .. import services

    result = services.init(invocation.app, cycle or invocation.app.config.cycle, invocation.now())
    if as_json:
        emit_json(result)
        return
    line(
        f"cycle {result['cycle']}: {plural(len(result['opened']), 'deliverable')} opened, "
        f"{plural(result['network_rows_added'], 'member state or city', 'member states and cities')} added"
        + ("" if result["opened"] or result["network_rows_added"] else " (already initialised)")
    )


# ---------------------------------------------------------------------------- people


@cli.group()
def people() -> None:
    """The directory of people and their roles."""


@people.command("add")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["asec", "shepherd", "chair", "focal_point", "nr", "csco"]))
@click.option("--member-state", help="ISO code, for focal_point, nr and chair.")
@click.option("--city", help="City name or slug, for csco.")
@click.option("--login", help='Their OS or database user name, for [auth] cli = "os-user" or "database-user".')
@pass_invocation
def people_add(
    invocation: Invocation,
    email: str,
    name: str,
    role: str,
    member_state: str | None,
    city: str | None,
    login: str | None,
) -> None:
    """Add a person with one role (run again to give more roles); --actor must be an ASEC officer
    (the Chair may grant network roles). The directory's first ASEC officer needs no --actor.

    Example: ascn --actor imd.officer@asec.example.org people add --email nr@th.example.org --name "Somchai P." --role nr --member-state TH --login somchai
    """
    from .. import services

    result = services.people_add(
        invocation.app,
        {"email": email, "name": name, "role": role, "member_state": member_state, "city": city, "login": login},
        invocation.now(),
        invocation.acting_actor(bootstrap=True),
    )
    line(f"{result['email']}: role {result['role']} {'added' if result['added'] else 'already held'}")


@people.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_invocation
def people_import(invocation: Invocation, file: Path) -> None:
    """Import [[people]] from a TOML file: all of it, or nothing if any entry is bad. --actor as
    for `people add`; a file that brings the directory's first ASEC officer needs none.

    Example: ascn --actor officer@asec.example people import people.toml
    """
    from .. import services

    result = services.people_import(invocation.app, file, invocation.now(), invocation.acting_actor(bootstrap=True))
    line(f"{result['file']}: {result['entries']} entries, {result['roles_added']} roles added")


@people.command("list")
@click.option("--role", help="Only this role.")
@click.option("--member-state", help="Only this member state (ISO code).")
@json_option
@pass_invocation
def people_list(invocation: Invocation, role: str | None, member_state: str | None, as_json: bool) -> None:
    """List people and their roles. Example: ascn people list --role nr"""
    from .. import services

    rows = services.people_list(invocation.app, role, member_state)
    if as_json:
        emit_json(rows)
        return
    table(
        "People",
        ["email", "name", "role", "member state", "city", "granted by"],
        [[r["email"], r["name"], r["role"], r["member_state"], r["city"], r["granted_by"]] for r in rows],
    )


# ---------------------------------------------------------------------------- cycles and projects


@cli.group()
def cycle() -> None:
    """The yearly cycles: 2018 founds the network, then it meets every year to 2025."""


@cycle.command("open")
@click.argument("year", type=int)
@json_option
@pass_invocation
def cycle_open(invocation: Invocation, year: int, as_json: bool) -> None:
    """Open a cycle's deliverables from its calendar (idempotent).

    The annual meeting and report, and for each city that joined earlier a progress review and a
    twinning follow-up. Example: ascn cycle open 2019
    """
    from .. import services

    result = services.open_cycle(invocation.app, year, invocation.now())
    if as_json:
        emit_json(result)
        return
    line(
        f"cycle {year} (Chair: {result['chair']}): {plural(len(result['opened']), 'deliverable')} opened"
        + ("" if result["opened"] else " (already open)")
    )


@cycle.command("list")
@json_option
@pass_invocation
def cycle_list(invocation: Invocation, as_json: bool) -> None:
    """The cycles with their Chair and invocation. Example: ascn cycle list"""
    from .. import services

    rows = services.cycles(invocation.app, invocation.now())
    if as_json:
        emit_json(rows)
        return
    table(
        "Cycles",
        ["cycle", "Chair", "shepherd", "opened", "deliverables", "finished", "overdue"],
        [
            [
                r["cycle"],
                f"{r['chair_name']} ({r['chair']})",
                r["shepherd"] or "",
                "yes" if r["opened"] else "no",
                r["deliverables"],
                r["finished"],
                r["overdue"],
            ]
            for r in rows
        ],
    )


@cli.group()
def project() -> None:
    """Bankable projects of member cities with private-sector solution providers."""


@project.command("add")
@click.argument("city")
@click.option("--title", required=True, help="What the project is.")
@click.option("--focus", help="transport, water, energy, health care, education, public services, data or ICT.")
@click.option("--funding", help="A multilateral bank (World Bank/IFC, ADB, AIIB, GIH) or an external partner.")
@click.option("--cycle", type=int, help="The cycle (default: the latest open cycle that has begun).")
@json_option
@pass_invocation
def project_add(
    invocation: Invocation,
    city: str,
    title: str,
    focus: str | None,
    funding: str | None,
    cycle: int | None,
    as_json: bool,
) -> None:
    """Propose a project for a member city (its CSCO, its NR, ASEC or the shepherd).

    Example: ascn --actor csco@da-nang.example.org project add da-nang --title "Smart traffic lights" --focus transport --funding ADB
    """
    from .. import projects

    result = projects.add_project(
        invocation.app,
        city,
        title,
        invocation.now(),
        invocation.acting_actor(),
        focus=focus,
        funding=funding,
        cycle=cycle,
    )
    if as_json:
        emit_json(result)
        return
    line(f"{result['id']}: proposed ({result['title']})")


@project.command("list")
@click.option("--city", help="Only this city (slug).")
@click.option("--cycle", "cycle_text", metavar="YEAR|all", help="This cycle, or all (default: all).")
@json_option
@pass_invocation
def project_list(invocation: Invocation, city: str | None, cycle_text: str | None, as_json: bool) -> None:
    """List projects with stage, provider, funding and focus. Example: ascn project list --city da-nang"""
    from .. import projects

    year = None if cycle_text is None else cycle_choice(invocation, cycle_text)
    rows = projects.list_projects(invocation.app, invocation.now(), city=city, cycle=year)
    if as_json:
        emit_json(rows)
        return
    table(
        plural(len(rows), "project"),
        ["id", "stage", "title", "provider", "funding", "focus"],
        [[r["id"], r["stage"], r["title"], r["provider"], (r["funding"] or {}).get("name"), r["focus"]] for r in rows],
    )


# ---------------------------------------------------------------------------- the database


@cli.group()
def db() -> None:
    """Schema migrations (Alembic, shipped in the package)."""


@db.command("upgrade")
@pass_invocation
def db_upgrade(invocation: Invocation) -> None:
    """Bring the database's schema to this version's newest migration. Example: ascn db upgrade"""
    from .. import maintenance

    result = maintenance.db_upgrade(invocation.app)
    line(f"schema: {result['from'] or 'empty'} -> {result['to']}")


@db.command("current")
@json_option
@pass_invocation
def db_current(invocation: Invocation, as_json: bool) -> None:
    """Which migration the database is at. Example: ascn db current"""
    from .. import maintenance

    result = maintenance.db_current(invocation.app)
    if as_json:
        emit_json(result)
        return
    from ..store import is_known

    status = "up to date" if result["up_to_date"] else "run `ascn db upgrade`"
    if result["current"] is not None and not is_known(result["current"]):
        status = "newer than this version of ascn_workflow: install a newer one"
    line(f"schema: {result['current'] or 'none (run ascn init)'} (newest: {result['head']}; {status})")


@cli.group()
def audit() -> None:
    """Tamper evidence of the history."""


@audit.command("verify")
@json_option
@pass_invocation
def audit_verify(invocation: Invocation, as_json: bool) -> None:
    """Check every history row against its hash chain; exit 7 when anything was edited, deleted,
    inserted or reordered. Example: ascn audit verify
    """
    from .. import maintenance

    result = maintenance.audit_verify(invocation.app)
    if as_json:
        emit_json(result)
    else:
        for p in result["problems"]:
            click.echo(f"{p['deliverable_id']} #{p['position']}: {p['kind']}: {p['message']}", err=True)
        if not result["problems"]:
            line(f"{result['rows']} history rows of {result['deliverables']} deliverables: all chains intact")
    if result["problems"]:
        raise click.exceptions.Exit(7)


@cli.command("export")
@click.argument("file", type=click.Path(path_type=Path))
@pass_invocation
def export_command(invocation: Invocation, file: Path) -> None:
    """Write network, people, deliverables, history and outbox as JSON. Example: ascn export ascn.json"""
    from .. import maintenance

    result = maintenance.export_all(invocation.app, file)
    line(
        f"{file}: {result['deliverables']} deliverables, {result['history']} history rows, {result['outbox']} messages"
    )


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@pass_invocation
def import_command(invocation: Invocation, file: Path) -> None:
    """Restore an export into an empty database (all or nothing). Example: ascn import ascn.json"""
    from .. import maintenance

    result = maintenance.import_all(invocation.app, file)
    line(f"{file}: {result['deliverables']} deliverables, {result['history']} history rows restored")


# ---------------------------------------------------------------------------- definitions


@cli.group()
def workflows() -> None:
    """Workflow, rule, network and calendar definitions."""


@workflows.command("check")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Definitions folder (default: from config).")
@json_option
@pass_invocation
def workflows_check(invocation: Invocation, directory: Path | None, as_json: bool) -> None:
    """Validate every definition file; list all problems (exit 2) or say all is well.

    Example: ascn workflows check --dir workflows
    """
    from .. import services

    root = directory or invocation.app.config.workflows_dir
    problems = services.check_definitions(root)
    if as_json:
        emit_json({"dir": str(root), "problems": problems})
    elif problems:
        for problem in problems:
            click.echo(problem, err=True)
    else:
        line(f"{root}: all definitions valid")
    if problems:
        raise click.exceptions.Exit(2)
