"""Twilio Programmable Messaging adapters: Messages API JSON (kind "twilio_api") and the console
"Messaging logs" CSV export (kind "twilio_csv").

twilio_api files: one Message resource, a list page ``{"messages": [...], "next_page_uri": ...}``, a JSON
array of either, or JSON Lines of either (so Bulk Export "Day" files, one message per line with ISO 8601
dates, load too). twilio_csv files: the console export, header
``From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,AccountSid,Sid,Direction,Price,PriceUnit``;
columns are found by name (case-insensitive, any order, extra columns ignored), so the older scraper variant
without ErrorCode loads too. Required columns: From, To, SentDate, Sid, Direction (Body and Status optional).

Mapping (both kinds):
- message_id = sid.
- direction: inbound -> inbound; outbound-api, outbound-call, outbound-reply (and a bare "outbound") ->
  outbound. Anything else is rejected with the value.
- line_number = our Twilio number: `to` of an inbound message, `from` of an outbound one; contact_number =
  the other side. Numbers pass through raw (``whatsapp:+1415...`` included; the validator strips the prefix);
  channel is "whatsapp" / "messenger" for those prefixes, "sms" without a prefix (or sms: / tel:), and null
  for other prefixes (the validator decides). An outbound message with no `from`
  (scheduled or sent through a Messaging Service) takes the number of the settings.lines entry whose
  source_id is its messaging_service_sid; without one it is rejected with that advice.
- agent_id is always null: Twilio has no user.
- is_automated: outbound-reply (Twilio's own auto-response) is automated; outbound-api / outbound-call are
  not, and inbound never is. A body matching settings.auto_reply_templates or a line in
  settings.automation_numbers makes a message automated in etl.derive, for every source alike.
- created_at: `date_sent`, falling back to `date_created` when date_sent is null or empty (scheduled,
  queued, canceled messages) for the API; `SentDate` for the CSV. Written back as UTC ISO 8601 "...Z".
- body as given; a redacted body is "" and the row is kept. status kept as given (queued, scheduled,
  canceled, failed, undelivered, ...). price / price_unit / num_segments / error codes are ignored.
- conversation_id null (Twilio has none).

Dates (parse_datetime_text), for the CSV whose SentDate format no source documents:
- ISO 8601 with "T" or a space, optional fractional seconds, optional offset or Z:
  "2024-01-15T14:23:05Z", "2024-01-15 14:23:05.123+01:00", "2024-01-15 14:23:05";
- RFC 2822 as the API writes it: "Mon, 15 Jan 2024 14:23:05 +0000" (also GMT / -0000);
- slash dates in the settings' date_order (replyboard.dates; default from default_region: MDY for the US):
  "01/15/2024 14:23:05", "1/15/2024 2:23:05 PM", "1/15/2024, 2:23 PM" read month first; a date that only
  reads in the other order ("15/01/2024" with MDY) is rejected with that reason, never swapped;
- any of these may end with a zone name UTC, GMT, UT, Z, EST/EDT, CST/CDT, MST/MDT, PST/PDT (fixed
  North-American offsets); other zone names are rejected.
A date with no offset or zone (naive) is in the team timezone (settings.timezone): etl.validate reads it so,
DST-correct, and the load summary counts such rows (the API's own dates are RFC 2822 with +0000, never naive).
What does not parse is rejected row by row: "SentDate 'xyz' is not a date this loader understands
(expected e.g. 2024-01-15T14:23:05Z)".

source_line: the CSV line where the record starts (a quoted body may span lines); for JSON the record number
in a document, or the line number in JSON Lines. A CSV row with a different number of fields than the header
is rejected. Blank lines are skipped and not counted.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from etl.sources.base import Reject, SourceError, SourceFrame, csv_raw, csv_records
from etl.sources.common import (
    BrokenJson,
    iso_text,
    line_for_source_id,
    messages_frame,
    parse_iso,
    raw_json,
    read_text,
    split_channel,
    text_or_none,
)
from etl.sources.detect import csv_header_is_twilio, records_of_kind, wrong_kind_error
from replyboard.dates import DateOrder, other_order_problem, parse_slash_datetime
from replyboard.settings import Settings

DIRECTIONS = {
    "inbound": "inbound",
    "outbound-api": "outbound",
    "outbound-call": "outbound",
    "outbound-reply": "outbound",
    "outbound": "outbound",
}
_CHANNELS = {"whatsapp": "whatsapp", "messenger": "messenger", "sms": "sms", "tel": "sms"}
CSV_REQUIRED = ("From", "To", "SentDate", "Sid", "Direction")
DATE_EXAMPLE = "2024-01-15T14:23:05Z"

_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "UT": 0,
    "Z": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
_RFC_RE = re.compile(r"^(?:[A-Za-z]{3},?\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}")


def parse_datetime_text(text: str, date_order: DateOrder = "MDY") -> datetime | None:
    """A date-time in one of the forms in the module docstring (naive when it names no zone), else None; slash
    dates read in date_order."""
    s = " ".join(text.strip().split())
    if not s:
        return None
    if _RFC_RE.match(s):
        try:
            rfc = parsedate_to_datetime(s)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        # RFC 2822's "-0000" is UTC with the sender's own offset unknown; the parser gives it back naive
        return rfc if rfc.tzinfo is not None else rfc.replace(tzinfo=UTC)
    zone_hours = None
    head, _, last = s.rpartition(" ")
    zone = last.strip("()").upper()
    if head and zone.isalpha() and zone not in ("AM", "PM"):
        if zone not in _ZONES:
            return None
        s, zone_hours = head, _ZONES[zone]
    moment = parse_iso(s) or parse_slash_datetime(s, date_order)
    if moment is None:
        return None
    if zone_hours is not None:
        if moment.tzinfo is not None:
            return None  # both an offset and a zone name: refuse to guess
        moment = moment.replace(tzinfo=timezone(timedelta(hours=zone_hours)))
    return moment


def to_utc_text(text: str, date_order: DateOrder = "MDY") -> str | None:
    """The canonical created_at text of a date-time (naive stays naive), else None."""
    moment = parse_datetime_text(text, date_order)
    return iso_text(moment) if moment is not None else None


def _unwrap(value: Any, depth: int = 0) -> list[Any]:
    if isinstance(value, list) and depth < 2:
        return [item for v in value for item in _unwrap(v, depth + 1)]
    if isinstance(value, dict) and isinstance(value.get("messages"), list) and depth < 2:
        return [item for v in value["messages"] for item in _unwrap(v, depth + 1)]
    return [value]


def _row(
    fields: dict[str, Any],
    line: int,
    settings: Settings,
    date_field: str,
    date_example: str,
) -> dict[str, Any] | str:
    """Canonical row from the Twilio fields (sid, direction, date, from, to, body, status, service), or why not."""
    problems: list[str] = []
    sid = text_or_none(fields.get("sid"))
    if sid is None:
        problems.append("no Sid" if date_field == "SentDate" else "no sid")
    raw_direction = text_or_none(fields.get("direction"))
    direction = DIRECTIONS.get(raw_direction.lower()) if raw_direction else None
    if direction is None:
        problems.append(
            "no Direction"
            if raw_direction is None
            else f"direction '{raw_direction}' is not one of inbound, outbound-api, outbound-call, outbound-reply"
        )
    raw_date = text_or_none(fields.get("date"))
    created_at = None
    if raw_date is None:
        problems.append(f"{date_field} is empty")
    else:
        created_at = to_utc_text(raw_date, settings.slash_date_order)
        swapped = other_order_problem(raw_date, settings.slash_date_order) if created_at is None else None
        if swapped:
            problems.append(f"{date_field} '{raw_date}' {swapped}")
        elif created_at is None:
            problems.append(
                f"{date_field} '{raw_date}' is not a date this loader understands (expected e.g. {date_example})"
            )
    sender, recipient = text_or_none(fields.get("from")), text_or_none(fields.get("to"))
    line_number, contact = (recipient, sender) if direction == "inbound" else (sender, recipient)
    if direction == "outbound" and line_number is None:
        service = text_or_none(fields.get("service"))
        line_number = line_for_source_id(settings, service)
        if line_number is None:
            hint = (
                (
                    f" (sent through messaging service '{service}': give that sid as the source_id of a line in "
                    "settings.lines to load it)"
                )
                if service
                else ""
            )
            problems.append(f"no line number: 'from' is empty{hint}")
    elif direction == "inbound" and line_number is None:
        problems.append("no line number: 'to' is empty")
    if direction is not None and contact is None:
        problems.append(f"no contact number: '{'from' if direction == 'inbound' else 'to'}' is empty")
    if problems:
        return "; ".join(problems)
    assert line_number is not None and contact is not None  # a missing one is a problem above
    body = fields.get("body") if isinstance(fields.get("body"), str) else None
    # Twilio's own auto-response; templates and automation numbers are applied by etl.derive
    automated = direction == "outbound" and raw_direction is not None and raw_direction.lower() == "outbound-reply"
    prefixes = {p for p in (split_channel(line_number)[0], split_channel(contact)[0]) if p is not None}
    channel = next((_CHANNELS[p] for p in sorted(prefixes) if p in _CHANNELS), None if prefixes else "sms")
    return {
        "message_id": sid,
        "created_at": created_at,
        "direction": direction,
        "line_number": line_number,
        "contact_number": contact,
        "agent_id": None,
        "is_automated": "true" if automated else "false",
        "body": body,
        "channel": channel,
        "conversation_id": None,
        "status": text_or_none(fields.get("status")),
        "source_line": line,
    }


def read_api(path: Path, settings: Settings) -> SourceFrame:
    """Kind "twilio_api": Message resources, list pages, arrays or JSON Lines of them."""
    path = Path(path)
    records = records_of_kind(path, "twilio_api", _unwrap)
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for line, record in records:
        if isinstance(record, BrokenJson):
            rejects.append(Reject(line, record.error, record.raw))
            continue
        if not isinstance(record, dict):
            rejects.append(Reject(line, f"record is a JSON {type(record).__name__}, not an object", raw_json(record)))
            continue
        sent = record.get("date_sent")
        use_sent = text_or_none(sent) is not None
        fields = {
            "sid": record.get("sid"),
            "direction": record.get("direction"),
            "date": sent if use_sent else record.get("date_created"),
            "from": record.get("from"),
            "to": record.get("to"),
            "body": record.get("body"),
            "status": record.get("status"),
            "service": record.get("messaging_service_sid"),
        }
        row = _row(
            fields, line, settings, "date_sent" if use_sent else "date_created", "Thu, 30 Jul 2015 20:12:31 +0000"
        )
        if isinstance(row, str):
            rejects.append(Reject(line, row, raw_json(record)))
        else:
            rows.append(row)
    return SourceFrame(kind="twilio_api", messages=messages_frame(rows), rejects=rejects, rows_read=len(records))


def read_csv(path: Path, settings: Settings) -> SourceFrame:
    """Kind "twilio_csv": the console Messaging logs export."""
    path = Path(path)
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError(f"{path}: file is empty") from None
    except csv.Error as exc:
        raise SourceError(f"{path}: line 1: unreadable CSV header ({exc})") from None
    names = [h.strip() for h in header]
    if not csv_header_is_twilio(names):
        raise wrong_kind_error(path, "twilio_csv")
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name.lower(), i)
    missing = [c for c in CSV_REQUIRED if c.lower() not in index]
    if missing:  # cannot happen with the signature above; kept for clarity if it ever changes
        raise SourceError(f"{path}: Twilio CSV has no {', '.join(missing)} column")

    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    rows_read = 0
    for item in csv_records(reader, len(header), ","):
        rows_read += 1
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        start, record = item

        def get(name: str, record: list[str] = record) -> str | None:
            i = index.get(name)
            return record[i] if i is not None else None

        fields = {
            "sid": get("sid"),
            "direction": get("direction"),
            "date": get("sentdate"),
            "from": get("from"),
            "to": get("to"),
            "body": get("body"),
            "status": get("status"),
            "service": None,
        }
        row = _row(fields, start, settings, "SentDate", DATE_EXAMPLE)
        if isinstance(row, str):
            rejects.append(Reject(start, row, csv_raw(record)))
        else:
            rows.append(row)
    return SourceFrame(kind="twilio_csv", messages=messages_frame(rows), rejects=rejects, rows_read=rows_read)
