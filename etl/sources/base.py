"""What every source adapter returns: canonical message rows as text, plus rows it could not read.

Adapters only reshape; validation (timestamps, directions, phone numbers) happens once, in
etl.validate, for every source alike.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from replyboard.files import NotARegularFile

# Canonical message columns, all text, exactly as in the canonical messages CSV.
MESSAGE_COLUMNS = (
    "message_id",
    "created_at",
    "direction",
    "line_number",
    "contact_number",
    "agent_id",
    "is_automated",
    "body",
    "channel",
    "conversation_id",
    "status",
    "assigned_agent_id",  # optional: the agent the source assigns the conversation to (issue 13 ownership)
)
# Canonical call columns (SourceFrame.calls), all text but source_line.
CALL_COLUMNS = (
    "call_id",
    "created_at",
    "direction",
    "line_number",
    "contact_number",
    "agent_id",
    "status",
    "duration_seconds",
)
REQUIRED_MESSAGE_COLUMNS = ("message_id", "created_at", "direction", "line_number", "contact_number")
SURVEY_COLUMNS = ("response_id", "received_at", "contact_number", "survey", "reply_text", "line_number")
AGENT_COLUMNS = ("agent_id", "name", "team")
LINE_COLUMNS = ("line_number", "name", "team")  # team: optional, the team that owns the line


class SourceError(Exception):
    """A whole file cannot be loaded (wrong kind, unreadable, missing column): one line for the user."""


@dataclass(frozen=True)
class Reject:
    line: int | None  # 1-based line (or record number for JSON/XML) in the file
    reason: str
    raw: str


@dataclass
class SourceFrame:
    """One file read by an adapter.

    messages: MESSAGE_COLUMNS as pl.String plus `source_line` (pl.Int64), one row per message.
    surveys/agents/lines: canonical text columns when the file holds those instead.
    calls: call events (issue 3) with call_id, created_at, direction, line_number, contact_number,
    agent_id, status, duration_seconds, source_line.
    """

    kind: str
    messages: pl.DataFrame | None = None
    surveys: pl.DataFrame | None = None
    agents: pl.DataFrame | None = None
    lines: pl.DataFrame | None = None
    calls: pl.DataFrame | None = None
    rejects: list[Reject] = field(default_factory=list)
    rows_read: int = 0
    # the zone etl.validate reads times without an offset in (a mapping's timezone); None: settings.timezone
    naive_timezone: str | None = None


def storable(text: str) -> str:
    """Text that UTF-8 (and so DuckDB, Polars, a terminal) can hold: a lone UTF-16 surrogate, which a JSON
    escape or an undecodable file name can put in a Python string, becomes its escape, e.g. \\ud83d."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def lone_surrogate(text: str) -> str | None:
    """The first lone UTF-16 surrogate in text, escaped (e.g. \\ud83d), or None when text is all characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return text[exc.start].encode("utf-8", "backslashreplace").decode("utf-8")
    return None


def csv_raw(record: list[str], delimiter: str = ",") -> str:
    """A parsed record written back as CSV text, for a reject's raw column (capped at 2,000 characters)."""
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(record)
    return out.getvalue()[:2000]


def csv_records(reader: Any, width: int, delimiter: str = ",") -> Iterator[tuple[int, list[str]] | Reject]:
    """Each record of a csv.reader after its header, with the line it starts on, or a Reject for a record
    that cannot be read or has the wrong number of fields. Blank lines are skipped (not rows)."""
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Reject(start, f"unreadable CSV record ({exc})", "")
            if reader.line_num < start:
                return
            continue
        if not record or (len(record) == 1 and not record[0].strip()):
            continue
        if len(record) != width:
            yield Reject(start, f"has {len(record)} fields but the header has {width}", csv_raw(record, delimiter))
            continue
        yield start, record


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """The ways a file cannot be read, as one SourceError naming it (no traceback for a user's mistake).

    Open the file inside it with replyboard.files.open_regular (or read_bytes), never open(): a FIFO or a
    device would block the load."""
    try:
        yield
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except NotARegularFile as exc:
        raise SourceError(f"{path}: {exc.strerror}") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a file") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
