"""The SQL sandbox (Explore page, `python -m metrics sql`): issue 8's refusal list, good queries, the CLI.

Every refusal must come with a clear message and leave the warehouse (file bytes, table counts) and the file
system unchanged. The refusal test writes its figures to tests/artifacts/sandbox_refusals.txt
("sandbox: N statements refused ...") for the test run's summary.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.load import run_load
from metrics.__main__ import main as metrics_main
from replyboard.sandbox import (
    SandboxError,
    SandboxProblem,
    SandboxRefusal,
    check_sql,
    csv_ready,
    open_sandbox,
    row_limit_notice,
    run_query,
    schema_overview,
)
from replyboard.settings import Settings
from replyboard.warehouse import connect_readonly

ROOT = Path(__file__).resolve().parent.parent
ARTIFACT = ROOT / "tests" / "artifacts" / "sandbox_refusals.txt"
TABLES = (
    "messages",
    "conversations",
    "inquiry_blocks",
    "survey_responses",
    "agents",
    "lines",
    "calls",
    "etl_runs",
    "etl_files",
    "rejected_rows",
    "meta",
    "schema_migrations",
    "sync_state",
    "sync_conversations",
)
TMP_TARGET = Path("/tmp/x.csv")  # the issue's example target; it may exist already (not ours): must not change
HYPOTHESIS_TARGET = Path("/tmp/replyboard-sandbox-hypothesis.csv")

MESSAGES_CSV = """\
message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,conversation_id,status
m1,2026-10-16T20:30:00Z,inbound,+15550100001,+15551234567,,false,Hi my ride is late,sms,,received
m2,2026-10-16T20:35:00Z,outbound,+15550100001,+15551234567,ag_01,false,Checking now,sms,,delivered
m3,2026-10-16T20:50:00Z,inbound,+15550100001,+15551234567,,false,thanks,sms,,received
m4,2026-10-17T10:00:00Z,inbound,+15550100002,+15559876543,,false,where is my order,sms,,received
m5,2026-10-17T10:20:00Z,outbound,+15550100002,+15559876543,ag_02,false,On its way,sms,,delivered
m6,2026-10-17T11:00:00Z,inbound,+15550100002,+15550001111,,false,hello?,sms,,received
m7,2026-10-17T11:05:00Z,outbound,+15550100002,+15550001111,ag_02,false,Hi! How can we help,sms,,delivered
"""


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A warehouse built from a hand-made canonical CSV, and a scratch folder of real files to aim at."""
    base = tmp_path_factory.mktemp("sandbox")
    source = base / "messages.csv"
    source.write_text(MESSAGES_CSV, encoding="utf-8")
    db = base / "wh" / "w.duckdb"
    report = run_load(db, [source], Settings())
    assert not report.errors and report.total("rows_loaded") == 7
    scratch = base / "scratch"
    scratch.mkdir()
    (scratch / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    (scratch / "notes.txt").write_text("secret\n", encoding="utf-8")
    other = duckdb.connect(str(scratch / "other.duckdb"))
    other.execute("CREATE TABLE s AS SELECT 'secret' AS x")
    other.execute(f"COPY s TO '{scratch / 'data.parquet'}' (FORMAT parquet)")
    other.close()
    return {"db": db, "scratch": scratch, "source": source}


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st_ = path.stat()
    except FileNotFoundError:
        return None
    return st_.st_size, st_.st_mtime_ns


def _state(place: dict[str, Path]) -> tuple:
    """What must not change: the warehouse bytes and table counts, the folders around it, the /tmp targets."""
    db = place["db"]
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    con = duckdb.connect(str(db), read_only=True)
    try:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
    finally:
        con.close()
    return (
        digest,
        counts,
        _listing(db.parent),
        _listing(place["scratch"]),
        _stat(TMP_TARGET),
        _stat(HYPOTHESIS_TARGET),
    )


ISSUE_8_LIST = (
    "COPY ... TO",
    "EXPORT DATABASE",
    "read_csv",
    "read_text",
    "read_parquet",
    "glob",
    "ATTACH",
    "DETACH",
    "INSTALL",
    "LOAD",
    "SET / PRAGMA / RESET",
    "CREATE",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "ALTER",
    "CHECKPOINT",
    "several statements in one",
    "getenv and other environment access",
    "time limit",
    "row limit",
)
# Issue 8's list, each item in several spellings: (what it is, SQL, a fragment the message must hold).
# {csv} {txt} {parquet} {other} {scratch} are real files/folders in the scratch folder.
REFUSALS: list[tuple[str, str, str]] = [
    ("COPY ... TO", "COPY messages TO '{scratch}/out.csv'", "Refused: COPY"),
    ("COPY ... TO", "COPY (SELECT 1) TO '/tmp/x.csv'", "Refused: COPY"),
    ("COPY ... TO", "COPY (SELECT * FROM messages) TO '{scratch}/out.parquet' (FORMAT parquet)", "Refused: COPY"),
    ("COPY ... TO", "COPY messages FROM '{csv}'", "Refused: COPY"),
    ("COPY ... TO", "COPY FROM DATABASE warehouse TO memory", "Refused: COPY"),
    ("EXPORT DATABASE", "EXPORT DATABASE '{scratch}/export'", "Refused: EXPORT DATABASE"),
    ("EXPORT DATABASE", "EXPORT DATABASE '{scratch}/export' (FORMAT parquet)", "Refused: EXPORT DATABASE"),
    ("EXPORT DATABASE", "IMPORT DATABASE '{scratch}'", "Refused: IMPORT DATABASE"),
    ("read_csv", "SELECT * FROM read_csv('{csv}')", "Refused: read_csv() reads files"),
    ("read_csv", "SELECT * FROM read_csv_auto('{csv}')", "Refused: read_csv_auto() reads files"),
    ("read_csv", "FROM read_csv(['{csv}', '{csv}'], union_by_name = true)", "Refused: read_csv() reads files"),
    (
        "read_csv",
        "WITH f AS (SELECT * FROM read_csv('{csv}')) SELECT count(*) FROM f",
        "Refused: read_csv() reads files",
    ),
    (
        "read_csv",
        "SELECT count(*) FROM messages WHERE body IN (SELECT a::VARCHAR FROM read_csv('{csv}'))",
        "Refused: read_csv() reads files",
    ),
    (
        "read_csv",
        "SELECT * FROM messages m, LATERAL (SELECT * FROM read_csv(m.body)) x",
        "Refused: read_csv() reads files",
    ),
    ("read_csv", "SELECT * FROM sniff_csv('{csv}')", "Refused: sniff_csv() reads files"),
    ("read_csv", "SELECT * FROM '{csv}'", "Refused: FROM '"),
    ("read_csv", 'SELECT * FROM "{csv}"', "Refused: FROM '"),
    ("read_csv", "FROM 'data.csv'", "Refused: FROM 'data.csv'"),
    ("read_csv", "SELECT * FROM 'https://example.com/x.csv'", "Refused: FROM 'https://example.com/x.csv'"),
    ("read_csv", "WITH f AS (FROM '{csv}') SELECT * FROM f", "Refused: FROM '"),
    ("read_csv", "DESCRIBE '{csv}'", "Refused: FROM '"),
    ("read_csv", "SUMMARIZE '{csv}'", "Refused: FROM '"),
    ("read_text", "SELECT * FROM read_text('{txt}')", "Refused: read_text() reads files"),
    ("read_text", "SELECT * FROM read_text('/etc/passwd')", "Refused: read_text() reads files"),
    ("read_text", "SELECT (SELECT content FROM read_text('/etc/hostname')) AS h", "Refused: read_text() reads files"),
    ("read_text", "SELECT 1 WHERE EXISTS (FROM read_blob('{txt}'))", "Refused: read_blob() reads files"),
    ("read_text", "SELECT * FROM read_json('{txt}')", "Refused: read_json() reads files"),
    ("read_text", "SELECT * FROM read_ndjson_objects('{txt}')", "Refused: read_ndjson_objects() reads files"),
    ("read_parquet", "SELECT * FROM read_parquet('{parquet}')", "Refused: read_parquet() reads files"),
    ("read_parquet", "SELECT * FROM parquet_scan('{parquet}')", "Refused: parquet_scan() reads files"),
    ("read_parquet", "SELECT * FROM parquet_metadata('{parquet}')", "Refused: parquet_metadata() reads files"),
    ("read_parquet", "SELECT * FROM parquet_schema('{parquet}')", "Refused: parquet_schema() reads files"),
    ("read_parquet", "SELECT * FROM read_duckdb('{other}', table_name => 's')", "Refused: read_duckdb() reads files"),
    ("read_parquet", "SELECT * FROM sqlite_scan('{other}', 's')", "Refused: sqlite_scan() reads files"),
    ("glob", "SELECT * FROM glob('/*')", "Refused: glob() reads files"),
    ("glob", "SELECT * FROM glob('{scratch}/*')", "Refused: glob() reads files"),
    ("glob", "WITH g AS (SELECT * FROM glob('/etc/*')) SELECT count(*) FROM g", "Refused: glob() reads files"),
    ("ATTACH", "ATTACH '{other}' AS other", "Refused: ATTACH"),
    ("ATTACH", "ATTACH '{scratch}/new.duckdb'", "Refused: ATTACH"),
    ("ATTACH", "ATTACH ':memory:' AS scratchpad", "Refused: ATTACH"),
    ("DETACH", "DETACH warehouse", "Refused: DETACH"),
    ("DETACH", "DETACH DATABASE IF EXISTS memory", "Refused: DETACH"),
    ("INSTALL", "INSTALL httpfs", "Refused: INSTALL"),
    ("INSTALL", "FORCE INSTALL httpfs FROM core_nightly", "Refused: INSTALL"),
    ("INSTALL", "UPDATE EXTENSIONS", "Refused: UPDATE EXTENSIONS"),
    ("LOAD", "LOAD httpfs", "Refused: LOAD"),
    ("LOAD", "LOAD '{scratch}/evil.duckdb_extension'", "Refused: LOAD"),
    ("SET / PRAGMA / RESET", "SET enable_external_access = true", "Refused: SET"),
    ("SET / PRAGMA / RESET", "SET lock_configuration = false", "Refused: SET"),
    ("SET / PRAGMA / RESET", "SET threads = 64", "Refused: SET"),
    ("SET / PRAGMA / RESET", "SET GLOBAL memory_limit = '100GB'", "Refused: SET"),
    ("SET / PRAGMA / RESET", "SET VARIABLE x = 1", "Refused: SET"),
    ("SET / PRAGMA / RESET", "RESET threads", "Refused: RESET"),
    ("SET / PRAGMA / RESET", "RESET GLOBAL memory_limit", "Refused: RESET"),
    ("SET / PRAGMA / RESET", "PRAGMA enable_profiling", "Refused: PRAGMA"),
    ("SET / PRAGMA / RESET", "PRAGMA threads = 8", "Refused: PRAGMA"),
    ("SET / PRAGMA / RESET", "PRAGMA database_list", "Refused: PRAGMA"),
    ("SET / PRAGMA / RESET", "USE memory", "Refused: USE"),
    ("SET / PRAGMA / RESET", "SELECT * FROM enable_logging()", "Refused: enable_logging() changes"),
    ("CREATE", "CREATE TABLE x (a INTEGER)", "Refused: CREATE changes the warehouse"),
    ("CREATE", "CREATE TEMP TABLE x AS SELECT * FROM messages", "Refused: CREATE changes the warehouse"),
    ("CREATE", "CREATE OR REPLACE VIEW v AS SELECT 1", "Refused: CREATE changes the warehouse"),
    ("CREATE", "CREATE MACRO evil() AS TABLE SELECT * FROM read_csv('{csv}')", "Refused: CREATE"),
    ("CREATE", "CREATE SECRET (TYPE s3, KEY_ID 'a', SECRET 'b')", "Refused: CREATE"),
    ("CREATE", "CREATE SEQUENCE s", "Refused: CREATE"),
    ("INSERT", "INSERT INTO lines VALUES ('+15550109999', 'x', NULL)", "Refused: INSERT changes the warehouse"),
    ("INSERT", "WITH l AS (SELECT '+1', 'x', NULL) INSERT INTO lines SELECT * FROM l", "Refused: INSERT"),
    ("INSERT", "INSERT OR REPLACE INTO meta VALUES ('k', 'v')", "Refused: INSERT"),
    ("UPDATE", "UPDATE messages SET body = 'x'", "Refused: UPDATE changes the warehouse"),
    ("UPDATE", "UPDATE lines SET name = l.name FROM lines l WHERE true", "Refused: UPDATE"),
    ("UPDATE", "WITH v AS (SELECT 'x' AS value) UPDATE meta SET value = (SELECT value FROM v)", "Refused: UPDATE"),
    ("DELETE", "DELETE FROM messages", "Refused: DELETE changes the warehouse"),
    ("DELETE", "TRUNCATE messages", "Refused: TRUNCATE changes the warehouse"),
    ("DELETE", "MERGE INTO lines USING (SELECT 1 a) s ON (true) WHEN MATCHED THEN DELETE", "Refused: MERGE"),
    ("DROP", "DROP TABLE messages", "Refused: DROP changes the warehouse"),
    ("DROP", "DROP TABLE IF EXISTS messages CASCADE", "Refused: DROP"),
    ("ALTER", "ALTER TABLE messages ADD COLUMN x INTEGER", "Refused: ALTER changes the warehouse"),
    ("ALTER", "ALTER TABLE messages RENAME TO m2", "Refused: ALTER"),
    ("ALTER", "COMMENT ON TABLE messages IS 'x'", "Refused: COMMENT"),
    ("CHECKPOINT", "CHECKPOINT", "Refused: CHECKPOINT"),
    ("CHECKPOINT", "FORCE CHECKPOINT", "Refused: CHECKPOINT"),
    ("CHECKPOINT", "CALL checkpoint()", "Refused: CALL"),
    ("CHECKPOINT", "SELECT * FROM force_checkpoint()", "Refused: force_checkpoint() changes"),
    ("CHECKPOINT", "VACUUM", "Refused: VACUUM"),
    ("CHECKPOINT", "ANALYZE messages", "Refused: ANALYZE"),
    ("several statements in one", "SELECT 1; SELECT 2", "Refused: several statements in one (2 found)"),
    ("several statements in one", "SELECT count(*) FROM messages; DROP TABLE messages", "Refused: several statements"),
    ("several statements in one", "SELECT 1; COPY messages TO '/tmp/x.csv'", "Refused: several statements"),
    ("several statements in one", "SET threads = 1; SELECT 1", "Refused: several statements"),
    ("several statements in one", "BEGIN; DELETE FROM messages; COMMIT", "Refused: several statements"),
    ("beyond the list", "BEGIN TRANSACTION", "Refused: BEGIN manages transactions"),
    ("beyond the list", "PREPARE p AS SELECT 1", "Refused: PREPARE"),
    ("beyond the list", "EXECUTE p", "Refused: EXECUTE"),
    (
        "beyond the list",
        "SELECT * FROM query('SELECT * FROM read_csv(''{csv}'')')",
        "Refused: query() runs SQL from a string",
    ),
    ("beyond the list", "SELECT * FROM query_table('messages')", "Refused: query_table() runs SQL"),
    (
        "beyond the list",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        "Refused: json_execute_serialized_sql() runs SQL",
    ),
    ("beyond the list", "PIVOT messages ON direction USING count(*)", "Refused: this PIVOT"),
    ("beyond the list", "SELECT repeat('x', 1000000) AS big FROM range(1000)", "Refused: the result is larger than"),
    (
        "getenv and other environment access",
        "SELECT getenv('HOME')",
        "Refused: getenv() reads the server's environment",
    ),
    ("getenv and other environment access", "SELECT 'PATH'.getenv()", "Refused: getenv()"),
    (
        "getenv and other environment access",
        "SELECT count(*) FROM messages WHERE body = getenv('USER')",
        "Refused: getenv()",
    ),
    ("getenv and other environment access", "WITH e AS (SELECT getenv('HOME') h) SELECT * FROM e", "Refused: getenv()"),
    (
        "getenv and other environment access",
        "SELECT current_setting('home_directory')",
        "Refused: current_setting() reads the server's environment",
    ),
    ("getenv and other environment access", "SELECT * FROM duckdb_settings()", "Refused: duckdb_settings()"),
    ("getenv and other environment access", "SHOW home_directory", "Refused: SHOW home_directory"),
    ("getenv and other environment access", "SELECT * FROM duckdb_secrets()", "Refused: duckdb_secrets()"),
    (
        "getenv and other environment access",
        "SELECT * FROM which_secret('s3://bucket/x', 's3')",
        "Refused: which_secret()",
    ),
    ("getenv and other environment access", "SELECT * FROM duckdb_extensions()", "Refused: duckdb_extensions()"),
    ("getenv and other environment access", "SELECT path FROM duckdb_databases()", "Refused: duckdb_databases()"),
    (
        "getenv and other environment access",
        "SELECT * FROM duckdb_temporary_files()",
        "Refused: duckdb_temporary_files()",
    ),
    ("getenv and other environment access", "SELECT * FROM pragma_user_agent()", "Refused: pragma_user_agent()"),
    ("getenv and other environment access", "EXPLAIN SELECT getenv('HOME')", "Refused: getenv()"),
    ("getenv and other environment access", "EXPLAIN ANALYZE COPY messages TO '{scratch}/e.csv'", "Refused: COPY"),
    ("getenv and other environment access", "SELECT nextval('etl_run_seq')", "Refused: nextval() changes"),
    ("getenv and other environment access", "SELECT write_log('x')", "Refused: write_log() changes"),
]
TIME_LIMITED = [
    "SELECT count(*) FROM range(100000000000) a",
    "SELECT count(*) FROM range(1000000) a, range(1000000) b",
    "SELECT i FROM range(100000000000) t(i) WHERE i = -1",
]
ROW_LIMITED = [("SELECT * FROM messages", 3), ("SELECT * FROM range(1000000000) t(i)", 10)]


def test_issue_8_refusal_list(place: dict[str, Path]) -> None:
    """The whole list: each refused with a clear message; the warehouse and the file system unchanged."""
    paths = {
        "csv": place["scratch"] / "data.csv",
        "txt": place["scratch"] / "notes.txt",
        "parquet": place["scratch"] / "data.parquet",
        "other": place["scratch"] / "other.duckdb",
        "scratch": place["scratch"],
    }
    before = _state(place)
    report: list[str] = []
    failures: list[str] = []
    kinds = set()

    def expect_unchanged(sql: str) -> None:
        if _state(place) != before:
            failures.append(f"{sql!r} changed the warehouse or the file system")

    for kind, template, fragment in REFUSALS:
        sql = template.format(**paths)
        try:
            run_query(place["db"], sql, timeout_seconds=30)  # generous: only the time-limit cases time out
        except SandboxRefusal as exc:
            if fragment.format(**paths) not in exc.message or not exc.message.endswith("."):
                failures.append(f"{sql!r}: message {exc.message!r} lacks {fragment!r}")
            report.append(f"{kind} | {sql} -> {exc.message}")
            kinds.add(kind)
        except Exception as exc:
            failures.append(f"{sql!r}: raised {type(exc).__name__}: {exc} instead of a refusal")
        else:
            failures.append(f"{sql!r} was not refused")
        expect_unchanged(sql)

    for sql in TIME_LIMITED:
        started = time.monotonic()
        try:
            run_query(place["db"], sql, timeout_seconds=1)
        except SandboxRefusal as exc:
            took = time.monotonic() - started
            if exc.message != "Refused: the query ran past the 1 s limit and was stopped.":
                failures.append(f"{sql!r}: message {exc.message!r}")
            if took > 10:  # interrupted promptly even on a loaded 2-core machine
                failures.append(f"{sql!r}: stopped only after {took:.1f} s")
            report.append(f"time limit | {sql} -> {exc.message} (stopped after {took:.2f} s)")
            kinds.add("time limit")
        except Exception as exc:
            failures.append(f"{sql!r}: raised {type(exc).__name__}: {exc}")
        else:
            failures.append(f"{sql!r} was not stopped")
        expect_unchanged(sql)

    for sql, limit in ROW_LIMITED:
        result = run_query(place["db"], sql, row_limit=limit)
        if not (result.truncated and result.frame.height == limit and result.notice == row_limit_notice(limit)):
            failures.append(f"{sql!r}: rows past {limit} not refused: {result}")
        else:
            report.append(f"row limit | {sql} -> first {limit} rows; {result.notice}")
            kinds.add("row limit")
        expect_unchanged(sql)

    assert not failures, "\n".join(failures)
    assert kinds == {*ISSUE_8_LIST, "beyond the list"}
    summary = (
        f"sandbox: {len(report)} statements refused, covering all {len(ISSUE_8_LIST)} items of issue 8's "
        "list; warehouse and file system unchanged"
    )
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text("\n".join([summary, *report]) + "\n", encoding="utf-8")
    print(summary)


def test_runtime_lockdown_holds_without_the_static_check(place: dict[str, Path]) -> None:
    """Layer 2 alone: on the sandbox connection DuckDB itself refuses writes, files, settings and extensions."""
    before = _state(place)
    csv = place["scratch"] / "data.csv"
    con = open_sandbox(place["db"])
    try:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(7,)]  # still reads its own database
        settings_now = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_external_access', "
                "'lock_configuration', 'autoinstall_known_extensions', 'autoload_known_extensions', 'threads', "
                "'memory_limit', 'python_enable_replacements', 'temp_directory')"
            ).fetchall()
        )
        assert settings_now["enable_external_access"] == "false"
        assert settings_now["lock_configuration"] == "true"
        assert settings_now["autoinstall_known_extensions"] == "false"
        assert settings_now["autoload_known_extensions"] == "false"
        assert settings_now["python_enable_replacements"] == "false"
        assert settings_now["threads"] == "2"
        assert settings_now["temp_directory"] == ""
        assert settings_now["memory_limit"].startswith(("953.6 MiB", "1.0 GiB", "1000.0 MiB", "1GB"))
        secret_frame = pl.DataFrame({"x": ["secret"]})  # in this very frame: a Python replacement scan's target
        with pytest.raises(duckdb.CatalogException):
            con.sql("SELECT * FROM secret_frame").fetchall()
        assert secret_frame.height == 1
        for sql in [
            f"SELECT * FROM read_csv('{csv}')",
            f"SELECT * FROM '{csv}'",
            "SELECT getenv('HOME')",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            f"COPY messages TO '{place['scratch']}/o.csv'",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
            "RESET threads",
            f"ATTACH '{place['scratch']}/new.duckdb'",
            "INSTALL httpfs",
            "LOAD httpfs",
            "CREATE TABLE t (a INT)",
            "INSERT INTO meta VALUES ('a', 'b')",
            "DELETE FROM messages",
            "DROP TABLE messages",
            "UPDATE messages SET body = ''",
            f"EXPORT DATABASE '{place['scratch']}/x'",
            "SELECT * FROM glob('/*')",
        ]:
            with pytest.raises(duckdb.Error):
                con.execute(sql).fetchall()
    finally:
        con.close()
    assert _state(place) == before


def test_sandbox_settings_do_not_leak_into_other_connections(place: dict[str, Path]) -> None:
    """The lock-down is instance-wide in DuckDB: the sandbox's private instance keeps it away from the app's."""
    app = connect_readonly(place["db"])
    try:
        run_query(place["db"], "SELECT count(*) FROM messages")
        app.execute("SET memory_limit = '512MB'")  # would fail if lock_configuration had leaked
        assert app.execute("SELECT current_setting('enable_external_access')").fetchall() == [(True,)]
        assert app.execute("SELECT count(*) FROM messages").fetchall() == [(7,)]
    finally:
        app.close()
    assert run_query(place["db"], "SELECT count(*) AS n FROM messages").frame.item() == 7


def test_a_python_variable_is_not_a_table(place: dict[str, Path]) -> None:
    secret_frame = pl.DataFrame({"x": ["secret"]})  # DuckDB's Python replacement scan would find this
    assert secret_frame.height == 1
    with pytest.raises(SandboxError, match="secret_frame does not exist"):
        run_query(place["db"], "SELECT * FROM secret_frame")


def _rows(db: Path, sql: str) -> list[tuple]:
    return run_query(db, sql).frame.rows()


def test_good_queries_return_correct_results(place: dict[str, Path]) -> None:
    db = place["db"]
    assert _rows(db, "SELECT line_number, direction, count(*) AS n FROM messages GROUP BY ALL ORDER BY ALL") == [
        ("+15550100001", "inbound", 2),
        ("+15550100001", "outbound", 1),
        ("+15550100002", "inbound", 2),
        ("+15550100002", "outbound", 2),
    ]
    join = """
        SELECT i.message_id, o.message_id FROM messages i
        JOIN messages o ON o.line_number = i.line_number AND o.contact_number = i.contact_number
          AND o.direction = 'outbound' AND o.created_at > i.created_at
        WHERE i.direction = 'inbound' ORDER BY 1, 2"""
    assert _rows(db, join) == [("m1", "m2"), ("m4", "m5"), ("m6", "m7")]
    window = """
        -- seconds from each inbound message to the next message, when that is an outbound reply
        WITH ordered AS (
          SELECT message_id, direction, created_at,
                 lead(direction) OVER w AS next_direction, lead(created_at) OVER w AS next_at
          FROM messages WINDOW w AS (PARTITION BY line_number, contact_number ORDER BY created_at)
        )
        SELECT message_id, (epoch(next_at) - epoch(created_at))::INTEGER AS wait_seconds
        FROM ordered WHERE direction = 'inbound' AND next_direction = 'outbound' ORDER BY message_id;"""
    assert _rows(db, window) == [("m1", 300), ("m4", 1200), ("m6", 300)]
    ranked = (
        "SELECT agent_id, count(*) AS n, rank() OVER (ORDER BY count(*) DESC) AS r FROM messages "
        "WHERE agent_id IS NOT NULL GROUP BY agent_id QUALIFY r = 1"
    )
    assert _rows(db, ranked) == [("ag_02", 2, 1)]
    assert _rows(db, "SELECT count(*) FROM messages m JOIN conversations c USING (conversation_id)") == [(7,)]
    assert _rows(
        db,
        "PIVOT messages ON direction IN ('inbound', 'outbound') USING count(*) GROUP BY line_number "
        "ORDER BY line_number",
    ) == [("+15550100001", 2, 1), ("+15550100002", 2, 2)]
    assert _rows(db, "VALUES (1, 'a'), (2, 'b')") == [(1, "a"), (2, "b")]
    assert _rows(db, "FROM range(3) t(i) SELECT sum(i)") == [(3,)]


def test_catalog_statements_are_allowed(place: dict[str, Path]) -> None:
    db = place["db"]
    summary = run_query(db, "SUMMARIZE messages").frame
    assert summary.height == 26 and "column_name" in summary.columns  # one row per messages column
    assert run_query(db, "DESCRIBE messages").frame["column_name"].to_list()[:3] == [
        "message_id",
        "source",
        "created_at",
    ]
    assert set(TABLES) <= set(run_query(db, "SHOW TABLES").frame["name"].to_list())
    assert "messages" in run_query(db, "SELECT table_name FROM duckdb_tables()").frame["table_name"].to_list()
    assert run_query(db, "SELECT * FROM information_schema.columns WHERE table_name = 'lines'").frame.height == 4
    for sql in [
        "EXPLAIN SELECT * FROM messages",
        "/* plan */ EXPLAIN ANALYZE SELECT count(*) FROM messages",
        "explain (SELECT 1)",
    ]:
        assert run_query(db, sql).frame.columns == ["explain_key", "explain_value"]
    with pytest.raises(SandboxRefusal, match="only EXPLAIN"):
        run_query(db, "EXPLAIN (FORMAT json) SELECT 1")
    assert _rows(db, "SELECT current_database()") == [("warehouse",)]


def test_row_limit_keeps_order_and_reports(place: dict[str, Path]) -> None:
    result = run_query(place["db"], "SELECT i FROM range(50) t(i) ORDER BY i DESC", row_limit=5)
    assert result.frame["i"].to_list() == [49, 48, 47, 46, 45]
    assert result.truncated and result.notice and "5-row limit" in result.notice
    exact = run_query(place["db"], "SELECT i FROM range(5) t(i)", row_limit=5)
    assert exact.frame.height == 5 and not exact.truncated and exact.notice is None
    empty = run_query(place["db"], "SELECT message_id, created_at FROM messages WHERE false")
    assert empty.frame.shape == (0, 2) and not empty.truncated
    assert empty.elapsed > 0


def test_awkward_result_types(place: dict[str, Path]) -> None:
    result = run_query(
        place["db"],
        "SELECT 1 AS a, 2 AS a, INTERVAL '14 months 3 days 1 hour' AS i, "
        "union_value(k := 1) AS u, [1, 2] AS l, {'x': 1} AS s, 'ab'::BLOB AS b",
    )
    frame = result.frame
    assert frame.columns == ["a", "a_1", "i", "u", "l", "s", "b"]
    assert frame["i"].item() == "1 year 2 months 3 days 01:00:00" and frame["u"].item() == "1"
    assert result.text_columns == ("i", "u")  # DuckDB's text, and the notice says so
    assert result.notice == (
        "Shown as text (their values have no exact Python or Polars equivalent): i (type INTERVAL), "
        "u (type UNION(k INTEGER))."
    )
    text = csv_ready(frame)
    assert text["l"].item() == "[1, 2]" and text["s"].item() == '{"x": 1}' and text["b"].item() == "ab"


def test_duckdb_errors_come_back_as_sandbox_errors(place: dict[str, Path], tmp_path: Path) -> None:
    db = place["db"]
    with pytest.raises(SandboxError, match="syntax error") as info:
        run_query(db, "SELEC * FROM messages")
    assert "Traceback" not in info.value.message
    with pytest.raises(SandboxError, match="nope does not exist"):
        run_query(db, "SELECT * FROM nope")
    with pytest.raises(SandboxError, match="empty"):
        run_query(db, "  -- nothing\n")
    with pytest.raises(SandboxError, match="no warehouse here yet"):
        run_query(tmp_path / "missing.duckdb", "SELECT 1")
    not_a_db = tmp_path / "notes.duckdb"
    not_a_db.write_text("hello", encoding="utf-8")
    with pytest.raises(SandboxError, match="not a DuckDB warehouse"):
        run_query(not_a_db, "SELECT 1")
    assert not_a_db.read_text(encoding="utf-8") == "hello"
    check_sql("SELECT 1")  # the static check alone, for the page to call before running


def test_concurrent_queries(place: dict[str, Path]) -> None:
    results: list[object] = []

    def one() -> None:
        try:
            results.append(run_query(place["db"], "SELECT count(*) FROM messages").frame.item())
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [7, 7, 7, 7]


def test_schema_overview(place: dict[str, Path]) -> None:
    schema = schema_overview(place["db"])
    assert schema.columns == ["table", "column", "type"]
    assert set(schema["table"].unique().to_list()) == set(TABLES)
    lines = schema.filter(pl.col("table") == "lines").rows()
    assert lines == [
        ("lines", "line_number", "VARCHAR"),
        ("lines", "name", "VARCHAR"),
        ("lines", "source_id", "VARCHAR"),
        ("lines", "team", "VARCHAR"),  # the team that owns the line (issue 13 ownership)
    ]
    assert not schema.filter(pl.col("table").str.starts_with("rb_")).height


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = metrics_main(["sql", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli(place: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    db = str(place["db"])
    code, out, _ = _cli(capsys, "--db", db, "SELECT line_number, count(*) AS n FROM messages GROUP BY 1 ORDER BY 1")
    assert code == 0
    assert out.splitlines() == ["line_number   n", "------------  -", "+15550100001  3", "+15550100002  4"]
    code, out, err = _cli(capsys, "--db", db, "COPY (SELECT 1) TO '/tmp/x.csv'")
    assert code == 2 and out == ""
    assert err.strip() == "error: Refused: COPY reads or writes files; Explore is read-only and cannot touch files."
    code, out, err = _cli(capsys, "--db", db, "--timeout", "0.5", "SELECT count(*) FROM range(100000000000) a")
    assert code == 2 and "error: Refused: the query ran past the 0.5 s limit and was stopped." in err
    code, out, err = _cli(
        capsys,
        "--db",
        db,
        "--format",
        "csv",
        "--limit",
        "2",
        "SELECT message_id, body FROM messages ORDER BY message_id",
    )
    assert code == 0 and out == "message_id,body\nm1,Hi my ride is late\nm2,Checking now\n"
    assert "note: Refused rows past the 2-row limit" in err
    code, out, _ = _cli(capsys, "--db", db, "--format", "csv", "SELECT '=cmd()' AS f")
    assert code == 0 and out == "f\n'=cmd()\n"  # through to_safe_csv_bytes
    code, out, _ = _cli(
        capsys, "--db", db, "--format", "json", "SELECT 1.5::DECIMAL(4, 2) AS d, DATE '2026-10-16' AS day, NULL AS n"
    )
    assert code == 0 and out.split() == ["[", "{", '"d":', "1.5,", '"day":', '"2026-10-16",', '"n":', "null", "}", "]"]
    code, _, err = _cli(capsys, "--db", db, "SELEC 1")
    assert code == 2 and err.startswith("error: Parser Error")


def test_cli_as_a_program(place: dict[str, Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [sys.executable, "-m", "metrics", "sql", "--db", str(place["db"]), "SELECT 40 + 2 AS answer"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and ok.stdout.split() == ["answer", "------", "42"], ok.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "metrics", "sql", "--db", str(place["db"]), "DROP TABLE messages"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and refused.stderr.startswith("error: Refused: DROP changes the warehouse")


FRAGMENTS = [
    "SELECT",
    "*",
    "FROM",
    "messages",
    "lines",
    "WHERE",
    "1",
    "=",
    ",",
    "(",
    ")",
    ";",
    "'x'",
    "--",
    "/*",
    "*/",
    "count(*)",
    "GROUP BY ALL",
    "LIMIT 3",
    "JOIN lines USING (line_number)",
    "WITH a AS",
    "UNION ALL",
    "EXPLAIN",
    "read_csv('/etc/passwd')",
    f"'{HYPOTHESIS_TARGET}'",
    "COPY",
    "TO",
    "ATTACH",
    "INSTALL httpfs",
    "SET threads = 1",
    "getenv('HOME')",
    "range(10) t(i)",
    "DROP TABLE messages",
    "INSERT INTO meta VALUES ('a', 'b')",
    "VALUES (1)",
    "DESCRIBE",
    "SUMMARIZE",
    "PRAGMA",
    "CALL",
    "query('SELECT 1')",
    '"',
    "$1",
    "?",
    "ORDER BY 1",
    "é",
    "\x00",
]
sqlish = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10).map(" ".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=st.one_of(st.text(max_size=120), sqlish))
def test_any_text_is_refused_or_run_and_changes_nothing(place: dict[str, Path], sql: str) -> None:
    digest = hashlib.sha256(place["db"].read_bytes()).hexdigest()
    try:
        result = run_query(place["db"], sql, row_limit=50, timeout_seconds=2)
    except SandboxProblem as exc:
        assert exc.message and "Traceback" not in exc.message
    else:  # whatever ran kept to its row limit, and said so when it cut rows
        assert result.frame.height <= 50 and (not result.truncated or result.frame.height == 50)
    assert hashlib.sha256(place["db"].read_bytes()).hexdigest() == digest
    assert not HYPOTHESIS_TARGET.exists()
