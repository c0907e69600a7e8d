"""The benchmark harness runs on a tiny size, and the pandas reference gives Replyboard's numbers.

Timings are benchmarks, never asserted here (issue 7). The cross-checks compare two independent
implementations of the metric definitions: Replyboard (facts derived in DuckDB at load, metrics as SQL over
them) and benchmarks/pandas_reference.py (everything from the canonical CSVs in pandas). Every registry
metric must agree, in calendar hours and, for the hours-dependent ones, in business hours.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from benchmarks import pandas_reference as pr
from benchmarks import run as bench
from benchmarks import scale
from etl.load import run_load
from metrics.registry import METRICS
from replyboard.settings import Settings, load_settings
from replyboard.warehouse import connect_readonly
from sample_data.generate import generate, write
from tests.helpers import FIXTURES, team_settings

MESSAGES = 3000
SEED = 11  # the harness's seed


def canonical_files(folder: Path) -> list[Path]:
    return [folder / f"{name}.csv" for name in ("messages", "surveys", "agents", "lines")]


def both_sides(db: Path, files: list[Path], settings: Settings) -> tuple[dict, dict]:
    con = connect_readonly(db)
    try:
        ours, _ = pr.replyboard_values(con, settings)
    finally:
        con.close()
    return ours, pr.compute_all(files, settings)


def test_harness_runs_on_a_tiny_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    monkeypatch.setattr(bench, "RESULTS", tmp_path / "RESULTS.md")  # never the committed file
    monkeypatch.setattr(scale, "CURVE", tmp_path / "curve.json")
    report = bench.run(MESSAGES, curve=False)
    steps = [row.step for row in report.rows]
    assert any(step.startswith("full ETL") for step in steps)
    assert "each registry metric, warm (slowest)" in steps
    assert "pandas reference, same metrics" in steps
    assert "Replyboard speed-up over pandas" in steps
    for step in (
        "floor: DuckDB CREATE TABLE AS read_csv",
        "full ETL",
        "incremental load of the last day",
        "each registry metric, warm (slowest)",
        "pandas reference, same metrics",
        "Replyboard speed-up over pandas",
        "Polars peer, core derivation",
        "Replyboard speed-up over Polars",
    ):  # each of these steps ran and measured something (a step that fails to run reports None)
        row = next(row for row in report.rows if row.step.startswith(step))
        assert row.seconds is not None and row.seconds > 0, row
    incremental = next(row for row in report.rows if row.step.startswith("incremental load"))
    assert incremental.note.startswith("same warehouse as a full load;"), incremental
    pandas_row = next(row for row in report.rows if row.step == "pandas reference, same metrics")
    assert "DIFFER" not in pandas_row.note, pandas_row.note
    polars_row = next(row for row in report.rows if row.step.startswith("Replyboard speed-up over Polars"))
    assert polars_row.note == "same numbers", polars_row.note
    (point,) = scale.load_curve().values()
    assert point.size == MESSAGES and point.rows_loaded > MESSAGES and point.pages_first_max_s is not None
    assert not (tmp_path / "RESULTS.md").exists()


def test_compare_returns_timings_and_agreement(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write(generate(500, seed=3, settings=load_settings()), folder)
    db = tmp_path / "w.duckdb"
    run_load(db, canonical_files(folder), load_settings())
    ours, theirs, equal, note = pr.compare(db, canonical_files(folder))
    assert ours > 0 and theirs > 0
    assert equal, note
    assert "pandas: read CSVs + derive + metrics" in note and "derivation done at load" in note


@pytest.mark.parametrize(
    ("start", "days"),
    [
        (None, None),  # the harness's data: August-September, Labor Day
        (date(2026, 10, 20), 40),  # the fall-back DST change (Nov 1) and Thanksgiving (Nov 26)
        (date(2026, 2, 25), 20),  # spring-forward (Mar 8)
    ],
    ids=["summer", "fall-back", "spring-forward"],
)
def test_pandas_reference_equals_replyboard_on_generated_data(tmp_path: Path, start, days) -> None:
    settings = load_settings()
    folder = tmp_path / "data"
    kwargs = {"start": start, "days": days} if start else {}
    write(generate(MESSAGES, seed=SEED, settings=settings, **kwargs), folder)
    db = tmp_path / "w.duckdb"
    report = run_load(db, canonical_files(folder), settings)
    assert report.errors == [] and report.total("rows_rejected") == 0
    ours, theirs = both_sides(db, canonical_files(folder), settings)

    business = {name + pr.BUSINESS for name in METRICS if pr.hours_dependent(name)}
    assert set(ours) == set(METRICS) | business  # every registry metric, both hours where they differ
    assert pr.mismatches(ours, theirs) == []
    # Not vacuous: the data exercises every metric (only the rarer parse statuses and opt-outs may be 0).
    assert all(value is not None for value in theirs.values())
    assert theirs["inquiry_blocks"] > theirs["unanswered_inquiries"] > 0
    assert theirs["survey_replies_valid"] > 0 and theirs["human_replies"] > 0


@pytest.mark.parametrize(
    "files",
    [
        ("response_times.csv", "agents.csv"),
        ("volume_surveys.csv", "volume_surveys_file.csv", "agents.csv"),
        ("weeks.csv", "agents.csv"),
        ("sends_queued.csv", "agents.csv"),
        ("sends_queued.csv", "sends_delivered.csv", "agents.csv"),
        ("ownership.csv", "ownership_lines.csv", "agents.csv"),
        ("closers_reactions.csv", "agents.csv"),
    ],
    ids=["response", "volume", "weeks", "queued", "delivered", "ownership", "closers"],
)
def test_pandas_reference_equals_replyboard_on_the_golden_fixtures(tmp_path: Path, files) -> None:
    """The hand-built corner cases of tests/test_metrics.py (weekend waits, lunch breaks, STOP answering a
    survey, every parse status, a 47 h gap...), with the team settings the golden figures use."""
    settings = team_settings()
    paths = [FIXTURES / "metrics" / f for f in files]
    db = tmp_path / "w.duckdb"
    run_load(db, paths, settings)
    ours, theirs = both_sides(db, paths, settings)
    assert pr.mismatches(ours, theirs) == []


OPT_OUT_VARIANTS = """message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,conversation_id,status
x1,2026-10-20T14:00:00Z,inbound,+15550100001,+15552000001,,false,Where is my driver?,sms,,received
x2,2026-10-20T14:05:00Z,outbound,+15550100001,+15552000001,ag_01,false,On the way!,sms,,delivered
x3,2026-10-20T14:30:00Z,outbound,+15550100001,+15552000001,,true,How would you rate your experience with us today on a scale of 1-9?,sms,,delivered
x4,2026-10-20T14:31:00Z,inbound,+15550100001,+15552000001,,false,STOP…,sms,,received
y1,2026-10-20T15:00:00Z,inbound,+15550100001,+15552000002,,false,"
STOP",sms,,received
"""


def test_pandas_reference_equals_replyboard_on_a_group_text(tmp_path: Path) -> None:
    """tests/test_golden_group.py's group, its members written in E.164 (the reference normalises no numbers)."""
    text = (FIXTURES / "metrics" / "group_text.csv").read_text().replace("(555) 500-0001", "+15555000001")
    messages = tmp_path / "group_text.csv"
    messages.write_text(text)
    paths = [messages, FIXTURES / "metrics" / "agents.csv"]
    db = tmp_path / "w.duckdb"
    run_load(db, paths, team_settings())
    ours, theirs = both_sides(db, paths, team_settings())
    assert pr.mismatches(ours, theirs) == []
    assert theirs["conversations"] == 2 and theirs["human_replies"] == 2


def test_opt_out_keywords_with_unicode_punctuation_or_a_leading_newline(tmp_path: Path) -> None:
    settings = team_settings()
    path = tmp_path / "messages.csv"
    path.write_text(OPT_OUT_VARIANTS, encoding="utf-8")
    db = tmp_path / "w.duckdb"
    run_load(db, [path], settings)
    ours, theirs = both_sides(db, [path], settings)
    assert theirs["opt_outs"] == 2 and theirs["survey_replies_opt_out"] == 1 and theirs["inquiry_blocks"] == 1
    assert pr.mismatches(ours, theirs) == []
