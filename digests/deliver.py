"""Sending: email over SMTP (STARTTLS, SSL or plain to a local relay), Slack incoming webhooks, generic webhooks
signed with Standard Webhooks headers. Bounded retries with exponential backoff for what may pass (a refused
connection, a 4xx SMTP reply, HTTP 429 and 5xx); none for what will not (a wrong password, a 5xx SMTP reply, an
unknown Slack URL).

Credentials come from the environment or the settings' secrets_file (etl.sync.secrets: SMTP_USER,
SMTP_PASSWORD, SLACK_WEBHOOK_URL, DIGEST_WEBHOOK_URL, DIGEST_WEBHOOK_SECRET or the names a delivery gives in
url_env / secret_env). They are never printed: every message leaving this module is masked (etl.sync.http).
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from digests.render import json_bytes
from etl.signatures import SignatureError, standard_headers
from etl.sync.http import Secrets, SyncError
from etl.sync.secrets import Credentials
from replyboard.settings import Delivery, Settings, SmtpSettings

HTTP_TIMEOUT_SECONDS = 30.0
USER_AGENT = "Replyboard-digests/1"


class DeliveryError(Exception):
    """A send that did not go through; ``permanent``: retrying will not help. The message is masked."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    backoff_seconds: float = 2.0  # waits 2 s, then 4 s
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    attempts: int
    error: str | None


def with_retries(send: Callable[[], None], policy: RetryPolicy, log: Callable[[str], None]) -> Outcome:
    """Run ``send`` until it goes through, a permanent error, or ``policy.attempts`` tries."""
    error: DeliveryError | None = None
    attempt = 0
    for attempt in range(1, policy.attempts + 1):
        try:
            send()
            return Outcome(True, attempt, None)
        except DeliveryError as exc:
            error = exc
            if exc.permanent or attempt == policy.attempts:
                break
            wait = policy.backoff_seconds * 2 ** (attempt - 1)
            log(f"attempt {attempt} of {policy.attempts} failed ({exc}); retrying in {wait:g} s")
            policy.sleep(wait)
    assert error is not None
    return Outcome(False, attempt, str(error))


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Sender:
    """The channels of one run, with its credentials and the values to mask."""

    def __init__(self, settings: Settings, credentials: Credentials, smtp: SmtpSettings | None = None) -> None:
        self.settings = settings
        self.smtp = smtp or settings.smtp
        self.credentials = credentials
        self.secrets = Secrets()
        self._looked_up: dict[str, str | None] = {}

    def _secret(self, name: str) -> str | None:
        """A credential, looked up once per run (Secrets.add pairs every value with every other: adding the same
        values again on each retry would grow its list without end)."""
        if name not in self._looked_up:
            try:
                value = self.credentials.get(name)
            except SyncError as exc:  # the secrets file named in the settings is missing or unreadable
                raise DeliveryError(str(exc), permanent=True) from None
            self._looked_up[name] = value
            self.secrets.add(value)
        return self._looked_up[name]

    def mask(self, text: str) -> str:
        return self.secrets.mask(text)

    # ---- email ---------------------------------------------------------------------------------------------

    def email(self, message: EmailMessage) -> None:
        s = self.smtp
        where = f"SMTP {s.host}:{s.port}"
        user, password = self._secret("SMTP_USER"), self._secret("SMTP_PASSWORD")
        if bool(user) != bool(password):
            raise DeliveryError(f"{where}: set both SMTP_USER and SMTP_PASSWORD, or neither", permanent=True)
        if password and s.security == "none" and not _loopback(s.host):
            raise DeliveryError(
                f"{where}: SMTP_PASSWORD is never sent unencrypted (smtp.security: none) to another machine; "
                "use starttls or ssl",
                permanent=True,
            )
        context = ssl.create_default_context()
        try:
            if s.security == "ssl":
                server: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
            else:
                server = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            with server:
                if s.security == "starttls":
                    server.starttls(context=context)
                if user and password:
                    server.login(user, password)
                refused = server.send_message(message)
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(
                f"{where}: the server does not offer STARTTLS; set smtp.security to ssl (or none for a local relay)",
                permanent=True,
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                self.mask(f"{where}: the server refused SMTP_USER / SMTP_PASSWORD ({_reply(exc)})"), permanent=True
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused_all = "; ".join(f"{addr}: {_code(reply)}" for addr, reply in exc.recipients.items())
            raise DeliveryError(
                self.mask(f"{where}: every recipient was refused ({refused_all})"), permanent=True
            ) from None
        except smtplib.SMTPResponseException as exc:  # 4xx: try again later; 5xx: it will not pass
            raise DeliveryError(self.mask(f"{where}: {_reply(exc)}"), permanent=exc.smtp_code >= 500) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"{where}: the server's certificate is not trusted ({exc.verify_message})", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, reset, timed out, disconnected: may pass later
            raise DeliveryError(self.mask(f"{where}: {_network(exc)}"), permanent=False) from None
        if refused:
            some = "; ".join(f"{addr}: {_code(reply)}" for addr, reply in refused.items())
            raise DeliveryError(self.mask(f"{where}: some recipients were refused ({some})"), permanent=True)

    # ---- Slack and generic webhooks ------------------------------------------------------------------------

    def slack(self, delivery: Delivery, payload: dict) -> None:
        name = delivery.url_variable
        url = self._url(name, "the Slack incoming-webhook URL (Slack → Apps → Incoming Webhooks)")
        self._post(f"Slack webhook ({name})", url, json_bytes(payload), {})

    def webhook(self, delivery: Delivery, payload: dict, message_id: str) -> None:
        name, secret_name = delivery.url_variable, delivery.secret_variable
        url = self._url(name, "the address the JSON is posted to")
        secret = self._secret(secret_name)
        if not secret:
            raise DeliveryError(
                f"set {secret_name} ({self.credentials.where()}): the whsec_... secret the receiver verifies the "
                "Standard Webhooks signature with",
                permanent=True,
            )
        body = json_bytes(payload)
        try:
            headers = standard_headers(secret, message_id, body)
        except SignatureError as exc:
            raise DeliveryError(f"{secret_name}: {exc}", permanent=True) from None
        self._post(f"webhook ({name})", url, body, headers)

    def _url(self, name: str, what: str) -> str:
        url = self._secret(name)
        if not url:
            raise DeliveryError(f"set {name} ({self.credentials.where()}): {what}", permanent=True)
        if not url.startswith(("https://", "http://")):
            raise DeliveryError(f"{name} is not an http(s) URL", permanent=True)
        return url

    def _post(self, where: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            response = httpx.post(
                url,
                content=body,
                headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:  # refused, timed out, a broken TLS handshake
            raise DeliveryError(self.mask(f"{where}: {type(exc).__name__}: {exc}"), permanent=False) from None
        if response.is_success:
            return
        excerpt = self.mask(response.text[:200].replace("\n", " ").strip())
        temporary = response.status_code == 429 or response.status_code >= 500
        raise DeliveryError(
            f"{where}: answered {response.status_code}" + (f" ({excerpt})" if excerpt else ""), permanent=not temporary
        )


def _code(reply: tuple[int, bytes]) -> str:
    code, text = reply
    return f"{code} {text.decode(errors='replace')}"


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}"


def _network(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the mail server running, and are smtp.host and smtp.port right?)"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
