"""Twilio Programmable Messaging: the Messages list, and Messaging Services resolved to their numbers.

- GET /2010-04-01/Accounts/{AccountSid}/Messages.json?PageSize=1000&DateSent>=YYYY-MM-DD, following
  `next_page_uri`: pages {"messages": [...], "next_page_uri": ...}, what etl.sources.twilio.read_api reads.
  The filter has day granularity in GMT (on the wire the key is `DateSent>` and the value the day, as the
  vendor's own library sends it), so each run starts on the day of (high-water mark − reread_hours) and the
  merge drops what it already has;
- a message sent through a Messaging Service (MG...) with no `from` yet is given the service's number from
  GET https://messaging.twilio.com/v1/Services/{sid}/PhoneNumbers (and its name from /v1/Services/{sid});
  a settings.lines entry with that source_id still wins.
Basic auth: TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, or TWILIO_API_KEY + TWILIO_API_SECRET (the account sid
is still needed for the path).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from etl.sources.twilio import parse_datetime_text
from etl.sync.http import ApiClient, Policy, Secrets, SyncError
from etl.sync.pages import RunFolder
from etl.sync.secrets import Credentials
from etl.sync.types import Fetched, newest
from replyboard.settings import LineSetting, Settings

DEFAULT_BASE = "https://api.twilio.com"
MESSAGING_BASE = "https://messaging.twilio.com"
PAGE_SIZE = 1000  # the Messages list maximum
RATE = 20.0  # Twilio documents concurrency, not a rate, for reads; stay well below what it tolerates
_ACCOUNT_RE = re.compile(r"^AC[0-9a-fA-F]{32}$")


def _when(value: Any) -> datetime | None:
    return parse_datetime_text(value) if isinstance(value, str) and value.strip() else None


class TwilioFetcher:
    source = "twilio"

    def __init__(
        self, creds: Credentials, settings: Settings, base_url: str | None, progress: Callable[[str], None]
    ) -> None:
        sid = creds.get("TWILIO_ACCOUNT_SID")
        token = creds.get("TWILIO_AUTH_TOKEN")
        key, secret = creds.get("TWILIO_API_KEY"), creds.get("TWILIO_API_SECRET")
        if not sid:
            raise SyncError(f"TWILIO_ACCOUNT_SID is not set in {creds.where()} (the AC... id in the Twilio console)")
        if not _ACCOUNT_RE.match(sid):
            raise SyncError("TWILIO_ACCOUNT_SID is not an account sid (AC followed by 32 hex digits)")
        self.secrets = Secrets()
        if key and secret:
            auth, hint = (
                (key, secret),
                "check TWILIO_API_KEY and TWILIO_API_SECRET (and that the key is of this account)",
            )
            self.secrets.add(secret, key)
        elif token:
            auth, hint = (
                (sid, token),
                "check TWILIO_AUTH_TOKEN (and TWILIO_ACCOUNT_SID): the token may have been rotated",
            )
            self.secrets.add(token)
        else:
            raise SyncError(
                f"no Twilio credential in {creds.where()}: set TWILIO_AUTH_TOKEN, or TWILIO_API_KEY and TWILIO_API_SECRET"
            )
        self.account = sid
        self.base = (base_url or DEFAULT_BASE).rstrip("/")
        self.messaging = (base_url or MESSAGING_BASE).rstrip("/")  # --base-url stands for both hosts
        self.settings = settings
        self.progress = progress
        self.client = ApiClient(
            "Twilio",
            secrets=self.secrets,
            credential_hint=hint,
            policy=Policy(rate_per_second=RATE, timeout_seconds=settings.sync.timeout_seconds),
            auth=auth,
            progress=progress,
        )

    def close(self) -> None:
        self.client.close()

    def fetch(self, start: datetime | None, run: RunFolder) -> Fetched:
        out = Fetched()
        url = f"{self.base}/2010-04-01/Accounts/{self.account}/Messages.json"
        first: dict[str, Any] = {"PageSize": PAGE_SIZE}
        if start is not None:
            first["DateSent>"] = start.date().isoformat()
        params: dict[str, Any] | None = first  # the next pages' URLs carry their own
        services: set[str] = set()
        total, page = 0, 0
        seen: set[str] = set()
        while url:
            if url in seen:
                raise SyncError(
                    "Twilio Messages.json: the server repeated a next_page_uri; stopping instead of looping"
                )
            seen.add(url)
            body = self.client.get(url, params)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                raise SyncError("Twilio Messages.json: the answer has no 'messages' list")
            items = [m for m in body["messages"] if isinstance(m, dict)]
            page += 1
            total += len(items)
            if items:
                out.files.append(run.save("messages", body))
            for m in items:
                out.high_water = newest(
                    out.high_water,
                    _when(m.get("date_updated")),
                    _when(m.get("date_sent")),
                    _when(m.get("date_created")),
                )
                service = m.get("messaging_service_sid")
                if isinstance(service, str) and service and not m.get("from"):
                    services.add(service)
            self.progress(f"twilio: messages page {page}: {len(items)} ({total:,} so far)")
            next_uri = body.get("next_page_uri")
            url = f"{self.base}{next_uri}" if isinstance(next_uri, str) and next_uri else ""
            params = None  # the next page's uri carries every parameter
        self._services(services, out)
        return out

    def _services(self, services: set[str], out: Fetched) -> None:
        configured = {line.source_id for line in self.settings.lines if line.source_id}
        for sid in sorted(services - configured):
            numbers: list[str] = []
            url = f"{self.messaging}/v1/Services/{sid}/PhoneNumbers"
            params: dict[str, Any] | None = {"PageSize": 50}
            while url:
                body = self.client.get(url, params, optional=True)
                if body is None:
                    out.warnings.append(
                        f"Twilio Messaging Service {sid}: its phone numbers could not be read (403/404); give its "
                        "number in settings.lines with source_id: " + sid
                    )
                    break
                for item in body.get("phone_numbers") or []:
                    if isinstance(item, dict) and isinstance(item.get("phone_number"), str):
                        numbers.append(item["phone_number"])
                meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
                following = meta.get("next_page_url")
                # the credentials go only to the host we were told to use, and no page is read twice
                ok = isinstance(following, str) and following.startswith(f"{self.messaging}/") and following != url
                url, params = (str(following) if ok else ""), None
            if not numbers:
                continue
            if len(numbers) > 1:
                out.warnings.append(
                    f"Twilio Messaging Service {sid} has {len(numbers)} numbers; its unsent messages are counted on "
                    f"the first ({numbers[0][-4:].rjust(len(numbers[0]), '*')}); settings.lines can choose another"
                )
            service = self.client.get(f"{self.messaging}/v1/Services/{sid}", optional=True)
            name = service.get("friendly_name") if isinstance(service, dict) else None
            out.lines.append(LineSetting(number=numbers[0], name=name or numbers[0], source_id=sid))
