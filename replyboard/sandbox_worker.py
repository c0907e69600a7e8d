"""The SQL sandbox's child process: runs one already-checked SELECT under OS limits, answers in Arrow IPC.

``replyboard.sandbox.run_query`` starts this file as ``python -I -B sandbox_worker.py`` (isolated: no
PYTHON* variables, no user site, not even its own folder on sys.path, so it imports only the standard
library, duckdb and pyarrow) with a near-empty environment (no secrets to read), sends one JSON request
on stdin and reads framed replies on stdout. Before it opens the warehouse the process caps itself:
address space (RLIMIT_AS, so a hostile query gets MemoryError/DuckDB's out-of-memory error instead of
taking the host's memory), CPU seconds (a backstop should the parent vanish; the parent SIGKILLs it at
the time limit), file size 0 (it never writes a file) and no core dumps.

Replies, each ``kind (1 byte) + length (8 bytes, big-endian) + payload``:
``r`` ready (the private instance is open; the parent starts the query clock), then ``m`` a JSON outcome,
``{"ok": true, "truncated": bool, "text_columns": [[name, reason], ...]}`` followed by ``a`` the result as
an Arrow IPC stream, or ``{"ok": false, "kind": "refusal" | "error" | "open", "message": "..."}``. Memory
that runs out even for the reply ends the process with EXIT_OUT_OF_MEMORY.

Values Python or Polars cannot hold (TIMESTAMP 'infinity', dates past 9999, TIME '24:00:00', HUGEINT past
38 digits...) or types they do not have (INTERVAL, UNION, MAP, BIT, BIGNUM, TIMETZ, GEOMETRY) come back as
DuckDB's own text for that column, and the outcome names the column and why, for the page to say so.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.sqltypes import DuckDBPyType

ADDRESS_SPACE_BYTES = 1536 * 2**20  # the whole child: interpreter, libraries, DuckDB and the result
ADDRESS_SPACE_TEXT = "1.5 GB"
MEMORY_LIMIT = "1GB"  # DuckDB's own limit, below the address space (libraries take ~450 MB of it)
THREADS = 2
CATALOG = "warehouse"  # the name the warehouse is attached under (current_database() in Explore)
BATCH_ROWS = 2048  # DuckDB's vector size
# Set when the private instance starts (some can only be set then).
STARTUP_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "threads": THREADS,  # from the start: each extra thread would reserve its stack and malloc arena
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,  # else FROM some_name reads a Python variable of the process
    "python_scan_all_frames": False,
}
# Order matters: resource limits first, then external access off, then the lock (nothing can change after).
LOCKDOWN = (
    f"SET memory_limit = '{MEMORY_LIMIT}'",
    f"SET threads = {THREADS}",
    "SET temp_directory = ''",  # never spill to disk: the file system stays unchanged
    "SET TimeZone = 'UTC'",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
# The child's whole environment: glibc and Arrow would otherwise reserve address space per thread.
CHILD_ENV = {
    "MALLOC_ARENA_MAX": "2",
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "LC_ALL": "C.UTF-8",
}
READY, OUTCOME, ARROW = b"r", b"m", b"a"
HEADER = struct.Struct(">cQ")
EXIT_OUT_OF_MEMORY = 3  # memory ran out even for the reply
_RESULT_VIEW = "_replyboard_result"

_READ_ONLY = "Explore is read-only"
_PLAIN_TYPES = frozenset(
    {
        "boolean",
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "float",
        "double",
        "decimal",  # DuckDB's DECIMAL stops at 38 digits: Arrow's decimal128 holds it exactly
        "varchar",
        "blob",
        "uuid",
        "enum",
        "null",
    }
)
# Exact in Arrow, but some values have no Python/Polars equivalent: checked value by value.
_TEMPORAL_TYPES = frozenset(
    {"date", "time", "time_ns", "timestamp", "timestamp with time zone", "timestamp_ms", "timestamp_ns", "timestamp_s"}
)
_WIDE_INTEGERS = frozenset({"hugeint", "uhugeint"})  # Arrow gets decimal128(38, 0): 39-digit values wrap
_NESTED_TYPES = frozenset({"list", "array", "struct"})  # MAP is text: Streamlit cannot send Polars' Map type
_INT64_MAX = 2**63 - 1
# Python's datetime covers years 1-9999: these are 0001-01-01 and 9999-12-31 23:59:59.999999... per unit.
_SECONDS_MIN, _SECONDS_MAX = -62_135_596_800, 253_402_300_799
_TIMESTAMP_RANGE = {
    "s": (_SECONDS_MIN, _SECONDS_MAX),
    "ms": (_SECONDS_MIN * 1000, _SECONDS_MAX * 1000 + 999),
    "us": (_SECONDS_MIN * 10**6, _SECONDS_MAX * 10**6 + 999_999),
    "ns": (-_INT64_MAX + 1, _INT64_MAX - 1),  # every int64 fits; DuckDB's ±infinity are ±INT64_MAX
}
_DATE_RANGE = (-719_162, 2_932_896)  # days since 1970-01-01 of 0001-01-01 and 9999-12-31
_DAY = {"us": 86_400 * 10**6, "ns": 86_400 * 10**9}  # TIME '24:00:00' is one day: Python stops before it


def too_large_message(max_bytes: int) -> str:
    return (
        f"Refused: the result is larger than {max_bytes / 10**6:.3g} MB; select fewer or shorter columns, "
        "or fewer rows."
    )


def out_of_memory_message() -> str:
    return (
        f"Refused: the query needed more than Explore's {ADDRESS_SPACE_TEXT} of memory and was stopped; "
        "aggregate (GROUP BY), filter (WHERE) or select fewer rows."
    )


def open_instance(path: str) -> duckdb.DuckDBPyConnection:
    """A private, locked-down DuckDB instance with the warehouse at ``path`` attached read-only."""
    con = duckdb.connect(":memory:", config=STARTUP_CONFIG)
    try:
        con.execute(f"ATTACH {_sql_string(path)} AS {CATALOG} (READ_ONLY)")
        con.execute(f"USE {CATALOG}")
        for statement in LOCKDOWN:
            con.execute(statement)
    except BaseException:
        con.close()
        raise
    return con


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique (a_1, a_2...): Polars refuses duplicates, SQL allows them."""
    used: set[str] = set()
    out = []
    for name in names:
        candidate, n = name, 0
        while candidate in used:
            n += 1
            candidate = f"{name}_{n}"
        used.add(candidate)
        out.append(candidate)
    return out


# ---------------------------------------------------------------------------------------------- result types


def _leaf_ids(duck_type: DuckDBPyType) -> list[str]:
    """The type ids at the leaves of a DuckDB type (a LIST of STRUCTs of DATE: ["date"])."""
    kind = str(getattr(duck_type, "id", ""))
    if kind not in _NESTED_TYPES:
        return [kind]
    leaves = []
    for _, child in duck_type.children:
        if isinstance(child, DuckDBPyType):  # an ARRAY's children also hold its size, an int
            leaves.extend(_leaf_ids(child))
    return leaves


def column_plan(duck_type: DuckDBPyType) -> str:
    """ "plain" (exact in Arrow and Polars), "check" (fetch typed and as text, keep text only when a value
    does not fit) or "text" (no Polars equivalent: DuckDB's text)."""
    top = str(getattr(duck_type, "id", ""))
    leaves = _leaf_ids(duck_type)
    if top in _WIDE_INTEGERS:
        return "check"
    if any(leaf not in _PLAIN_TYPES and leaf not in _TEMPORAL_TYPES for leaf in leaves):
        return "text"  # unknown types too: fail closed
    return "check" if any(leaf in _TEMPORAL_TYPES for leaf in leaves) else "plain"


def _arrow_leaves(array: pa.Array) -> list[pa.Array]:
    """The value arrays under a (nested) Arrow array, for range checks."""
    kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _arrow_leaves(array.flatten())
    if pa.types.is_struct(kind):
        return [leaf for i in range(kind.num_fields) for leaf in _arrow_leaves(array.field(i))]
    return [array]


def _out_of_python_range(column: pa.ChunkedArray) -> str | None:
    """Why some value of a temporal column has no Python/Polars equivalent, or None when all fit."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        for leaf in _arrow_leaves(chunk):
            kind = leaf.type
            if pa.types.is_timestamp(kind):
                low, high = _TIMESTAMP_RANGE[kind.unit]
                reason = "infinity or a date outside years 1-9999"
            elif pa.types.is_date32(kind):
                low, high = _DATE_RANGE
                reason = "infinity or a date outside years 1-9999"
            elif pa.types.is_time64(kind):
                low, high = 0, _DAY[kind.unit] - 1
                reason = "24:00:00, which Python's time stops before"
            else:
                continue
            bounds = pc.min_max(leaf.cast(pa.int32() if pa.types.is_date32(kind) else pa.int64()))
            smallest, largest = bounds["min"].as_py(), bounds["max"].as_py()
            if smallest is not None and (smallest < low or largest > high):
                return reason
    return None


def _too_many_digits(text_column: pa.ChunkedArray) -> bool:
    digits = pc.utf8_length(pc.utf8_ltrim(text_column, characters="-"))
    longest = pc.max(digits).as_py()
    return longest is not None and longest > 38


def _projection(types: list[DuckDBPyType]) -> tuple[list[str], list[str]]:
    """The SELECT list over the user's result (columns renamed c0, c1...) and each column's plan."""
    plans = [column_plan(t) for t in types]
    select = []
    for i, plan in enumerate(plans):
        if plan in ("plain", "check"):
            select.append(f"c{i}")
        if plan in ("text", "check"):
            select.append(f"c{i}::VARCHAR AS t{i}")
    return select, plans


def _settle(
    table: pa.Table, names: list[str], types: list[DuckDBPyType], plans: list[str]
) -> tuple[pa.Table, list[list[str]]]:
    """The final table: for each "check" column its typed or its text values; the text columns and why."""
    columns, text_columns = [], []
    for i, plan in enumerate(plans):
        if plan == "plain":
            columns.append(table.column(f"c{i}"))
            continue
        text = table.column(f"t{i}")
        reason: str | None
        if plan == "text":
            reason = f"type {types[i]}"
        elif str(types[i].id) in _WIDE_INTEGERS:
            reason = "numbers past 38 digits" if _too_many_digits(text) else None
        else:
            reason = _out_of_python_range(table.column(f"c{i}"))
        if reason is None:
            columns.append(table.column(f"c{i}"))
        else:
            columns.append(text)
            text_columns.append([names[i], reason])
    return pa.table(columns, names=names), text_columns


def fetch(con: duckdb.DuckDBPyConnection, sql: str, row_limit: int, max_bytes: int) -> tuple[bytes, bool, list]:
    """Run ``sql``; the first ``row_limit`` rows as Arrow IPC bytes, whether rows were cut, text columns."""
    relation = con.sql(sql)
    if relation is None:
        return b"", False, []
    types, names = list(relation.types), unique_names(list(relation.columns))
    select, plans = _projection(types)
    aliases = ", ".join(f"c{i}" for i in range(len(types)))
    wrapped = relation.query(_RESULT_VIEW, f"SELECT {', '.join(select)} FROM {_RESULT_VIEW} AS _({aliases})")
    budget = max_bytes * (2 if "check" in plans else 1)  # "check" columns come twice until settled
    assert wrapped is not None  # a SELECT always makes a relation
    reader = wrapped.to_arrow_reader(min(row_limit + 1, BATCH_ROWS))
    batches, rows, size = [], 0, 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if size > budget:
            raise ResultTooLarge
        if rows > row_limit:
            break  # stop reading: DuckDB computes little more than it streamed
    table = pa.Table.from_batches(batches, schema=reader.schema)
    truncated = table.num_rows > row_limit
    if truncated:
        table = table.slice(0, row_limit)
    table, text_columns = _settle(table, names, types, plans)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    if len(data) > max_bytes:
        raise ResultTooLarge
    return data, truncated, text_columns


class ResultTooLarge(Exception):
    pass


# ---------------------------------------------------------------------------------------------- outcomes


def _message(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError | duckdb.OutOfMemoryException):
        return True
    text = _message(exc)
    return "bad_alloc" in text or "bad allocation" in text or "Out of Memory" in text


def problem(exc: BaseException, max_bytes: int) -> dict[str, str]:
    """What the parent raises for a failed query: kind (refusal or error) and one user-facing message."""
    message = _message(exc)
    first = message.splitlines()[0]
    if isinstance(exc, ResultTooLarge) or "Arrow Appender" in message:  # Arrow's 2 GB string buffer
        return {"kind": "refusal", "message": too_large_message(max_bytes)}
    if is_out_of_memory(exc):
        return {"kind": "refusal", "message": out_of_memory_message()}
    if isinstance(exc, duckdb.PermissionException):
        return {
            "kind": "refusal",
            "message": f"Refused: the query tried to reach files, URLs or extensions outside the warehouse "
            f"({first}); Explore only reads the warehouse.",
        }
    if "read-only mode" in message:
        return {"kind": "refusal", "message": f"Refused: the query would change the warehouse ({first}); {_READ_ONLY}."}
    if "configuration has been locked" in message:
        return {
            "kind": "refusal",
            "message": f"Refused: the query would change a setting ({first}); Explore's settings are fixed.",
        }
    if isinstance(exc, duckdb.Error):
        return {"kind": "error", "message": message}
    return {"kind": "error", "message": f"The result could not be read: {type(exc).__name__}: {first}"}


def _limit_resources(cpu_seconds: int) -> None:
    """Soft and hard limits; past the CPU soft limit SIGXCPU, 5 s later SIGKILL."""
    for limit, soft, hard in (
        (resource.RLIMIT_AS, ADDRESS_SPACE_BYTES, ADDRESS_SPACE_BYTES),
        (resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 5),
        (resource.RLIMIT_FSIZE, 0, 0),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        _, current = resource.getrlimit(limit)
        if current != resource.RLIM_INFINITY:  # a container's own hard limit may be lower still: keep it
            soft, hard = min(soft, current), min(hard, current)
        resource.setrlimit(limit, (soft, hard))


def _send(out: BinaryIO, kind: bytes, payload: bytes = b"") -> None:
    out.write(HEADER.pack(kind, len(payload)))
    out.write(payload)
    out.flush()


def _serve(request: dict) -> None:
    # CPU seconds over all threads: a backstop well past the parent's wall-clock kill.
    _limit_resources(int(request["timeout"] * (THREADS + 1)) + 30)
    out = sys.stdout.buffer
    max_bytes = int(request["max_bytes"])
    try:
        con = open_instance(request["db"])
    except BaseException as exc:
        _send(out, OUTCOME, json.dumps({"ok": False, "kind": "open", "message": _message(exc)}).encode())
        return
    _send(out, READY)
    try:
        data, truncated, text_columns = fetch(con, request["sql"], int(request["row_limit"]), max_bytes)
        outcome = {"ok": True, "truncated": truncated, "text_columns": text_columns}
    except BaseException as exc:
        outcome, data = {"ok": False, **problem(exc, max_bytes)}, b""
    _send(out, OUTCOME, json.dumps(outcome).encode())
    if outcome["ok"]:
        _send(out, ARROW, data)


def main() -> None:
    try:
        _serve(json.loads(sys.stdin.buffer.read()))
    except MemoryError:
        os._exit(EXIT_OUT_OF_MEMORY)
    os._exit(0)  # no teardown: the instance and its memory go with the process


if __name__ == "__main__":
    main()
