"""The SQL sandbox behind the Explore page and `python -m metrics sql`: one read-only SELECT, nothing else.

Defence in depth, each layer enough on its own for the common cases:

1. A static check with DuckDB's own parser before the warehouse is even opened: exactly one statement, of
   type SELECT (DESCRIBE, SHOW, SUMMARIZE and VALUES parse as SELECT) or EXPLAIN [ANALYZE] of one. The
   SELECT's syntax tree (``json_serialize_sql``) is walked: table functions must be on an allow-list
   (range, unnest, the duckdb_* catalog views...), so file/URL readers (read_csv, read_text, glob,
   parquet_scan...), SQL-from-a-string (query, query_table) and environment access (getenv,
   current_setting, duckdb_settings...) are refused wherever they appear (CTE, subquery, lateral join);
   a table name that looks like a path or URL (``FROM 'x.csv'``, a DuckDB replacement scan) is refused.
2. A fresh, private DuckDB instance per query: an in-memory database that ATTACHes the warehouse
   READ_ONLY, then sets memory_limit, threads, no spilling to disk (temp_directory ''), UTC, then
   ``enable_external_access = false`` (no files, URLs, extensions or getenv) and last
   ``lock_configuration = true`` (the query cannot SET any of it back). Extension auto-install/load and
   Python replacement scans (reading the host process's variables) are off from the start. A private
   instance matters: ``duckdb.connect(path)`` shares one instance per file within a process, and the
   lock-down settings are instance-wide — they would leak into the dashboard's other connections.
3. A time limit: the query runs in a worker thread and is interrupted (``con.interrupt()``) at the limit.
4. A row limit: the result is streamed (Arrow batches) and at most ``row_limit + 1`` rows are read; a
   result over MAX_RESULT_BYTES in memory is refused whatever its row count.

Row limit (issue 8 lists "a result past the row limit" among the refusals): the rows past the limit are
refused, not the whole query — ``run_query`` returns the first ``row_limit`` rows with ``truncated=True``
and ``notice`` saying so (the Explore page and the CLI show it), because an analyst exploring a table
wants to see its first rows, and aggregating or adding a LIMIT is the fix the notice suggests.

Every refusal raises ``SandboxRefusal`` with one user-facing sentence ("Refused: COPY reads or writes
files; Explore is read-only and cannot touch files."); a query DuckDB rejects (syntax error, unknown table)
raises ``SandboxError`` with DuckDB's own message. Both derive from ``SandboxProblem``; nothing else
escapes for any input text.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from replyboard.warehouse import WarehouseError, check_is_warehouse

DEFAULT_ROW_LIMIT = 10_000
DEFAULT_TIMEOUT_SECONDS = 10.0
MEMORY_LIMIT = "1GB"
THREADS = 2
CATALOG = "warehouse"  # the name the warehouse is attached under (current_database() in Explore)
_GRACE_SECONDS = 5.0  # after the time limit: how long interrupts are retried before giving up on the thread
_BATCH_ROWS = 2048  # DuckDB's vector size
MAX_RESULT_BYTES = 512 * 2**20  # the rows kept in memory for one result, whatever the row limit

# Set when the private instance starts (some can only be set then).
_STARTUP_CONFIG: dict[str, object] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,  # else FROM some_name reads a Python variable of the host process
    "python_scan_all_frames": False,
}
# Order matters: resource limits first, then external access off, then the lock (nothing can change after).
_LOCKDOWN = (
    f"SET memory_limit = '{MEMORY_LIMIT}'",
    f"SET threads = {THREADS}",
    "SET temp_directory = ''",  # never spill to disk: the file system stays unchanged
    "SET TimeZone = 'UTC'",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)

# Table functions a SELECT may use; every other one is refused (fail closed on new DuckDB functions).
ALLOWED_TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "repeat",
        "repeat_row",
        "json_each",
        "json_tree",
        "duckdb_tables",
        "duckdb_columns",
        "duckdb_views",
        "duckdb_schemas",
        "duckdb_types",
        "duckdb_functions",
        "duckdb_constraints",
        "duckdb_indexes",
        "duckdb_sequences",
        "duckdb_keywords",
        "duckdb_dependencies",
        "pragma_table_info",
        "pragma_storage_info",
        "pragma_database_size",
        "pragma_version",
        "pragma_collations",
        "pg_timezone_names",
        "icu_calendar_names",
    }
)
_FILE_READERS = frozenset(
    {
        "glob",
        "sniff_csv",
        "read_duckdb",
        "arrow_scan",
        "arrow_scan_dumb",
        "pandas_scan",
        "python_arrow_scan",
        "python_map_function",
    }
)
_FILE_READER_PREFIXES = ("read_", "parquet_", "iceberg", "delta", "sqlite", "postgres", "mysql", "http", "s3")
_RUNS_SQL = frozenset({"query", "query_table", "json_execute_serialized_sql", "json_serialize_plan"})
_ENVIRONMENT = frozenset(
    {
        "getenv",
        "current_setting",
        "duckdb_settings",
        "duckdb_secrets",
        "which_secret",
        "duckdb_secret_types",
        "duckdb_secret_type_parameters",
        "duckdb_extensions",
        "duckdb_extension_repositories",
        "duckdb_databases",
        "duckdb_temporary_files",
        "duckdb_external_file_cache",
        "duckdb_memory",
        "duckdb_logs",
        "duckdb_logs_parsed",
        "duckdb_log_contexts",
        "duckdb_variables",
        "duckdb_prepared_statements",
        "duckdb_live_query_metrics",
        "pragma_platform",
        "pragma_user_agent",
        "pragma_show",
        "pragma_metadata_info",
        "pragma_database_list",
        "duckdb_profiling_settings",
        "duckdb_connection_count",
        "duckdb_external_resources",
    }
)
_CHANGES = frozenset(
    {
        "checkpoint",
        "force_checkpoint",
        "nextval",
        "setval",
        "write_log",
        "enable_logging",
        "disable_logging",
        "truncate_duckdb_logs",
        "enable_profiling",
        "disable_profiling",
        "add_grammar_extension",
        "remove_grammar_extension",
        "create_external_resource",
        "destroy_external_resource",
        "register_external_resource",
        "deregister_external_resource",
        "register_external_resource_type",
    }
)
# A table name with one of these is a path or URL DuckDB would read as a file (replacement scan).
_PATH_LIKE = re.compile(r"[./\\:*?~]")

_READ_ONLY = "Explore is read-only"
_KEYWORD_REFUSALS = {
    "COPY": "COPY reads or writes files; Explore is read-only and cannot touch files",
    "EXPORT": "EXPORT DATABASE writes files; Explore is read-only and cannot touch files",
    "IMPORT": "IMPORT DATABASE reads files into the database; Explore is read-only and cannot touch files",
    "ATTACH": "ATTACH opens another database; Explore only reads the warehouse",
    "DETACH": "DETACH closes a database; Explore only reads the warehouse",
    "USE": "USE switches to another database; Explore only reads the warehouse",
    "INSTALL": "INSTALL downloads an extension; Explore cannot install or load extensions",
    "LOAD": "LOAD loads an extension; Explore cannot install or load extensions",
    "SET": "SET changes a setting; Explore's settings are fixed",
    "RESET": "RESET changes a setting; Explore's settings are fixed",
    "PRAGMA": "PRAGMA reads or changes settings; use a SELECT instead (e.g. DESCRIBE messages)",
    "CHECKPOINT": f"CHECKPOINT writes the database file; {_READ_ONLY}",
    "CALL": "CALL runs a procedure; Explore runs only SELECT queries",
    "PREPARE": "PREPARE stores a statement; send the SELECT itself",
    "EXECUTE": "EXECUTE runs a stored statement; send the SELECT itself",
    "DEALLOCATE": "DEALLOCATE drops a stored statement; send the SELECT itself",
    **{
        kw: f"{kw} manages transactions; Explore runs each query on its own, read-only"
        for kw in ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT")
    },
    **{
        kw: f"{kw} changes the warehouse; {_READ_ONLY}"
        for kw in (
            "CREATE",
            "INSERT",
            "UPDATE",
            "DELETE",
            "DROP",
            "ALTER",
            "TRUNCATE",
            "MERGE",
            "COMMENT",
            "VACUUM",
            "ANALYZE",
            "UPSERT",
            "REPLACE",
        )
    },
}
_TYPE_KEYWORDS = {  # for statements whose first word is not the verb (WITH ... INSERT, FORCE CHECKPOINT)
    "INSERT": "INSERT",
    "UPDATE": "UPDATE",
    "DELETE": "DELETE",
    "CREATE": "CREATE",
    "DROP": "DROP",
    "ALTER": "ALTER",
    "COPY": "COPY",
    "EXPORT": "EXPORT",
    "ATTACH": "ATTACH",
    "DETACH": "DETACH",
    "SET": "SET",
    "VARIABLE_SET": "SET",
    "LOAD": "LOAD",
    "EXTENSION": "INSTALL",
    "PRAGMA": "PRAGMA",
    "CALL": "CALL",
    "VACUUM": "VACUUM",
    "TRANSACTION": "BEGIN",
    "PREPARE": "PREPARE",
    "EXECUTE": "EXECUTE",
    "MERGE_INTO": "MERGE",
    "COPY_DATABASE": "COPY",
    "CREATE_FUNC": "CREATE",
}
_TOO_LARGE = (
    f"Refused: the result is larger than {MAX_RESULT_BYTES // 2**20} MB; select fewer or shorter "
    "columns, or fewer rows."
)
_ONLY_SELECT = "Explore runs only SELECT queries (and EXPLAIN of one)"


class SandboxProblem(Exception):
    """Base of what the sandbox raises; ``message`` is one user-facing sentence."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SandboxRefusal(SandboxProblem):
    """The query is not allowed in Explore; the message names what was refused and why."""


class SandboxError(SandboxProblem):
    """DuckDB could not run an allowed query (syntax error, unknown table...); DuckDB's message."""


@dataclass(frozen=True)
class QueryResult:
    frame: pl.DataFrame
    truncated: bool  # True when rows past row_limit were refused (frame holds the first row_limit)
    elapsed: float  # seconds, check + open + run + fetch
    notice: str | None = None  # set when truncated: say so next to the table

    @property
    def rows(self) -> int:
        return self.frame.height


def row_limit_notice(row_limit: int) -> str:
    return (
        f"Refused rows past the {row_limit:,}-row limit: showing the first {row_limit:,} rows only. "
        "Aggregate (GROUP BY), filter (WHERE) or add a LIMIT to see what you need."
    )


def time_limit_message(timeout_seconds: float) -> str:
    return f"Refused: the query ran past the {timeout_seconds:g} s limit and was stopped."


# ---------------------------------------------------------------------------------------------- static check


def _parser_connection() -> duckdb.DuckDBPyConnection:
    """A throwaway in-memory instance for parsing only (json_serialize_sql parses, it never runs the query)."""
    con = duckdb.connect(":memory:", config=_STARTUP_CONFIG)
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


@cache
def _setting_names() -> frozenset[str]:
    con = duckdb.connect(":memory:")
    try:
        return frozenset(r[0].lower() for r in con.execute("SELECT name FROM duckdb_settings()").fetchall())
    finally:
        con.close()


def _words(sql: str) -> list[str]:
    """The statement's leading keywords/identifiers in upper case, comments skipped."""
    raw = sql.encode("utf-8")
    words = []
    try:
        tokens = duckdb.tokenize(sql)
    except Exception:
        return []
    for pos, kind in tokens:  # positions are byte offsets
        if str(kind).endswith("comment"):
            continue
        match = re.match(rb"[A-Za-z_][A-Za-z0-9_]*", raw[pos:])
        if not match:
            break
        words.append(match.group().decode().upper())
        if len(words) == 3:
            break
    return words


def _statement_refusal(sql: str, type_name: str | None) -> SandboxRefusal:
    words = _words(sql)
    keyword = words[0] if words else ""
    if keyword == "FORCE" and len(words) > 1:  # FORCE INSTALL, FORCE CHECKPOINT
        keyword = words[1]
    if keyword not in _KEYWORD_REFUSALS and type_name:
        keyword = _TYPE_KEYWORDS.get(type_name, keyword)
    if keyword == "UPDATE" and words[1:2] == ["EXTENSIONS"]:
        return SandboxRefusal(
            "Refused: UPDATE EXTENSIONS downloads extensions; Explore cannot install or load extensions."
        )
    if keyword in _KEYWORD_REFUSALS:
        return SandboxRefusal(f"Refused: {_KEYWORD_REFUSALS[keyword]}.")
    if type_name == "MULTI" and keyword == "PIVOT":
        return SandboxRefusal(
            "Refused: this PIVOT would have DuckDB create a type first; list the values "
            "instead: PIVOT ... ON column IN ('a', 'b') USING count(*)."
        )
    what = keyword or (type_name or "this")
    return SandboxRefusal(f"Refused: {what} statements are not allowed; {_ONLY_SELECT}.")


def _function_refusal(name: str, *, table: bool) -> str | None:
    """Why a function may not be used, or None. ``table``: it is used as a table (FROM name(...))."""
    shown = f"{name}()"
    if name in _RUNS_SQL:
        return f"Refused: {shown} runs SQL from a string, which Explore cannot check; write the query itself."
    if name in _ENVIRONMENT:
        return f"Refused: {shown} reads the server's environment or configuration; Explore has no access to it."
    if name in _CHANGES:
        return f"Refused: {shown} changes the database or its settings; {_READ_ONLY}."
    if name in _FILE_READERS or name.startswith(_FILE_READER_PREFIXES) or name.endswith("_scan"):
        return f"Refused: {shown} reads files or URLs; Explore only reads the warehouse's tables."
    if name.startswith("__internal"):
        return f"Refused: {shown} is internal to DuckDB."
    if table and name not in ALLOWED_TABLE_FUNCTIONS:
        allowed = ", ".join(sorted(ALLOWED_TABLE_FUNCTIONS))
        return f"Refused: table function {shown} is not allowed in Explore (allowed: {allowed})."
    return None


def _check_tree(tree: object) -> None:
    """Walk a json_serialize_sql tree (iteratively: user SQL can nest deeply)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "TABLE_FUNCTION":
            function = node.get("function")
            if not (isinstance(function, dict) and function.get("class") == "FUNCTION"):
                raise SandboxRefusal(f"Refused: that table expression is not allowed; {_ONLY_SELECT}.")
            reason = _function_refusal(str(function.get("function_name", "")).lower(), table=True)
            if reason:
                raise SandboxRefusal(reason)
        elif kind == "BASE_TABLE":
            for key in ("catalog_name", "schema_name", "table_name"):
                name = str(node.get(key) or "")
                if _PATH_LIKE.search(name):
                    raise SandboxRefusal(
                        f"Refused: FROM '{name}' reads a file or URL; Explore only reads the warehouse's tables."
                    )
        elif kind == "SHOW_REF" and node.get("show_type") == "SHOW":
            name = str(node.get("table_name") or "")
            if name.lower() in _setting_names():
                raise SandboxRefusal(
                    f"Refused: SHOW {name} reads the server's configuration; Explore has no access to it."
                )
        if node.get("class") == "FUNCTION":
            reason = _function_refusal(str(node.get("function_name", "")).lower(), table=False)
            if reason:
                raise SandboxRefusal(reason)
        stack.extend(v for v in node.values() if isinstance(v, dict | list))


def _explained(sql: str) -> str | None:
    """The text after EXPLAIN [ANALYZE], or None when the statement does not start that way."""
    raw = sql.encode("utf-8")
    seen: list[str] = []
    try:
        tokens = duckdb.tokenize(sql)
    except Exception:
        return None
    for pos, kind in tokens:
        if str(kind).endswith("comment"):
            continue
        match = re.match(rb"[A-Za-z_]+", raw[pos:])
        word = match.group().decode().upper() if match else ""
        if not seen:
            if word != "EXPLAIN":
                return None
            seen.append(word)
            continue
        if len(seen) == 1 and word in ("ANALYZE", "ANALYSE"):
            seen.append(word)
            continue
        return raw[pos:].decode("utf-8", errors="replace")
    return None


def _check(con: duckdb.DuckDBPyConnection, sql: str, *, allow_explain: bool) -> None:
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(_duckdb_message(exc)) from None
    except Exception:  # the parser failing some other way: fail closed
        raise _statement_refusal(sql, None) from None
    if not statements:
        raise SandboxError("Nothing to run: the query is empty (write one SELECT).")
    if len(statements) > 1:
        raise SandboxRefusal(
            f"Refused: several statements in one ({len(statements)} found); Explore runs one SELECT at a time."
        )
    try:
        type_name = statements[0].type.name
    except ValueError:  # a statement type the Python enum does not know (UPDATE EXTENSIONS in DuckDB 2.0.1)
        raise _statement_refusal(sql, None) from None
    if type_name == "SELECT":
        try:
            raw = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0][0]
            tree = json.loads(raw)
        except Exception as exc:  # duckdb.Error, or a tree too deep for json
            raise SandboxRefusal(
                f"Refused: Explore could not check this query ({exc}); write it as a plain SELECT."
            ) from None
        if tree.get("error"):
            raise SandboxRefusal(
                f"Refused: Explore could not check this query ({tree.get('error_message')}); "
                "write it as a plain SELECT."
            )
        _check_tree(tree.get("statements"))
        return
    if type_name == "EXPLAIN" and allow_explain:
        inner = _explained(sql)
        if inner is None:
            raise SandboxRefusal(f"Refused: only EXPLAIN [ANALYZE] followed by one SELECT is allowed; {_ONLY_SELECT}.")
        try:
            _check(con, inner, allow_explain=False)
        except SandboxError:
            raise SandboxRefusal(
                "Refused: only EXPLAIN [ANALYZE] followed by one SELECT is allowed (no EXPLAIN options)."
            ) from None
        return
    raise _statement_refusal(sql, type_name)


def check_sql(sql: str) -> None:
    """Raise SandboxRefusal/SandboxError unless ``sql`` is one SELECT (or EXPLAIN of one) Explore allows."""
    if not isinstance(sql, str):
        raise SandboxError("The query must be text.")
    con = _parser_connection()
    try:
        _check(con, sql, allow_explain=True)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------- running


def _duckdb_message(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def open_sandbox(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """A private, locked-down DuckDB instance with the warehouse attached read-only as ``warehouse``."""
    path = Path(db_path)
    if not path.exists():
        raise SandboxError(
            f"{path}: no warehouse here yet. Load some data first: python -m etl load --db {path} FILE..."
        )
    try:
        check_is_warehouse(path)
    except WarehouseError as exc:
        raise SandboxError(str(exc)) from None
    con = duckdb.connect(":memory:", config=_STARTUP_CONFIG)
    try:
        con.execute(f"ATTACH {_sql_string(str(path.resolve()))} AS {CATALOG} (READ_ONLY)")
        con.execute(f"USE {CATALOG}")
        for statement in _LOCKDOWN:
            con.execute(statement)
    except duckdb.Error as exc:
        con.close()
        raise SandboxError(f"{path}: cannot open the warehouse: {_duckdb_message(exc)}") from None
    return con


def _unique(names: list[str]) -> list[str]:
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


def _cell_text(value: object) -> str | None:
    """A value Polars cannot hold, as text; intervals the way DuckDB prints them (2 months 3 days 01:00:00)."""
    if value is None:
        return None
    months, days, nanos = (getattr(value, k, None) for k in ("months", "days", "nanoseconds"))
    if isinstance(months, int) and isinstance(days, int) and isinstance(nanos, int):
        parts = []
        years, months = divmod(months, 12) if months >= 0 else (0, months)
        for n, unit in ((years, "year"), (months, "month"), (days, "day")):
            if n:
                parts.append(f"{n} {unit}{'' if abs(n) == 1 else 's'}")
        if nanos or not parts:
            sign, nanos = ("-" if nanos < 0 else ""), abs(nanos)
            seconds, frac = divmod(nanos, 1_000_000_000)
            hours, rest = divmod(seconds, 3600)
            clock = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
            parts.append(clock + (f".{frac // 1000:06d}".rstrip("0") if frac // 1000 else ""))
        return " ".join(parts)
    return str(value)


def _to_polars(table: pa.Table) -> pl.DataFrame:
    table = table.rename_columns(_unique(table.column_names))
    try:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame
    except Exception:  # a type Polars cannot import (INTERVAL, UNION...): that column as text
        columns = []
        for name in table.column_names:
            column = table.column(name)
            try:
                series = pl.from_arrow(column)
                assert isinstance(series, pl.Series)
                columns.append(series.alias(name))
            except Exception:
                values = [_cell_text(v) for v in column.to_pylist()]
                columns.append(pl.Series(name, values, dtype=pl.String))
        return pl.DataFrame(columns)


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, row_limit: int) -> tuple[pl.DataFrame, bool]:
    relation = con.sql(sql)
    if relation is None:
        return pl.DataFrame(), False
    reader = relation.to_arrow_reader(min(row_limit + 1, _BATCH_ROWS))
    batches, rows, size = [], 0, 0
    for batch in reader:
        batches.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if size > MAX_RESULT_BYTES:
            raise SandboxRefusal(_TOO_LARGE)
        if rows > row_limit:
            break  # stop reading: DuckDB computes little more than it streamed
    table = pa.Table.from_batches(batches, schema=reader.schema)
    truncated = table.num_rows > row_limit
    if truncated:
        table = table.slice(0, row_limit)
    return _to_polars(table), truncated


def _runtime_problem(exc: BaseException, timeout_seconds: float) -> SandboxProblem:
    message = _duckdb_message(exc)
    first = message.splitlines()[0]
    if isinstance(exc, SandboxProblem):
        return exc
    if isinstance(exc, duckdb.InterruptException):
        return SandboxRefusal(time_limit_message(timeout_seconds))
    if isinstance(exc, duckdb.PermissionException):
        return SandboxRefusal(
            f"Refused: the query tried to reach files, URLs or extensions outside the warehouse "
            f"({first}); Explore only reads the warehouse."
        )
    if "read-only mode" in message:
        return SandboxRefusal(f"Refused: the query would change the warehouse ({first}); {_READ_ONLY}.")
    if "configuration has been locked" in message:
        return SandboxRefusal(f"Refused: the query would change a setting ({first}); Explore's settings are fixed.")
    if "Arrow Appender" in message:  # one batch of text past Arrow's 2 GB string buffer
        return SandboxRefusal(_TOO_LARGE)
    if isinstance(exc, duckdb.OutOfMemoryException):
        return SandboxError(
            f"The query needed more than Explore's {MEMORY_LIMIT} of memory; aggregate or filter it. ({first})"
        )
    if isinstance(exc, duckdb.Error):
        return SandboxError(message)
    return SandboxError(f"The result could not be read: {type(exc).__name__}: {first}")


def run_query(
    db_path: str | Path,
    sql: str,
    *,
    row_limit: int = DEFAULT_ROW_LIMIT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> QueryResult:
    """Run one read-only SELECT on the warehouse in the sandbox (see the module docstring)."""
    if row_limit < 1:
        raise ValueError("row_limit must be at least 1")
    if not timeout_seconds > 0:
        raise ValueError("timeout_seconds must be positive")
    started = time.perf_counter()
    check_sql(sql)
    con = open_sandbox(db_path)
    outcome: dict[str, object] = {}

    def work() -> None:
        try:
            outcome["value"] = _fetch(con, sql, row_limit)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="replyboard-sandbox-query", daemon=True)
    worker.start()
    worker.join(timeout_seconds)
    timed_out = worker.is_alive()
    if timed_out:
        give_up = time.monotonic() + _GRACE_SECONDS
        while worker.is_alive() and time.monotonic() < give_up:
            con.interrupt()
            worker.join(0.05)
    if not worker.is_alive():  # else leave it: closing under a running query is not safe; the thread is a daemon
        con.close()
    if timed_out:
        raise SandboxRefusal(time_limit_message(timeout_seconds))
    if "error" in outcome:
        raise _runtime_problem(outcome["error"], timeout_seconds)  # type: ignore[arg-type]
    frame, truncated = outcome["value"]  # type: ignore[misc]
    return QueryResult(
        frame=frame,
        truncated=truncated,
        elapsed=time.perf_counter() - started,
        notice=row_limit_notice(row_limit) if truncated else None,
    )


def schema_overview(db_path: str | Path) -> pl.DataFrame:
    """Every warehouse table and view with its columns and types (table, column, type), in column order."""
    con = open_sandbox(db_path)
    try:
        return con.sql(
            "SELECT CASE WHEN schema_name = 'main' THEN table_name ELSE schema_name || '.' || table_name END "
            'AS "table", column_name AS "column", data_type AS "type" FROM duckdb_columns() '
            f"WHERE database_name = {_sql_string(CATALOG)} AND NOT internal "
            "ORDER BY schema_name, table_name, column_index"
        ).pl()
    finally:
        con.close()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return json.dumps(value, default=str, ensure_ascii=False)


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested and binary columns (lists, structs, blobs) as text (JSON for nested), so CSV can hold any result."""
    columns = [
        pl.Series(name, [None if v is None else _text(v) for v in frame.get_column(name).to_list()], dtype=pl.String)
        for name, dtype in frame.schema.items()
        if dtype.is_nested() or dtype in (pl.Binary, pl.Object)
    ]
    return frame.with_columns(columns) if columns else frame
