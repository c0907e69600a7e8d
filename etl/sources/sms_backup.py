"""Android "SMS Backup & Restore" XML (kind "sms_backup_xml"): ``<smses><sms .../><mms ...>...</mms></smses>``.

The backup is one phone's history, so:
- line_number is the phone's own number, which the file does not hold: the `line_number` argument when the
  caller gives one, else settings.lines[0].number when lines are configured, else the placeholder line
  "device" (kept as-is downstream like an alphanumeric sender id; configure settings.lines to get a number).
- contact_number = `address` (the other party), passed through raw.
- direction: `<sms type>` 1 (received) -> inbound, 2 (sent) -> outbound. Other types are rejected with the
  reason, e.g. "type 3 (draft) is not a sent or received message" (4 outbox, 5 failed, 6 queued too).
  `<mms msg_box>` uses the same numbers.
- agent_id: sent messages were typed by the phone's owner, so agent_id is "device-owner" on every outbound
  row (null on inbound). is_automated is "false": the backup does not say; an outbound body matching
  settings.auto_reply_templates (auto-reply apps exist) is classified as automated by etl.derive.
- created_at = `date` (epoch milliseconds) as UTC ISO 8601 "...Z". `readable_date` and `contact_name` are
  ignored (readable_date is local time with no zone). An MMS `date` below 10^11 is read as seconds.
- message_id = "smsbr-" + the first 20 hex digits of sha1("address|date|type|body") ("smsbr-mms-" and
  msg_box / the joined text parts for MMS): stable across re-exports, so a message in two backups is one
  message; two identical records in one file get the same id (the validator's duplicate check sees them).
- body = `body` as stored; status: received for inbound; for sent, `status` 0 -> delivered, 32 -> pending,
  64 -> failed, else sent. channel "sms" (MMS too). conversation_id null.
- MMS: body = the text/plain parts joined by newlines; contact = the sender (addr type 137) of a received
  MMS, the first recipient (addr type 151) of a sent one, else the first of the "~"-joined `address`.
  A group MMS is one message.
- source_line is the record number: the n-th sms/mms element of the file (iterparse has no line numbers).

Safety and oddities: a file containing "<!DOCTYPE" or "<!ENTITY" is refused with a SourceError (no DTDs, no
entity expansion). The app writes emoji as pairs of UTF-16 surrogate character references
(``&#55357;&#56832;``), which strict XML parsers refuse: such pairs are joined into the real character, and
lone surrogates or references to characters XML forbids become U+FFFD, while streaming. Attribute values
"null" (the app's way of writing a missing address) count as missing. Malformed XML (e.g. a truncated
backup) is a SourceError naming the position.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET

from etl.sources.base import Reject, SourceError, SourceFrame, reading
from etl.sources.common import iso_text, messages_frame
from etl.sources.detect import wrong_kind_error
from replyboard.files import open_regular
from replyboard.settings import Settings

PLACEHOLDER_LINE = "device"
OWNER_AGENT = "device-owner"
TYPE_NAMES = {0: "all", 1: "received", 2: "sent", 3: "draft", 4: "outbox", 5: "failed", 6: "queued"}
_SENT_STATUS = {"0": "delivered", "32": "pending", "64": "failed"}
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")
_CHUNK = 1 << 16
_REF_RE = re.compile(rb"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});")
_HIGH_TAIL_RE = re.compile(rb"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});$")


def _ref_value(token: bytes) -> int:
    return int(token[1:], 16) if token[:1] in (b"x", b"X") else int(token)


def _xml_allowed(cp: int) -> bool:
    return cp in (0x9, 0xA, 0xD) or 0x20 <= cp <= 0xD7FF or 0xE000 <= cp <= 0xFFFD or 0x10000 <= cp <= 0x10FFFF


def fix_char_refs(data: bytes) -> bytes:
    """Join surrogate-pair character references; replace references XML forbids with U+FFFD."""
    if b"&#" not in data:
        return data
    out: list[bytes] = []
    pos = 0
    matches = list(_REF_RE.finditer(data))
    i = 0
    while i < len(matches):
        m = matches[i]
        cp = _ref_value(m.group(1))
        replacement = None
        if 0xD800 <= cp <= 0xDBFF and i + 1 < len(matches) and matches[i + 1].start() == m.end():
            low = _ref_value(matches[i + 1].group(1))
            if 0xDC00 <= low <= 0xDFFF:
                combined = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00)
                out.append(data[pos : m.start()])
                out.append(b"&#x%X;" % combined)
                pos = matches[i + 1].end()
                i += 2
                continue
        if not _xml_allowed(cp):
            replacement = b"&#xFFFD;"
        if replacement is not None:
            out.append(data[pos : m.start()])
            out.append(replacement)
            pos = m.end()
        i += 1
    out.append(data[pos:])
    return b"".join(out)


class _FixingReader:
    """File wrapper for iterparse that runs fix_char_refs over the stream without splitting a reference."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(_CHUNK if size is None or size < 0 else max(size, _CHUNK))
        data = self._pending + chunk
        if not chunk:
            self._pending = b""
            return fix_char_refs(data)
        cut = data.rfind(b"&", max(0, len(data) - 40))
        if cut == -1:
            cut = len(data)
        else:  # keep a high-surrogate reference right before the cut together with its partner
            m = _HIGH_TAIL_RE.search(data, max(0, cut - 16), cut)
            if m and m.end() == cut:
                cut = m.start()
        self._pending = data[cut:]
        return fix_char_refs(data[:cut]) if cut else self.read(size)


def _refuse_dtd(path: Path) -> None:
    with reading(path), open_regular(path) as fh:
        tail = b""
        while chunk := fh.read(_CHUNK):
            window = (tail + chunk).upper()
            for marker in _FORBIDDEN:
                if marker in window:
                    raise SourceError(
                        f"{path}: contains {marker.decode()}; Replyboard does not read XML with a DTD or "
                        "entity declarations (SMS Backup & Restore files have none)"
                    )
            tail = chunk[-16:]


def _attr(attrs: dict[str, str], name: str) -> str | None:
    value = attrs.get(name)
    if value is None:
        return None
    value = value.strip()
    return None if value in ("", "null") else value


def _epoch(raw: str | None, allow_seconds: bool) -> datetime | None:
    if raw is None or not re.fullmatch(r"-?\d{1,16}", raw):
        return None
    value = int(raw)
    if allow_seconds and abs(value) < 10**11:
        value *= 1000
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)
    except OverflowError:
        return None


def _stable_id(prefix: str, *parts: str | None) -> str:
    digest = hashlib.sha1("|".join(p or "" for p in parts).encode("utf-8")).hexdigest()
    return f"{prefix}{digest[:20]}"


def _raw(elem: ET.Element) -> str:
    attrs = " ".join(f'{k}="{v}"' for k, v in elem.attrib.items())
    return f"<{elem.tag} {attrs}/>"[:2000]


def _direction(raw_type: str | None, what: str) -> tuple[str | None, str | None]:
    """(direction, problem)."""
    if raw_type is None:
        return None, f"no {what}"
    try:
        number = int(raw_type)
    except ValueError:
        return None, f"{what} {raw_type!r} is not a number"
    if number == 1:
        return "inbound", None
    if number == 2:
        return "outbound", None
    name = TYPE_NAMES.get(number, "unknown")
    return None, f"{what} {number} ({name}) is not a sent or received message"


def _row(elem: ET.Element, record: int, line_number: str, settings: Settings) -> dict[str, Any] | str:
    attrs = elem.attrib
    problems: list[str] = []
    is_mms = elem.tag == "mms"
    type_field = "msg_box" if is_mms else "type"
    direction, problem = _direction(_attr(attrs, type_field), type_field)
    if problem:
        return problem  # drafts etc.: the only reason worth giving
    raw_date = _attr(attrs, "date")
    moment = _epoch(raw_date, allow_seconds=is_mms)
    created_at = iso_text(moment) if moment else None  # epoch milliseconds: always an instant
    if raw_date is None:
        problems.append("no date")
    elif created_at is None:
        problems.append(f"date {raw_date!r} is not epoch milliseconds")
    if is_mms:
        texts = [
            p.get("text", "")
            for p in elem.iter("part")
            if (p.get("ct") or "").lower() == "text/plain" and p.get("text") not in (None, "null")
        ]
        body: str | None = "\n".join(texts) if texts else None
        wanted = "137" if direction == "inbound" else "151"
        addresses = [a.get("address", "").strip() for a in elem.iter("addr") if a.get("type") == wanted]
        addresses = [a for a in addresses if a and a not in ("null", "insert-address-token")]
        joined = _attr(attrs, "address")
        contact = addresses[0] if addresses else (joined.split("~")[0].strip() if joined else None)
    else:
        body = attrs.get("body")
        contact = _attr(attrs, "address")
    if not contact:
        problems.append("no address (contact number)")
    if problems:
        return "; ".join(problems)
    if is_mms:
        message_id = _stable_id("smsbr-mms-", contact, raw_date, attrs.get("msg_box"), body)
    else:
        message_id = _stable_id("smsbr-", contact, raw_date, attrs.get("type"), body)
    sent_status = _SENT_STATUS.get((attrs.get("status") or "").strip(), "sent")
    status = "received" if direction == "inbound" else sent_status
    return {
        "message_id": message_id,
        "created_at": created_at,
        "direction": direction,
        "line_number": line_number,
        "contact_number": contact,
        "agent_id": OWNER_AGENT if direction == "outbound" else None,
        "is_automated": "false",
        "body": body,
        "channel": "sms",
        "conversation_id": None,
        "status": status,
        "source_line": record,
    }


def read(path: Path, settings: Settings, *, line_number: str | None = None) -> SourceFrame:
    """Kind "sms_backup_xml" (see module docstring); line_number overrides the phone's own number."""
    path = Path(path)
    _refuse_dtd(path)
    with reading(path), open_regular(path) as fh:
        head = fh.read(1024).lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        raise wrong_kind_error(path, "sms_backup_xml")
    our_line = line_number or (settings.lines[0].number if settings.lines else PLACEHOLDER_LINE)
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    records = 0
    depth = 0
    root: ET.Element | None = None
    try:
        with reading(path), open_regular(path) as fh:
            for event, elem in ET.iterparse(_FixingReader(fh), events=("start", "end")):
                if event == "start":
                    depth += 1
                    if root is None:
                        root = elem
                        if elem.tag != "smses":
                            raise wrong_kind_error(path, "sms_backup_xml")
                    continue
                depth -= 1
                if depth != 1 or elem.tag not in ("sms", "mms"):
                    continue
                records += 1
                row = _row(elem, records, our_line, settings)
                if isinstance(row, str):
                    rejects.append(Reject(records, row, _raw(elem)))
                else:
                    rows.append(row)
                assert root is not None  # the first start event set it
                root.clear()  # keep memory flat on large backups
    except ET.ParseError as exc:
        raise SourceError(f"{path}: not well-formed XML ({exc})") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return SourceFrame(kind="sms_backup_xml", messages=messages_frame(rows), rejects=rejects, rows_read=records)
