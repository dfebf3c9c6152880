"""`config.toml` (SPEC §7): read once, defaults filled in, relative paths resolved against its folder."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

from msgspec import Struct

from .errors import BadInput, NotFound
from .names import check_email

PACKAGE_DIR = Path(__file__).resolve().parent


class MailConfig(Struct, frozen=True):
    backend: str = "file"
    sender: str = "ascn-secretariat@asean.example"
    outbox: Path = Path("outbox")
    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str = ""
    password_env: str = "ASCN_SMTP_PASSWORD"
    ca_file: str = ""  # a CA bundle to verify the server's certificate with (default: the system's)
    timeout_seconds: float = 20.0  # SMTP: the longest wait for the server at any step of one message
    pass_budget_seconds: float = 300.0  # the longest one due pass spends sending; the rest waits for the next


class WebConfig(Struct, frozen=True):
    """`[web]`: the portal (SPEC §8). The signing secret is read from the variable `secret_env` names."""

    base_url: str = "http://127.0.0.1:8000"
    secret_env: str = "ASCN_WEB_SECRET"
    link_minutes: int = 15
    session_hours: int = 12
    simulation: bool = False  # set by `ascn simulate` only: its sandbox runs without a secret in the environment

    @property
    def secure(self) -> bool:
        """Cookies are marked Secure when the portal is reached over https (e.g. behind a reverse proxy)."""
        return self.base_url.startswith("https://")


AUTH_MODES = ("declared", "os-user", "database-user")


class Config(Struct, frozen=True):
    path: Path | None
    database_url: str
    cycle: int
    workflows_dir: Path
    mail: MailConfig
    reminder_offsets_days: tuple[int, ...] = (14, 7, 1)
    reminder_local_hour: int = 9
    documents_dir: Path = Path("documents")  # [documents] dir: document versions, named by their SHA-256
    web: WebConfig = WebConfig()
    auth_cli: str = "declared"  # [auth] cli: how the command line proves who acts
    clock: datetime | None = None  # [clock] now: a folder that remembers its moment (a simulation's)


def bundled_workflows() -> Path:
    """The definitions shipped in the wheel, or the checkout's `workflows/` in a source tree."""
    shipped = PACKAGE_DIR / "workflows"
    return shipped if shipped.is_dir() else PACKAGE_DIR.parent / "workflows"


def _resolve_sqlite(url: str, base: Path) -> str:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def _database_url(url: str, base: Path) -> str:
    """SQLite (a relative path resolves against the config file's folder) or PostgreSQL through
    psycopg 3, the driver installed with the package (`postgresql://` means it too)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if not url.startswith(("sqlite:///", "postgresql+psycopg://")):
        scheme = url.split("://", 1)[0] if "://" in url else url
        raise ValueError(
            f"[database] url must be sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE, not {scheme}://…"
        )
    return _resolve_sqlite(url, base)


def shown_url(url: str) -> str:
    """The database URL as it may be printed: a password in it (`USER:PASSWORD@HOST`) becomes `***`."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def load_config(path: Path | None, explicit: bool = False) -> Config:
    """Read `path`; a missing default file means defaults in the current folder, a missing named file is bad input."""
    doc: dict[str, Any] = {}
    if path is not None and path.is_file():
        doc = _read_toml(path)
    elif explicit:
        raise NotFound(f"config file {path} not found")
    base = path.resolve().parent if path is not None and path.is_file() else Path.cwd()
    try:
        return _build(doc, base, path if doc else None)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{path}: {exc}") from None


def _read_toml(path: Path) -> dict[str, Any]:
    """The config document, or one line of bad input: not UTF-8, not TOML, nested past reason."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not a text file (UTF-8 TOML expected)") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"{path}: {exc}") from None
    except RecursionError:
        raise BadInput(f"{path}: nested too deeply to be a config file") from None
    except OSError as exc:
        raise BadInput(f"{path}: cannot read it: {exc.strerror}") from None


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"[{key}] must be a table, e.g. [{key}] on a line of its own, not {key} = {value!r}")
    return value


# Every key a config may hold, by section: a misspelt one (`offset_days`, `[reminder]`) is an
# error rather than a setting silently not applied.
KEYS = {
    "database": {"url"},
    "calendar": {"cycle"},
    "workflows": {"dir"},
    "mail": set(MailConfig.__struct_fields__),
    "reminders": {"offsets_days", "local_hour"},
    "documents": {"dir"},
    "web": set(WebConfig.__struct_fields__),
    "auth": {"cli"},
    "clock": {"now"},
}


def _check_keys(doc: dict[str, Any]) -> None:
    for section in doc:
        if section not in KEYS:
            raise ValueError(f"unknown section [{section}] (known: {', '.join(f'[{k}]' for k in KEYS)})")
        unknown = set(_table(doc, section)) - KEYS[section]
        if unknown:
            raise ValueError(f"unknown [{section}] key {sorted(unknown)[0]!r}")


def _whole(value: Any, where: str, low: int, high: int) -> int:
    """A whole number in range: not a float (`1e400`, `9.5`), not a boolean, not words."""
    digits = isinstance(value, str) and value.strip().isascii() and value.strip().isdigit()
    if isinstance(value, bool) or not (isinstance(value, int) or digits) or not low <= int(value) <= high:
        raise ValueError(f"{where} must be a whole number from {low} to {high}, not {value!r}")
    return int(value)


def _build(doc: dict[str, Any], base: Path, path: Path | None) -> Config:
    _check_keys(doc)
    database = _table(doc, "database")
    calendar = _table(doc, "calendar")
    mail = _table(doc, "mail")
    reminders = _table(doc, "reminders")
    workflows = _table(doc, "workflows")
    mail_cfg = MailConfig(**{**mail, "outbox": base / mail.get("outbox", "outbox")})
    check_email(mail_cfg.sender, "[mail] sender")
    if not (float(mail_cfg.timeout_seconds) > 0 and float(mail_cfg.pass_budget_seconds) > 0):
        raise ValueError("[mail] timeout_seconds and pass_budget_seconds must be positive")
    if mail_cfg.backend not in ("file", "smtp"):
        raise ValueError(f'[mail] backend must be "file" or "smtp", not {mail_cfg.backend!r}')
    if isinstance(mail_cfg.port, bool) or not isinstance(mail_cfg.port, int) or not 1 <= mail_cfg.port <= 65535:
        raise ValueError(f"[mail] port must be a whole number from 1 to 65535, not {mail_cfg.port!r}")
    offsets_doc = reminders.get("offsets_days", (14, 7, 1))
    if not isinstance(offsets_doc, list | tuple):
        raise ValueError(f"[reminders] offsets_days must be a list of days, e.g. [14, 7, 1], not {offsets_doc!r}")
    offsets = tuple(_whole(o, "[reminders] offsets_days", 1, 366) for o in offsets_doc)
    hour = _whole(reminders.get("local_hour", 9), "[reminders] local_hour", 0, 23)
    workflows_dir = base / workflows["dir"] if "dir" in workflows else bundled_workflows()
    documents = _table(doc, "documents")
    web = _web(_table(doc, "web"))
    auth = _table(doc, "auth")
    auth_cli = str(auth.get("cli", "declared"))
    if auth_cli not in AUTH_MODES:
        raise ValueError(f'[auth] cli must be "declared", "os-user" or "database-user", not {auth_cli!r}')
    return Config(
        path=path,
        database_url=_database_url(str(database.get("url", "sqlite:///ascn.db")), base),
        cycle=_whole(calendar.get("cycle", 2018), "[calendar] cycle", 1970, 2999),
        workflows_dir=workflows_dir,
        mail=mail_cfg,
        reminder_offsets_days=offsets,
        reminder_local_hour=hour,
        documents_dir=base / str(documents.get("dir", "documents")),
        web=web,
        auth_cli=auth_cli,
        clock=_clock(_table(doc, "clock").get("now")),
    )


def _web(web: dict[str, Any]) -> WebConfig:
    config = WebConfig(**web)
    if not str(config.base_url).startswith(("http://", "https://")):
        raise ValueError(f"[web] base_url must start with http:// or https://, not {config.base_url!r}")
    return WebConfig(
        base_url=config.base_url.rstrip("/"),
        secret_env=str(config.secret_env),
        link_minutes=_whole(config.link_minutes, "[web] link_minutes", 1, 24 * 60),
        session_hours=_whole(config.session_hours, "[web] session_hours", 1, 24 * 366),
        simulation=bool(config.simulation),
    )


def _clock(value: Any) -> datetime | None:
    """`[clock] now`: an ISO 8601 instant with its offset (a string or a TOML offset date-time)."""
    from .dates import parse_instant

    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("[clock] now needs an offset, e.g. 2018-03-05T23:00:00+08:00")
        return value
    return parse_instant(str(value), "[clock] now")
