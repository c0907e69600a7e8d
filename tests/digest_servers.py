"""Real local servers the digests and alerts talk to in the tests: an SMTP server (aiosmtpd, with STARTTLS or
implicit TLS and AUTH, on a test certificate for localhost) and the settings files that point at them.

The certificate in tests/fixtures/digests/ is self-signed for localhost and 127.0.0.1 (tests only; see
tests/fixtures/README.md); clients trust it through SSL_CERT_FILE, as they would a company CA.
"""

from __future__ import annotations

import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.helpers import FIXTURES, ROOT

CERT = FIXTURES / "digests" / "localhost-test-cert.pem"
KEY = FIXTURES / "digests" / "localhost-test-key.pem"
SMTP_USER, SMTP_PASSWORD = "digest-bot", "s3cret-smtp-pa55word"
WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci10aGUtZGlnZXN0LXdlYmhvb2stdGVzdHM="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps what it receives; ``fail_first`` answers that many DATA commands with ``reply``."""

    def __init__(self, fail_first: int = 0, reply: str = "451 4.3.0 try again later") -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[tuple[str, str]] = []
        self.fail_first = fail_first
        self.reply = reply
        self.attempts = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.attempts += 1
            if self.attempts <= self.fail_first:
                return self.reply
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        ok = (login, password) == (SMTP_USER, SMTP_PASSWORD)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd itself answers 235 or 535


def server_context() -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERT, KEY)
    return context


class SmtpServer:
    """A running SMTP server: security starttls (AUTH only after STARTTLS), ssl (implicit TLS) or none."""

    def __init__(self, mailbox: Mailbox, security: str = "starttls") -> None:
        self.mailbox = mailbox
        self.port = free_port()
        kwargs: dict[str, Any] = {"authenticator": mailbox.authenticate}
        if security == "starttls":
            kwargs |= {"tls_context": server_context(), "require_starttls": True, "auth_require_tls": True}
        elif security == "ssl":
            kwargs |= {"ssl_context": server_context(), "auth_require_tls": False}  # TLS from the first byte
        else:
            kwargs |= {"auth_require_tls": False}
        self.controller = Controller(mailbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def shipped_settings() -> dict:
    return yaml.safe_load((ROOT / "settings.yaml").read_text())


def write_settings(folder: Path, **extra: Any) -> Path:
    """The shipped settings (what the sample warehouse was derived with) plus digests, alerts, smtp..."""
    path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump({**shipped_settings(), **extra}, sort_keys=False))
    return path


def parts(message: EmailMessage) -> list[str]:
    """The MIME tree as 'depth:content-type' lines."""
    out: list[str] = []

    def walk(part: EmailMessage, depth: int) -> None:
        out.append(f"{depth}:{part.get_content_type()}")
        if part.is_multipart():
            for child in part.iter_parts():
                walk(child, depth + 1)  # type: ignore[arg-type]

    walk(message, 0)
    return out
