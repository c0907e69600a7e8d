"""Reading Replyboard's canonical CSV files (messages, surveys, agents, lines) into a stage table.

Clean files take DuckDB's parallel CSV reader. A file DuckDB's strict reader refuses (a bare carriage
return inside an unquoted field, a stray quote, bytes that are not UTF-8) is read again with Python's
csv module, row by row, so the broken rows are rejected with their line and the good rows still load.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from etl.sources.base import (
    AGENT_COLUMNS,
    LINE_COLUMNS,
    MESSAGE_COLUMNS,
    REQUIRED_MESSAGE_COLUMNS,
    SURVEY_COLUMNS,
    Reject,
    SourceError,
    reading,
)
from replyboard.files import NotARegularFile, check_regular, open_regular, read_bytes
from replyboard.warehouse import one_row

# kind -> (all canonical columns, required columns)
CANONICAL: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "messages": (MESSAGE_COLUMNS, REQUIRED_MESSAGE_COLUMNS),
    "surveys": (SURVEY_COLUMNS, ("response_id", "received_at", "contact_number", "survey", "reply_text")),
    "agents": (AGENT_COLUMNS, ("agent_id",)),
    "lines": (LINE_COLUMNS, ("line_number",)),
}
# The id column that marks each canonical kind when sniffing a header; a file with the id but not the
# other required columns is then reported as that kind with its missing columns named.
_ID_COLUMNS = (("messages", "message_id"), ("surveys", "response_id"), ("agents", "agent_id"), ("lines", "line_number"))


@dataclass
class StagedFile:
    kind: str
    table: str
    rows_read: int
    rejects: list[Reject]
    notes: list[str] = field(default_factory=list)


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
MAX_LINE_BYTES = 4_000_000  # the longest row either reader accepts


def _decode(data: bytes) -> tuple[str, str]:
    """Text of a file and the encoding used: BOMs honoured, UTF-8 preferred, cp1252 as the fallback.

    The fallback is per line, so one Latin-1 row in a UTF-8 file does not garble the other rows' emoji.
    """
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return "".join(_decode_line(line) for line in data.splitlines(keepends=True)), "cp1252"


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def read_header(path: Path) -> list[str]:
    """The header row, normalised to lower-case names."""
    try:
        with open_regular(path) as fh:
            head = fh.read(64 * 1024)
            while b"\n" not in head and b"\r" not in head and len(head) < MAX_LINE_BYTES:  # a very wide header
                chunk = fh.read(1024 * 1024)
                if not chunk:
                    break
                head += chunk
    except NotARegularFile as exc:
        raise SourceError(f"{path}: {exc.strerror}") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read file ({exc.strerror})") from None
    if not head.strip():
        raise SourceError(f"{path}: file is empty")
    text, _ = _decode(head)
    first = text.splitlines()[0] if text.splitlines() else ""
    try:
        row = next(csv.reader([first]))
    except (csv.Error, StopIteration):
        return []
    return [c.strip().lower() for c in row]


def detect_canonical(header: list[str]) -> str | None:
    cols = set(header)
    for kind, id_column in _ID_COLUMNS:
        if id_column in cols:
            return kind
    return None


def _unique_names(header: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for i, name in enumerate(header):
        name = name or f"column{i + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names


def create_stage(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...]) -> None:
    cols = ", ".join(f'"{c}" VARCHAR' for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({cols}, source_line BIGINT)")


def stage_frame(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...], frame: pl.DataFrame) -> None:
    """Insert an adapter's frame (text columns + source_line) into a stage table."""
    create_stage(con, table, columns)
    select = [
        pl.col(c).cast(pl.String) if c in frame.columns else pl.lit(None, dtype=pl.String).alias(c) for c in columns
    ]
    staged = frame.select([*select, pl.col("source_line").cast(pl.Int64)])  # noqa: F841 - scanned by DuckDB
    con.execute(f"INSERT INTO {table} SELECT * FROM staged")


def stage_csv(con: duckdb.DuckDBPyConnection, path: Path, kind: str, table: str) -> StagedFile:
    """Read a canonical CSV of `kind` into temp table `table`; missing required columns are fatal."""
    header = read_header(path)
    columns, required = CANONICAL[kind]
    missing = [c for c in required if c not in header]
    if missing:
        raise SourceError(
            f"{path}: missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"for a {kind} file (found: {', '.join(header) or 'no header'})"
        )
    names = _unique_names(header)
    create_stage(con, table, columns)
    if not _starts_with_utf16_bom(path):  # DuckDB reads UTF-8 only
        try:
            staged = _stage_fast(con, path, kind, table, names, columns)
        except duckdb.Error:
            staged = None
        if staged is not None:
            return staged
    return _stage_python(con, path, kind, table, names, columns)


def _starts_with_utf16_bom(path: Path) -> bool:
    with reading(path), open_regular(path) as fh:
        return fh.read(2) in _UTF16_BOMS


def _stage_fast(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, table: str, names: list[str], columns: tuple[str, ...]
) -> StagedFile | None:
    """DuckDB's reader; None when the file is not UTF-8 (the Python reader then decodes it)."""
    spec = dict.fromkeys(names, "VARCHAR")
    with reading(path):
        check_regular(path)  # DuckDB opens the path itself: a FIFO swapped in since would block it
    select = ", ".join(f'"{c}"' if c in names else f'NULL AS "{c}"' for c in columns)
    con.execute("DROP TABLE IF EXISTS rb_rejects; DROP TABLE IF EXISTS rb_reject_scans")
    con.execute(
        f"""
        INSERT INTO {table}
        SELECT {select}, row_number() OVER () + 1 AS source_line
        FROM read_csv(?, columns = ?, header = true, delim = ',', quote = '"', escape = '"',
                      auto_detect = false, strict_mode = true, store_rejects = true,
                      rejects_table = 'rb_rejects', rejects_scan = 'rb_reject_scans',
                      max_line_size = {MAX_LINE_BYTES})
        """,
        [str(path), spec],
    )
    # DuckDB records one reject per bad field (a short row: one per missing column): one per record here.
    structural = con.execute(
        "SELECT line, arg_min(error_type, column_idx), arg_min(error_message, column_idx), "
        "arg_min(csv_line, column_idx), bool_or(error_type = 'INVALID ENCODING') "
        "FROM rb_rejects GROUP BY line ORDER BY line"
    ).fetchall()
    if any(bad_encoding for *_, bad_encoding in structural):
        return None
    rejects = [
        Reject(line=int(line), reason=_structural_reason(etype, msg), raw=raw or "")
        for line, etype, msg, raw, _ in structural
    ]
    if rejects:
        _renumber(con, table, sorted(r.line for r in rejects if r.line is not None))
    (staged,) = one_row(con, f"SELECT count(*) FROM {table}")
    return StagedFile(kind, table, staged + len(rejects), rejects)


def _renumber(con: duckdb.DuckDBPyConnection, table: str, rejected_lines: list[int]) -> None:
    """Good record k (1-based) moves to its line: k + 1 (header) + the rejected records before it.

    With rejected lines r_0 < r_1 < ..., record k is past r_j exactly when k >= r_j - 1 - j.
    """
    thresholds = pl.DataFrame(  # noqa: F841 - scanned by DuckDB
        {"t": [r - 1 - j for j, r in enumerate(rejected_lines)]}, schema={"t": pl.Int64}
    )
    con.execute(
        f"UPDATE {table} SET source_line = source_line "
        "+ (SELECT count(*) FROM thresholds WHERE thresholds.t <= source_line - 1)"
    )


def _structural_reason(error_type: str, message: str) -> str:
    kinds = {
        "MISSING COLUMNS": "wrong column count (too few fields)",
        "TOO MANY COLUMNS": "wrong column count (too many fields)",
        "UNQUOTED VALUE": "broken quoting (a quote inside an unquoted field)",
        "LINE SIZE OVER MAXIMUM": "row longer than 4 MB",
        "INVALID ENCODING": "bytes that are not UTF-8",
    }
    return kinds.get(error_type, f"unreadable row ({message})")


def _physical_lines(text: str) -> Iterator[str]:
    # Split on \n only, so a bare \r stays inside its line and csv reports it as broken quoting.
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            if start < len(text):
                yield text[start:]
            return
        yield text[start : end + 1]
        start = end + 1


def _stage_python(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str, table: str, names: list[str], columns: tuple[str, ...]
) -> StagedFile:
    with reading(path):
        data = read_bytes(path)
    text, encoding = _decode(data)
    lines = list(_physical_lines(text))
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))  # a 1 MB body is a field, not an error
    reader = csv.reader(iter(lines))
    rejects: list[Reject] = []
    rows: list[list[str | None]] = []
    positions: list[int] = []
    index = {name: i for i, name in enumerate(names)}
    width = len(names)
    read = 0
    prev_end = 0
    first = True
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = reader.line_num
            raw = "".join(lines[prev_end:line]).rstrip("\r\n")
            prev_end = line
            read += 1
            reason = (
                "broken quoting: a bare carriage return inside an unquoted field"
                if "new-line" in str(exc)
                else f"broken quoting ({exc})"
            )
            rejects.append(Reject(line=line, reason=reason, raw=raw))
            continue
        start_line = prev_end + 1
        prev_end = reader.line_num
        if first:
            first = False  # the header
            continue
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line
        read += 1
        if len(record) != width:
            rejects.append(
                Reject(
                    line=start_line,
                    reason=f"wrong column count ({len(record)} fields, the header has {width})",
                    raw="".join(lines[start_line - 1 : reader.line_num]).rstrip("\r\n"),
                )
            )
            continue
        rows.append([record[index[c]] if c in index else None for c in columns])
        positions.append(start_line)
    notes = (
        ["file is not all UTF-8; rows that are not were read as Windows-1252 (Latin-1)"] if encoding == "cp1252" else []
    )
    frame = (
        pl.DataFrame(rows, schema=list(columns), orient="row")
        if rows
        else pl.DataFrame(schema=dict.fromkeys(columns, pl.String))
    )
    frame = frame.with_columns(pl.Series("source_line", positions, dtype=pl.Int64))
    stage_frame(con, table, columns, frame)
    return StagedFile(kind, table, read, rejects, notes)
