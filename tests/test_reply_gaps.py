"""Each human reply's typing gap, stored at load (replyboard.reply_gaps, issue 19), and the texting time from it.

Golden figures worked out by hand (two agents, replies that overlap and replies far apart, a tie in time, kinds
that are no replies); then load histories that touch an agent's chain from another line/contact pair than the
stored replies', each against one fresh load of the same files (and against the window the metric used to run
at query time); then an older warehouse migrated to the column.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.load import run_load
from metrics.compiler import Filters
from metrics.params import Params
from metrics.query import compute
from replyboard import reply_gaps, warehouse
from replyboard.settings import Settings
from tests.helpers import team_settings

L1, L2, L3 = "+12015550100", "+12015550101", "+12015550102"
C1, C2, C3, C4 = (f"+1201555{n:04d}" for n in range(2001, 2005))
HEADER = [
    *("message_id", "created_at", "direction", "line_number", "contact_number", "agent_id", "is_automated"),
    *("body", "status"),
]
DAY = "2026-10-19"  # a Monday; times below are UTC


def _m(mid: str, at: str, agent: str = "", line: str = L1, contact: str = C1, **kw: str) -> list[str]:
    """One outbound text (a human reply unless its status or flag says otherwise), or an inbound one."""
    direction = "outbound" if agent or "automated" in kw else "inbound"
    status = kw.get("status", "delivered" if direction == "outbound" else "received")
    body = kw.get("body", f"text {mid}")
    when = f"{kw.get('day', DAY)}T{at}Z"
    return [mid, when, direction, line, contact, agent, kw.get("automated", "false"), body, status]


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


GOLDEN = [
    _m("m01", "10:00:00", line=L1, contact=C1),  # the customer's text
    _m("m02", "10:01:00", "ag_a", L1, C1),  # ag_a's first reply: no gap, a full span (120)
    _m("m03", "10:01:40", "ag_a", L2, C2),  # 40 s later on another line: overlaps, adds 40
    _m("m04", "10:02:00", "ag_b", L1, C1),  # ag_b's first: 120 (another agent's replies never merge)
    _m("m05", "10:30:00", "ag_a", L1, C3),  # 1,700 s after m03: apart, 120
    _m("t2", "11:00:00", "ag_a", L2, C4),  # a tie: t1 and t2 at the same instant, ordered by message id,
    _m("t1", "11:00:00", "ag_a", L1, C1),  # so t1 is 1,800 s after m05 (120) and t2 0 s after t1 (0)
    _m("m06", "11:00:30", "", L1, C1, automated="true", body="Thanks, we got it"),  # automated: no gap
    _m("m07", "11:01:00", "ag_b", L1, C1, status="failed"),  # failed: not a reply, not in ag_b's chain
    _m("m08", "11:02:00", "ag_b", L2, C2),  # 3,600 s after m04: 120
    _m("m09", "11:03:00", "ag_b", L2, C2, status="queued"),  # not sent yet: not a reply
    _m("m10", "11:03:30", "ag_b", L2, C2),  # 90 s after m08 (m09 does not count): 90
]
GOLDEN_GAPS = {
    "m02": None,
    "m03": 40.0,
    "m04": None,
    "m05": 1700.0,
    "t1": 1800.0,
    "t2": 0.0,
    "m08": 3600.0,
    "m10": 90.0,
}


def _gaps(db: Path) -> dict[str, float | None]:
    con = warehouse.connect_readonly(db)
    try:
        rows = con.execute("SELECT message_id, kind, prev_reply_gap_seconds FROM messages").fetchall()
    finally:
        con.close()
    assert all(gap is None for _, kind, gap in rows if kind != "human_reply"), "only human replies have a gap"
    return {mid: gap for mid, kind, gap in rows if kind == "human_reply"}


def _texting(db: Path, *, by: str | None = None, filters: Filters | None = None, allowance: int = 120) -> object:
    con = warehouse.connect_readonly(db)
    try:
        got = compute(
            con,
            ["active_texting_seconds"],
            by=by,
            filters=filters or Filters(),
            params=Params(typing_allowance_seconds=allowance),
        )
    finally:
        con.close()
    if by is None:
        return got["active_texting_seconds"][0]
    return dict(zip(got[by].to_list(), got["active_texting_seconds"].to_list(), strict=True))


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gaps")
    db = folder / "w.duckdb"
    report = run_load(db, [_write(folder / "golden.csv", GOLDEN)], team_settings())
    assert not report.errors and report.total("rows_rejected") == 0
    return db


def test_each_human_reply_stores_the_gap_since_its_agents_previous_reply(golden: Path) -> None:
    assert _gaps(golden) == GOLDEN_GAPS


def test_texting_time_from_the_stored_gaps(golden: Path) -> None:
    # ag_a: m02 120 + m03 40 + m05 120 + t1 120 + t2 0 = 400; ag_b: m04 120 + m08 120 + m10 90 = 330
    assert _texting(golden) == 730.0
    assert _texting(golden, by="agent") == {"ag_a": 400.0, "ag_b": 330.0}
    # the allowance is a reporting setting, applied at query time: 60 s caps ag_a 60+40+60+60+0, ag_b 60+60+60
    assert _texting(golden, allowance=60) == 400.0
    # a filter keeps each reply's own span, merged across lines: L2 holds m03 (40), t2 (0), m08 (120), m10 (90)
    assert _texting(golden, filters=Filters(lines=(L2,))) == 250.0
    assert _texting(golden, by="line") == {L1: 480.0, L2: 250.0}
    one_day = Filters(date_from=date(2026, 10, 19), date_to=date(2026, 10, 19), agents=("ag_b",))
    assert _texting(golden, filters=one_day) == 330.0


def test_nothing_is_stale_after_a_load(golden: Path, tmp_path: Path) -> None:
    """What a load leaves is what refresh computes: called again, it finds no row to redo."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(golden.read_bytes())
    con = duckdb.connect(str(copy))
    try:
        assert reply_gaps.refresh(con) == 0
        # a row changed behind its back (as a derivation would) is found, and its agent's later gaps follow
        con.execute("UPDATE messages SET kind = 'failed_reply' WHERE message_id = 'm05'")
        assert reply_gaps.refresh(con) == 1
        got = dict(con.execute("SELECT message_id, prev_reply_gap_seconds FROM messages").fetchall())
    finally:
        con.close()
    assert got["m05"] is None and got["t1"] == 3500.0 and got["t2"] == 0.0 and got["m03"] == 40.0


# ---- load histories: every one ends where one fresh load of the same files ends --------------------------------

BASE = [
    _m("b01", "10:00:00", line=L1, contact=C1),
    _m("b02", "10:00:00", "ag_a", L1, C1),
    _m("b03", "10:05:00", "ag_a", L1, C1),
    _m("b04", "10:10:00", "ag_b", L1, C1),
    _m("b05", "10:12:00", "ag_a", L3, C3, status="queued"),  # sent later (NOW_SENT)
    _m("b06", "10:20:00", "ag_a", L1, C1, body="Reminder: your pickup is at 9am"),  # automated in other settings
    _m("b07", "10:40:00", "ag_a", L1, C1),
    _m("b08", "10:41:00", "ag_b", L1, C1),
    _m("b09", "10:45:00", "ag_a", L1, C1),
    _m("c01", "16:00:00", "ag_c", L2, C4, day="2026-10-01"),  # ag_c's reply weeks before
]
UPDATES = {
    # ag_a replies in ANOTHER pair before (09:59) and between (10:04) its stored replies in L1/C1: only L2/C2 is
    # re-derived, but b02's and b03's gaps change
    "earlier_other_pair": [_m("e01", "09:59:00", "ag_a", L2, C2), _m("e02", "10:04:00", "ag_a", L2, C2)],
    # the stored pending reply gets its later status, re-dated by the send (as Twilio does): now a reply at 10:13
    "now_sent": [_m("b05", "10:13:00", "ag_a", L3, C3, status="delivered")],
    # a reply of ag_a turns out to be ag_b's: ag_a's chain loses it, ag_b's gains it
    "agent_moved": [_m("b03", "10:05:00", "ag_b", L1, C1)],
    # a stored reply's status turns to failed: out of its agent's chain (b09's gap now runs from b06)
    "failed_later": [_m("b07", "10:40:00", "ag_a", L1, C1, status="failed")],
    # the next day: ag_b's next reply (its previous one within the week refresh looks at first) and ag_c's, whose
    # previous one is 19 days back (found by the second look, over all of ag_c's replies)
    "days_later": [
        _m("d01", "10:00:00", "ag_c", L2, C2, day="2026-10-20"),
        _m("d02", "09:00:00", "ag_b", L3, C3, day="2026-10-20"),
    ],
    # a stored reply moved in time (--replace): ag_a's first, from 10:00 to 10:50, after every other of ag_a's
    "redated": [_m("b02", "10:50:00", "ag_a", L1, C1)],
}
# a derivation settings change that re-derives everything: "Reminder:" texts become automated (b06 leaves the chain)
REMINDERS_AUTOMATED = {"auto_reply_templates": ["^Reminder:"]}


def _oracle(db: Path) -> dict[str, float | None]:
    """The gaps as the metric computed them at query time before issue 19: one window over every human reply."""
    con = warehouse.connect_readonly(db)
    try:
        rows = con.execute(
            """
            SELECT message_id, epoch(created_at) - epoch(lag(created_at) OVER (
                PARTITION BY agent_id ORDER BY created_at, message_id))
            FROM messages WHERE kind = 'human_reply'
            """
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def _messages(db: Path) -> list[tuple]:
    """Every stored message, all columns but the run that wrote it."""
    con = warehouse.connect_readonly(db)
    try:
        columns = [r[0] for r in con.execute("DESCRIBE messages").fetchall() if r[0] != "run_id"]
        return con.execute(f"SELECT {', '.join(columns)} FROM messages ORDER BY ALL").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gap-files")
    return {name: _write(folder / f"{name}.csv", rows) for name, rows in {"base": BASE, **UPDATES}.items()}


def _history(
    folder: Path, files: dict[str, Path], steps: list[tuple[list[str], dict]], replace: bool
) -> tuple[Path, Path]:
    """Each step's files in its own load with its settings, then all of them in one fresh load (final settings)."""
    db, fresh = folder / "history.duckdb", folder / "fresh.duckdb"
    for names, changes in steps:
        report = run_load(db, [files[n] for n in names], team_settings(**changes), replace=replace)
        assert not report.errors and report.total("rows_rejected") == 0, report.as_json()
    every = [files[n] for names, _ in steps for n in names]
    report = run_load(fresh, every, team_settings(**steps[-1][1]), replace=replace)
    assert not report.errors and report.total("rows_rejected") == 0
    return db, fresh


HISTORIES = {
    "a reply before the stored ones, in another pair": [(["base"], {}), (["earlier_other_pair"], {})],
    "a pending reply sent (a later status)": [(["base"], {}), (["now_sent"], {})],
    "a settings change that re-derives everything": [(["base"], {}), (["earlier_other_pair"], REMINDERS_AUTOMATED)],
    "a reply's agent changed": [(["base", "earlier_other_pair"], {}), (["agent_moved"], {})],
    "a reply failed later": [(["base"], {}), (["failed_later"], {})],
    "replies a day and 19 days after the agents' last": [(["base"], {}), (["days_later"], {})],
    "a reply re-dated after the others (--replace)": [(["base"], {}), (["redated"], {})],
    "every change, one load each": [
        (["base"], {}),
        (["now_sent"], {}),
        (["earlier_other_pair"], REMINDERS_AUTOMATED),
        (["agent_moved"], REMINDERS_AUTOMATED),
        (["failed_later"], {}),
    ],
}


@pytest.mark.parametrize("name", HISTORIES)
def test_a_load_history_ends_as_one_fresh_load(tmp_path: Path, files: dict[str, Path], name: str) -> None:
    steps = HISTORIES[name]
    db, fresh = _history(tmp_path, files, steps, replace="redated" in name or "--replace" in name)
    assert _messages(db) == _messages(fresh), name
    assert _gaps(db) == _oracle(db) == _oracle(fresh), name


def test_the_histories_change_the_gaps_they_are_about(tmp_path: Path, files: dict[str, Path]) -> None:
    """The controls: each update above moves the gaps of stored replies (else the comparisons prove little)."""
    db = tmp_path / "w.duckdb"
    run_load(db, [files["base"]], team_settings())
    before = _gaps(db)
    assert before == {
        **{"b02": None, "b03": 300.0, "b04": None, "b06": 900.0, "b07": 1200.0, "b08": 1860.0, "b09": 300.0},
        "c01": None,
    }
    run_load(db, [files["earlier_other_pair"]], team_settings())
    after = _gaps(db)
    assert (after["b02"], after["b03"], after["e01"], after["e02"]) == (60.0, 60.0, None, 240.0)
    run_load(db, [files["now_sent"]], team_settings())
    assert (_gaps(db)["b05"], _gaps(db)["b06"]) == (480.0, 420.0)  # 10:13 after b03 at 10:05; b06 at 10:20
    run_load(db, [files["agent_moved"]], team_settings())
    assert (_gaps(db)["b03"], _gaps(db)["b04"], _gaps(db)["b05"]) == (None, 300.0, 540.0)  # b03 now ag_b's first
    run_load(db, [files["failed_later"]], team_settings())
    assert _gaps(db)["b09"] == 1500.0  # b07 (10:40) failed: b09 (10:45) follows b06 (10:20)
    run_load(db, [files["days_later"]], team_settings())
    # d02: Tue 20th 09:00 after b08 (Mon 10:41); d01: Tue 20th 10:00 after c01 (Thu 1st 16:00), 19 days back
    assert (_gaps(db)["d02"], _gaps(db)["d01"]) == (80340.0, 1620000.0)
    run_load(db, [files["redated"]], team_settings(), replace=True)
    assert (_gaps(db)["e01"], _gaps(db)["b02"]) == (None, 300.0)  # b02 10:00 -> 10:50, 5 min after b09


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(
            st.lists(st.sampled_from(["base", *sorted(set(UPDATES) - {"redated"})]), min_size=1, max_size=3),
            st.sampled_from([{}, REMINDERS_AUTOMATED]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_order_of_these_loads_ends_as_one_fresh_load(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path], steps: list[tuple[list[str], dict]]
) -> None:
    db, fresh = _history(tmp_path_factory.mktemp("order"), files, steps, replace=False)
    assert _messages(db) == _messages(fresh), steps
    assert _gaps(db) == _oracle(db), steps


def test_an_older_warehouse_gets_its_gaps_when_migrated(
    tmp_path: Path, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warehouse from before migration 007 (no gap columns) has them computed by the migration itself: right
    as soon as it is migrated, without re-deriving every conversation at the next load, and without the copy of
    the whole file a migration that replaces stored text needs (24 s for a 10M warehouse)."""
    rewrites: list[Path] = []
    real_rewritten = warehouse._rewritten
    monkeypatch.setattr(warehouse, "_rewritten", lambda con, tmp: rewrites.append(tmp) or real_rewritten(con, tmp))
    fresh, old = tmp_path / "fresh.duckdb", tmp_path / "old.duckdb"
    run_load(fresh, [files["base"], files["earlier_other_pair"]], Settings())
    old.write_bytes(fresh.read_bytes())
    con = duckdb.connect(str(old))
    try:
        for column in reply_gaps.COLUMNS:
            con.execute(f"ALTER TABLE messages DROP COLUMN {column}")
        con.execute("DELETE FROM schema_migrations WHERE version = 7")
    finally:
        con.close()
    assert warehouse.upgrade(old) == ["007_reply_gaps.py"]
    assert rewrites == []  # 002's redaction rewrites the file (tests/test_privacy.py); 007 replaces no text
    assert _messages(old) == _messages(fresh)
    report = run_load(old, [files["now_sent"]], Settings())
    assert not report.notes  # nothing re-derived: the derivation key is the one it had
    run_load(fresh, [files["now_sent"]], Settings())
    assert _messages(old) == _messages(fresh)
