"""The schema, declared once: each table is a frozen record class plus what the database adds to it.

Everything else is derived from these declarations: the DB-API statements, column lists and
decoding (store/sql.py), and the SQLAlchemy metadata Alembic compares the migrations with
(store/schema.py). A column is a field of its record; its SQL type follows the field's type
(`str`, `int`, `bool`, `datetime` an instant kept as UTC, `dict`/`list` JSON) and `| None` makes
it nullable (`not_null` overrides that for a field the record may lack before it is stored); a
field named in `joined` is read from another table and stored nowhere.

This module imports no SQLAlchemy: the read commands decode rows with it and start quickly.
Every instant is stored as UTC; `version` guards each deliverable against lost updates.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from msgspec import Struct
from msgspec.structs import force_setattr, replace

from ..deliverable import Deliverable as Deliverable  # its table is declared below

if TYPE_CHECKING:
    from ..engine import Outcome


KINDS = {"str": "text", "int": "integer", "bool": "boolean", "datetime": "instant", "dict": "json", "list": "json"}


class Cycle(Struct, frozen=True):
    year: int
    opened_at: datetime


class MemberStateRecord(Struct, frozen=True):
    code: str
    name: str
    zone: str
    capital: str


class City(Struct, frozen=True):
    slug: str
    name: str
    member_state: str
    zone: str
    capital: bool = False
    joined_cycle: int | None = None


class Person(Struct, frozen=True):
    email: str
    name: str
    login: str | None = None  # OS or database user name, for the proving [auth] cli modes (migration 0006)


class PersonRole(Struct, frozen=True):
    """One role of one person; "" stands for "no scope" so the unique constraint holds on every backend."""

    email: str
    role: str
    member_state: str = ""
    city: str = ""
    id: int | None = None


class HistoryEntry(Struct, frozen=True):
    """Append-only: one row per transition, written in the same transaction as the stage change."""

    deliverable_id: str
    seq: int
    trigger: str
    source: str
    dest: str
    actor: str
    role: str
    effective_at: datetime
    recorded_at: datetime
    note: str | None
    data: dict[str, Any]
    waivers: dict[str, Any]
    prev_hash: str = ""  # the hash of the previous row of this deliverable ("" for the first)
    hash: str = ""  # sha256 over this row's content and prev_hash: see ascn_workflow/audit.py
    channel: str = "cli"  # cli | web | scheduler: where the act came in (migration 0006; covered by the hash)
    recorded_by: str | None = None  # the proven person who recorded it (web, proving [auth] modes)
    id: int | None = None


class DirectoryChange(Struct, frozen=True):
    """Append-only: who granted which role to whom, when, as one hash chain for the whole directory
    (issue 16, item 4): a role or a name in `person_role`/`person` that no change explains is caught."""

    seq: int  # 1, 2, 3 … in the order of the chain; the key, so two writers cannot both append seq n
    at: datetime
    actor: str  # the ASEC officer or Chair who granted it, `bootstrap`, or the nomination accepted
    email: str
    name: str
    role: str
    member_state: str = ""
    city: str = ""
    prev_hash: str = ""
    hash: str = ""


class Reminder(Struct, frozen=True):
    """A reminder planned when a deliverable entered a stage with a deadline; claimed once when sent."""

    deliverable_id: str
    entry_version: int  # the deliverable's version when it entered the stage: one stage entry
    stage: str
    recipient: str
    offset_days: int
    due_at: datetime
    deadline: datetime
    status: str = "planned"  # planned | sent | cancelled | skipped
    message_id: str | None = None
    id: int | None = None


class Message(Struct, frozen=True):
    """The transactional outbox: a message is stored with the claim that caused it, then delivered."""

    message_id: str
    kind: str  # reminder | overdue
    deliverable_id: str
    recipients: list[str]
    subject: str
    raw: str  # the whole RFC 5322 message, as it will be sent
    created_at: datetime
    next_attempt_at: datetime
    status: str = "queued"  # queued | sending | sent | failed
    attempts: int = 0
    last_error: str | None = None
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    id: int | None = None


class MilestoneRecord(Struct, frozen=True):
    """A cycle's milestone as the database holds it: seeded from workflows/calendars/ when the cycle
    opens, then the truth (`ascn calendar set` moves it). Days are ISO dates in `zone`."""

    ref: str  # "<cycle>/<milestone id>"
    cycle: int
    milestone: str
    title: str
    first_day: str
    last_day: str
    zone: str
    same_as: str | None = None  # follows that milestone's last day until set on its own
    revision: int = 0  # how many times it was moved: the SEQUENCE of its calendar event


class CalendarChange(Struct, frozen=True):
    """Append-only: one row per calendar change or extension, chained by hash like the history."""

    seq: int
    cycle: int
    kind: str  # milestone | extension
    target: str  # the milestone id, or the deliverable id
    actor: str
    role: str
    recorded_at: datetime
    reason: str
    old_value: dict[str, Any]
    new_value: dict[str, Any]
    deliverables: list[Any]  # [{"id", "from", "to"}] of the deadlines it moved
    told: list[Any]  # the people sent a "date changed" message
    prev_hash: str = ""
    hash: str = ""
    id: int | None = None


class DocumentVersion(Struct, frozen=True):
    """One version of a deliverable's document: the file lives at `[documents] dir`/<sha256[:2]>/<sha256>.
    Append-only, chained by hash per deliverable like its history (migration 0009)."""

    deliverable_id: str
    sha256: str
    title: str
    filename: str
    size: int
    added_by: str
    added_at: datetime
    prev_hash: str = ""
    hash: str = ""
    id: int | None = None


class SignIn(Struct, frozen=True):
    """A sign-in link sent by mail: only its SHA-256 is kept; single use, short-lived (docs/security.md)."""

    token_hash: str
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    id: int | None = None


class WebSession(Struct, frozen=True):
    """A signed-in browser: the cookie holds a random token whose SHA-256 is the key; sign-out ends it."""

    token_hash: str
    email: str
    csrf: str  # the synchronizer token every POST of this session must carry
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None
    id: int | None = None


class Feed(Struct, frozen=True):
    """A person's secret calendar feed (/calendar/<token>.ics); revoked when they make a new one or stop it."""

    token_hash: str
    email: str
    created_at: datetime
    revoked_at: datetime | None = None
    id: int | None = None


def notice_due(deadline: datetime | None) -> datetime | None:
    """The one rule behind the `notice_due` column: entering a stage (or opening a deliverable)
    owes an overdue notice for the stage's deadline, if it has one, until a due pass claims it."""
    return deadline


# ---------------------------------------------------------------------------- declarations

R = TypeVar("R")


class Column(Struct, frozen=True):
    name: str
    kind: str  # text | integer | boolean | instant | json
    nullable: bool
    length: int | None = None


class Index(Struct, frozen=True):
    name: str
    columns: tuple[str, ...]


def _kind(annotation: str) -> tuple[str, bool]:
    """(the column kind, nullable) of a field's annotation, as written (`str | None`, `dict[str, Any]`)."""
    base, _, rest = annotation.partition(" | ")
    if rest not in ("", "None"):
        raise TypeError(f"a column is one type or None, not {annotation!r}")
    return KINDS[base.split("[", 1)[0]], rest == "None"


class Table(Struct, Generic[R], frozen=True):
    """A table: its record class, key, the key the database assigns, constraints and indexes.

    `indexed` are single columns with an index named `ix_<table>_<column>`; `indexes` are named ones.
    """

    name: str
    record: type[R]
    key: str
    generated: bool = False  # the key is an integer the database assigns
    unique: tuple[tuple[str, ...], ...] = ()
    indexed: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    references: tuple[tuple[str, str], ...] = ()  # (column, "table.column")
    lengths: tuple[tuple[str, int], ...] = ()
    joined: tuple[str, ...] = ()  # fields read with a join, last in the record: not columns
    not_null: tuple[str, ...] = ()
    columns: tuple[Column, ...] = ()

    def __post_init__(self) -> None:
        lengths = dict(self.lengths)
        columns = []
        annotations = self.record.__annotations__  # as written: the module does not evaluate them
        for name in self.record.__struct_fields__:  # type: ignore[attr-defined]
            if name in self.joined:
                continue
            kind, nullable = _kind(annotations[name])
            if name in self.not_null or (name == self.key and self.generated):
                nullable = False
            columns.append(Column(name, kind, nullable, lengths.get(name)))
        force_setattr(self, "columns", tuple(columns))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def written(self) -> tuple[Column, ...]:
        """The columns an INSERT names (all but a key the database assigns)."""
        return tuple(c for c in self.columns if not (self.generated and c.name == self.key))


CYCLE = Table("cycle", Cycle, key="year")
MEMBER_STATE = Table("member_state", MemberStateRecord, key="code", lengths=(("code", 2),))
CITY = Table("city", City, key="slug", indexed=("member_state",), references=(("member_state", "member_state.code"),))
PERSON = Table("person", Person, key="email", unique=(("login",),))
PERSON_ROLE = Table(
    "person_role",
    PersonRole,
    key="id",
    generated=True,
    unique=(("email", "role", "member_state", "city"),),
    indexed=("email", "role", "member_state", "city"),  # member_state and city: migration 0004
    indexes=(  # who may receive a batch's messages, one indexed branch per scope: migration 0011
        Index("ix_person_role_role_member_state", ("role", "member_state")),
        Index("ix_person_role_role_city", ("role", "city")),
    ),
    references=(("email", "person.email"),),
)
DELIVERABLE = Table(
    "deliverable",
    Deliverable,
    key="id",
    joined=("city_zone",),
    not_null=("opened_at",),
    indexed=("member_state", "notice_due"),
    indexes=(
        Index("ix_deliverable_stage_deadline", ("stage", "deadline")),
        Index("ix_deliverable_cycle_workflow", ("cycle", "workflow")),
    ),
)
HISTORY = Table(
    "history",
    HistoryEntry,
    key="id",
    generated=True,
    unique=(("deliverable_id", "seq"),),
    indexed=("deliverable_id",),
    references=(("deliverable_id", "deliverable.id"),),
)
DIRECTORY_CHANGE = Table("directory_change", DirectoryChange, key="seq", indexed=("email",))
REMINDER = Table(
    "reminder",
    Reminder,
    key="id",
    generated=True,
    unique=(("deliverable_id", "entry_version", "recipient", "offset_days"),),
    indexed=("deliverable_id",),
    indexes=(Index("ix_reminder_status_due", ("status", "due_at")),),
    references=(("deliverable_id", "deliverable.id"),),
)
OUTBOX = Table(
    "outbox",
    Message,
    key="id",
    generated=True,
    unique=(("message_id",),),
    indexed=("deliverable_id",),
    indexes=(Index("ix_outbox_status_next", ("status", "next_attempt_at")),),
)
WEB_SIGNIN = Table("web_signin", SignIn, key="id", generated=True, unique=(("token_hash",),), indexed=("email",))
WEB_SESSION = Table("web_session", WebSession, key="id", generated=True, unique=(("token_hash",),), indexed=("email",))
CALENDAR_FEED = Table("calendar_feed", Feed, key="id", generated=True, unique=(("token_hash",),), indexed=("email",))

MILESTONE = Table("milestone", MilestoneRecord, key="ref", indexed=("cycle",))
CALENDAR_CHANGE = Table(
    "calendar_change", CalendarChange, key="id", generated=True, unique=(("seq",),), indexed=("cycle",)
)
DOCUMENT = Table(
    "document",
    DocumentVersion,
    key="id",
    generated=True,
    unique=(("deliverable_id", "sha256"),),
    indexed=("deliverable_id",),
    references=(("deliverable_id", "deliverable.id"),),
)

# Dependency order (creating, restoring); the export file's key for each.
TABLES: tuple[tuple[str, Table[Any]], ...] = (
    ("cycles", CYCLE),
    ("member_states", MEMBER_STATE),
    ("cities", CITY),
    ("people", PERSON),
    ("roles", PERSON_ROLE),
    ("directory", DIRECTORY_CHANGE),
    ("deliverables", DELIVERABLE),
    ("history", HISTORY),
    ("reminders", REMINDER),
    ("outbox", OUTBOX),
    ("milestones", MILESTONE),
    ("calendar_changes", CALENDAR_CHANGE),
    ("documents", DOCUMENT),
    ("signin_links", WEB_SIGNIN),  # the portal's secrets are kept as hashes only (docs/security.md)
    ("web_sessions", WEB_SESSION),
    ("calendar_feeds", CALENDAR_FEED),
)


def after(row: Deliverable, outcome: Outcome) -> Deliverable:
    """The deliverable as `Transaction.apply(outcome)` leaves it, without reading it again."""
    return replace(
        row,
        stage=outcome.event.dest,
        deadline=outcome.deadline,
        version=outcome.version + 1,
        data=dict(outcome.data),
        last_event_at=outcome.event.effective_at,
        notice_due=notice_due(outcome.deadline),
    )
