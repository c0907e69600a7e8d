"""OpenPhone (now Quo) adapters: REST API dumps (kind "openphone_api") and webhook event dumps
(kind "openphone_webhook").

File shapes accepted by both kinds: one JSON document (an object or an array) or JSON Lines (one JSON
value per line). "openphone_api" takes `GET /v1/messages` list pages ``{"data": [...], "nextPageToken": ...}``,
``GET /v1/messages/{id}`` bodies ``{"data": {...}}``, bare message objects and arrays of any of these; list
pages of ``GET /v1/calls`` (objects with ``participants`` and no text) are loaded as calls.
"openphone_webhook" takes event payloads ``{"type": "message.received", "data": {"object": {...}}}``:
one payload, an array of payloads, or one payload per line.

How a message maps to canonical columns (both kinds):
- direction: incoming -> inbound, outgoing -> outbound.
- line_number is our OpenPhone number: the `to` number of an incoming message, the `from` of an outgoing one;
  contact_number is the other side. `to` is an array in the REST API and v4 webhooks, a string in v2/v3
  webhooks, and real v3 payloads hold several numbers comma-joined in that one string (a group text: still
  ONE message, one row). A single number is taken as is. With several candidates the line is, in order: the
  candidate equal to the number settings.lines[].source_id maps the message's `phoneNumberId` to, a candidate
  configured in settings.lines, the mapped number itself, else the first candidate. When the payload holds
  no number for our side, `phoneNumberId` is looked up in settings.lines[].source_id; if that fails too the
  record is rejected with that reason. A group text (several other participants: an outgoing one's recipients,
  an incoming one's sender and the recipients other than our line) has them all as contact_number, comma-
  separated; etl.validate normalises them into one sorted set, the group conversation's key.
- agent_id = `userId` on outgoing messages only (OpenPhone also puts the line owner's userId on incoming
  messages; that is not who answered: it is assigned_agent_id, the conversation's owner, README "Ownership"). Outgoing with no userId is automated (is_automated "true",
  agent_id null). Incoming messages are never automated. Outgoing whose body matches
  settings.auto_reply_templates or whose line is in settings.automation_numbers is classified as automated
  by etl.derive, for every source alike (in SQL, with DuckDB's linear-time RE2): the adapters never run the
  user's patterns, and is_automated says only what the source itself says.
- conversation_id = `conversationId` (v2/v3 webhooks); REST messages have none, so null.
- created_at = the message's `createdAt`, re-written as UTC ISO 8601 with "Z"; one without an offset (Quo's
  API always gives one) stays naive and etl.validate reads it in the team timezone.
- channel "sms"; status as given (received, delivered, sent, undelivered, ...).
- Several records with the same message id (the REST pages overlap; webhooks send message.received and
  message.delivered for one message) make ONE row: fields merged oldest to newest by event time (webhook
  `createdAt`; REST `updatedAt`, else `createdAt`; file order breaks ties), so the latest status wins and the
  row's source_line is the newest record's.

Calls (`call.*` webhook events, REST call objects) go to SourceFrame.calls, one row per call id merged the
same way, all columns text except source_line: call_id, created_at, direction (inbound/outbound),
line_number/contact_number as for messages (v2/v3 give from/to, v4 gives `participants` plus phoneNumberId),
agent_id (outgoing: initiatedBy, else userId; incoming: answeredBy, else userId when the call was answered),
status, duration_seconds (`duration`, else completedAt - answeredAt, else null). Call summary and transcript
events hold no call row of their own: they are counted in rows_read and skipped (not rejected). Any other
event type is rejected with its name.

source_line is the 1-based record number for a JSON document (records counted after unwrapping pages) and
the physical line number for JSON Lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers

from etl.sources.base import Reject, SourceFrame
from etl.sources.common import (
    BrokenJson,
    calls_frame,
    iso_text,
    line_for_source_id,
    messages_frame,
    parse_iso,
    raw_json,
    split_channel,
    text_or_none,
)
from etl.sources.detect import looks_like_openphone_event, looks_like_openphone_message, records_of_kind
from replyboard.settings import Settings


@lru_cache(maxsize=8192)
def number_key(raw: str, region: str) -> str:
    """Comparable form of a number: E.164 when it parses, else its letters and digits lower-cased."""
    _, rest = split_channel(raw)
    try:
        parsed = phonenumbers.parse(rest, region or None)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return re.sub(r"[^0-9A-Za-z]", "", rest).lower()


def same_number(a: str | None, b: str | None, settings: Settings) -> bool:
    if not a or not b:
        return False
    return number_key(a, settings.default_region) == number_key(b, settings.default_region)


def pick_line(candidates: list[str], mapped: str | None, settings: Settings) -> str | None:
    """Our number among candidates (see module docstring for the order)."""
    if not candidates:
        return mapped
    if len(candidates) == 1:
        return candidates[0]
    if mapped:
        for c in candidates:
            if same_number(c, mapped, settings):
                return c
    for c in candidates:
        if any(same_number(c, line.number, settings) for line in settings.lines):
            return c
    return mapped or candidates[0]


_DIRECTIONS = {"incoming": "inbound", "outgoing": "outbound"}
_SKIPPED_OBJECTS = {"callsummary", "calltranscript"}


def _is_call(obj: dict[str, Any]) -> bool:
    if obj.get("object") == "call":
        return True
    return obj.get("object") is None and "participants" in obj and "text" not in obj and "body" not in obj


def unwrap_api(value: Any, depth: int = 0) -> list[Any]:
    if isinstance(value, list) and depth < 2:
        return [item for v in value for item in unwrap_api(v, depth + 1)]
    if isinstance(value, dict) and "type" not in value and depth < 2:
        data = value.get("data")
        if isinstance(data, list):
            return [item for v in data for item in unwrap_api(v, depth + 1)]
        if isinstance(data, dict) and not looks_like_openphone_message(value):
            return [data]
    return [value]


def _unwrap_events(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _numbers(value: Any) -> list[str]:
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list):
        parts = [p for v in value if isinstance(v, str) for p in v.split(",")]
    else:
        return []
    return [p.strip() for p in parts if p.strip()]


def _parse_time(value: Any) -> datetime | None:
    """An event time to order versions by, or a call's answer/complete times (a duration): naive taken as UTC is
    harmless there. A time that is stored goes through _created_at, which leaves naive for etl.validate."""
    if not isinstance(value, str):
        return None
    moment = parse_iso(value)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _created_at(obj: dict[str, Any], problems: list[str]) -> str | None:
    raw = obj.get("createdAt")
    if text_or_none(raw) is None:
        problems.append("no createdAt")
        return None
    moment = parse_iso(raw) if isinstance(raw, str) else None  # naive stays naive: the team timezone's
    text = iso_text(moment) if moment else None
    if text is None:
        problems.append(f"createdAt {raw!r} is not an ISO 8601 date-time")
    return text


def _direction(obj: dict[str, Any], problems: list[str]) -> str | None:
    raw = obj.get("direction")
    direction = _DIRECTIONS.get(raw.strip().lower()) if isinstance(raw, str) else None
    if direction is None:
        problems.append(
            "no direction" if text_or_none(raw) is None else f"direction {raw!r} is not incoming or outgoing"
        )
    return direction


def _sides(
    obj: dict[str, Any], direction: str | None, settings: Settings, problems: list[str], group: bool = False
) -> tuple[str | None, str | None]:
    """(line_number, contact_number) of a message or call; problems noted. group: a message with several other
    participants (recipients of an outgoing one; the sender and the other recipients of an incoming one) has
    them all as its contact, comma-separated (etl.validate makes the set one key: README "Group texts")."""
    phone_number_id = text_or_none(obj.get("phoneNumberId"))
    mapped = line_for_source_id(settings, phone_number_id)
    senders, recipients = _numbers(obj.get("from")), _numbers(obj.get("to"))
    participants = _numbers(obj.get("participants"))
    if not senders and not recipients and participants:  # v4 call: participants, no from/to
        ours = [
            p
            for p in participants
            if same_number(p, mapped, settings) or any(same_number(p, x.number, settings) for x in settings.lines)
        ]
        others = [p for p in participants if p not in ours]
        line, contact = (ours[0] if ours else mapped), (others[0] if others else None)
    elif direction == "outbound":
        line, contact = pick_line(senders, mapped, settings), (recipients[0] if recipients else None)
        others = recipients
    else:
        line, contact = pick_line(recipients, mapped, settings), (senders[0] if senders else None)
        others = senders + [r for r in recipients if not (line and same_number(r, line, settings))]
    if group and len(others) > 1:
        contact = ",".join(others)
    if direction is not None:
        our_field, their_field = ("from", "to") if direction == "outbound" else ("to", "from")
        if participants and not senders and not recipients:
            our_field, their_field = "participants", "participants"
        if line is None:
            where = (
                f"phoneNumberId {phone_number_id!r} is not a source_id in settings.lines"
                if phone_number_id
                else "there is no phoneNumberId"
            )
            problems.append(f"no line number: '{our_field}' is empty and {where}")
        if contact is None:
            problems.append(f"no contact number: '{their_field}' is empty")
    return line, contact


def _message_row(obj: dict[str, Any], line: int, settings: Settings) -> dict[str, Any] | str:
    """Canonical row of one message object, or the reason it cannot be one."""
    problems: list[str] = []
    message_id = text_or_none(obj.get("id"))
    if message_id is None:
        problems.append("no message id ('id')")
    direction = _direction(obj, problems)
    created_at = _created_at(obj, problems)
    line_number, contact = _sides(obj, direction, settings, problems, group=True)
    if problems:
        return "; ".join(problems)
    body_raw = obj["text"] if "text" in obj else obj.get("body")
    body = body_raw if isinstance(body_raw, str) else None
    agent = text_or_none(obj.get("userId")) if direction == "outbound" else None
    automated = direction == "outbound" and agent is None
    return {
        "message_id": message_id,
        "created_at": created_at,
        "direction": direction,
        "line_number": line_number,
        "contact_number": contact,
        "agent_id": agent,
        "is_automated": "true" if automated else "false",
        "body": body,
        "channel": "sms",
        "conversation_id": text_or_none(obj.get("conversationId")),
        "status": text_or_none(obj.get("status")),
        # the userId OpenPhone puts on an incoming message is the user the conversation is with: its owner
        "assigned_agent_id": text_or_none(obj.get("userId")) if direction == "inbound" else None,
        "source_line": line,
    }


def _call_row(obj: dict[str, Any], line: int, settings: Settings) -> dict[str, Any] | str:
    problems: list[str] = []
    call_id = text_or_none(obj.get("id"))
    if call_id is None:
        problems.append("no call id ('id')")
    direction = _direction(obj, problems)
    created_at = _created_at(obj, problems)
    line_number, contact = _sides(obj, direction, settings, problems)
    if problems:
        return "; ".join(problems)
    answered = text_or_none(obj.get("answeredAt"))
    if direction == "outbound":
        agent = text_or_none(obj.get("initiatedBy")) or text_or_none(obj.get("userId"))
    else:
        agent = text_or_none(obj.get("answeredBy")) or (text_or_none(obj.get("userId")) if answered else None)
    duration = obj.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        duration_text: str | None = str(int(duration))
    else:
        start, end = _parse_time(obj.get("answeredAt")), _parse_time(obj.get("completedAt"))
        duration_text = str(max(0, round((end - start).total_seconds()))) if start and end else None
    return {
        "call_id": call_id,
        "created_at": created_at,
        "direction": direction,
        "line_number": line_number,
        "contact_number": contact,
        "agent_id": agent,
        "status": text_or_none(obj.get("status")),
        "duration_seconds": duration_text,
        "source_line": line,
    }


@dataclass
class _Version:
    """One record of a message or call, to be merged with the other records of the same id."""

    when: datetime | None
    order: int
    line: int
    obj: dict[str, Any]


def _merge(versions: list[_Version]) -> tuple[dict[str, Any], int]:
    """Fields merged oldest to newest (non-empty values win), and the newest record's line."""
    minimum = datetime.min.replace(tzinfo=UTC)
    ordered = sorted(versions, key=lambda v: (v.when or minimum, v.order))
    merged: dict[str, Any] = {}
    for v in ordered:
        obj = v.obj
        if "body" in obj and "text" not in obj:  # v2/v3 "body" and v4 "text" are one field
            obj = {("text" if k == "body" else k): x for k, x in obj.items()}
        merged.update({k: x for k, x in obj.items() if x is not None and (k == "text" or x not in ("", []))})
    return merged, ordered[-1].line


def _build(
    kind: str,
    path: Path,
    settings: Settings,
    records: list[tuple[int, Any]],
    classify: Callable[[int, Any, list[Reject]], tuple[str, dict[str, Any], datetime | None] | None],
) -> SourceFrame:
    """Group message/call records by id, merge, and turn them into frames."""
    rejects: list[Reject] = []
    groups: dict[tuple[str, str], list[_Version]] = {}
    loose: list[tuple[str, _Version]] = []  # records with no id: rejected by the row builder with reasons
    for order, (line, record) in enumerate(records):
        found = classify(line, record, rejects)
        if found is None:
            continue
        what, obj, when = found
        version = _Version(when, order, line, obj)
        record_id = text_or_none(obj.get("id"))
        if record_id is None:
            loose.append((what, version))
        else:
            groups.setdefault((what, record_id), []).append(version)
    messages: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    items = [(what, *_merge(vs)) for (what, _), vs in groups.items()]
    items += [(what, v.obj, v.line) for what, v in loose]
    for what, obj, line in items:
        row = (_message_row if what == "message" else _call_row)(obj, line, settings)
        if isinstance(row, str):
            rejects.append(Reject(line, row, raw_json(obj)))
        else:
            (messages if what == "message" else calls).append(row)
    messages.sort(key=lambda r: r["source_line"])
    calls.sort(key=lambda r: r["source_line"])
    rejects.sort(key=lambda r: r.line or 0)
    return SourceFrame(
        kind=kind,
        messages=messages_frame(messages),
        calls=calls_frame(calls) if calls else None,
        rejects=rejects,
        rows_read=len(records),
    )


def _is_object(line: int, record: Any, rejects: list[Reject]) -> bool:
    """True for a JSON object; a broken record or a non-object becomes a Reject with its reason."""
    if isinstance(record, BrokenJson):
        rejects.append(Reject(line, record.error, record.raw))
        return False
    if not isinstance(record, dict):
        rejects.append(Reject(line, f"record is a JSON {type(record).__name__}, not an object", raw_json(record)))
        return False
    return True


def read_api(path: Path, settings: Settings) -> SourceFrame:
    """Kind "openphone_api": REST list pages, single messages, arrays, JSON Lines (see module docstring)."""
    path = Path(path)
    records = records_of_kind(path, "openphone_api", unwrap_api)

    def classify(line: int, record: Any, rejects: list[Reject]):
        if not _is_object(line, record, rejects):
            return None
        if looks_like_openphone_event(record):
            rejects.append(
                Reject(
                    line,
                    "this is a webhook event, not a REST message (load the file as openphone_webhook)",
                    raw_json(record),
                )
            )
            return None
        when = _parse_time(record.get("updatedAt")) or _parse_time(record.get("createdAt"))
        return ("call" if _is_call(record) else "message"), record, when

    return _build("openphone_api", path, settings, records, classify)


def read_webhook(path: Path, settings: Settings) -> SourceFrame:
    """Kind "openphone_webhook": message.* and call.* event payloads (see module docstring)."""
    path = Path(path)
    records = records_of_kind(path, "openphone_webhook", _unwrap_events)

    def classify(line: int, record: Any, rejects: list[Reject]):
        if not _is_object(line, record, rejects):
            return None
        if not looks_like_openphone_event(record):
            rejects.append(
                Reject(line, "not an OpenPhone webhook event (needs 'type' and 'data.object')", raw_json(record))
            )
            return None
        event_type = record["type"].strip()
        obj = record["data"]["object"]
        object_kind = str(obj.get("object") or "").replace("_", "").lower()
        when = (
            _parse_time(record.get("createdAt"))
            or _parse_time(obj.get("updatedAt"))
            or _parse_time(obj.get("createdAt"))
        )
        lowered = event_type.lower()
        if object_kind in _SKIPPED_OBJECTS or lowered.startswith(
            ("callsummary", "calltranscript", "call.summary", "call.transcript")
        ):
            return None  # summaries/transcripts of calls: no row of their own
        if lowered.startswith("message.") and object_kind in ("", "message"):
            return "message", obj, when
        if lowered.startswith("call.") and object_kind in ("", "call"):
            return "call", obj, when
        rejects.append(Reject(line, f"event type {event_type!r} is not a message or call event", raw_json(record)))
        return None

    return _build("openphone_webhook", path, settings, records, classify)
