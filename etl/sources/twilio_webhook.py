"""Kind "twilio_webhook": Twilio's form-encoded webhooks as the receiver spooled them (etl.receive).

A file holds one event ``{"twilio_webhook": "form", "received_at": "...Z", "url": ..., "params": {...}}`` (or
an array / JSON Lines of them); `params` are the POST parameters exactly as Twilio sent them. Two kinds of
event arrive: an incoming message (SmsStatus/MessageStatus "received", with Body, From = the customer, To =
our number) and a status callback of an outbound message (MessageStatus queued / sent / delivered /
undelivered / failed ..., From = our number, usually no Body). Both map through the Twilio adapter's rules
(etl.sources.twilio), with these differences, because a webhook carries no date and a status callback no
text:
- created_at is when the event was received (the earliest event of the message);
- several events of one MessageSid merge: later non-empty parameters win, the status goes forward only
  (queued < sending < sent < delivered ...), so callbacks that arrive out of order cannot move it back;
- at load, fill_from_stored keeps what the warehouse already knows: the earlier created_at, the stored body
  and automation flag when the event has no Body, and the further status. So a status callback updates the
  stored message's status and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from etl.sources.base import Reject, SourceFrame
from etl.sources.common import BrokenJson, messages_frame, raw_json, text_or_none
from etl.sources.detect import looks_like_twilio_event, records_of_kind
from etl.sources.twilio import _row
from replyboard.settings import Settings

KIND = "twilio_webhook"
_INBOUND = {"received", "receiving"}
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 4,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "read": 5,
}


def spool_record(received_at: str, url: str, params: dict[str, str]) -> dict[str, Any]:
    """What the receiver writes for one accepted webhook."""
    return {"twilio_webhook": "form", "received_at": received_at, "url": url, "params": params}


def _unwrap(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _sid(params: dict[str, Any]) -> str | None:
    for key in ("MessageSid", "SmsMessageSid", "SmsSid"):
        sid = text_or_none(params.get(key))
        if sid:
            return sid
    return None


def _status(params: dict[str, Any]) -> str | None:
    return text_or_none(params.get("MessageStatus")) or text_or_none(params.get("SmsStatus"))


def _rank(status: str | None) -> int:
    return STATUS_RANK.get((status or "").lower(), -1)


def read(path: Path, settings: Settings) -> SourceFrame:
    path = Path(path)
    records = records_of_kind(path, KIND, _unwrap)
    rejects: list[Reject] = []
    merged: dict[str, dict[str, Any]] = {}  # sid -> {"params", "first", "line", "status"}
    order: list[str] = []
    for line, record in records:
        if isinstance(record, BrokenJson):
            rejects.append(Reject(line, record.error, record.raw))
            continue
        if not looks_like_twilio_event(record):
            rejects.append(Reject(line, "not a spooled Twilio webhook event", raw_json(record)))
            continue
        params = {k: v for k, v in record["params"].items() if isinstance(v, str)}
        sid = _sid(params)
        received = text_or_none(record.get("received_at"))
        if sid is None:
            rejects.append(Reject(line, "no MessageSid (SmsSid) in the webhook parameters", raw_json(record)))
            continue
        status = _status(params)
        entry = merged.get(sid)
        if entry is None:
            merged[sid] = {"params": params, "first": received, "line": line, "status": status}
            order.append(sid)
            continue
        entry["params"] = {**entry["params"], **{k: v for k, v in params.items() if v != ""}}
        if received and (entry["first"] is None or received < entry["first"]):
            entry["first"] = received
        if _rank(status) >= _rank(entry["status"]):
            entry["status"] = status
        entry["line"] = line
    rows: list[dict[str, Any]] = []
    for sid in order:
        entry = merged[sid]
        params, status = entry["params"], entry["status"]
        inbound = (status or "").lower() in _INBOUND
        fields = {
            "sid": sid,
            "direction": "inbound" if inbound else "outbound-api",
            "date": entry["first"],
            "from": params.get("From"),
            "to": params.get("To"),
            "body": params.get("Body"),
            "status": status,
            "service": params.get("MessagingServiceSid"),
        }
        row = _row(fields, entry["line"], settings, "received_at", "2026-09-01T12:00:00Z")
        if isinstance(row, str):
            rejects.append(Reject(entry["line"], row, raw_json(params)))
        else:
            rows.append(row)
    rejects.sort(key=lambda r: r.line or 0)
    return SourceFrame(kind=KIND, messages=messages_frame(rows), rejects=rejects, rows_read=len(records))


def _rank_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    return f"(CASE lower({column}) {cases} ELSE -1 END)"


def fill_from_stored(con: duckdb.DuckDBPyConnection, valid: str, changed: str | None) -> None:
    """Keep what is already known of each message (see module docstring) before the merge compares rows."""
    columns = "message_id, created_at, body, sensitive, is_automated, status, agent_id"
    stored = (
        f"SELECT {columns} FROM {changed} UNION ALL "
        f"SELECT {columns} FROM messages WHERE message_id NOT IN (SELECT message_id FROM {changed})"
        if changed
        else f"SELECT {columns} FROM messages"
    )
    con.execute(
        f"""
        UPDATE {valid} SET
            created_at = least({valid}.created_at, m.created_at),
            body = coalesce({valid}.body, m.body),
            sensitive = CASE WHEN {valid}.body IS NULL THEN m.sensitive ELSE {valid}.sensitive END,
            is_automated = CASE WHEN {valid}.body IS NULL THEN m.is_automated ELSE {valid}.is_automated END,
            status = CASE WHEN {_rank_sql("m.status")} > {_rank_sql(f"{valid}.status")} THEN m.status
                          ELSE {valid}.status END,
            agent_id = coalesce({valid}.agent_id, m.agent_id)
        FROM ({stored}) m
        WHERE m.message_id = {valid}.message_id
        """
    )
