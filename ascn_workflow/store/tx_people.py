"""The directory (people, roles, grants and its change log) and the portal's sign-in links, sessions and feeds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from msgspec.structs import replace

from ..errors import BadInput, Conflict
from ..people import Actor, Grant, PersonEntry
from .dialect import PEOPLE_SELECT, columns, in_list
from .tables import (
    CALENDAR_FEED,
    DIRECTORY_CHANGE,
    PERSON,
    PERSON_ROLE,
    WEB_SESSION,
    WEB_SIGNIN,
    DirectoryChange,
    Feed,
    Person,
    PersonRole,
    SignIn,
    WebSession,
)
from .tx_base import Statements

if TYPE_CHECKING:
    pass


DIRECTORY_LOCK = 0x41534344  # "ASCD": the advisory lock directory changes take on PostgreSQL


class People(Statements):
    """The directory (people, roles, grants and its change log) and the portal's sign-in links, sessions and feeds."""

    def actor(self, email: str) -> Actor | None:
        """The person with every role they hold ("" in the store means no scope); None if unknown."""
        rows = self.rows(
            "SELECT role, member_state, city FROM person_role WHERE email = ? ORDER BY id", (email.lower(),)
        )
        if not rows:
            return None
        return Actor(email.lower(), tuple(Grant(r[0], r[1] or None, r[2] or None) for r in rows))

    def add_people(self, entries: Iterable[PersonEntry], actor: str, now: datetime) -> int:
        """Add people and roles; a role already held is kept once. Returns the roles added.

        Each role granted and each name changed is appended to the directory's hash chain with
        `actor` and `now` (who did it, when): `ascn audit verify` checks the tables against it.

        On PostgreSQL directory changes take turns (`DIRECTORY_LOCK`, held to the commit), as every
        write does on SQLite (`BEGIN IMMEDIATE`): each appends after the chain's last link, so two
        at once made the second fail on the next link and, after its retries, exit 6 ('run it
        again'); now it waits for the first and appends after it."""
        self.lock_directory()
        added = 0
        for entry in entries:
            found = self.one("SELECT name FROM person WHERE email = ?", (entry.email,))
            if found is None:
                self._insert(PERSON, [Person(entry.email, entry.name)])
            elif found[0] != entry.name:
                self.execute("UPDATE person SET name = ? WHERE email = ?", (entry.name, entry.email))
            grant = entry.grant
            role = PersonRole(entry.email, grant.role, grant.member_state or "", grant.city or "")
            new = self._insert(PERSON_ROLE, [role], " ON CONFLICT DO NOTHING")
            added += new
            if new or (found is not None and found[0] != entry.name):
                self._record_change(entry, actor, now)
        return added

    def lock_directory(self) -> None:
        """Wait for the directory's turn (PostgreSQL; on SQLite every write already has its turn),
        held to the commit. Taking it again in the same transaction costs nothing."""
        if self.dialect.pg:
            self.execute("SELECT pg_advisory_xact_lock(?)", (DIRECTORY_LOCK,))

    def _record_change(self, entry: PersonEntry, actor: str, now: datetime) -> None:
        from ..audit import directory_digest  # hashlib: loaded by writers only

        last = self.one("SELECT seq, hash FROM directory_change ORDER BY seq DESC LIMIT 1")
        seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, "")
        grant = entry.grant
        change = DirectoryChange(
            seq, now, actor, entry.email, entry.name, grant.role, grant.member_state or "", grant.city or ""
        )
        fields = {name: getattr(change, name) for name in DIRECTORY_CHANGE.names}
        self._insert(DIRECTORY_CHANGE, [replace(change, prev_hash=prev_hash, hash=directory_digest(fields, prev_hash))])

    def directory_changes(self) -> list[DirectoryChange]:
        """The directory's chain, in order."""
        return self._records(DIRECTORY_CHANGE, f"SELECT {columns(DIRECTORY_CHANGE)} FROM directory_change ORDER BY seq")

    def chair_grants(self) -> frozenset[str]:
        """The member states someone holds an explicit `chair` grant for (engine.chair_seat)."""
        return frozenset(
            str(r[0]) for r in self.rows("SELECT DISTINCT member_state FROM person_role WHERE role = 'chair'")
        )

    def has_role(self, role: str) -> bool:
        return self.one("SELECT 1 FROM person_role WHERE role = ? LIMIT 1", (role,)) is not None

    def people(self, role: str | None = None, member_state: str | None = None) -> list[tuple[Person, PersonRole]]:
        where, params = [], []
        if role:
            where.append("r.role = ?")
            params.append(role)
        if member_state:
            where.append("r.member_state = ?")
            params.append(member_state.upper())
        condition = f" WHERE {' AND '.join(where)}" if where else ""
        return self._people(
            f"{condition} ORDER BY r.role, r.member_state, r.city, p.email",
            params,
        )

    def people_in_scope(
        self,
        roles: Sequence[str],
        network_roles: Sequence[str],
        member_states: Sequence[str],
        cities: Sequence[str],
    ) -> list[tuple[Person, PersonRole]]:
        """People holding `roles` who could cover some deliverables: `network_roles`, the people of
        `member_states`, the CSCOs of `cities`. One query for a whole batch of deliverables, of
        three branches each answered by an index of its own (migration 0011), so that it follows
        the deliverables, not the size of the directory."""
        network = sorted(set(roles) & set(network_roles))
        local = sorted(set(roles) - set(network_roles) - {"csco"})
        branches: list[tuple[str, list[Any]]] = []
        if network:
            branches.append((f"r.role IN {in_list(network)}", network))
        if local and member_states:
            branches.append(
                (f"r.role IN {in_list(local)} AND r.member_state IN {in_list(member_states)}", [*local, *member_states])
            )
        if "csco" in roles and cities:
            branches.append((f"r.role = 'csco' AND r.city IN {in_list(cities)}", list(cities)))
        if not branches:
            return []
        width = len(PERSON.names)
        order = [width + PERSON_ROLE.names.index(name) + 1 for name in ("email", "id")]  # a union orders by position
        text = " UNION ALL ".join(f"{PEOPLE_SELECT} WHERE {where}" for where, _ in branches)
        return self._decode_people(
            self.rows(f"{text} ORDER BY {order[0]}, {order[1]}", [p for _, params in branches for p in params])
        )

    def _people(self, tail: str, params: Sequence[Any]) -> list[tuple[Person, PersonRole]]:
        return self._decode_people(self.rows(f"{PEOPLE_SELECT}{tail}", params))

    def _decode_people(self, rows: list[tuple[Any, ...]]) -> list[tuple[Person, PersonRole]]:
        width = len(PERSON.names)
        decode = self.dialect.decode
        return [(decode(PERSON, r[:width]), decode(PERSON_ROLE, r[width:])) for r in rows]

    def person(self, email: str) -> Person | None:
        found = self._records(PERSON, f"SELECT {columns(PERSON)} FROM person WHERE email = ?", (email.lower(),))
        return found[0] if found else None

    def lock_person(self, email: str) -> Person | None:
        """The person, their row locked until the transaction ends, so that what is counted or
        replaced per person (sign-in links of the last hour, calendar feeds) is done by one request
        at a time. PostgreSQL: `FOR NO KEY UPDATE` (at READ COMMITTED, every later statement of the
        waiting transaction sees what the first committed); an SQLite writing transaction already
        holds the database's write lock (`BEGIN IMMEDIATE`)."""
        lock = " FOR NO KEY UPDATE" if self.dialect.pg else ""
        found = self._records(PERSON, f"SELECT {columns(PERSON)} FROM person WHERE email = ?{lock}", (email.lower(),))
        return found[0] if found else None

    def person_by_login(self, login: str) -> Person | None:
        found = self._records(PERSON, f"SELECT {columns(PERSON)} FROM person WHERE login = ?", (login,))
        return found[0] if found else None

    def any_login_linked(self) -> bool:
        """Whether any person is linked to a login yet (a proving [auth] mode's bootstrap window)."""
        return self.one("SELECT 1 FROM person WHERE login IS NOT NULL LIMIT 1") is not None

    def set_login(self, email: str, login: str) -> None:
        """Link a person to an OS or database user name; Conflict if another person has it."""
        holder = self.person_by_login(login)
        if holder is not None and holder.email != email.lower():
            raise Conflict(f"login {login!r} already belongs to {holder.email}")
        self.execute("UPDATE person SET login = ? WHERE email = ?", (login, email.lower()))

    def session_user(self) -> str:
        """PostgreSQL's session user (the proven database login); SQLite has none."""
        if not self.dialect.pg:
            raise BadInput('[auth] cli = "database-user" needs PostgreSQL: the embedded SQLite file has no users')
        row = self.one("SELECT session_user")
        assert row is not None
        return str(row[0])

    def signin_links_since(self, email: str, since: datetime) -> int:
        row = self.one(
            "SELECT COUNT(*) FROM web_signin WHERE email = ? AND created_at > ?", (email, self.dialect.instant(since))
        )
        return int(row[0]) if row else 0

    def add_signin(self, link: SignIn) -> None:
        self._insert(WEB_SIGNIN, [link])

    def signin(self, token_hash: str) -> SignIn | None:
        found = self._records(
            WEB_SIGNIN, f"SELECT {columns(WEB_SIGNIN)} FROM web_signin WHERE token_hash = ?", (token_hash,)
        )
        return found[0] if found else None

    def use_signin(self, link_id: int, now: datetime) -> bool:
        """Mark a link used; False if another request used it first (single use under races)."""
        result = self.execute(
            "UPDATE web_signin SET used_at = ? WHERE id = ? AND used_at IS NULL", (self.dialect.instant(now), link_id)
        )
        return int(result.rowcount) == 1

    def add_web_session(self, session: WebSession) -> None:
        self._insert(WEB_SESSION, [session])

    def web_session(self, token_hash: str) -> tuple[WebSession, Person] | None:
        row = self.one(
            f"SELECT {columns(WEB_SESSION, 's')}, p.name FROM web_session s JOIN person p ON p.email = s.email "
            "WHERE s.token_hash = ?",
            (token_hash,),
        )
        if row is None:
            return None
        session = self.dialect.decode(WEB_SESSION, row[:-1])
        return session, Person(session.email, str(row[-1]))

    def end_web_sessions(self, now: datetime, *, token_hash: str | None = None, email: str | None = None) -> int:
        """End one session (by its token's hash) or every session of a person."""
        column, value = ("token_hash", token_hash) if token_hash is not None else ("email", email)
        result = self.execute(
            f"UPDATE web_session SET ended_at = ? WHERE {column} = ? AND ended_at IS NULL",
            (self.dialect.instant(now), value),
        )
        return int(result.rowcount or 0)

    def add_feed(self, feed: Feed) -> None:
        self._insert(CALENDAR_FEED, [feed])

    def feed(self, token_hash: str) -> Feed | None:
        found = self._records(
            CALENDAR_FEED, f"SELECT {columns(CALENDAR_FEED)} FROM calendar_feed WHERE token_hash = ?", (token_hash,)
        )
        return found[0] if found else None

    def revoke_feeds(self, email: str, now: datetime) -> int:
        result = self.execute(
            "UPDATE calendar_feed SET revoked_at = ? WHERE email = ? AND revoked_at IS NULL",
            (self.dialect.instant(now), email),
        )
        return int(result.rowcount or 0)

    def has_feed(self, email: str) -> bool:
        return self.one("SELECT 1 FROM calendar_feed WHERE email = ? AND revoked_at IS NULL", (email,)) is not None
