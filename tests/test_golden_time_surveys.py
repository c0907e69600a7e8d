"""Golden cases of issue 13 worked out by hand: times without an offset across the spring-forward gap, a
business-hours schedule that changes, and survey replies (beyond the scale, opt-outs, partial weeks, low n).

Team settings: tests/helpers.py team_settings(): America/New_York, open Mon-Fri 09:00-12:00 and 13:00-17:00.
New York is on EST (UTC-5) until Sun 2026-03-08 02:00, when the clocks jump to 03:00 EDT (UTC-4); they go
back from 02:00 EDT to 01:00 EST on Sun 2026-11-01, so 01:00-02:00 happens twice that night. Times below are
local unless they end in Z.

spring_forward.csv (times written WITHOUT an offset are the team's local time; sf06 has one):
  B1 C1 sf01 Fri Mar 6 16:30 (EST = 21:30Z) - sf02 ag_01 Mon Mar 9 09:15 (EDT = 13:15Z). Calendar: Fri 21:30Z ->
     Mon 13:15Z = 2 d 15 h 45 min = 229,500 s (read as UTC, as before, it would be 16:30Z -> 09:15Z = 233,100 s:
     an hour too long, the hour the clocks skipped). Business: Fri 16:30-17:00 (1,800) + Mon 09:00-09:15 (900)
     = 2,700 s. Received in hours -> deadline Fri 17:00: missed.
  sf03 Sun Mar 8 02:30: that time does not exist in New York (02:00 -> 03:00): rejected (line 4), with the reason.
  B2 C3 sf04 Sun 01:30 (EST, 06:30Z) - sf05 ag_02 Sun 03:10 (EDT, 07:10Z): 40 minutes = 2,400 s, although the
     wall clock moved 1 h 40 min; business 0 (Sunday). Deadline: the next business day's close, Mon 17:00: met.
  B3 C4 sf06 2026-03-09T14:00:00Z (Mon 10:00 EDT, an explicit offset) - sf07 ag_01 Mon 10:30 (naive, 14:30Z):
     1,800 s calendar = business. Deadline Mon 17:00: met.
  B4 C5 sf08 Sun Nov 1 01:30 - sf09 ag_02 01:45: both times happened twice; the first occurrences are taken
     (EDT: 05:30Z and 05:45Z), so 900 s calendar (not 900 + 3,600), business 0. Deadline Mon Nov 2 17:00: met.
  Load summary: 9 rows read, 8 loaded, 1 rejected; 7 rows had no offset (all but sf06 and the rejected sf03),
  2 of them at the repeated hour (sf08, sf09).
  First response times: calendar [900, 1,800, 2,400, 229,500] -> median (1,800 + 2,400) / 2 = 2,100, mean
  234,600 / 4 = 58,650; business [0, 0, 1,800, 2,700] -> median 900, mean 4,500 / 4 = 1,125. Same business day:
  B2 B3 B4 met, B1 missed: 3 / 4 = 0.75.

schedule_change.csv, loaded twice: with the plain hours (A, Mon-Fri 09-12 + 13-17) and with a schedule that
changes on Mon Oct 26 (B: the same hours until then; from Oct 26 Mon-Fri 10:00-16:00 without a lunch break and
Sat 10:00-14:00). October is EDT (UTC-4).
  B1 C1 Mon Oct 19 11:30 - 13:30: business 11:30-12:00 + 13:00-13:30 = 3,600 s in A and B (before the change:
     history keeps its hours).
  B2 C2 Fri Oct 23 16:00 - Mon Oct 26 10:30: Friday 16:00-17:00 = 3,600 in both (the old hours, still in force
     that day); Monday A 09:00-10:30 = 5,400 -> 9,000 s; B 10:00-10:30 = 1,800 -> 5,400 s.
  B3 C3 Tue Oct 27 12:15 - 12:45: A lunch break = 0 s; B open 10-16 = 1,800 s. The transcript says the 12:15
     text came in outside hours in A and inside them in B.
  B4 C4 Sat Oct 31 11:00 - 12:00: A closed = 0 s; B Saturday 10-14 = 3,600 s.
  B5 C5 Sat Oct 31 10:30, unanswered at the end of the data (Sat 12:00, sc09): business age A 0 s, B 5,400 s.
  reply_time_mean (business): A (3,600 + 9,000 + 0 + 0) / 4 = 3,150; B (3,600 + 5,400 + 1,800 + 3,600) / 4 =
  3,600. Up to Thu Oct 22 (B1 only) both 3,600. response_within_target_rate (business, target 60 min =
  3,600 s): A B1 B3 B4 within, B2 over; B5 has no business age yet, so it is left out: 3 / 4 = 0.75. B: B1 B3
  B4 within (3,600 <= 3,600), B2 over, B5 past the target unanswered (5,400 >= 3,600: the cutoff walks back
  over Saturday's new hours): a miss -> 3 / 5 = 0.6.

surveys_trend.csv + surveys_trend_replies.csv: nine contacts, each an inquiry answered 10 minutes later (ag_01,
but contacts 6 and 7 by ag_02), then a reply in the survey file an hour later. The messages run Wed Oct 7 to
Tue Oct 20: the weeks of Oct 5 and Oct 19 reach outside the data (partial), the week of Oct 12 does not.
  r1 Wed Oct 7 CSAT "9" valid; r2 Mon Oct 12 CSAT "100" out_of_range (a number alone beyond the scale, like
  r3 Tue "10!!"); r4 Wed "STOP" opt_out; r5 Thu "7" valid; r6 r7 Fri Oct 16 NPS "10" and "9" (ag_02) valid;
  r8 Mon Oct 19 "idk" not_a_number; r9 Tue Oct 20 "8" valid.
  survey_replies 9: valid 5, out_of_range 2, opt_out 1, not_a_number 1; not parsed = out_of_range +
  not_a_number = 3 (the opt-out is its own status). CSAT mean (9 + 7 + 8) / 3 = 8.0, n = 3 < min_n 5: low n.
  NPS: two promoters of two = 100, n = 2: low n (ag_02's, the issue's "NPS of 100 from n = 2").
  CSAT by week: Oct 5: 9.0 (n 1, partial), Oct 12: 7.0 (n 1; "100" and "10!!" are not scores), Oct 19: 8.0
  (n 1, partial); every point low n.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from benchmarks.pandas_reference import compute_all
from etl.__main__ import main as etl_main
from etl.load import run_load
from metrics.__main__ import main as metrics_main
from metrics.conversation import transcript
from metrics.params import Params
from metrics.query import Filters, compute
from replyboard import warehouse
from replyboard.settings import Settings
from tests.helpers import FIXTURES, team_settings

FIX = FIXTURES / "metrics"
WEEKDAYS_5 = ("monday", "tuesday", "wednesday", "thursday", "friday")
WINTER_FROM_OCT_26 = team_settings(
    business_hours=[
        {d: ["09:00-12:00", "13:00-17:00"] for d in WEEKDAYS_5},
        {"from": "2026-10-26", **{d: ["10:00-16:00"] for d in WEEKDAYS_5}, "saturday": ["10:00-14:00"]},
    ]
)


def _load(folder: Path, name: str, files: list[str], settings: Settings) -> Path:
    db = folder / f"{name}.duckdb"
    report = run_load(db, [FIX / f for f in files], settings)
    assert report.errors == []
    return db


def _compute(db: Path, names: list[str], **kw) -> dict:
    con = warehouse.connect_readonly(db)
    try:
        return compute(con, names, **kw).row(0, named=True)
    finally:
        con.close()


# ---- times without an offset ----------------------------------------------------------------------------


def test_naive_times_across_the_spring_forward_gap(tmp_path: Path, capsys) -> None:
    db = tmp_path / "sf.duckdb"
    code = etl_main(["load", "--db", str(db), "--json", str(FIX / "spring_forward.csv"), str(FIX / "agents.csv")])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    messages = next(f for f in report["files"] if f["path"].endswith("spring_forward.csv"))
    assert {k: messages[k] for k in ("rows_read", "rows_loaded", "rows_rejected")} == {
        "rows_read": 9,
        "rows_loaded": 8,
        "rows_rejected": 1,
    }
    assert (messages["rows_local_time"], messages["rows_ambiguous_time"]) == (7, 2)
    assert messages["local_timezone"] == "America/New_York"
    con = warehouse.connect_readonly(db)
    try:
        (line, reason), *_ = con.execute("SELECT line, reason FROM rejected_rows").fetchall()
        blocks = con.execute("SELECT calendar_seconds, business_seconds FROM inquiry_blocks ORDER BY started_at")
        seconds = blocks.fetchall()
    finally:
        con.close()
    assert line == 4 and reason.startswith("created_at '2026-03-08 02:30:00' has no UTC offset and does not exist")
    assert "the clocks skipped that time" in reason
    assert seconds == [(229500.0, 2700.0), (2400.0, 0.0), (1800.0, 1800.0), (900.0, 0.0)]
    names = ["first_response_time_median", "first_response_time_mean", "same_business_day_response_rate"]
    calendar = _compute(db, names)
    assert [calendar[n] for n in names] == [2100.0, 58650.0, 0.75]
    business = _compute(db, names, params=Params(hours="business"))
    assert [business[n] for n in names] == [900.0, 1125.0, 0.75]


def test_the_text_summary_says_how_many_rows_were_read_as_local_time(tmp_path: Path, capsys) -> None:
    assert etl_main(["load", "--db", str(tmp_path / "w.duckdb"), str(FIX / "spring_forward.csv")]) == 0
    out = capsys.readouterr().out
    assert (
        "spring_forward.csv: 7 rows had no UTC offset and were read as America/New_York local time; 2 at a time "
        "the clocks went through twice (the first one taken)"
    ) in out


def test_the_pandas_reference_reads_naive_times_the_same_way(tmp_path: Path) -> None:
    """The independent reference (tz_localize) agrees with the warehouse on the spring-forward fixture."""
    settings = team_settings()
    db = _load(tmp_path, "sf", ["spring_forward.csv", "agents.csv"], settings)
    theirs = compute_all([FIX / "spring_forward.csv"], settings)
    for name in ("inbound_messages", "first_response_time_median", "first_response_time_mean"):
        assert _compute(db, [name])[name] == theirs[name], name
    assert _compute(db, ["first_response_time_mean"], params=Params(hours="business"))[
        "first_response_time_mean"
    ] == pytest.approx(theirs["first_response_time_mean@business"])


# ---- a schedule that changes ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schedules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("schedules")
    files = ["schedule_change.csv", "agents.csv"]
    return {"A": _load(folder, "A", files, team_settings()), "B": _load(folder, "B", files, WINTER_FROM_OCT_26)}


def test_a_schedule_change_keeps_history_and_applies_from_its_date(schedules: dict[str, Path]) -> None:
    seconds = {}
    for name, db in schedules.items():
        con = warehouse.connect_readonly(db)
        try:
            rows = con.execute("SELECT business_seconds FROM inquiry_blocks ORDER BY started_at").fetchall()
        finally:
            con.close()
        seconds[name] = [r[0] for r in rows]
    # B1 B2 B3 B5 (unanswered) B4, in order of their first message (B5 at 10:30 comes before B4 at 11:00)
    assert seconds == {"A": [3600.0, 9000.0, 0.0, None, 0.0], "B": [3600.0, 5400.0, 1800.0, None, 3600.0]}
    business = Params(hours="business", target_minutes=60)
    names = ["reply_time_mean", "response_within_target_rate"]
    a, b = (_compute(schedules[k], names, params=business) for k in "AB")
    assert (a["reply_time_mean"], a["response_within_target_rate"], a["response_within_target_rate_n"]) == (
        3150.0,
        0.75,
        4,
    )
    assert (b["reply_time_mean"], b["response_within_target_rate"], b["response_within_target_rate_n"]) == (
        3600.0,
        0.6,
        5,
    )
    # up to Thu Oct 22, before the change: the same figure with either settings
    history = Filters(date_to=date(2026, 10, 22))
    before = {k: _compute(schedules[k], ["reply_time_mean"], params=business, filters=history) for k in "AB"}
    assert {k: v["reply_time_mean"] for k, v in before.items()} == {"A": 3600.0, "B": 3600.0}


def test_the_transcript_shows_the_hours_in_force(schedules: dict[str, Path]) -> None:
    # C3's 12:15 text on Tue Oct 27: the lunch break in A, open hours in B
    flags = {}
    for name, db in schedules.items():
        con = warehouse.connect_readonly(db)
        try:
            (cid,) = con.execute("SELECT conversation_id FROM messages WHERE message_id = 'sc05'").fetchone()
            found = transcript(con, cid)
        finally:
            con.close()
        flags[name] = next(m.in_hours for m in found.messages if m.message_id == "sc05")
    assert flags == {"A": False, "B": True}


# ---- surveys --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def surveys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("surveys")
    return _load(folder, "sv", ["surveys_trend.csv", "surveys_trend_replies.csv", "agents.csv"], team_settings())


def test_survey_statuses_and_low_n(surveys: Path) -> None:
    names = [
        "survey_replies",
        "survey_replies_valid",
        "survey_replies_out_of_range",
        "survey_replies_opt_out",
        "survey_replies_not_a_number",
        "survey_replies_not_parsed",
    ]
    got = _compute(surveys, [*names, "csat_mean", "nps"])
    assert [got[n] for n in names] == [9, 5, 2, 1, 1, 3]
    assert (got["csat_mean"], got["csat_mean_n"], got["csat_mean_low_n"]) == (8.0, 3, True)
    assert (got["nps"], got["nps_n"], got["nps_low_n"]) == (100.0, 2, True)


def test_weekly_csat_points_carry_n_and_partial_weeks(surveys: Path, capsys) -> None:
    args = ["report", "--db", str(surveys), "--metric", "csat_mean", "--by", "week", "--with-n", "--format", "json"]
    assert metrics_main(args) == 0
    points = [
        (r["week"], r["csat_mean"], r["csat_mean_n"], r["partial"], r["csat_mean_low_n"])
        for r in json.loads(capsys.readouterr().out)
    ]
    assert points == [
        ("2026-10-05", 9.0, 1, True, True),
        ("2026-10-12", 7.0, 1, False, True),
        ("2026-10-19", 8.0, 1, True, True),
    ]
    args = ["report", "--db", str(surveys), "--metric", "nps", "--by", "agent", "--with-n", "--format", "csv"]
    assert metrics_main(args) == 0
    assert capsys.readouterr().out.splitlines() == ["agent,nps,nps_n,nps_low_n", "ag_01,,0,true", "ag_02,100.0,2,true"]
