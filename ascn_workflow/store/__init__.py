"""The store port: the only package that knows there is a database (SQLite or PostgreSQL).

`Store` opens transactions; a `Transaction` offers the named operations the services need (read
a deliverable, apply an outcome, people in scope, add or cancel reminders, claim due work, the
outbox …). The records it hands out are declared once, with their tables, in `tables.py`.
Nothing outside this package imports SQLAlchemy, sqlmodel or a table (tests/test_layers.py).
"""

from .migrate import HEAD, is_known, newer_message
from .sql import Store, Transaction, sqlite_path
from .tables import (
    CalendarChange,
    City,
    Deliverable,
    DocumentVersion,
    Feed,
    HistoryEntry,
    Message,
    MilestoneRecord,
    Person,
    PersonRole,
    Reminder,
    SignIn,
    WebSession,
    after,
)
from .tx_mail import Delivered, backoff

__all__ = [
    "HEAD",
    "CalendarChange",
    "City",
    "Deliverable",
    "Delivered",
    "DocumentVersion",
    "Feed",
    "HistoryEntry",
    "Message",
    "MilestoneRecord",
    "Person",
    "PersonRole",
    "Reminder",
    "SignIn",
    "Store",
    "Transaction",
    "WebSession",
    "after",
    "backoff",
    "is_known",
    "newer_message",
    "sqlite_path",
]
