"""A deliverable: one type from the store to the engine, the views and the due pass.

The engine decides on the first fields (what a rule or a permission needs); the store keeps all
of them (store/tables.py declares its table from this class) and adds its city's zone when it
reads one. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct, field


class Deliverable(Struct, frozen=True):
    id: str
    cycle: int
    workflow: str
    stage: str
    version: int = 1
    member_state: str | None = None
    city: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    last_event_at: datetime | None = None
    deadline: datetime | None = None  # the current stage's deadline, if it has one
    opened_at: datetime | None = None  # when it was stored (always set in the store)
    notified_deadline: datetime | None = None  # the missed deadline whose overdue notice went out
    notice_due: datetime | None = None  # the deadline while its notice is still owed
    city_zone: str | None = None  # the zone of its city, when it has one (read with the city)
