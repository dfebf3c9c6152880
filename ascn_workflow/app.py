"""The one place that builds concrete adapters (store, and later mail) from the configuration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from .config import Config
from .definitions import load
from .errors import BadInput, NotFound, Unavailable
from .spec import Definitions
from .store.direct import Db
from .store.migrate import HEAD


class App:
    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def definitions(self) -> Definitions:
        return load(self.config.workflows_dir)

    @cached_property
    def raw_store(self):  # type: ignore[no-untyped-def]
        from .store import Store

        return Store(self.config.database_url)

    @cached_property
    def mailer(self):  # type: ignore[no-untyped-def]
        from .mail import make_mailer

        return make_mailer(self.config.mail)

    @property
    def store(self):  # type: ignore[no-untyped-def]
        """The store of an initialised database; NotFound tells the user to run `ascn init`."""
        store = self.raw_store
        if not getattr(self, "_schema_checked", False):
            from sqlalchemy.exc import OperationalError

            try:
                state = store.schema_state()
            except OperationalError as error:  # the first statement of a process: the server is not there
                reason = str(error.orig).strip().splitlines()[-1] if str(error.orig).strip() else "no answer"
                raise Unavailable(f"cannot connect to the database: {reason}") from None
            self._check_schema(*state)
            self._schema_checked = True
        return store

    @contextmanager
    def reader(self) -> Iterator[Db]:
        """A read-only connection of its own on plain DB-API: the read commands never load SQLAlchemy."""
        db = Db.connect(self.config.database_url)
        try:
            self._check_schema(db.revision(), HEAD)
            yield db
        finally:
            db.close()

    def _check_schema(self, found: str | None, wanted: str) -> None:
        if found is None:
            raise NotFound(f"no ASCN database at {self.config.database_url}: run `ascn init` first")
        if found != wanted:
            raise BadInput(
                f"the database schema is at migration {found}, this version needs {wanted}: run `ascn db upgrade`"
            )
