"""Quo (formerly OpenPhone) public API: conversations, then each conversation's messages.

v1 (https://api.quo.com/v1, key in the `Authorization` header, no "Bearer"; 10 requests/s per key):
- GET /v1/phone-numbers (optional): our numbers, their ids (PN...) and names, and their users' names;
- GET /v1/conversations?updatedAfter&maxResults=100&pageToken: conversations with activity since the mark
  (kept whole for the ownership work: assignedTo, participants, phoneNumberId);
- GET /v1/messages?phoneNumberId&participants&createdAfter&maxResults=100&pageToken per conversation;
  pages are {"data": [...], "totalItems", "nextPageToken"}: what etl.sources.openphone.read_api reads.
The dated API (header `Quo-Api-Version`, e.g. 2026-03-30, pages {"data", "nextCursor"} with `limit`/`after`)
is used where settings name a version: GET /users for names, and GET /messages for a workspace-wide message
list when the server offers one; a 404/403 there falls back to the v1 listing with a warning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from etl.sources.common import parse_iso
from etl.sync.http import ApiClient, Policy, Secrets, SyncError
from etl.sync.pages import RunFolder
from etl.sync.secrets import Credentials
from etl.sync.types import Fetched, iso_z, newest
from replyboard.settings import LineSetting, Settings

DEFAULT_BASE = "https://api.quo.com"
PAGE_SIZE = 100  # the v1 maximum
DATED_PAGE_SIZE = 50  # the dated API's maximum
RATE = 10.0  # requests per second per key (Quo's documented limit)


def _when(value: Any) -> datetime | None:
    moment = parse_iso(value) if isinstance(value, str) else None
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _check_new(path: str, token: str, seen: set[str]) -> None:
    """A server that hands back a page token it gave before would page forever: stop with an error."""
    if token in seen:
        raise SyncError(f"Quo {path}: the server repeated a page token; stopping instead of looping")
    seen.add(token)


def _full_name(user: dict[str, Any]) -> str | None:
    parts = [user.get(k) for k in ("firstName", "lastName")]
    name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return name or None


class QuoFetcher:
    source = "quo"

    def __init__(
        self, creds: Credentials, settings: Settings, base_url: str | None, progress: Callable[[str], None]
    ) -> None:
        key = creds.get("QUO_API_KEY")
        if not key:
            raise SyncError(
                f"QUO_API_KEY is not set in {creds.where()}: create a key in Quo (Workspace settings → API)"
            )
        self.secrets = Secrets()
        self.secrets.add(key)
        # the account is a fingerprint of the key: stable per workspace key, and not the key
        self.account = "key-" + hashlib.sha256(key.encode()).hexdigest()[:12]
        self.base = (base_url or DEFAULT_BASE).rstrip("/")
        self.version = settings.sync.quo_api_version
        self.settings = settings
        self.progress = progress
        self.client = ApiClient(
            "Quo",
            secrets=self.secrets,
            credential_hint="check QUO_API_KEY (sent as the Authorization header, without 'Bearer'); "
            "an expired or deleted key must be replaced in Quo → Workspace settings → API",
            policy=Policy(rate_per_second=RATE, timeout_seconds=settings.sync.timeout_seconds),
            headers={"Authorization": key},
            progress=progress,
        )

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------------------------------ paging

    def _v1_pages(self, path: str, params: list[tuple[str, Any]]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            query = params + ([("pageToken", token)] if token else [])
            body = self.client.get(f"{self.base}{path}", query)
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise SyncError(f"Quo {path}: the answer has no 'data' list")
            yield body
            token = body.get("nextPageToken")
            if not token or not body["data"]:
                return
            _check_new(path, str(token), seen)

    def _dated_pages(self, path: str, params: list[tuple[str, Any]]) -> Iterator[dict[str, Any]] | None:
        """Pages of a dated-API list, or None when this server does not offer the endpoint (403/404)."""
        version = {"Quo-Api-Version": self.version or ""}
        first = self.client.get(
            f"{self.base}{path}", [*params, ("limit", DATED_PAGE_SIZE)], optional=True, headers=version
        )
        if first is None:
            return None

        def walk(body: Any) -> Iterator[dict[str, Any]]:
            seen: set[str] = set()
            while True:
                if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                    raise SyncError(f"Quo {path}: the answer has no 'data' list")
                yield body
                cursor = body.get("nextCursor")
                if not cursor or not body["data"]:
                    return
                _check_new(path, str(cursor), seen)
                body = self.client.get(
                    f"{self.base}{path}", [*params, ("limit", DATED_PAGE_SIZE), ("after", cursor)], headers=version
                )

        return walk(first)

    # ------------------------------------------------------------------------------------------ fetch

    def fetch(self, start: datetime | None, run: RunFolder) -> Fetched:
        out = Fetched()
        self._numbers(out)
        if self.version:
            self._users(out)
        conversations = self._conversations(start, run, out)
        workspace = self._workspace_messages(start, run, out) if self.version else False
        if not workspace:
            self._conversation_messages(conversations, start, run, out)
        return out

    def _numbers(self, out: Fetched) -> None:
        body = self.client.get(f"{self.base}/v1/phone-numbers", optional=True)
        if body is None:
            out.warnings.append(
                "Quo GET /v1/phone-numbers answered 403/404: line names and phone-number ids come from "
                "settings.lines only"
            )
            return
        configured = {line.source_id for line in self.settings.lines if line.source_id}
        for number in body.get("data") or [] if isinstance(body, dict) else []:
            if not isinstance(number, dict):
                continue
            pn, e164 = number.get("id"), number.get("number")
            if isinstance(pn, str) and isinstance(e164, str) and pn not in configured:
                name = number.get("name") if isinstance(number.get("name"), str) else None
                out.lines.append(LineSetting(number=e164, name=name or e164, source_id=pn))
            for user in number.get("users") or []:
                if isinstance(user, dict) and isinstance(user.get("id"), str) and _full_name(user):
                    out.agent_names.setdefault(user["id"], _full_name(user) or "")
        self.progress(f"quo: {len(out.lines)} numbers, {len(out.agent_names)} users from /v1/phone-numbers")

    def _users(self, out: Fetched) -> None:
        pages = self._dated_pages("/users", [])
        if pages is None:
            out.warnings.append(f"Quo GET /users (API version {self.version}) answered 403/404: no user names")
            return
        for body in pages:
            for user in body["data"]:
                if isinstance(user, dict) and isinstance(user.get("id"), str) and _full_name(user):
                    out.agent_names[user["id"]] = _full_name(user) or ""

    def _conversations(self, start: datetime | None, run: RunFolder, out: Fetched) -> list[dict[str, Any]]:
        params: list[tuple[str, Any]] = [("maxResults", PAGE_SIZE)]
        if start is not None:
            params.append(("updatedAfter", iso_z(start)))
        found: list[dict[str, Any]] = []
        for n, body in enumerate(self._v1_pages("/v1/conversations", params), 1):
            items = [c for c in body["data"] if isinstance(c, dict)]
            if items:
                run.save("conversations", body)
            found.extend(items)
            for c in items:
                out.high_water = newest(out.high_water, _when(c.get("updatedAt")), _when(c.get("lastActivityAt")))
            self.progress(f"quo: conversations page {n}: {len(items)} ({len(found)} so far)")
        out.conversations = found
        return found

    def _save_messages(self, body: dict[str, Any], run: RunFolder, out: Fetched) -> int:
        items = [m for m in body["data"] if isinstance(m, dict)]
        if items:
            out.files.append(run.save("messages", body))
        for m in items:
            out.high_water = newest(out.high_water, _when(m.get("updatedAt")), _when(m.get("createdAt")))
        return len(items)

    def _workspace_messages(self, start: datetime | None, run: RunFolder, out: Fetched) -> bool:
        params: list[tuple[str, Any]] = [("createdAfter", iso_z(start))] if start is not None else []
        pages = self._dated_pages("/messages", params)
        if pages is None:
            out.warnings.append(
                f"Quo GET /messages (API version {self.version}) answered 403/404: no workspace-wide message list "
                "there yet; listed each conversation's messages through v1 instead"
            )
            return False
        total = 0
        for n, body in enumerate(pages, 1):
            total += self._save_messages(body, run, out)
            self.progress(f"quo: messages page {n} ({total:,} messages so far)")
        return True

    def _conversation_messages(
        self, conversations: list[dict[str, Any]], start: datetime | None, run: RunFolder, out: Fetched
    ) -> None:
        total = 0
        for n, conv in enumerate(conversations, 1):
            pn, participants = conv.get("phoneNumberId"), conv.get("participants")
            numbers = [p for p in participants if isinstance(p, str)] if isinstance(participants, list) else []
            if not isinstance(pn, str) or not numbers:
                out.warnings.append(f"Quo conversation {conv.get('id')!r} has no phoneNumberId or participants")
                continue
            params: list[tuple[str, Any]] = [("phoneNumberId", pn), *(("participants", p) for p in numbers)]
            params.append(("maxResults", PAGE_SIZE))
            if start is not None:
                params.append(("createdAfter", iso_z(start)))
            for body in self._v1_pages("/v1/messages", params):
                total += self._save_messages(body, run, out)
            if n % 20 == 0 or n == len(conversations):
                self.progress(f"quo: messages of {n}/{len(conversations)} conversations ({total:,} messages)")
