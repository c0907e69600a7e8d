"""Helpers every source adapter shares: reading a file as text, JSON documents and JSON Lines (with the
records that cannot be stored marked), scalars as text, ISO 8601 date-times, channel prefixes, the line a
vendor id maps to, and the canonical frames an adapter returns.

Nothing here knows a vendor's format: what a file of each kind looks like is etl.sources.detect's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl

from etl.sources.base import CALL_COLUMNS, MESSAGE_COLUMNS, SourceError, lone_surrogate, reading
from replyboard.files import read_bytes
from replyboard.settings import Settings

RAW_LIMIT = 2000  # characters of a rejected record kept in Reject.raw


class NotJson(SourceError):
    """The file does not even start like JSON (its first character is not { or [): an adapter of a JSON kind
    turns this into the "looks like X" error (etl.sources.detect.wrong_kind_error)."""


def read_text(path: Path) -> str:
    """The file as text (UTF-8, BOM dropped); unreadable files become SourceError."""
    with reading(path):
        data = read_bytes(path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (undecodable byte at offset {exc.start})") from None


@dataclass(frozen=True)
class BrokenJson:
    """A JSON Lines line that is not valid JSON (becomes a Reject)."""

    error: str
    raw: str


MAX_INT_DIGITS = 4300  # Python's own limit for int(str): a longer one raises ValueError (and is slow to convert)
# a JSON escape of a UTF-16 surrogate: only such a file can hold a lone one (strict UTF-8 text cannot)
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")


class HugeNumber:
    """A JSON integer too long to convert: kept as its digits, so the record holding it becomes a reject
    instead of the parser raising ValueError for the whole file."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __str__(self) -> str:
        return f"{self.digits[:12]}… ({len(self.digits):,} digits)"

    __repr__ = __str__


class JsonValues(NamedTuple):
    is_document: bool
    values: list[tuple[int, Any]]
    suspect: bool  # the file may hold a lone surrogate or a HugeNumber: check each record (unstorable)


class _Parser:
    """One file's JSON decoder: integers too long to convert become HugeNumber, and it notes seeing one."""

    def __init__(self) -> None:
        self.huge = False
        self.decoder = json.JSONDecoder(parse_int=self._int)

    def _int(self, digits: str) -> int | HugeNumber:
        if len(digits.lstrip("-")) > MAX_INT_DIGITS:
            self.huge = True
            return HugeNumber(digits)
        return int(digits)

    def loads(self, text: str) -> Any:
        return self.decoder.decode(text)


def load_json_values(path: Path) -> JsonValues:
    """Parse a JSON document or JSON Lines file.

    Returns (is_document, [(line, value)], suspect): a document gives [(1, value)]; JSON Lines gives one
    entry per non-blank line with its line number, a line that does not parse being a BrokenJson. A file
    that is neither (a broken document) raises SourceError with the parser's position; a file that does not
    even start like JSON (an object or an array) raises NotJson.
    """
    text = read_text(path)
    if not text.strip():
        raise SourceError(f"{path}: file is empty")
    if text.lstrip()[:1] not in ("{", "["):
        raise NotJson(f"{path}: not JSON (a JSON file starts with {{ or [)")
    parser = _Parser()
    escapes = _SURROGATE_ESCAPE_RE.search(text) is not None
    try:
        document = parser.loads(text)
        return JsonValues(True, [(1, document)], escapes or parser.huge)
    except json.JSONDecodeError as exc:
        doc_error = exc
    except RecursionError:
        raise SourceError(f"{path}: JSON nested too deeply to read") from None
    values: list[tuple[int, Any]] = []
    objects = 0
    # split on "\n" only: str.splitlines would also split on U+2028 etc., which JSON strings may hold
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            value = parser.loads(stripped)
        except json.JSONDecodeError as exc:
            values.append(
                (number, BrokenJson(f"not valid JSON ({exc.msg} at column {exc.colno})", stripped[:RAW_LIMIT]))
            )
            continue
        except RecursionError:
            values.append((number, BrokenJson("JSON nested too deeply to read", stripped[:RAW_LIMIT])))
            continue
        values.append((number, value))
        objects += isinstance(value, dict)
    if objects and objects * 2 >= len(values):
        return JsonValues(False, values, escapes or parser.huge)
    raise SourceError(f"{path}: not valid JSON ({doc_error.msg} at line {doc_error.lineno} column {doc_error.colno})")


def unstorable(value: Any) -> str | None:
    """Why a parsed record cannot be stored, or None: a lone UTF-16 surrogate (no text column can hold
    half a character) or an integer too long to convert, anywhere in it."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and (bad := lone_surrogate(item)):
                return f"holds a lone UTF-16 surrogate ({bad}), half of a character, which cannot be stored"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, HugeNumber):
            return (
                f"holds an integer of {len(item.digits):,} digits, longer than any id, count or time "
                f"(at most {MAX_INT_DIGITS:,} are read)"
            )
    return None


def iter_json_records(path: Path, unwrap: Callable[[Any], list[Any]]) -> Iterator[tuple[int, Any]]:
    """(source_line, record) for every record of the file; unwrap turns a top-level value into records.

    A record that cannot be stored (see unstorable) comes as a BrokenJson, so it is rejected row by row."""
    is_document, values, suspect = load_json_values(path)
    count = 0
    for line, value in values:
        if isinstance(value, BrokenJson):
            yield line, value
            continue
        for item in unwrap(value):
            count += 1
            problem = unstorable(item) if suspect else None
            yield (count if is_document else line), (BrokenJson(problem, raw_json(item)) if problem else item)


def raw_json(value: Any) -> str:
    if isinstance(value, BrokenJson):
        return value.raw
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:RAW_LIMIT]


def text_or_none(value: Any) -> str | None:
    """A scalar as stripped text; None, blanks, objects and lists -> None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float):
        return str(value)
    return None


def messages_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema: dict[str, Any] = {c: pl.String for c in MESSAGE_COLUMNS}
    schema["source_line"] = pl.Int64
    return pl.DataFrame([{c: row.get(c) for c in schema} for row in rows], schema=schema)


def calls_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema: dict[str, Any] = {c: pl.String for c in CALL_COLUMNS}
    schema["source_line"] = pl.Int64
    return pl.DataFrame([{c: row.get(c) for c in schema} for row in rows], schema=schema)


_ISO_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{1,2}:\d{2})(:\d{2})?(?:[.,](\d+))?\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$"
)


def parse_iso(text: str) -> datetime | None:
    """ISO 8601 date-time (T or space, optional fraction and offset); naive when it has no offset."""
    m = _ISO_RE.match(text.strip())
    if not m:
        return None
    day, hour_minute, seconds, fraction, offset = m.groups()
    if len(hour_minute) == 4:
        hour_minute = "0" + hour_minute
    micro = ((fraction or "") + "000000")[:6]
    if offset in (None, ""):
        tz = ""
    elif offset in ("Z", "z", "UTC", "GMT"):
        tz = "+00:00"
    else:
        digits = offset[1:].replace(":", "")
        tz = f"{offset[0]}{digits[:2]}:{digits[2:4] or '00'}"
    try:
        return datetime.fromisoformat(f"{day}T{hour_minute}{seconds or ':00'}.{micro}{tz}")
    except ValueError:
        return None


def iso_text(moment: datetime) -> str | None:
    """A date-time as the canonical column holds it: an instant as UTC ISO 8601 with "Z"; a naive one (no
    offset in the source) as naive ISO 8601, which etl.validate reads in the team's timezone (or the
    adapter's, SourceFrame.naive_timezone), DST-correct, for every source alike. None when the instant cannot
    be represented."""
    try:
        moment = moment if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    if moment.microsecond == 0:
        spec = "seconds"
    elif moment.microsecond % 1000 == 0:
        spec = "milliseconds"
    else:
        spec = "microseconds"
    text = moment.replace(tzinfo=None).isoformat(timespec=spec)
    return text if moment.tzinfo is None else text + "Z"


_CHANNEL_PREFIX_RE = re.compile(r"^([A-Za-z][A-Za-z0-9-]*):(?!//)(.*)$")


def split_channel(raw: str) -> tuple[str | None, str]:
    """'whatsapp:+1415...' -> ('whatsapp', '+1415...'); a bare number -> (None, number)."""
    m = _CHANNEL_PREFIX_RE.match(raw.strip())
    if m and not m.group(1).isdigit():
        return m.group(1).lower(), m.group(2).strip()
    return None, raw.strip()


def line_for_source_id(settings: Settings, source_id: str | None) -> str | None:
    """settings.lines number whose source_id is this id (OpenPhone phoneNumberId, Twilio service sid)."""
    if not source_id:
        return None
    for line in settings.lines:
        if line.source_id and line.source_id.strip() == source_id:
            return line.number
    return None
