"""The scale curve's data and bookkeeping (benchmarks/scale.py): a repeated set is that many independent copies,
and a point measured later keeps the other sizes' points. Timings are never asserted (issue 7)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from benchmarks import run as bench
from benchmarks import scale
from etl.load import run_load
from metrics.query import compute
from replyboard.settings import load_settings
from replyboard.warehouse import connect_readonly
from sample_data.generate import generate, write

COUNTS = [
    "inbound_messages",
    "conversations",
    "inquiry_blocks",
    "unanswered_inquiries",
    "survey_replies",
    "csat_responses",
]
RATES = ["same_business_day_response_rate", "first_response_time_median", "csat_mean"]  # the same in each copy


def _files(folder: Path) -> list[Path]:
    return [folder / f"{name}.csv" for name in ("messages", "surveys", "agents", "lines")]


def _counts(db: Path) -> dict[str, object]:
    con = connect_readonly(db)
    try:
        return compute(con, COUNTS + RATES).select(COUNTS + RATES).row(0, named=True)
    finally:
        con.close()


def test_a_repeat_is_independent_copies(tmp_path: Path) -> None:
    base = tmp_path / "base"
    write(generate(800, seed=5, settings=load_settings()), base)
    copies = scale.repeat_set(base, 3, tmp_path / "x3")
    con = duckdb.connect()
    for name, key in (("messages", "message_id"), ("surveys", "response_id")):
        (one,) = con.execute(f"SELECT count(*) FROM read_csv('{base / name}.csv')").fetchone() or ()
        n, ids, contacts = (
            con.execute(
                f"SELECT count(*), count(DISTINCT {key}), count(DISTINCT contact_number) FROM read_csv('{copies / name}.csv')"
            ).fetchone()
            or ()
        )
        (one_contacts,) = (
            con.execute(f"SELECT count(DISTINCT contact_number) FROM read_csv('{base / name}.csv')").fetchone() or ()
        )
        assert (n, ids, contacts) == (3 * one, 3 * one, 3 * one_contacts), name
    settings = load_settings()
    run_load(tmp_path / "one.duckdb", _files(base), settings)
    run_load(tmp_path / "three.duckdb", _files(copies), settings)
    one, three = _counts(tmp_path / "one.duckdb"), _counts(tmp_path / "three.duckdb")
    assert all(one[m] for m in COUNTS), one  # each count has something to triple
    assert three == {**{m: 3 * one[m] for m in COUNTS}, **{m: one[m] for m in RATES}}

    # the same copies one file each, one load each (how the 100M point is loaded): the same warehouse figures
    parts = scale.repeat_set(base, 3, tmp_path / "x3-split", split=True)
    batches = scale.load_batches(parts)
    assert [[p.name for p in b] for b in batches] == [
        ["messages-0.csv", "surveys-0.csv", "agents.csv", "lines.csv"],
        ["messages-1.csv", "surveys-1.csv"],
        ["messages-2.csv", "surveys-2.csv"],
    ]
    for batch in batches:
        run_load(tmp_path / "split.duckdb", batch, settings)
    assert _counts(tmp_path / "split.duckdb") == three


def test_a_point_measured_later_keeps_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    monkeypatch.setattr(scale, "CURVE", tmp_path / "curve.json")
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n| step |\n\n## Scale curve\n\nold\n\n## Notes\n\nkept\n")
    monkeypatch.setattr(bench, "RESULTS", results)
    monkeypatch.setattr(scale, "GENERATED_UP_TO", 600)  # 1,200 is then a 2x repeat of the 600 set
    bench.run_points([600])
    bench.run_points([1200])
    curve = scale.load_curve()
    assert sorted(curve) == [600, 1200]
    assert curve[1200].source == "2x the 600-message set" and curve[600].source == "generator"
    assert curve[1200].rows_loaded > curve[600].rows_loaded
    assert all(p.peak_disk_bytes is not None and p.pages_first_max_s is not None for p in curve.values())
    text = results.read_text()
    assert "old" not in text and text.endswith("## Notes\n\nkept\n") and text.startswith("# Benchmark results")
    assert "| 600 |" in text and "| 1,200 |" in text and "Cost growth from 600 to 1,200" in text
    assert json.loads((tmp_path / "curve.json").read_text())[0]["size"] == 600
    bench.run_points([600], reads_only=True)  # reads again on the same warehouse; its load's figures kept
    again = scale.load_curve()[600]
    assert again.etl_s == curve[600].etl_s and again.reads_measured_at and again.pages_first_max_s is not None
    assert "; reads " in results.read_text()


def test_points_above_the_generated_size_must_repeat_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "WORK", tmp_path / "work")
    monkeypatch.setattr(scale, "GENERATED_UP_TO", 600)
    with pytest.raises(SystemExit, match="multiple"):
        bench.data_for(1000)
