"""The read layer: the spec's validation pass, compiled SQL (snapshots, bound values), multi-dimension queries,
drill-down rows, explain, and the CLI commands built on them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl
import pytest

from etl.load import run_load
from metrics.__main__ import main
from metrics.compiler import CompileError, Filters, compile_metrics, compile_rows
from metrics.params import Params, ParamsError
from metrics.query import compute
from metrics.reads import busiest_matrix, share_of_team, value_histogram, weekday_occurrences, with_share
from metrics.registry import CATALOG, FACTS, MEASURES, METRICS, REGISTRY
from metrics.rows import parse_where, rows
from metrics.spec import Column, Dimension, Fact, Measure, Registry, SimpleMetric, cmp, eq, seg, validate
from replyboard import warehouse
from tests.helpers import FIXTURES, team_settings

SNAPSHOT = FIXTURES / "golden" / "compiled_sql.json"
FIX = FIXTURES / "metrics"


def compiled_snapshot() -> dict[str, list[dict]]:
    """Every metric's compiled SQL, calendar and business, total and split by agent and week."""
    out: dict[str, list[dict]] = {}
    for name in METRICS:
        for hours in ("calendar", "business"):
            for by in ((), ("agent", "week")):
                key = f"{name}/{hours}/{'+'.join(by) or 'total'}"
                out[key] = [
                    {"sql": q.sql, "params": {k: repr(v) for k, v in q.params.items()}, "needs": sorted(q.needs)}
                    for q in compile_metrics(REGISTRY, [name], by, Filters(), hours)  # type: ignore[arg-type]
                ]
    return out


def test_compiled_sql_matches_snapshot() -> None:
    """Any change to the SQL a metric runs shows up here (regenerate: python -m tests.test_read_layer)."""
    assert compiled_snapshot() == json.loads(SNAPSHOT.read_text())


# ---- the spec's validation pass ---------------------------------------------------------------------------


def test_the_shipped_registry_is_consistent() -> None:
    assert validate(REGISTRY) == []


def test_validation_collects_every_problem_at_once() -> None:
    fact = Fact(
        name="blocks",
        source="inquiry_blocks b",
        anchor="a",
        row="block",
        rows="blocks",
        columns=(Column(name="t", sql="b.started_local"), Column(name="x", sql="b.x", join="zz")),
        dimensions=("agent", "colour"),
        segments={"late": cmp("x", ">", 1), "bad": seg("nope")},
        row_id="block_id",
        row_columns=("t",),
    )
    broken = Registry(
        facts={"blocks": fact},
        dimensions={"agent": Dimension(name="agent", sql="agent_id", reads=("agent_id",), label="agent")},
        measures={
            "m1": Measure(name="m1", fact="blocks", agg="sum"),
            "m2": Measure(name="m2", fact="nowhere", agg="count"),
            "m3": Measure(name="m3", fact="blocks", agg="count", where=eq("missing_col", 1)),
        },
        metrics={
            "a": SimpleMetric(name="a", measure="m1", n="ghost", unit="count", better=None, description=""),
            "b": SimpleMetric(
                name="b", measure="m3", n="m3", unit="count", better=None, description="", value_column="nowhere"
            ),
        },
        params={},
    )
    problems = validate(broken)
    expected = [
        "fact blocks: column x reads join 'zz', which the fact does not declare",
        "fact blocks: unknown dimension 'colour'",
        "fact blocks: dimension agent reads 'agent_id', not a column",
        "fact blocks: drill-down column 'block_id' is not a column",
        "fact blocks segment late: column 'x'",  # x exists: no problem expected from it
        "fact blocks segment bad: unknown segment 'nope' on fact blocks",
        "measure m1: sum needs a column",
        "measure m2: unknown fact 'nowhere'",
        "measure m3: column 'missing_col' is not on fact blocks",
        "metric a: unknown measure 'ghost'",
        "metric b: column 'nowhere' is not on fact blocks",
    ]
    for text in expected:
        if text.endswith("column 'x'"):
            assert not any(p.startswith(text) for p in problems)
        else:
            assert text in problems, (text, problems)
    assert len(problems) == len(expected) - 1


def test_values_never_reach_the_sql_text() -> None:
    hostile = "x' OR 1=1; DROP TABLE messages; --"
    filters = Filters(lines=(hostile,), channels=(hostile,), agents=(hostile,), teams=(hostile,))
    for name in METRICS:
        for q in compile_metrics(REGISTRY, [name], ("agent",), filters, "business"):
            assert hostile not in q.sql and [hostile] in q.params.values()
        listing, count = compile_rows(REGISTRY, name, filters, where={"agent": hostile})
        assert hostile not in listing.sql and hostile not in count.sql


# ---- compute ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("rl") / "w.duckdb"
    files = [FIX / f for f in ("response_times.csv", "volume_surveys.csv", "volume_surveys_file.csv", "agents.csv")]
    report = run_load(db, files, team_settings())
    assert report.errors == []
    return db


def _con(db: Path):
    return warehouse.connect_readonly(db)


def test_multi_dimension_rows_carry_every_dimension_and_sum_to_the_single_split(demo: Path) -> None:
    con = _con(demo)
    try:
        both = compute(con, ["human_replies", "inbound_messages", "csat_responses"], by=("agent", "hour"))
        agent = compute(con, ["human_replies", "inbound_messages", "csat_responses"], by="agent")
        total = compute(con, ["human_replies", "inbound_messages", "csat_responses"]).row(0, named=True)
    finally:
        con.close()
    assert both.columns[:2] == ["agent", "hour"]
    summed = both.group_by("agent").agg(pl.col("human_replies", "inbound_messages", "csat_responses").sum())
    joined = agent.join(summed, on="agent", how="full", coalesce=True, nulls_equal=True, suffix="_sum")
    for col in ("human_replies", "inbound_messages", "csat_responses"):
        assert joined[col].fill_null(0).to_list() == joined[f"{col}_sum"].fill_null(0).to_list()
        assert both[col].sum() == total[col]
    # response_times.csv: a03 a08 a10 a12 a16 a18 a20; volume: m02 d02 d03 d05 d09 f02 e02 h02 k02
    assert total["human_replies"] == 7 + 9


def test_a_split_a_fact_lacks_is_one_clear_error(demo: Path) -> None:
    con = _con(demo)
    try:
        with pytest.raises(CompileError, match="reply_time_median cannot be split by direction"):
            compute(con, ["reply_time_median"], by=("agent", "direction"))
        with pytest.raises(CompileError, match="repeated"):
            compute(con, ["human_replies"], by=("agent", "agent"))
    finally:
        con.close()


@pytest.mark.parametrize(
    "bad",
    [
        {"target_minutes": float("inf")},
        {"target_minutes": float("nan")},
        {"target_minutes": -5},
        {"target_minutes": 0},
        {"hours": "lunar"},
        {"typing_allowance_seconds": -1},
    ],
)
def test_params_refuse_what_cannot_be_computed(bad: dict) -> None:
    with pytest.raises(ParamsError):
        Params(**bad)


# ---- drill-downs -------------------------------------------------------------------------------------------


def test_rows_behind_a_rate_say_which_count_and_add_up(demo: Path) -> None:
    con = _con(demo)
    try:
        value = compute(con, ["response_within_target_rate"], params=Params(target_minutes=10)).row(0, named=True)
        found = rows(con, "response_within_target_rate", params=Params(target_minutes=10), limit=None)
    finally:
        con.close()
    assert found.total == value["response_within_target_rate_n"] == found.frame.height
    assert found.frame["counted"].sum() / found.total == pytest.approx(value["response_within_target_rate"])
    assert found.value_column == "seconds" and "seconds" in found.frame.columns
    assert all(c.startswith("•") or c == "" for c in found.frame["contact_number"].to_list())


def test_rows_of_one_group_pages_and_orders(demo: Path) -> None:
    con = _con(demo)
    try:
        n = compute(con, ["reply_time_median"], by="agent", where={"agent": "ag_01"}).row(0, named=True)
        first = rows(con, "reply_time_median", where={"agent": "ag_01"}, order="value", descending=True, limit=2)
        second = rows(
            con, "reply_time_median", where={"agent": "ag_01"}, order="value", descending=True, limit=2, offset=2
        )
        everything = rows(con, "reply_time_median", where={"agent": "ag_01"}, order="value", limit=None)
    finally:
        con.close()
    assert first.total == second.total == everything.total == n["reply_time_median_n"]
    values = everything.frame["seconds"].to_list()
    assert values == sorted(values)
    assert first.frame["seconds"].to_list() + second.frame["seconds"].to_list() == sorted(values, reverse=True)[:4]
    assert set(everything.frame["agent_id"]) == {"ag_01"}


def test_no_value_group_is_its_own_group(demo: Path) -> None:
    con = _con(demo)
    try:
        by_agent = compute(con, ["inbound_messages"], by="agent")
        nobody = rows(con, "inbound_messages", where={"agent": None}, limit=None)
    finally:
        con.close()
    assert nobody.total == by_agent.filter(pl.col("agent").is_null())["inbound_messages"][0] > 0


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["agent=a1", "weekday=Friday", "hour=9"], {"agent": "a1", "weekday": 5, "hour": 9}),
        (["team="], {"team": None}),
        (["day=2026-10-20"], {"day": __import__("datetime").date(2026, 10, 20)}),
    ],
)
def test_where_values_are_typed(items: list[str], expected: dict) -> None:
    assert parse_where(items) == expected


@pytest.mark.parametrize("bad", ["agent", "colour=red", "hour=24", "weekday=Funday", "day=yesterday"])
def test_bad_where_is_a_clear_error(bad: str) -> None:
    with pytest.raises(CompileError):
        parse_where([bad])


# ---- figures built from metrics ----------------------------------------------------------------------------


def test_weekday_occurrences() -> None:
    from datetime import date

    assert weekday_occurrences(date(2026, 10, 5), date(2026, 10, 21)) == [3, 3, 3, 2, 2, 2, 2]
    assert sum(weekday_occurrences(date(2026, 1, 1), date(2026, 12, 31))) == 365


def test_histogram_counts_every_answered_block(demo: Path) -> None:
    con = _con(demo)
    try:
        hist = value_histogram(con, "reply_time_median", [60, 600, 3600])
        n = compute(con, ["reply_time_median"]).row(0, named=True)["reply_time_median_n"]
        busy = busiest_matrix(con, Filters(), "inbound_messages")
        inbound = compute(con, ["inbound_messages"]).row(0, named=True)["inbound_messages"]
    finally:
        con.close()
    assert hist["n"].sum() == n
    assert busy["n"].sum() == inbound and busy.height == 7 * 24


def test_rows_of_one_histogram_bucket(demo: Path) -> None:
    edges = (60, 600, 3600)
    con = _con(demo)
    try:
        hist = value_histogram(con, "reply_time_median", edges)
        bounds = list(zip((None, *edges), (*edges, None), strict=True))
        buckets = [rows(con, "reply_time_median", value_range=b, limit=None) for b in bounds]
        with pytest.raises(CompileError, match="no value of their own"):
            rows(con, "conversations", value_range=(1, 2))
    finally:
        con.close()
    counts = dict(zip(hist["bucket"].to_list(), hist["n"].to_list(), strict=True))
    assert [found.total for found in buckets] == [counts.get(i, 0) for i in range(len(bounds))]
    for (low, high), found in zip(bounds, buckets, strict=True):  # bucket k: low <= value < high
        values = found.frame["seconds"].to_list()
        assert all((low is None or v >= low) and (high is None or v < high) for v in values)


@pytest.mark.parametrize("hours", ["calendar", "business"])
@pytest.mark.parametrize(
    ("misses", "rate"),
    [("same_day_misses", "same_business_day_response_rate"), ("follow_up_gaps", "follow_up_within_2h_rate")],
)
def test_a_queue_holds_exactly_its_rate_s_misses(demo: Path, hours: str, misses: str, rate: str) -> None:
    params = Params(hours=hours)  # type: ignore[arg-type]
    con = _con(demo)
    try:
        by_agent = compute(con, [misses, rate], by="agent", params=params)
        judged = rows(con, rate, params=params, limit=None).frame
        queue = rows(con, misses, params=params, limit=None).frame
    finally:
        con.close()
    missed = judged.filter(~pl.col("counted"))
    assert sorted(queue["block_id"]) == sorted(missed["block_id"]) and queue.height > 0
    for row in by_agent.iter_rows(named=True):
        assert row[misses] == round(row[f"{rate}_n"] * (1 - (row[rate] or 0))), row


def test_waiting_rows_in_business_time(tmp_path: Path) -> None:
    """The unanswered blocks of response_times.csv (tests/test_metrics.py, B5 B9 B10) at the end of the data,
    Tue 17:30: B5 waited 27 h 30 min, of which 10 h open; B9 2 h 20 min, of which 1 h 50 min open; B10 0."""
    db = tmp_path / "w.duckdb"
    assert run_load(db, [FIX / "response_times.csv", FIX / "agents.csv"], team_settings()).errors == []
    con = _con(db)
    try:
        calendar = rows(con, "unanswered_inquiries", order="value", descending=True)
        business = rows(con, "unanswered_inquiries", order="value", descending=True, params=Params(hours="business"))
    finally:
        con.close()
    assert calendar.frame["waiting_seconds"].to_list() == [99000, 8400, 0]
    assert business.frame["waiting_seconds"].to_list() == [36000, 6600, 0]
    assert business.frame["block_id"].to_list() == calendar.frame["block_id"].to_list()


def test_share_of_team_ignores_the_agent_filter(demo: Path) -> None:
    con = _con(demo)
    try:
        whole = share_of_team(con, "human_replies", Filters())
        one = share_of_team(con, "human_replies", Filters(agents=("ag_01",)))
    finally:
        con.close()
    assert one.height == 1
    assert one["share_of_team"][0] == whole.filter(pl.col("agent") == "ag_01")["share_of_team"][0] < 1
    frame = with_share(pl.DataFrame({"g": ["a", "a", "b"], "v": [1, 3, 0]}), "v", within="g")
    assert frame["share_of_v"].to_list() == [0.25, 0.75, None]


def test_testimonials_are_high_scores_with_words(tmp_path: Path) -> None:
    surveys = tmp_path / "surveys.csv"
    rows_in = [
        ("t1", "9 - Maria was wonderful, thanks!", "csat"),  # a testimonial
        ("t2", "10 thanks", "nps"),  # no words beyond the number and thanks
        ("t3", "8/9", "csat"),  # no words
        ("t4", "5 terrible service", "csat"),  # words, but below satisfied_at_least (8)
        ("t5", "I'd say 9", "csat"),  # only the rating phrase
        ("t6", "ten, best support ever", "nps"),  # a testimonial
    ]
    with surveys.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["response_id", "received_at", "contact_number", "survey", "reply_text", "line_number"])
        for i, (rid, text, survey) in enumerate(rows_in):
            w.writerow([rid, f"2026-10-2{i}T15:00:00Z", "+15552000001", survey, text, "+15550100001"])
    db = tmp_path / "w.duckdb"
    run_load(db, [FIX / "response_times.csv", surveys], team_settings())
    con = _con(db)
    try:
        got = compute(con, ["testimonial_replies"]).row(0, named=True)
        listed = rows(con, "testimonial_replies", extra_columns=("reply_text",), limit=None)
    finally:
        con.close()
    assert got["testimonial_replies"] == 2
    assert sorted(listed.frame["response_id"]) == ["t1", "t6"]


# ---- the CLI -----------------------------------------------------------------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_report_by_two_dimensions(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys,
        "report",
        "--db",
        str(demo),
        "--metric",
        "human_replies",
        "--by",
        "agent",
        "--by",
        "weekday",
        "--format",
        "json",
        "--with-n",
    )
    assert code == 0
    data = json.loads(out)
    assert {"agent", "weekday", "human_replies", "human_replies_n"} == set(data[0])
    assert sum(r["human_replies"] for r in data) == 16


def test_rows_cli_json_and_csv(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys,
        "rows",
        "--db",
        str(demo),
        "--metric",
        "reply_time_median",
        "--where",
        "agent=ag_01",
        "--format",
        "json",
        "--limit",
        "2",
    )
    data = json.loads(out)
    assert code == 0 and len(data) == 2 and "of" in err and "inquiry blocks" in err
    assert {"block_id", "started_at", "local_time", "line_number", "agent_id", "contact_number", "seconds"} <= set(
        data[0]
    )
    code, out, _ = run_cli(capsys, "rows", "--db", str(demo), "--metric", "csat_mean", "--format", "csv", "--all")
    assert code == 0
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert len(parsed) == compute_n(demo, "csat_mean") and "score" in parsed[0]


def compute_n(db: Path, name: str) -> int:
    con = _con(db)
    try:
        return int(compute(con, [name]).row(0, named=True)[f"{name}_n"])
    finally:
        con.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "nope"], "unknown metric"),
        (["--metric", "human_replies", "--where", "colour=red"], "unknown dimension"),
        (["--metric", "reply_time_median", "--where", "direction=inbound"], "cannot be split by direction"),
    ],
)
def test_rows_cli_errors(demo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, out, err = run_cli(capsys, "rows", "--db", str(demo), *args)
    assert code == 2 and out == "" and message in err and err.startswith("error: ")


def test_explain_shows_definition_and_sql(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "explain", "same_business_day_response_rate", "--by", "agent", "--hours", "business")
    assert code == 0
    assert "numerator: blocks_same_day" in out and "denominator (= n)" in out
    assert 'AS "agent"' in out and "$as_of" in out and "FROM inquiry_blocks b" in out
    code, out, _ = run_cli(capsys, "explain", "reply_time_median", "--hours", "business", "--format", "json")
    data = json.loads(out)
    assert code == 0 and "b.business_seconds" in data["queries"][0]["sql"]
    code, _, err = run_cli(capsys, "explain", "nope")
    assert code == 2 and "unknown metric nope" in err


def test_catalog_describes_every_metric() -> None:
    assert set(CATALOG) == set(METRICS)
    for info in CATALOG.values():
        assert info.fact in FACTS and info.dimensions and info.aggregation
    assert {m.fact for m in MEASURES.values()} <= set(FACTS)


if __name__ == "__main__":  # regenerate the compiled-SQL snapshot after an intended change
    SNAPSHOT.write_text(json.dumps(compiled_snapshot(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT}")
