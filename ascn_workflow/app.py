"""The one place that builds concrete adapters (the store, the mailer) from the configuration."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .config import Config
from .definitions import load
from .errors import BadInput, NotFound, Unavailable
from .spec import Definitions
from .store import HEAD, Store, Transaction

if TYPE_CHECKING:
    from .mail import Mailer


class App:
    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def file_definitions(self) -> Definitions:
        """The definitions as the files under workflows/ give them."""
        return load(self.config.workflows_dir)

    @property
    def definitions(self) -> Definitions:
        """The files' definitions with each opened cycle's milestones as the database holds them
        (`ascn calendar set` moves them). Read once per App; `calendar_changed` reads them again."""
        found: Definitions | None = self.__dict__.get("_definitions")
        if found is None:
            found = self.__dict__["_definitions"] = self._with_stored_calendar(self.file_definitions)
        return found

    def calendar_changed(self) -> None:
        self.__dict__.pop("_definitions", None)

    def follow_calendar(self) -> None:
        """For a long-running process (scheduler, portal): read the milestones again when another
        process recorded a calendar change since they were read (one small query)."""
        with self.store.read() as tx:
            last = tx.last_calendar_change()
        if self.__dict__.get("_calendar_seen") != last:
            self.calendar_changed()
            self.__dict__["_calendar_seen"] = last

    def definitions_in(self, tx: Transaction) -> Definitions:
        """`definitions`, their milestones read in `tx` if not read yet: a command that reads in one
        transaction (`show`) reads them in the same snapshot, on its one connection (on PostgreSQL
        a connection and a schema check fewer)."""
        found: Definitions | None = self.__dict__.get("_definitions")
        if found is None:
            from .stored_calendar import overlay

            found = self.__dict__["_definitions"] = overlay(self.file_definitions, tx.milestones())
        return found

    def _with_stored_calendar(self, defs: Definitions) -> Definitions:
        from .stored_calendar import overlay

        own = Store(self.config.database_url, check=self._check_schema)  # may run inside another transaction
        try:
            with own.read() as tx:
                records = tx.milestones()
        except (NotFound, BadInput, Unavailable):  # no database (yet), or one to upgrade: the files
            return defs
        finally:
            own.close()
        return overlay(defs, records)

    @cached_property
    def store(self) -> Store:
        """The store of an initialised database at this version's schema, checked once per connection:
        NotFound tells the user to run `ascn init`, BadInput to run `ascn db upgrade`."""
        return Store(self.config.database_url, check=self._check_schema)

    @cached_property
    def raw_store(self) -> Store:
        """The same database, unchecked: for `init`, `db upgrade` and `import`, which build the schema."""
        return Store(self.config.database_url)

    @cached_property
    def mailer(self) -> Mailer:
        from .mail import make_mailer

        return make_mailer(self.config.mail)

    def _check_schema(self, found: str | None) -> None:
        if found is None:
            from .config import shown_url

            raise NotFound(f"no ASCN database at {shown_url(self.config.database_url)}: run `ascn init` first")
        if found != HEAD:
            from .store import is_known, newer_message

            if not is_known(found):  # `ascn db upgrade` cannot help: only a newer ascn_workflow can
                raise BadInput(newer_message(found))
            raise BadInput(
                f"the database schema is at migration {found}, this version needs {HEAD}: run `ascn db upgrade`"
            )
