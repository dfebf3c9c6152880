"""The store port: the only package that knows there is a database (SQLite or PostgreSQL).

`Store` (sqlmodel/SQLAlchemy) does everything; `direct.Db` runs the hot paths on a plain DB-API
connection. `Store` is imported on first use so that the read path never loads SQLAlchemy.
"""

from typing import Any

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from .repository import Store

        return Store
    raise AttributeError(name)
