"""The store port: the only module that knows there is a database (SQLite or PostgreSQL)."""

from .repository import Store

__all__ = ["Store"]
