"""The SQL sandbox behind the Explore page and `python -m metrics sql`: one read-only SELECT, nothing else.

Defence in depth, each layer enough on its own for the common cases:

1. A static check with DuckDB's own parser, in the caller's process, before anything is started: exactly
   one statement, of type SELECT (DESCRIBE, SHOW, SUMMARIZE and VALUES parse as SELECT) or EXPLAIN
   [ANALYZE] of one. The SELECT's syntax tree (``json_serialize_sql``) is walked: table functions must be
   on an allow-list (range, unnest, the duckdb_* catalog views...), so file/URL readers (read_csv,
   read_text, glob, parquet_scan...), SQL-from-a-string (query, query_table) and environment access
   (getenv, current_setting, duckdb_settings...) are refused wherever they appear (CTE, subquery, lateral
   join); a table name that looks like a path or URL (``FROM 'x.csv'``, a DuckDB replacement scan) is
   refused.
2. A child process per query (replyboard/sandbox_worker.py, started isolated with a near-empty
   environment), so an OS limit holds whatever the query does: its address space is capped at 1.5 GB
   (RLIMIT_AS: the query gets an out-of-memory error, the dashboard's memory is untouched), it may not
   write a file (RLIMIT_FSIZE 0), and it is SIGKILLed at the time limit (counted from when its instance is
   open, so a slow start on a busy machine does not eat the query's time), and reaped before the refusal
   is raised: nothing runs after it.
   At most MAX_CONCURRENT_QUERIES children run at once per process.
3. In the child, a fresh, private DuckDB instance: an in-memory database that ATTACHes the warehouse
   READ_ONLY, then sets memory_limit, threads, no spilling to disk (temp_directory ''), UTC, then
   ``enable_external_access = false`` (no files, URLs, extensions or getenv) and last
   ``lock_configuration = true`` (the query cannot SET any of it back). Extension auto-install/load and
   Python replacement scans are off from the start.
4. A row limit and one size limit: the child streams the result (Arrow batches), reads at most
   ``row_limit + 1`` rows and answers in Arrow IPC; a result over ``max_result_bytes`` (MAX_RESULT_BYTES,
   a fraction of Streamlit's 200 MB message size, so whatever passes can be shown) is refused whatever its
   row count, and the caller never reads more than that from the child.

Row limit (issue 8 lists "a result past the row limit" among the refusals): the rows past the limit are
refused, not the whole query — ``run_query`` returns the first ``row_limit`` rows with ``truncated=True``
and ``notice`` saying so (the Explore page and the CLI show it), because an analyst exploring a table
wants to see its first rows, and aggregating or adding a LIMIT is the fix the notice suggests.

Values Python or Polars cannot hold (TIMESTAMP 'infinity', dates past year 9999, HUGEINT past 38 digits)
and types they lack (INTERVAL, UNION, MAP, BIT...) arrive as DuckDB's text for that column; ``text_columns``
names them and ``notice`` says so, so printing or showing a result never fails on a value.

Every refusal raises ``SandboxRefusal`` with one user-facing sentence ("Refused: COPY reads or writes
files; Explore is read-only and cannot touch files."); a query DuckDB rejects (syntax error, unknown table)
raises ``SandboxError`` with DuckDB's own message. Both derive from ``SandboxProblem``; nothing else
escapes for any input text.
"""

from __future__ import annotations

import json
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

from replyboard import sandbox_worker as worker
from replyboard.warehouse import WarehouseError, check_is_warehouse, damage_in

DEFAULT_ROW_LIMIT = 10_000
DEFAULT_TIMEOUT_SECONDS = 10.0
MEMORY_LIMIT = worker.MEMORY_LIMIT
THREADS = worker.THREADS
CATALOG = worker.CATALOG
# Whatever passes is shown: Streamlit sends a table as one message of about its Arrow size, and refuses
# messages past server.maxMessageSize (200 MB by default); the caller also holds a few copies of it.
MAX_RESULT_BYTES = 64 * 10**6  # MB as Streamlit counts them
MAX_CONCURRENT_QUERIES = 2  # sandbox children at once in one process: each may take 1.5 GB
_STARTUP_SECONDS = 30.0  # interpreter, libraries and the warehouse ATTACH; ~0.2 s on an idle machine
_EXIT_SECONDS = 5.0  # after its last reply the child exits at once; past this it is killed
_FRAME_SLACK = 4 * 2**20  # beyond the result itself: the frame headers and the JSON outcome
_STDERR_TAIL = 16_384  # what is kept of the child's stderr, for the log only
_WORKER = Path(worker.__file__).resolve()
_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_QUERIES)
log = logging.getLogger(__name__)

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
    elapsed: float  # seconds: check, start the child, run, fetch
    notice: str | None = None  # set when rows were cut or columns shown as text: say so next to the table
    text_columns: tuple[str, ...] = ()  # columns holding DuckDB's text instead of values Polars cannot hold

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
    con = duckdb.connect(":memory:", config=worker.STARTUP_CONFIG)
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


def _warehouse(db_path: str | Path) -> Path:
    """``db_path`` when it is a warehouse file; else SandboxError saying what to do."""
    path = Path(db_path)
    if not path.exists():
        raise SandboxError(
            f"{path}: no warehouse here yet. Load some data first: python -m etl load --db {path} FILE..."
        )
    try:
        check_is_warehouse(path)
    except WarehouseError as exc:
        raise SandboxError(str(exc)) from None
    return path


def open_sandbox(db_path: str | Path) -> duckdb.DuckDBPyConnection:
    """In this process, the locked-down instance the child runs queries on (for trusted SQL: the schema)."""
    path = _warehouse(db_path)
    try:
        return worker.open_instance(str(path.resolve()))
    except duckdb.Error as exc:
        damage = damage_in(_duckdb_message(exc))
        raise SandboxError(
            f"{path}: {damage}" if damage else f"{path}: cannot open the warehouse: {_duckdb_message(exc)}"
        ) from None


def text_columns_notice(text_columns: list[tuple[str, str]]) -> str:
    shown = ", ".join(f"{name} ({reason})" for name, reason in text_columns)
    return f"Shown as text (their values have no exact Python or Polars equivalent): {shown}."


def _polars_refused(exc: BaseException) -> bool:
    """Polars failed on a column: an Exception, or a Rust panic (PanicException derives from BaseException)."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


def _to_polars(table: pa.Table) -> pl.DataFrame:
    """The child already turned what Polars cannot hold into text; a column it still refuses becomes text."""
    try:
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return frame
    except BaseException as exc:
        if not _polars_refused(exc):
            raise
    columns = []
    for name in table.column_names:
        column = table.column(name)
        try:
            series = pl.from_arrow(column)
            assert isinstance(series, pl.Series)
            columns.append(series.alias(name))
        except BaseException as exc:
            if not _polars_refused(exc):
                raise
            columns.append(pl.Series(name, column.cast(pa.string()).to_pylist(), dtype=pl.String))
    return pl.DataFrame(columns)


def _frames(data: bytes | bytearray) -> dict[bytes, bytes]:
    """The child's complete replies by kind (a cut-off last frame is ignored)."""
    found, at = {}, 0
    while at + worker.HEADER.size <= len(data):
        kind, length = worker.HEADER.unpack_from(data, at)
        start = at + worker.HEADER.size
        if start + length > len(data):
            break
        found[kind] = bytes(data[start : start + length])
        at = start + length
    return found


def _ended_without_answer(returncode: int, stderr: bytes, timeout_seconds: float) -> SandboxProblem:
    """Why a child stopped before answering: out of memory (its own or the kernel's verdict), or a crash."""
    if returncode == worker.EXIT_OUT_OF_MEMORY:
        return SandboxRefusal(worker.out_of_memory_message())
    if returncode == -signal.SIGXCPU:  # the CPU backstop: only when the wall-clock kill did not come first
        return SandboxRefusal(time_limit_message(timeout_seconds))
    log.warning("sandbox child ended with %s without answering: %s", returncode, stderr.decode(errors="replace"))
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return SandboxRefusal(
            f"Refused: the system stopped the query ({name}), most likely for needing more than Explore's "
            f"{worker.ADDRESS_SPACE_TEXT} of memory; aggregate (GROUP BY), filter (WHERE) or select fewer rows."
        )
    return SandboxError(f"The query's process ended without an answer (exit status {returncode}); try again.")


def _converse(child: subprocess.Popen, request: dict, timeout_seconds: float, max_bytes: int) -> tuple[dict, bytes]:
    """Send the request, read the replies until the child closes its output or a deadline passes."""
    assert child.stdin and child.stdout and child.stderr
    try:
        child.stdin.write(json.dumps(request).encode("utf-8"))
        child.stdin.close()
    except BrokenPipeError:  # it died at once: its exit status says why
        pass
    out, err = bytearray(), bytearray()
    ready_frame = worker.HEADER.pack(worker.READY, 0)
    ready = False
    deadline = time.monotonic() + _STARTUP_SECONDS
    with selectors.DefaultSelector() as selector:
        selector.register(child.stdout, selectors.EVENT_READ)
        selector.register(child.stderr, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                child.kill()
                if ready:
                    raise SandboxRefusal(time_limit_message(timeout_seconds))
                raise SandboxError(f"The query's process did not start within {_STARTUP_SECONDS:g} s; try again.")
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, 1 << 20)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.fileobj is child.stderr:
                    err = (err + chunk)[-_STDERR_TAIL:]
                else:
                    out += chunk
                    if len(out) > max_bytes + _FRAME_SLACK:  # never trust the child to stop
                        child.kill()
                        raise SandboxRefusal(worker.too_large_message(max_bytes))
                    if not ready and out.startswith(ready_frame):
                        ready, deadline = True, time.monotonic() + timeout_seconds  # the query's clock
    try:
        returncode = child.wait(_EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        returncode = child.wait()
    replies = _frames(out)
    if worker.OUTCOME not in replies:
        raise _ended_without_answer(returncode, bytes(err), timeout_seconds)
    return json.loads(replies[worker.OUTCOME]), replies.get(worker.ARROW, b"")


def _run_child(path: Path, sql: str, row_limit: int, timeout_seconds: float, max_bytes: int) -> tuple[dict, bytes]:
    request = {
        "db": str(path.resolve()),
        "sql": sql,
        "row_limit": row_limit,
        "max_bytes": max_bytes,
        "timeout": timeout_seconds,
    }
    try:
        # -I: no PYTHON* variables, no user site, no script folder on sys.path; -B: no .pyc writes (RLIMIT_FSIZE).
        child = subprocess.Popen(
            [sys.executable, "-I", "-B", str(_WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=worker.CHILD_ENV,
            cwd="/",
        )
    except OSError as exc:
        raise SandboxError(f"Explore could not start the query's process ({exc.strerror or exc}); try again.") from None
    try:
        return _converse(child, request, timeout_seconds, max_bytes)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()  # reaped: nothing of the query runs past this line
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream is not None:
                stream.close()


def run_query(
    db_path: str | Path,
    sql: str,
    *,
    row_limit: int = DEFAULT_ROW_LIMIT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_result_bytes: int = MAX_RESULT_BYTES,
) -> QueryResult:
    """Run one read-only SELECT on the warehouse in the sandbox (see the module docstring)."""
    if row_limit < 1:
        raise ValueError("row_limit must be at least 1")
    if not timeout_seconds > 0:
        raise ValueError("timeout_seconds must be positive")
    if max_result_bytes < 1:
        raise ValueError("max_result_bytes must be at least 1")
    started = time.perf_counter()
    check_sql(sql)
    path = _warehouse(db_path)
    if not _SLOTS.acquire(timeout=timeout_seconds):
        raise SandboxRefusal(
            f"Refused: Explore is already running {MAX_CONCURRENT_QUERIES} queries; try again when one has finished."
        )
    try:
        outcome, data = _run_child(path, sql, row_limit, timeout_seconds, max_result_bytes)
    finally:
        _SLOTS.release()
    if not outcome.get("ok"):
        message = str(outcome.get("message") or "the query failed")
        if outcome.get("kind") == "refusal":
            raise SandboxRefusal(message)
        damage = damage_in(message)
        if damage:  # a damaged or truncated warehouse file, not a fault of the query
            raise SandboxError(f"{path}: {damage}")
        if outcome.get("kind") == "open":
            raise SandboxError(f"{path}: cannot open the warehouse: {message}")
        raise SandboxError(message)
    try:
        frame = _to_polars(pa.ipc.open_stream(data).read_all()) if data else pl.DataFrame()
    except pa.ArrowException as exc:
        raise SandboxError(f"The result could not be read: {exc}") from None
    truncated = bool(outcome.get("truncated"))
    text_columns = [(str(name), str(reason)) for name, reason in outcome.get("text_columns", [])]
    notices = [row_limit_notice(row_limit)] if truncated else []
    if text_columns:
        notices.append(text_columns_notice(text_columns))
    return QueryResult(
        frame=frame,
        truncated=truncated,
        elapsed=time.perf_counter() - started,
        notice=" ".join(notices) or None,
        text_columns=tuple(name for name, _ in text_columns),
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
