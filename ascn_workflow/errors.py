"""One exception hierarchy for the whole engine; the CLI maps each class to its exit code once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class AscnError(Exception):
    """Base of every error a user can cause; carries the exit code of SPEC §6."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.context = {k: v for k, v in context.items() if v is not None}

    def as_dict(self) -> dict[str, object]:
        return {"error": self.kind, "exit_code": self.exit_code, "message": self.message, **self.context}


class BadInput(AscnError):
    """Unparseable date, malformed file, missing note or field, `--at` out of range."""

    exit_code = 2
    kind = "bad_input"


class DefinitionError(BadInput):
    """Workflow, rule, network or calendar files that do not validate; lists every problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        first = problems[0] if problems else "invalid definitions"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first}{more}", problems=list(problems))
        self.problems = list(problems)


class NotFound(AscnError):
    exit_code = 3
    kind = "not_found"


class Refused(AscnError):
    """The transition is not allowed from this stage, or a rule is not met."""

    exit_code = 4
    kind = "refused"


class Denied(AscnError):
    """Actor unknown, or its roles and scope do not allow the transition."""

    exit_code = 5
    kind = "denied"


class Conflict(AscnError):
    """The deliverable changed between reading it and writing the transition."""

    exit_code = 6
    kind = "conflict"


class Unavailable(AscnError):
    """The database cannot be reached (server down, wrong host or password): not the user's input."""

    exit_code = 1
    kind = "unavailable"


def did_you_mean(word: str, candidates: Iterable[str], cutoff: float = 0.6) -> str:
    """' (did you mean 'x'?)' for the closest known name, or '' (difflib, as click does for commands)."""
    import difflib

    known = {c.lower(): c for c in candidates if c != word}  # never the word itself; `NOMINATION` finds `nomination`
    close = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=cutoff)
    return f" (did you mean {known[close[0]]!r}?)" if close else ""
