"""Fake Quo and Twilio APIs for the sync tests, served on a real local port (pytest-httpserver, threaded).

They answer with the documented shapes: Quo v1 pages {"data", "totalItems", "nextPageToken"} whose objects
carry every required field of tests/fixtures/quo_openphone_messages_calls_conversations_schema_excerpt.json,
the dated API's {"data", "nextCursor"}; Twilio list pages shaped like the `test_read_full_page1_response`
body and Message resources built on `test_create_response` of tests/fixtures/twilio_python_test_message_
fixtures.json, Messaging Service PhoneNumbers pages {"phone_numbers", "meta"}. Each can be told to answer a
request with a fault first (429 with Retry-After, Twilio's 20429, 500, a slow answer), or to reject the key as
expired while echoing it back (a server that does that must not make us print the key).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from tests.helpers import FIXTURES

TWILIO_FIXTURES = json.loads((FIXTURES / "twilio_python_test_message_fixtures.json").read_text())
QUO_SCHEMA = json.loads((FIXTURES / "quo_openphone_messages_calls_conversations_schema_excerpt.json").read_text())
QUO_MESSAGE_FIELDS = QUO_SCHEMA["GET /v1/messages"]["responses"]["200"]["properties"]["data"]["items"]["required"]
QUO_CONVERSATION_FIELDS = QUO_SCHEMA["GET /v1/conversations"]["responses"]["200"]["properties"]["data"]["items"][
    "required"
]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


@dataclass
class FakeApi:
    """What both fakes share: a log of requests, queued faults per path, the accepted credential."""

    faults: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    log: list[tuple[float, str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    expired: bool = False
    slow_seconds: float = 2.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault(self, path: str, *kinds: str) -> None:
        self.faults[path].extend(kinds)

    def _take_fault(self, path: str) -> str | None:
        with self.lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def _fault_response(self, kind: str) -> Response | None:
        if kind == "429":
            return _json(
                {"message": "Too many requests", "code": "rate_limited", "status": 429}, 429, {"Retry-After": "1"}
            )
        if kind == "20429":  # Twilio: HTTP 429 with code 20429 and no Retry-After
            return _json({"code": 20429, "message": "Too Many Requests", "status": 429}, 429)
        if kind == "500":
            return _json({"message": "Internal error", "status": 500}, 500)
        if kind == "503":
            return Response("upstream unavailable", status=503)
        if kind == "slow":
            time.sleep(self.slow_seconds)
            return None
        raise AssertionError(kind)

    def __call__(self, request: Request) -> Response:
        with self.lock:
            self.log.append((time.monotonic(), request.path, request.args.to_dict(flat=False), dict(request.headers)))
        kind = self._take_fault(request.path)
        if kind:
            response = self._fault_response(kind)
            if response is not None:
                return response
        return self.handle(request)

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def paths(self) -> list[str]:
        return [p for _, p, _, _ in self.log]


# --------------------------------------------------------------------------------------------------- Quo


class FakeQuo(FakeApi):
    KEY = "quo-test-key-3f9a7c1e55d04b2a"

    def __init__(self, *, dated: bool = False, numbers_endpoint: bool = True, max_page: int = 100, **kw: Any) -> None:
        super().__init__(**kw)
        self.max_page = max_page  # a server may give fewer than maxResults: pagination must still be followed
        self.dated = dated  # offers the dated API's GET /users and GET /messages
        self.numbers_endpoint = numbers_endpoint
        self.numbers = [
            {
                "id": "PNsupport01",
                "number": "+15550100001",
                "name": "Support",
                "formattedNumber": "(555) 010-0001",
                "users": [{"id": "USann", "firstName": "Ann", "lastName": "Lee", "email": "ann@example.com"}],
            },
            {
                "id": "PNsales002",
                "number": "+15550100002",
                "name": "Sales",
                "formattedNumber": "(555) 010-0002",
                "users": [{"id": "USbo", "firstName": "Bo", "lastName": "Chan", "email": "bo@example.com"}],
            },
        ]
        self.conversations: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []

    # data ------------------------------------------------------------------------------------------
    def _number(self, pn: str) -> str:
        return next(n["number"] for n in self.numbers if n["id"] == pn)

    def conversation(self, pn: str, contact: str, assigned: str | None, at: datetime) -> dict[str, Any]:
        for c in self.conversations:
            if c["phoneNumberId"] == pn and c["participants"] == [contact]:
                return c
        c = {
            "assignedTo": assigned,
            "createdAt": iso(at),
            "deletedAt": None,
            "id": f"CN{len(self.conversations):06d}",
            "lastActivityAt": iso(at),
            "lastActivityId": None,
            "mutedUntil": None,
            "name": None,
            "participants": [contact],
            "phoneNumberId": pn,
            "snoozedUntil": None,
            "updatedAt": iso(at),
        }
        assert set(QUO_CONVERSATION_FIELDS) <= c.keys()
        self.conversations.append(c)
        return c

    def add_message(
        self,
        pn: str,
        contact: str,
        direction: str,
        at: datetime,
        text: str,
        *,
        user: str | None = None,
        status: str | None = None,
        assigned: str | None = "USann",
    ) -> dict[str, Any]:
        ours = self._number(pn)
        conv = self.conversation(pn, contact, assigned, at)
        message = {
            "id": f"AC{len(self.messages):08d}",
            "to": [ours] if direction == "incoming" else [contact],
            "from": contact if direction == "incoming" else ours,
            "text": text,
            "phoneNumberId": pn,
            "direction": direction,
            "userId": user,
            "status": status or ("received" if direction == "incoming" else "delivered"),
            "createdAt": iso(at),
            "updatedAt": iso(at),
        }
        assert set(QUO_MESSAGE_FIELDS) <= message.keys()
        self.messages.append(message)
        self.touch(conv, at)
        return message

    def touch(self, conv: dict[str, Any], at: datetime) -> None:
        conv["lastActivityAt"] = max(conv["lastActivityAt"], iso(at))
        conv["updatedAt"] = max(conv["updatedAt"], iso(at))

    def set_status(self, message: dict[str, Any], status: str, at: datetime) -> None:
        message["status"] = status
        message["updatedAt"] = iso(at)
        conv = next(
            c
            for c in self.conversations
            if c["phoneNumberId"] == message["phoneNumberId"]
            and c["participants"] == [message["to"][0] if message["direction"] == "outgoing" else message["from"]]
        )
        self.touch(conv, at)

    # routes ----------------------------------------------------------------------------------------
    def _page(self, items: list[dict[str, Any]], request: Request, size_key: str) -> tuple[list, int, int]:
        size = min(int(request.args.get(size_key, "10")), self.max_page)
        token = request.args.get("pageToken") or request.args.get("after") or "0"
        start = int(token)
        return items[start : start + size], start, size

    def handle(self, request: Request) -> Response:
        given = request.headers.get("Authorization", "")
        if self.expired or given != self.KEY:
            # a careless server echoes the credential: it must still never reach our output
            return _json({"message": f"Unauthorized: API key {given} is invalid or expired", "status": 401}, 401)
        args = request.args
        if request.path == "/v1/phone-numbers":
            if not self.numbers_endpoint:
                return _json({"message": "Forbidden", "status": 403}, 403)
            return _json({"data": copy.deepcopy(self.numbers)})
        if request.path == "/v1/conversations":
            items = sorted(self.conversations, key=lambda c: c["updatedAt"], reverse=True)
            if "updatedAfter" in args:
                items = [c for c in items if parse(c["updatedAt"]) > parse(args["updatedAfter"])]
            return self._v1(items, request)
        if request.path == "/v1/messages":
            pn = args.get("phoneNumberId")
            participants = args.getlist("participants")
            if not pn or not participants or "maxResults" not in args:
                return _json({"message": "phoneNumberId, participants and maxResults are required", "status": 400}, 400)
            items = [m for m in self.messages if m["phoneNumberId"] == pn and self._other(m) in participants]
            if "createdAfter" in args:
                items = [m for m in items if parse(m["createdAt"]) > parse(args["createdAfter"])]
            return self._v1(sorted(items, key=lambda m: m["createdAt"]), request)
        if request.path in ("/users", "/messages"):
            if not self.dated or request.headers.get("Quo-Api-Version") != "2026-03-30":
                return _json({"message": "Not found", "status": 404}, 404)
            if request.path == "/users":
                users = [u for n in self.numbers for u in n["users"]]
                return self._dated(users, request)
            items = sorted(self.messages, key=lambda m: m["createdAt"])
            if "createdAfter" in args:
                items = [m for m in items if parse(m["createdAt"]) > parse(args["createdAfter"])]
            return self._dated(items, request)
        return _json({"message": "Not found", "status": 404}, 404)

    def _other(self, m: dict[str, Any]) -> str:
        return m["from"] if m["direction"] == "incoming" else m["to"][0]

    def _v1(self, items: list[dict[str, Any]], request: Request) -> Response:
        page, start, size = self._page(items, request, "maxResults")
        more = start + size < len(items)
        return _json(
            {
                "data": copy.deepcopy(page),
                "totalItems": len(items),
                "nextPageToken": str(start + size) if more else None,
            }
        )

    def _dated(self, items: list[dict[str, Any]], request: Request) -> Response:
        page, start, size = self._page(items, request, "limit")
        more = start + size < len(items)
        return _json({"data": copy.deepcopy(page), "nextCursor": str(start + size) if more else None})


def quo_workload(fake: FakeQuo, day: datetime) -> list[dict[str, Any]]:
    """A small realistic day on two lines: inquiries, human replies, an auto-reply, an unanswered text."""
    t = day.replace(hour=14, minute=0, second=0, microsecond=0, tzinfo=UTC)  # 10:00 in New York (EDT)
    out = []
    for i in range(7):
        pn = "PNsupport01" if i % 2 == 0 else "PNsales002"
        agent = "USann" if pn == "PNsupport01" else "USbo"
        contact = f"+1555020{i:04d}"
        start = t + timedelta(minutes=17 * i)
        out.append(fake.add_message(pn, contact, "incoming", start, f"Hi, question {i}"))
        out.append(fake.add_message(pn, contact, "outgoing", start + timedelta(seconds=20), "Thanks for reaching out!"))
        if i != 6:  # the last one is left unanswered
            reply_at = start + timedelta(minutes=3 + i)
            out.append(fake.add_message(pn, contact, "outgoing", reply_at, f"Answer {i}", user=agent))
            out.append(fake.add_message(pn, contact, "incoming", reply_at + timedelta(minutes=2), "great, thanks"))
    return out


# ------------------------------------------------------------------------------------------------ Twilio

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-test-token-9c2e4f7a1b3d"
SERVICE = "MG" + "fedcba9876543210" * 2


class FakeTwilio(FakeApi):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.messages: list[dict[str, Any]] = []
        self.service_numbers = {SERVICE: ["+15550109999"]}

    def add(
        self,
        direction: str,
        ours: str,
        contact: str,
        at: datetime | None,
        body: str,
        *,
        status: str | None = None,
        service: str | None = None,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        m = copy.deepcopy(TWILIO_FIXTURES["test_create_response"]["body"])
        sid = f"SM{len(self.messages):032x}"
        created = created or at
        m.update(
            {
                "account_sid": ACCOUNT,
                "sid": sid,
                "body": body,
                "direction": direction,
                "from": contact if direction == "inbound" else (None if service and at is None else ours),
                "to": ours if direction == "inbound" else contact,
                "date_created": format_datetime(created.astimezone(UTC), usegmt=False).replace("-0000", "+0000"),
                "date_sent": format_datetime(at.astimezone(UTC)).replace("-0000", "+0000") if at else None,
                "date_updated": format_datetime((at or created).astimezone(UTC)).replace("-0000", "+0000"),
                "messaging_service_sid": service,
                "status": status or ("received" if direction == "inbound" else "delivered"),
                "tags": {},
                "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Messages/{sid}.json",
            }
        )
        self.messages.append(m)
        return m

    def set_status(self, m: dict[str, Any], status: str, at: datetime) -> None:
        m["status"] = status
        m["date_updated"] = format_datetime(at.astimezone(UTC)).replace("-0000", "+0000")

    def _authorized(self, request: Request) -> bool:
        auth = request.authorization
        return bool(auth and auth.username == ACCOUNT and auth.password == TOKEN and not self.expired)

    def handle(self, request: Request) -> Response:
        if not self._authorized(request):
            given = request.authorization.password if request.authorization else ""
            return _json(
                {"code": 20003, "message": f"Authenticate: token {given} rejected", "status": 401, "more_info": ""}, 401
            )
        if request.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json":
            return self._messages(request)
        for sid, numbers in self.service_numbers.items():
            if request.path == f"/v1/Services/{sid}/PhoneNumbers":
                items = [{"sid": f"PN{n[-4:]:0>32}", "phone_number": n, "service_sid": sid} for n in numbers]
                meta = {"page": 0, "page_size": 50, "key": "phone_numbers", "next_page_url": None}
                return _json({"phone_numbers": items, "meta": meta})
            if request.path == f"/v1/Services/{sid}":
                return _json({"sid": sid, "friendly_name": "Reminders service"})
        return _json({"code": 20404, "message": "not found", "status": 404}, 404)

    def _messages(self, request: Request) -> Response:
        args = request.args
        size = int(args.get("PageSize", "50"))
        page = int(args.get("Page", "0"))
        items = sorted(
            self.messages,
            key=lambda m: parse_rfc(m["date_sent"] or m["date_created"]),
            reverse=True,
        )
        if "DateSent>" in args:
            day = datetime.fromisoformat(args["DateSent>"]).date()
            items = [m for m in items if m["date_sent"] and parse_rfc(m["date_sent"]).date() >= day]
        chunk = items[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
        query = f"PageSize={size}" + (f"&DateSent%3E={args['DateSent>']}" if "DateSent>" in args else "")
        more = (page + 1) * size < len(items)
        template = copy.deepcopy(TWILIO_FIXTURES["test_read_full_page1_response"]["body"])
        template.update(
            {
                "messages": copy.deepcopy(chunk),
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + len(chunk) - 1,
                "first_page_uri": f"{base}?{query}&Page=0",
                "uri": f"{base}?{query}&Page={page}",
                "next_page_uri": f"{base}?{query}&Page={page + 1}&PageToken=PASM{page + 1}" if more else None,
                "previous_page_uri": f"{base}?{query}&Page={page - 1}" if page else None,
            }
        )
        return _json(template)


def parse_rfc(text: str) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(text)


def serve(fake: FakeApi):
    """A threaded local HTTP server answering every path with `fake`; returns (server, base URL)."""
    import re

    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(fake)
    server.start()
    return server, server.url_for("/").rstrip("/")
