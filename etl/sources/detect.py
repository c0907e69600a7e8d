"""Which source adapter reads a file, decided from its content (the extension is never consulted).

detect_kind(path) returns one of
    "openphone_api"      OpenPhone REST JSON: {"data": [...], "nextPageToken": ...}, {"data": {...}}, message
                         objects, arrays of them, JSON Lines
    "openphone_webhook"  OpenPhone webhook payloads {"type": ..., "data": {"object": {...}}}: one, an array,
                         or JSON Lines
    "twilio_api"         Twilio Message resources / list pages {"messages": [...]} (JSON, arrays, JSON Lines)
    "twilio_webhook"     Twilio form webhooks as etl.receive spools them {"twilio_webhook": "form", "params": ...}
    "twilio_csv"         a CSV whose header holds From, To, Body, SentDate, Sid and Direction
    "sms_backup_xml"     XML whose root element is <smses>
or None when it does not recognise the content. In particular it returns None for the canonical CSVs
("messages", "surveys", "agents", "lines"), whose headers the lead's detector checks next, and it never
returns "mapped_csv", which the caller picks when a --mapping file is given.
It raises SourceError only when the file cannot be read at all (missing, a directory) or when the content
starts like JSON but is not valid JSON (nor JSON Lines): then the parser's position is the useful message.

A JSON file is classified by what its records look like (a vote over the first 200 records), so a file with
a few broken records is still recognised.

ADAPTERS maps each kind to its reader, ``reader(path, settings) -> SourceFrame``; the "mapped_csv" reader
also needs ``mapping=Path`` (it raises SourceError without one).
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etl.sources import mapped_csv, openphone, sms_backup, twilio, twilio_webhook
from etl.sources.base import (
    AGENT_COLUMNS,
    LINE_COLUMNS,
    REQUIRED_MESSAGE_COLUMNS,
    SURVEY_COLUMNS,
    SourceError,
    SourceFrame,
    reading,
)
from etl.sources.openphone import BrokenJson, load_json_values, looks_like_event, looks_like_message
from etl.sources.twilio import csv_header_is_twilio, looks_like_twilio
from replyboard.files import open_regular

ADAPTERS: dict[str, Callable[..., SourceFrame]] = {
    "openphone_api": openphone.read_api,
    "openphone_webhook": openphone.read_webhook,
    "twilio_api": twilio.read_api,
    "twilio_webhook": twilio_webhook.read,
    "twilio_csv": twilio.read_csv,
    "sms_backup_xml": sms_backup.read,
    "mapped_csv": mapped_csv.read,
}

DESCRIPTIONS = {
    "openphone_api": "OpenPhone REST API messages",
    "openphone_webhook": "OpenPhone webhook events",
    "twilio_api": "Twilio Messages API JSON",
    "twilio_webhook": "spooled Twilio webhook events",
    "twilio_csv": "a Twilio console messaging-log CSV",
    "sms_backup_xml": "an SMS Backup & Restore XML backup",
    "mapped_csv": "a CSV read through a mapping file",
    "messages": "a Replyboard messages CSV",
    "surveys": "a Replyboard surveys CSV",
    "agents": "a Replyboard agents CSV",
    "lines": "a Replyboard lines CSV",
    "sms_backup_calls": "an SMS Backup & Restore call log (not messages)",
    "xml": "an XML file of another kind",
}

_HEAD_BYTES = 1 << 16
_VOTE_LIMIT = 200
_TWILIO_PAGE_KEYS = {"page_size", "first_page_uri", "next_page_uri", "previous_page_uri", "page", "uri"}
_OPENPHONE_PAGE_KEYS = {"nextPageToken", "totalItems"}
_XML_ROOT_RE = re.compile(r"<([A-Za-z_][\w.:-]*)")


def _head(path: Path) -> bytes:
    with reading(path), open_regular(path) as fh:
        return fh.read(_HEAD_BYTES)


def _doctype_end(text: str, pos: int) -> int:
    """Where a <!DOCTYPE ...> that starts at pos ends, or -1. An internal subset [...] may hold '>'."""
    while pos < len(text):
        c = text[pos]
        if c == ">":
            return pos + 1
        if c == "[":
            close = text.find("]", pos + 1)
            if close < 0:
                return -1
            pos = close
        pos += 1
    return -1


def _xml_root(text: str) -> str | None:
    """The root element's name after the prolog (XML declaration, comments, processing instructions, DOCTYPE).

    A scan that moves forward only, with str.find for each construct's end, so it is linear in the head's
    length: a regex with nested quantifiers here backtracked exponentially on `<!DOCTYPE x [][][]...`.
    """
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        if text.startswith("<?", pos):
            end = text.find("?>", pos + 2)
            pos = -1 if end < 0 else end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos + 4)
            pos = -1 if end < 0 else end + 3
        elif text[pos : pos + 9].upper() == "<!DOCTYPE":
            pos = _doctype_end(text, pos + 9)
        else:
            break
        if pos < 0:
            return None  # the prolog never ends within the head: not an XML file we can name
    m = _XML_ROOT_RE.match(text, pos)
    return m.group(1) if m else None


def _records(value: Any, depth: int = 0) -> list[Any]:
    """Records inside a top-level JSON value, whatever the vendor's page shape."""
    if isinstance(value, list) and depth < 2:
        return [r for v in value[:_VOTE_LIMIT] for r in _records(v, depth + 1)]
    if isinstance(value, dict) and "type" not in value and depth < 2:
        for key in ("messages", "data"):
            if isinstance(value.get(key), list):
                return [r for v in value[key][:_VOTE_LIMIT] for r in _records(v, depth + 1)]
        if isinstance(value.get("data"), dict) and not looks_like_message(value):
            return [value["data"]]
    return [value]


def _json_kind(path: Path) -> str | None:
    values = load_json_values(path).values
    votes: Counter[str] = Counter()
    for _, value in values[:_VOTE_LIMIT]:
        if isinstance(value, BrokenJson):
            continue
        if isinstance(value, dict):  # an empty list page still says whose page it is
            if value.get("messages") == [] and _TWILIO_PAGE_KEYS & value.keys():
                votes["twilio_api"] += 1
            if value.get("data") == [] and _OPENPHONE_PAGE_KEYS & value.keys():
                votes["openphone_api"] += 1
        for record in _records(value)[:_VOTE_LIMIT]:
            if looks_like_event(record):
                votes["openphone_webhook"] += 1
            elif twilio_webhook.looks_like_event(record):
                votes["twilio_webhook"] += 1
            elif looks_like_message(record):
                votes["openphone_api"] += 1
            elif looks_like_twilio(record):
                votes["twilio_api"] += 1
    return votes.most_common(1)[0][0] if votes else None


def _csv_header(text: str) -> list[str]:
    first = text.split("\n", 1)[0] if "\n" in text else text
    try:
        return [h.strip() for h in next(csv.reader(io.StringIO(first)), [])]
    except csv.Error:
        return []


def detect_kind(path: Path) -> str | None:
    """The adapter kind for this file, or None when it is not one of the vendor formats (see module doc)."""
    path = Path(path)
    text = _head(path).decode("utf-8-sig", errors="replace").lstrip()
    if not text:
        return None
    if text.startswith("<"):
        return "sms_backup_xml" if _xml_root(text) == "smses" else None
    if text[0] in "{[":
        return _json_kind(path)
    if csv_header_is_twilio(_csv_header(text)):
        return "twilio_csv"
    return None


def _describe(path: Path) -> str | None:
    """Like detect_kind, but also names canonical CSVs and other XML, for error messages only."""
    try:
        kind = detect_kind(path)
    except SourceError:
        return None
    if kind:
        return kind
    try:
        text = _head(path).decode("utf-8-sig", errors="replace").lstrip()
    except SourceError:
        return None
    if text.startswith("<"):
        root = _xml_root(text)
        return "sms_backup_calls" if root == "calls" else ("xml" if root else None)
    header = {h.lower() for h in _csv_header(text)}
    for kind, columns in (
        ("messages", REQUIRED_MESSAGE_COLUMNS),
        ("surveys", SURVEY_COLUMNS),
        ("agents", AGENT_COLUMNS),
        ("lines", LINE_COLUMNS),
    ):
        if set(columns) <= header:
            return kind
    return None


def wrong_kind_error(path: Path, expected: str) -> SourceError:
    """'<path>: looks like X, not Y' when we can tell what it is, else 'not a format Replyboard knows'."""
    actual = _describe(Path(path))
    wanted = DESCRIPTIONS.get(expected, expected)
    if actual and actual != expected:
        return SourceError(f"{path}: looks like {DESCRIPTIONS.get(actual, actual)}, not {wanted}")
    return SourceError(f"{path}: not {wanted} (not a format Replyboard knows)")
