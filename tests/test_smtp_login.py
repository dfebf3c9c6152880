"""SMTP with STARTTLS (the certificate verified) and login, the password read from `password_env`."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .conftest import ASEC, FEBRUARY_PEOPLE, Ascn, write_config
from .mailserver import MailServer


class TlsLoginServer(MailServer):
    """The loopback server of the other tests, requiring STARTTLS and a login."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.logins: list[tuple[str, str]] = []

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("ascn", "s3cret"), handled=False)

    def start(self) -> None:
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.context,
            require_starttls=True,
            authenticator=self.authenticate,
            auth_required=True,
        )
        self.controller.start()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsLoginServer]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    server = TlsLoginServer(cert, key)
    server.start()
    yield server
    server.stop()


def _ascn(tmp_path: Path, server: TlsLoginServer, ca_file: str) -> Ascn:
    folder = tmp_path / "a"
    folder.mkdir()
    config = write_config(folder).read_text().replace('backend = "file"', 'backend = "smtp"')
    config += (
        f'host = "127.0.0.1"\nport = {server.port}\nstarttls = true\nusername = "ascn"\n'
        f'password_env = "ASCN_TEST_SMTP_PASSWORD"\nca_file = "{ca_file}"\n'
    )
    (folder / "config.toml").write_text(config)
    a = Ascn(folder, folder / "config.toml")
    a.ok("init")
    a.ok("people", "import", a.file("people.toml", FEBRUARY_PEOPLE), now="2018-01-20T09:00+08:00", actor=ASEC)
    return a


def test_starttls_and_login(tmp_path: Path, tls_server: TlsLoginServer, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _ascn(tmp_path, tls_server, str(tmp_path / "cert.pem"))
    monkeypatch.setenv("ASCN_TEST_SMTP_PASSWORD", "wrong")
    refused = a.json("tick", now="2018-02-14T12:00+08:00")
    assert refused["delivered"] == [] and refused["retrying"] and "535" in refused["retrying"][0]
    assert "s3cret" not in a.config.read_text()
    monkeypatch.setenv("ASCN_TEST_SMTP_PASSWORD", "s3cret")
    done = a.json("tick", now="2018-02-14T12:05+08:00")
    assert len(done["delivered"]) == len(refused["retrying"]) and len(tls_server.received) == len(done["delivered"])
    assert ("ascn", "s3cret") in tls_server.logins


def test_an_unverified_certificate_is_not_trusted(
    tmp_path: Path, tls_server: TlsLoginServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _ascn(tmp_path, tls_server, "")  # the system's CAs do not know the self-signed certificate
    monkeypatch.setenv("ASCN_TEST_SMTP_PASSWORD", "s3cret")
    report = a.json("tick", now="2018-02-14T12:00+08:00")
    assert report["delivered"] == [] and "CERTIFICATE_VERIFY_FAILED" in report["retrying"][0]
    assert tls_server.logins == [] and tls_server.received == []
