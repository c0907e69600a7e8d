"""A polite JSON client for the vendors' APIs: one rate limit, bounded retries, masked errors.

- never more than `rate_per_second` requests (retries included), spaced evenly;
- HTTP 429 (and Twilio's error 20429, whatever status it comes with) waits for Retry-After, else an exponential
  backoff with full jitter, up to `rate_limit_attempts` tries;
- 5xx, timeouts and connection failures are retried `server_retries` times with the same backoff;
- 401/403 raise CredentialError naming the credential to check (exit 2 in the CLI); an *optional* endpoint that
  answers 403 or 404 returns None so the caller can warn and go on;
- every message that leaves this module passes through `mask`, so a key the server echoes back never reaches
  stderr, a log or the warehouse.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

MASK = "****"
MAX_RETRY_AFTER = 120.0  # a server asking for longer is waited on this long, then asked again


class SyncError(Exception):
    """A sync that cannot go on; the message is masked and meant for the user."""


class CredentialError(SyncError):
    """The vendor refused the credentials (401/403)."""


@dataclass
class Secrets:
    """Every secret value in play, and the forms it can take on the wire (basic auth is base64)."""

    raw: list[str] = field(default_factory=list)  # the secrets as given
    values: list[str] = field(default_factory=list)  # and every form to mask: raw, basic-auth pairs encoded

    def add(self, *values: str | None) -> None:
        """Idempotent: adding the same secrets again changes nothing (pairs are built from raw secrets only)."""
        for v in values:
            if v and len(v) >= 4 and v not in self.raw:
                self.raw.append(v)
        encoded = [base64.b64encode(f"{a}:{b}".encode()).decode() for a in self.raw for b in self.raw if a != b]
        self.values = list(dict.fromkeys([*self.raw, *encoded]))

    def mask(self, text: str) -> str:
        for v in sorted(self.values, key=len, reverse=True):
            text = text.replace(v, MASK)
        return text


@dataclass
class Policy:
    rate_per_second: float = 10.0
    timeout_seconds: float = 30.0
    server_retries: int = 3
    rate_limit_attempts: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


class RateLimiter:
    """Evenly spaced requests: at most `rate` in any second (thread-safe; one per client)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic, sleep=time.sleep) -> None:
        self.interval = 1.0 / rate
        self.clock = clock
        self.sleep = sleep
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            if self.next_at > now:
                self.sleep(self.next_at - now)
                now = self.next_at
            self.next_at = now + self.interval


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _error_code(response: httpx.Response) -> int | None:
    """Twilio's `code` (e.g. 20429 Too Many Requests, 20003 authentication) from a JSON error body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, int) else None


class ApiClient:
    """GET JSON from one vendor. `credential_hint` says, for a 401/403, which setting to check."""

    def __init__(
        self,
        vendor: str,
        *,
        secrets: Secrets,
        credential_hint: str,
        policy: Policy,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        progress: Callable[[str], None] = lambda _: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.vendor = vendor
        self.secrets = secrets
        self.credential_hint = credential_hint
        self.policy = policy
        self.progress = progress
        self.sleep = sleep
        self.limiter = RateLimiter(policy.rate_per_second, sleep=sleep)
        self.requests = 0
        self.client = httpx.Client(
            headers={"Accept": "application/json", "User-Agent": "replyboard-sync", **(headers or {})},
            auth=auth,
            timeout=httpx.Timeout(policy.timeout_seconds),
            follow_redirects=False,  # a redirect could carry the credentials elsewhere
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.policy.backoff_cap, self.policy.backoff_base * (2**attempt))
        return random.uniform(0, ceiling)  # full jitter: retries from many clients do not line up

    def _say(self, text: str) -> None:
        self.progress(self.secrets.mask(text))

    def get(
        self,
        url: str,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        *,
        optional: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any | None:
        """The decoded JSON body of GET url; None when optional and the endpoint answers 403/404."""
        where = self.secrets.mask(httpx.URL(url).path)
        server_failures = 0
        limited = 0
        while True:
            self.limiter.wait()
            self.requests += 1
            try:
                response = self.client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                server_failures += 1
                if server_failures > self.policy.server_retries:
                    raise SyncError(
                        f"{self.vendor} {where}: no answer within {self.policy.timeout_seconds:g} s "
                        f"({server_failures} attempts); try again later"
                    ) from None
                delay = self._backoff(server_failures)
                self._say(f"{self.vendor} {where}: timed out; retrying in {delay:.1f} s")
                self.sleep(delay)
                continue
            except httpx.TransportError as exc:
                server_failures += 1
                if server_failures > self.policy.server_retries:
                    raise SyncError(
                        self.secrets.mask(f"{self.vendor} {where}: cannot connect ({exc}); check --base-url")
                    ) from None
                delay = self._backoff(server_failures)
                self._say(f"{self.vendor} {where}: connection failed; retrying in {delay:.1f} s")
                self.sleep(delay)
                continue
            status = response.status_code
            if status == 429 or _error_code(response) == 20429:
                limited += 1
                if limited >= self.policy.rate_limit_attempts:
                    raise SyncError(f"{self.vendor} {where}: still rate limited after {limited} attempts")
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                delay = min(wait, MAX_RETRY_AFTER) if wait is not None else self._backoff(limited)
                self._say(f"{self.vendor} {where}: rate limited (HTTP {status}); waiting {delay:.1f} s")
                self.sleep(delay)
                continue
            if status >= 500:
                server_failures += 1
                if server_failures > self.policy.server_retries:
                    raise SyncError(
                        f"{self.vendor} {where}: HTTP {status} from the server {server_failures} times; try again later"
                    )
                delay = self._backoff(server_failures)
                self._say(f"{self.vendor} {where}: HTTP {status}; retrying in {delay:.1f} s")
                self.sleep(delay)
                continue
            if optional and status in (403, 404):
                return None
            if status in (401, 403):
                raise CredentialError(
                    f"{self.vendor} refused the credentials (HTTP {status} on {where}): {self.credential_hint}"
                )
            if status >= 400:
                excerpt = self.secrets.mask(response.text[:300].replace("\n", " "))
                raise SyncError(f"{self.vendor} {where}: HTTP {status}: {excerpt}")
            try:
                return response.json()
            except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
                raise SyncError(f"{self.vendor} {where}: the answer is not JSON (HTTP {status})") from None
