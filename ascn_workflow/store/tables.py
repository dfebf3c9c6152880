"""The schema. Every instant is stored as UTC; `version` guards each deliverable against lost updates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class CycleRow(SQLModel, table=True):
    __tablename__ = "cycle"
    year: int = Field(primary_key=True)
    opened_at: datetime


class MemberStateRow(SQLModel, table=True):
    __tablename__ = "member_state"
    code: str = Field(primary_key=True, max_length=2)
    name: str
    zone: str
    capital: str


class CityRow(SQLModel, table=True):
    __tablename__ = "city"
    slug: str = Field(primary_key=True)
    name: str
    member_state: str = Field(foreign_key="member_state.code", index=True)
    zone: str
    capital: bool = False
    joined_cycle: int | None = None


class PersonRow(SQLModel, table=True):
    __tablename__ = "person"
    email: str = Field(primary_key=True)
    name: str


class RoleRow(SQLModel, table=True):
    """One role of one person; "" stands for "no scope" so the unique constraint holds on every backend."""

    __tablename__ = "person_role"
    __table_args__ = (UniqueConstraint("email", "role", "member_state", "city"),)
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(foreign_key="person.email", index=True)
    role: str = Field(index=True)
    member_state: str = Field(default="", index=True)
    city: str = Field(default="", index=True)


class DeliverableRow(SQLModel, table=True):
    __tablename__ = "deliverable"
    __table_args__ = (
        Index("ix_deliverable_stage_deadline", "stage", "deadline"),
        Index("ix_deliverable_cycle_workflow", "cycle", "workflow"),
    )
    id: str = Field(primary_key=True)
    cycle: int
    workflow: str
    member_state: str | None = Field(default=None, index=True)
    city: str | None = None
    stage: str
    deadline: datetime | None = None
    version: int = 1
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    opened_at: datetime
    last_event_at: datetime | None = None
    notified_deadline: datetime | None = None  # the missed deadline whose overdue notice went out
    notice_due: datetime | None = Field(default=None, index=True)  # the deadline while its notice is still owed


class HistoryRow(SQLModel, table=True):
    """Append-only: one row per transition, written in the same transaction as the stage change."""

    __tablename__ = "history"
    __table_args__ = (UniqueConstraint("deliverable_id", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    deliverable_id: str = Field(foreign_key="deliverable.id", index=True)
    seq: int
    trigger: str
    source: str
    dest: str
    actor: str
    role: str
    effective_at: datetime
    recorded_at: datetime
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    waivers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = ""  # the hash of the previous row of this deliverable ("" for the first)
    hash: str = ""  # sha256 over this row's content and prev_hash: see ascn_workflow/audit.py


class ReminderRow(SQLModel, table=True):
    """A reminder planned when a deliverable entered a stage with a deadline; claimed once when sent."""

    __tablename__ = "reminder"
    __table_args__ = (
        UniqueConstraint("deliverable_id", "entry_version", "recipient", "offset_days"),
        Index("ix_reminder_status_due", "status", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    deliverable_id: str = Field(foreign_key="deliverable.id", index=True)
    entry_version: int  # the deliverable's version when it entered the stage: one stage entry
    stage: str
    recipient: str
    offset_days: int
    due_at: datetime
    deadline: datetime
    status: str = "planned"  # planned | sent | cancelled | skipped
    message_id: str | None = None


class OutboxRow(SQLModel, table=True):
    """The transactional outbox: a message is stored with the claim that caused it, then delivered."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)
    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True)
    kind: str  # reminder | overdue
    deliverable_id: str = Field(index=True)
    recipients: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str
    raw: str  # the whole RFC 5322 message, as it will be sent
    created_at: datetime
    status: str = "queued"  # queued | sending | sent | failed
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime
    lease_until: datetime | None = None
    sent_at: datetime | None = None
