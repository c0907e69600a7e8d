"""The Polars peer of the core derivation (benchmarks/polars_reference.py) gives Replyboard's numbers.

Like tests/test_bench_harness.py does for pandas: two independent implementations of the definitions (DuckDB SQL
at load; Polars from the CSV) must agree on every core figure, in calendar and business hours, on generated data
and on the hand-built golden cases. Timings are benchmarks, never asserted here.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from benchmarks import pandas_reference as pr
from benchmarks import polars_reference as plr
from etl.load import run_load
from replyboard.settings import Settings, load_settings
from replyboard.warehouse import connect_readonly
from sample_data.generate import generate, write
from tests.helpers import FIXTURES, team_settings


def _ours(db: Path, settings: Settings) -> dict:
    con = connect_readonly(db)
    try:
        values, _ = pr.replyboard_values(con, settings, keys=plr.keys())
    finally:
        con.close()
    assert set(values) == set(plr.keys())
    return values


@pytest.mark.parametrize(("start", "days"), [(None, None), (date(2026, 10, 20), 40)], ids=["summer", "fall-back"])
def test_polars_core_equals_replyboard_on_generated_data(tmp_path: Path, start, days) -> None:
    settings = load_settings()
    kwargs = {"start": start, "days": days} if start else {}
    write(generate(3000, seed=11, settings=settings, **kwargs), tmp_path / "data")
    files = [tmp_path / "data" / f"{n}.csv" for n in ("messages", "surveys", "agents", "lines")]
    db = tmp_path / "w.duckdb"
    run_load(db, files, settings, warm=False)
    ours = _ours(db, settings)
    theirs = plr.compute_core(files[0], settings)
    assert pr.mismatches(ours, theirs) == []
    assert theirs["inquiry_blocks"] > theirs["unanswered_inquiries"] > 0  # not vacuous
    assert theirs["first_response_time_median@business"] != theirs["first_response_time_median"]
    assert pr.compute_all(files, settings)["conversations"] == theirs["conversations"]  # and pandas agrees


@pytest.mark.parametrize("messages", ["response_times.csv", "weeks.csv"])
def test_polars_core_equals_replyboard_on_the_golden_fixtures(tmp_path: Path, messages: str) -> None:
    """The hand-built corner cases (weekend waits, lunch breaks, a 47 h gap...) with the golden team settings."""
    settings = team_settings()
    paths = [FIXTURES / "metrics" / messages, FIXTURES / "metrics" / "agents.csv"]
    db = tmp_path / "w.duckdb"
    run_load(db, paths, settings, warm=False)
    assert pr.mismatches(_ours(db, settings), plr.compute_core(paths[0], settings)) == []


def test_a_changed_rule_is_caught(tmp_path: Path) -> None:
    """The control: the same data with a shorter session gap gives other conversations than the warehouse's."""
    settings = team_settings()
    paths = [FIXTURES / "metrics" / "response_times.csv", FIXTURES / "metrics" / "agents.csv"]
    db = tmp_path / "w.duckdb"
    run_load(db, paths, settings, warm=False)
    other = settings.model_copy(update={"session_gap_hours": 0.01})
    assert pr.mismatches(_ours(db, settings), plr.compute_core(paths[0], other)) != []


def test_compare_times_both_sides_and_agrees(tmp_path: Path) -> None:
    """What make bench runs: both sides measured something, the same numbers."""
    settings = load_settings()
    write(generate(1500, seed=2, settings=settings), tmp_path / "data")
    files = [tmp_path / "data" / f"{n}.csv" for n in ("messages", "surveys", "agents", "lines")]
    run_load(tmp_path / "w.duckdb", files, settings, warm=False)
    ours, theirs, equal, note = plr.compare(tmp_path / "w.duckdb", files[0])
    assert ours > 0 and theirs > 0
    assert equal, note
