"""`ascn serve`: the web portal (SPEC §8) for the database of the config."""

from __future__ import annotations

import os

import click

from ..errors import BadInput
from . import Invocation, cli
from .options import pass_invocation
from .render import line


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Processes (use PostgreSQL for more than one).",
)
@pass_invocation
def serve(invocation: Invocation, host: str, port: int, workers: int) -> None:
    """Serve the web portal: sign-in by e-mail link, My work, deliverables, nomination, the Framework.

    Needs a signing secret in $ASCN_WEB_SECRET ([web] secret_env). Behind a reverse proxy with
    https, set [web] base_url = "https://…" (cookies are then Secure).
    Example: ASCN_WEB_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))') ascn serve --port 8000
    """
    import uvicorn

    from ..config import shown_url
    from ..web.serving import signing_secret

    app = invocation.app
    config = app.config
    signing_secret(config)  # a missing secret is one clear line before anything starts
    with app.store.read():  # a missing or outdated database is one clear line too
        pass
    if workers > 1 and config.database_url.startswith("sqlite"):
        line("ascn serve: several workers on the embedded SQLite file take turns writing; PostgreSQL suits them better")
    _check_listen(host, port)
    if config.path is not None:
        os.environ["ASCN_CONFIG"] = str(config.path.resolve())
    line(
        f"ascn serve: the portal for {shown_url(config.database_url)} on http://{host}:{port} "
        f"(links in mail use {config.web.base_url})"
    )
    uvicorn.run(
        "ascn_workflow.web.serving:build",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # uvicorn's access log would write sign-in and feed tokens; ours redacts them
        log_level="warning",
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


def _check_listen(host: str, port: int) -> None:
    """An address that does not resolve or a port already taken is one line (exit 2), not uvicorn's
    "ERROR: [Errno 98]" and its exit 3, which means "not found" here."""
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise BadInput(f"--host {host!r}: not an address this machine can listen on ({exc})") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            hint = " (another ascn serve?)" if exc.errno == errno.EADDRINUSE else ""
            raise BadInput(f"cannot listen on {host}:{port}: {exc.strerror}{hint}") from None
