"""The canonical ETL: migrations, idempotence, rejects with reasons, atomic publish, golden derivation."""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl import validate
from etl.__main__ import main as etl_main
from replyboard import warehouse
from tests.helpers import FIXTURES, ROOT

CANON = FIXTURES / "canonical"
GOLDEN = CANON / "golden_messages.csv"
TABLES = ("messages", "conversations", "inquiry_blocks", "survey_responses", "agents", "lines")


def rows(db: Path, sql: str, params=None) -> list[tuple]:
    con = warehouse.connect_readonly(db)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def snapshot(db: Path) -> dict[str, list[tuple]]:
    con = warehouse.connect_readonly(db)
    try:
        out = {}
        for table in TABLES:
            cols = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall() if c[0] != "run_id"]
            out[table] = sorted(con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(), key=repr)
        return out
    finally:
        con.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_migrations_are_applied_once_and_recorded(load):
    db, _ = load(GOLDEN)
    load(GOLDEN)
    applied = rows(db, "SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [
        (1, "001_core.sql"),
        (2, "002_redact_payment_data.py"),
        (3, "003_sync_state.sql"),
        (4, "004_one_row_per_key.py"),
        (5, "005_primary_keys.sql"),
        (6, "006_ownership.py"),
        (7, "007_reply_gaps.py"),
    ]
    con = duckdb.connect(str(db))
    try:
        assert warehouse.migrate(con) == []
    finally:
        con.close()


def test_loading_twice_equals_loading_once(load):
    db, first = load(GOLDEN, CANON / "surveys.csv", CANON / "agents.csv", CANON / "lines.csv")
    before = snapshot(db)
    _, second = load(GOLDEN, CANON / "surveys.csv", CANON / "agents.csv", CANON / "lines.csv")
    assert snapshot(db) == before
    assert second.total("rows_loaded") == 0
    assert second.total("rows_duplicate") == first.total("rows_loaded")
    for report in (first, second):
        assert report.total("rows_read") == (
            report.total("rows_loaded") + report.total("rows_rejected") + report.total("rows_duplicate")
        )


def test_bad_rows_are_rejected_with_line_and_reason_while_good_rows_load(load):
    db, report = load(GOLDEN)
    assert report.total("rows_read") == 12 and report.total("rows_loaded") == 9
    rejected = rows(db, "SELECT line, reason, raw FROM rejected_rows ORDER BY line")
    assert [(line, reason) for line, reason, _ in rejected] == [
        (10, "created_at 'bad-date' is not an ISO 8601 timestamp"),
        (11, "direction 'sideways' is not inbound or outbound"),
        (12, "contact_number: 'not-a-number' is not a phone number, short code or sender id"),
    ]
    assert rejected[0][2].startswith("m9,bad-date,inbound")


def test_broken_quoting_rejected_row_by_row(load):
    db, report = load(CANON / "broken_quoting.csv")
    reasons = rows(db, "SELECT line, reason FROM rejected_rows ORDER BY line")
    assert reasons[0] == (3, "broken quoting: a bare carriage return inside an unquoted field")
    assert reasons[1][0] == 4 and reasons[1][1].startswith("wrong column count")
    assert sorted(r[0] for r in rows(db, "SELECT message_id FROM messages")) == ["b1", "b4"]
    assert rows(db, "SELECT body FROM messages WHERE message_id = 'b4'") == [("quoted, with comma",)]
    assert report.total("rows_read") == 4


def test_wrong_column_count_in_fast_path_keeps_line_numbers(load, tmp_path):
    csv = tmp_path / "short.csv"
    csv.write_text(
        "message_id,created_at,direction,line_number,contact_number\n"
        "a1,2026-10-19T14:00:00Z,inbound,+15550100001,+15551110000\n"
        "a2,2026-10-19T14:01:00Z,inbound,+15550100001\n"
        "a3,2026-10-19T14:02:00Z,inbound,+15550100001,+15551110000,extra\n"
        "a4,2026-10-19T14:03:00Z,sideways,+15550100001,+15551110000\n"
    )
    db, _ = load(csv)
    got = rows(db, "SELECT line, reason FROM rejected_rows ORDER BY line")
    assert [g[0] for g in got] == [3, 4, 5]
    assert got[2][1] == "direction 'sideways' is not inbound or outbound"


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("missing_column.csv", "missing required columns created_at, line_number, contact_number"),
        ("empty.csv", "file is empty"),
    ],
)
def test_unusable_file_is_one_clear_error_exit_2_and_nothing_lost(load, capsys, fixture, message):
    db, _ = load(GOLDEN)
    before = digest(db)
    code = etl_main(["load", "--db", str(db), "--quiet", str(CANON / fixture)])
    err = capsys.readouterr().err
    assert code == 2
    assert fixture in err and message in err and "Traceback" not in err
    assert rows(db, "SELECT count(*) FROM messages") == [(9,)]
    assert digest(db) != "" and before  # the file was republished or untouched, never emptied


def test_changed_row_updates_the_stored_one(load, tmp_path):
    db, _ = load(GOLDEN)
    changed = tmp_path / "changed.csv"
    text = GOLDEN.read_text().replace(
        "m6,2026-10-19T13:50:00Z,outbound,+15550100001,+15551234567,ag_02,false,All fixed,,,delivered",
        "m6,2026-10-19T13:50:00Z,outbound,+15550100001,+15551234567,ag_02,false,All fixed,,,failed",
    )
    changed.write_text(text)
    _, report = load(changed)
    assert report.total("rows_updated") == 1
    assert rows(db, "SELECT status, kind FROM messages WHERE message_id = 'm6'") == [("failed", "failed_reply")]
    # the failed send is not a reply: the follow-up block is now unanswered
    assert rows(db, "SELECT count(*) FROM inquiry_blocks WHERE replied_at IS NULL") == [(1,)]


def test_golden_derivation(load):
    db, _ = load(GOLDEN, CANON / "surveys.csv", CANON / "agents.csv")
    kinds = dict(rows(db, "SELECT message_id, kind FROM messages"))
    assert kinds == {
        "m1": "inquiry",
        "m2": "inquiry",
        "m3": "automated",
        "m4": "human_reply",
        "m5": "inquiry",
        "m6": "human_reply",
        "m7": "survey_prompt",
        "m8": "survey_answer",
        "m12": "opt_out",
    }
    blocks = rows(
        db,
        "SELECT block_seq, inquiries, reply_agent_id, calendar_seconds, business_seconds "
        "FROM inquiry_blocks ORDER BY started_at",
    )
    # Fri 16:30 EDT -> Mon 09:15 EDT: 30 min Friday + 15 min Monday = 2,700 business seconds;
    # calendar: 2 days 16 h 45 min = 233,100 s. The auto-reply at 17:30 does not answer it.
    assert blocks == [(1, 2, "ag_01", 233100.0, 2700.0), (2, 1, "ag_02", 1800.0, 1800.0)]
    # one conversation despite the weekend gap: Monday's reply answers a customer still waiting
    assert rows(db, "SELECT count(*) FROM conversations WHERE contact_number = '+15551234567'") == [(1,)]
    surveys = rows(
        db,
        "SELECT response_id, origin, survey, score, parse_status, agent_id FROM survey_responses ORDER BY response_id",
    )
    assert surveys == [
        ("m8", "message", "csat", 9, "valid", "ag_02"),
        ("s1", "file", "csat", 8, "valid", "ag_02"),
        ("s2", "file", "nps", 10, "valid", "ag_02"),
        ("s3", "file", "nps", None, "ambiguous", None),
    ]
    assert rows(db, "SELECT reason FROM rejected_rows WHERE path LIKE '%surveys.csv' ORDER BY line") == [
        ("received_at 'not a date' is not an ISO 8601 timestamp",),
        ("survey 'poll' is not csat or nps",),
    ]
    assert rows(db, "SELECT name, team FROM agents WHERE agent_id = 'ag_01'") == [("Sam Rivera", "Care")]


def test_readers_keep_the_old_warehouse_while_a_load_publishes(load, tmp_path):
    db, _ = load(CANON / "broken_quoting.csv")
    reader = warehouse.connect_readonly(db)
    try:
        load(GOLDEN)
        # the open reader still sees the version it opened; a new reader sees the new one
        assert reader.execute("SELECT count(*) FROM messages").fetchall() == [(2,)]
        assert rows(db, "SELECT count(*) FROM messages") == [(11,)]
    finally:
        reader.close()


@pytest.mark.parametrize("point", ["after_stage", "after_derive", "after_checkpoint", "before_rename"])
def test_killed_load_leaves_the_previous_warehouse(load, point):
    db, _ = load(CANON / "broken_quoting.csv")
    before = digest(db)
    env = {**os.environ, "REPLYBOARD_KILL_AT": point}
    proc = subprocess.run(
        [sys.executable, "-m", "etl", "load", "--quiet", "--db", str(db), str(GOLDEN)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9
    assert digest(db) == before
    assert rows(db, "SELECT count(*) FROM messages") == [(2,)]
    # re-running finishes with the counts of a clean load
    load(GOLDEN)
    assert rows(db, "SELECT count(*) FROM messages") == [(11,)]
    assert not list(db.parent.glob("*.tmp-*"))


def test_foreign_file_as_warehouse_is_refused_untouched(tmp_path, capsys):
    fake = tmp_path / "notes.duckdb"
    fake.write_text("my precious notes")
    code = etl_main(["load", "--db", str(fake), "--quiet", str(GOLDEN)])
    assert code == 2
    assert "not a DuckDB warehouse" in capsys.readouterr().err
    assert fake.read_text() == "my precious notes"


def test_json_output_has_totals_and_per_file(tmp_path, capsys):
    import json

    code = etl_main(["load", "--db", str(tmp_path / "w.duckdb"), "--json", str(GOLDEN), str(CANON / "agents.csv")])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    for key in ("rows_read", "rows_loaded", "rows_rejected", "rows_duplicate"):
        assert key in out and all(key in f for f in out["files"])
    assert out["rows_read"] == 14 and out["rows_rejected"] == 3


# ---- times without an offset: the SQL rule against Python's zoneinfo -------------------------------------

_ZONES = ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "America/Sao_Paulo")


def _zoneinfo_reading(local: datetime, zone: str) -> tuple[datetime | None, bool]:
    """(the instant, ambiguous) by the rule, with zoneinfo: a local time that does not survive a round trip
    does not exist; one whose two folds differ happened twice and is its first (fold=0) occurrence."""
    tz = ZoneInfo(zone)
    first = local.replace(tzinfo=tz, fold=0)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != local:
        return None, False
    return first.astimezone(UTC), first.utcoffset() != local.replace(tzinfo=tz, fold=1).utcoffset()


@functools.lru_cache(maxsize=32)
def _transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """The local wall times (naive) just before each offset change of a zone in a year (to the hour)."""
    tz = ZoneInfo(zone)
    hours = [datetime(year, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(366 * 24)]
    return tuple(
        a.astimezone(tz).replace(tzinfo=None)
        for a, b in itertools.pairwise(hours)
        if a.astimezone(tz).utcoffset() != b.astimezone(tz).utcoffset()
    )


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(_ZONES),
    local=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31)),
    near=st.integers(min_value=-1, max_value=7),
    minutes=st.integers(min_value=-150, max_value=150),
)
def test_local_times_are_read_like_zoneinfo(zone: str, local: datetime, near: int, minutes: int) -> None:
    changes = _transitions(zone, local.year)
    if near >= 0 and changes:  # most draws would miss the transitions: move most of them next to one
        local = changes[near % len(changes)] + timedelta(minutes=minutes)
    instant, ambiguous = validate.local_instant_sql("l", zone)
    with duckdb.connect() as con:
        got = con.execute(f"SELECT {instant}, {ambiguous} FROM (SELECT ?::TIMESTAMP AS l)", [local]).fetchone()
    assert (got[0], got[1]) == _zoneinfo_reading(local, zone), (zone, local)
