"""Webhook signature checks (our own code; the tests compare them with the vendors' reference libraries).

- Quo, current webhooks (Standard Webhooks): headers webhook-id, webhook-timestamp (Unix seconds) and
  webhook-signature, a space-separated list of ``v1,<base64 HMAC-SHA256>`` over ``{id}.{timestamp}.{body}``,
  keyed by the base64 part of the ``whsec_...`` secret. Timestamps more than 5 minutes away are refused.
- Quo, legacy webhooks: header ``openphone-signature: hmac;1;<timestamp in ms>;<base64 HMAC-SHA256>`` over
  ``{timestamp}.{body}``, keyed by the base64-decoded signing key (several such entries may be comma-joined).
- Twilio: ``X-Twilio-Signature`` = base64 HMAC-SHA1, keyed by the auth token, of the full URL Twilio called
  followed by each POST parameter's name and value, sorted by name; Twilio may have signed the URL with or
  without the default port, so both are tried (as its own RequestValidator does).
All comparisons are constant-time. ``standard_headers`` signs outgoing deliveries the same way (the digests'
generic webhook, issue 17).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from urllib.parse import urlsplit, urlunsplit

TOLERANCE_SECONDS = 5 * 60


class SignatureError(Exception):
    """Why a delivery is refused (no secret in the message)."""


def _b64decode(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)  # unpadded secrets exist
    except (binascii.Error, ValueError):
        raise SignatureError("the signing secret is not valid base64") from None


def standard_key(secret: str) -> bytes:
    return _b64decode(secret.removeprefix("whsec_"))


def verify_standard(
    secret: str, msg_id: str | None, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None
) -> None:
    if not msg_id or not timestamp or not signature:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        sent = int(timestamp)
    except ValueError:
        raise SignatureError("webhook-timestamp is not a Unix time") from None
    now = time.time() if now is None else now
    if abs(now - sent) > TOLERANCE_SECONDS:
        raise SignatureError("webhook-timestamp is more than 5 minutes away from now (replayed or clock skew)")
    expected = standard_signature(secret, msg_id, timestamp, body).encode()
    for entry in signature.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return
    raise SignatureError("webhook-signature does not match")


def standard_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}`` (what follows ``v1,``): the one implementation the
    receiver checks with and the digests' webhook signs with."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(standard_key(secret), signed, hashlib.sha256).digest()).decode()


def standard_headers(secret: str, msg_id: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of an outgoing delivery (webhook-id, webhook-timestamp, webhook-signature)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{standard_signature(secret, msg_id, timestamp, body)}",
    }


def verify_legacy(key: str, header: str | None, body: bytes, now: float | None = None) -> None:
    if not header:
        raise SignatureError("missing openphone-signature")
    secret = _b64decode(key.removeprefix("whsec_"))
    now = time.time() if now is None else now
    stale = False
    for entry in header.split(","):
        fields = entry.strip().split(";")
        if len(fields) != 4 or fields[0] != "hmac":
            continue
        timestamp, given = fields[2], fields[3]
        try:
            sent_ms = int(timestamp)
        except ValueError:
            continue
        if abs(now - sent_ms / 1000) > TOLERANCE_SECONDS:
            stale = True
            continue
        digest = base64.b64encode(hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).digest())
        if hmac.compare_digest(given.encode(), digest):
            return
    if stale:
        raise SignatureError("openphone-signature timestamp is more than 5 minutes away from now (replayed?)")
    raise SignatureError("openphone-signature does not match")


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    payload = url + "".join(f"{name}{value}" for name, value in sorted(set(params)))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _port_variants(url: str) -> list[str]:
    """The URL without any port, and with its port (the scheme's default when it names none)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    without = urlunsplit(parts._replace(netloc=f"{prefix}{host}"))
    with_port = urlunsplit(parts._replace(netloc=f"{prefix}{host}:{port}"))
    return list(dict.fromkeys([url, without, with_port]))


def verify_twilio(token: str, url: str, params: list[tuple[str, str]], signature: str | None) -> None:
    if not signature:
        raise SignatureError("missing X-Twilio-Signature")
    for candidate in _port_variants(url):
        if hmac.compare_digest(twilio_signature(token, candidate, params).encode(), signature.encode()):
            return
    raise SignatureError("X-Twilio-Signature does not match (check TWILIO_AUTH_TOKEN and --public-url)")
