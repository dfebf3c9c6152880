"""`ascn serve` under uvicorn: the application built once per worker process from the environment.

uvicorn starts each worker by importing `build` (factory=True), so everything a worker needs is
in the environment the command prepared: `$ASCN_CONFIG`, the secret in the variable `[web]
secret_env` names, and `$ASCN_NOW` if the clock is pinned (simulations, demonstrations).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from starlette.types import ASGIApp

from ..app import App
from ..config import Config, load_config
from ..errors import BadInput


def signing_secret(config: Config) -> str:
    """The portal's secret; a clear error when unset, except in a simulation's sandbox."""
    name = config.web.secret_env
    value = os.environ.get(name, "") if name else ""
    if value:
        if len(value) < 16:
            raise BadInput(f"${name} is too short to sign with: use at least 32 random characters")
        return value
    if config.web.simulation:  # a sandbox on one machine: derived from its database, stable across workers
        return "simulation:" + hashlib.sha256(config.database_url.encode()).hexdigest()
    raise BadInput(
        f"ascn serve needs a signing secret in ${name or 'ASCN_WEB_SECRET'} ([web] secret_env): "
        f"export {name or 'ASCN_WEB_SECRET'}=$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
    )


def clock_from_environment() -> Callable[[], datetime]:
    from ..dates import parse_instant

    text = os.environ.get("ASCN_NOW")
    if text:
        pinned = parse_instant(text, "ASCN_NOW")
        return lambda: pinned
    return lambda: datetime.now(UTC)


def build() -> ASGIApp:
    """The application of one uvicorn worker."""
    from .app import create_app

    if not logging.getLogger("ascn").handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logging.getLogger("ascn").addHandler(handler)
        logging.getLogger("ascn").setLevel(logging.INFO)
    path = os.environ.get("ASCN_CONFIG")
    config = load_config(Path(path) if path else Path("config.toml"), explicit=bool(path))
    app = App(config)
    return create_app(app, clock_from_environment(), signing_secret(config))
