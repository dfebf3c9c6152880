"""Who acts on the command line (`[auth] cli`, SPEC §8): declared, or proven by the OS or the database.

`declared` trusts `--actor` (the embedded file's permissions are the boundary). `os-user` maps the
operating-system login, `database-user` PostgreSQL's session user, to a person (`people add
--login NAME`); then `--actor` may only name that person, and ASEC may record an act on someone
else's behalf with `--on-behalf-of EMAIL` (history keeps both: the actor and `recorded_by`).
"""

from __future__ import annotations

import os

from msgspec import Struct

from .app import App
from .errors import Denied


class Acting(Struct, frozen=True):
    actor: str | None  # whose act it is (their roles and scope decide)
    recorded_by: str | None  # the proven person who recorded it; None when identity is only declared


def os_login() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name  # the process's real user, not $USER, which anyone can set


def _database_login(app: App) -> str:
    with app.store.transaction(write=False) as tx:
        return tx.session_user()


def _person_of_login(app: App, login: str, mode: str, bootstrap: bool = False) -> str | None:
    with app.store.transaction(write=False) as tx:
        person = tx.person_by_login(login)
        if person is None and bootstrap and not tx.any_login_linked():
            return None  # nobody is linked yet: the declared actor links the first logins
    if person is None:
        raise Denied(
            f'[auth] cli = "{mode}": login {login!r} is not linked to a person; '
            f"ASEC links it with `ascn people add --email … --login {login} …`"
        )
    return person.email


def _is_asec(app: App, email: str) -> bool:
    with app.store.transaction(write=False) as tx:
        actor = tx.actor(email)
    return actor is not None and any(g.role == "asec" for g in actor.grants)


def acting(app: App, declared: str | None, on_behalf_of: str | None = None, *, bootstrap: bool = False) -> Acting:
    """The actor and the recorder of a command's act, or Denied (exit 5) with one clear line.

    Every command that changes something asks here, so under a proving mode no `--actor` is taken
    on trust. `bootstrap` (the directory's own commands) lets the declared actor act while no
    person is linked to a login yet: someone has to link the first one. After that, only a
    linked login acts, so no other OS or database user can claim to be ASEC and link itself.
    """
    mode = app.config.auth_cli
    if mode == "declared":
        proven = None
        me = declared
    else:
        login = os_login() if mode == "os-user" else _database_login(app)
        proven = _person_of_login(app, login, mode, bootstrap)
        if proven is None:
            return Acting(declared, None)
        me = proven
        if declared and declared.strip().lower() != proven:
            raise Denied(f'--actor may only name yourself under [auth] cli = "{mode}": you are {proven}')
    if on_behalf_of is None:
        return Acting(me, proven)
    if not me or not _is_asec(app, me):
        raise Denied(f"only ASEC may record an act on someone's behalf (--on-behalf-of); {me or 'nobody'} is not ASEC")
    return Acting(on_behalf_of.strip().lower(), proven or me)
