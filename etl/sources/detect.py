"""What a file is, decided from its content (the extension is never consulted), and what each kind looks like.

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
("messages", "surveys", "agents", "lines"), whose headers etl.canonical.detect_canonical names, and it never
returns "mapped_csv", which the caller picks when a --mapping file is given.
It raises SourceError only when the file cannot be read at all (missing, a directory) or when the content
starts like JSON but is not valid JSON (nor JSON Lines): then the parser's position is the useful message.

A JSON file is classified by what its records look like (a vote over the first 200 records), so a file with
a few broken records is still recognised. The same signatures (looks_like_*) are what each adapter checks
before reading a file as its kind; when they fail, wrong_kind_error says what the file looks like instead.

This module imports no adapter (they import it): the readers of each kind are in etl.sources.registry.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etl.canonical import detect_canonical, read_header
from etl.sources.base import SourceError, reading
from etl.sources.common import BrokenJson, NotJson, iter_json_records, load_json_values
from replyboard.files import open_regular

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

# --------------------------------------------------------------------------------------------------
# Signatures: what a record (or a header) of each vendor kind looks like
# --------------------------------------------------------------------------------------------------

_OPENPHONE_DIRECTIONS = ("incoming", "outgoing")
_OPENPHONE_MESSAGE_KEYS = {"text", "body", "phoneNumberId", "conversationId", "userId"}
TWILIO_CSV_SIGNATURE = frozenset({"from", "to", "body", "sentdate", "sid", "direction"})


def looks_like_openphone_event(value: Any) -> bool:
    """An OpenPhone webhook payload: {"type": ..., "data": {"object": {...}}}."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("type"), str)
        and isinstance(value.get("data"), dict)
        and isinstance(value["data"].get("object"), dict)
    )


def looks_like_openphone_message(value: Any) -> bool:
    """An OpenPhone message or call object (not a webhook event, not a Twilio resource)."""
    if not isinstance(value, dict) or "type" in value or "sid" in value or "account_sid" in value:
        return False
    if value.get("object") in ("message", "call"):
        return True
    direction = value.get("direction")
    return (
        isinstance(direction, str)
        and direction in _OPENPHONE_DIRECTIONS
        and bool(_OPENPHONE_MESSAGE_KEYS & value.keys() or "participants" in value)
    )


def looks_like_twilio(value: Any) -> bool:
    """A Twilio Message resource."""
    return (
        isinstance(value, dict)
        and ("sid" in value or "account_sid" in value)
        and bool({"direction", "date_created", "date_sent", "body"} & value.keys())
    )


def looks_like_twilio_event(value: Any) -> bool:
    """A Twilio form webhook as etl.receive spools it."""
    return isinstance(value, dict) and value.get("twilio_webhook") == "form" and isinstance(value.get("params"), dict)


def csv_header_is_twilio(header: list[str]) -> bool:
    return {h.strip().lower() for h in header} >= TWILIO_CSV_SIGNATURE


# The record signature of each JSON kind, checked by records_of_kind.
JSON_SIGNATURES: dict[str, Callable[[Any], bool]] = {
    "openphone_api": looks_like_openphone_message,
    "openphone_webhook": looks_like_openphone_event,
    "twilio_api": looks_like_twilio,
    "twilio_webhook": looks_like_twilio_event,
}


def of_kind(records: list[tuple[int, Any]], looks_like: Callable[[Any], bool]) -> bool:
    """Whether a file's records are of a reader's kind: one that parsed looks like one, or none parsed at all
    (then each is rejected row by row with its reason rather than the file refused as another kind)."""
    usable = [r for _, r in records if not isinstance(r, BrokenJson)]
    return not usable or any(looks_like(r) for r in usable)


def records_of_kind(path: Path, kind: str, unwrap: Callable[[Any], list[Any]]) -> list[tuple[int, Any]]:
    """(source_line, record) of a JSON file read as `kind` (see common.iter_json_records); the wrong-kind
    error when the file does not start like JSON or none of its parsed records has the kind's signature."""
    try:
        records = list(iter_json_records(path, unwrap))
    except NotJson:
        raise wrong_kind_error(path, kind) from None
    if not of_kind(records, JSON_SIGNATURES[kind]):
        raise wrong_kind_error(path, kind)
    return records


# --------------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------------

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
        if isinstance(value.get("data"), dict) and not looks_like_openphone_message(value):
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
            if looks_like_openphone_event(record):
                votes["openphone_webhook"] += 1
            elif looks_like_twilio_event(record):
                votes["twilio_webhook"] += 1
            elif looks_like_openphone_message(record):
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


def describe(path: Path) -> str | None:
    """Like detect_kind, but also names canonical CSVs (by etl.canonical's rule) and other XML, for error
    messages only."""
    try:
        kind = detect_kind(path)
    except SourceError:
        return None
    if kind:
        return kind
    try:
        text = _head(path).decode("utf-8-sig", errors="replace").lstrip()
        if text.startswith("<"):
            root = _xml_root(text)
            return "sms_backup_calls" if root == "calls" else ("xml" if root else None)
        return detect_canonical(read_header(path))
    except SourceError:
        return None


def wrong_kind_error(path: Path, expected: str) -> SourceError:
    """'<path>: looks like X, not Y' when we can tell what it is, else 'not a format Replyboard knows'."""
    actual = describe(Path(path))
    wanted = DESCRIPTIONS.get(expected, expected)
    if actual and actual != expected:
        return SourceError(f"{path}: looks like {DESCRIPTIONS.get(actual, actual)}, not {wanted}")
    return SourceError(f"{path}: not {wanted} (not a format Replyboard knows)")
