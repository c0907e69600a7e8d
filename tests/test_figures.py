"""Figures carry, in each point's customdata, the query of the rows behind that point (the dashboard opens it
on a click); hover texts keep working with the drill data next to them. Trends show each point's n, partial
periods and figures below min_n."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from charts import figures
from charts.figures import DRILL_META, Drill, drill_query, point_ref
from metrics.rows import parse_where


def refs(trace) -> list[dict]:
    return [drill_query(point_ref({"customdata": c})) for c in trace.customdata]


def test_a_drill_query_round_trips_through_the_rows_page_parser() -> None:
    ref = Drill.of("reply_time_median", fixed={"agent": None}).ref(None, {}, target=15, min=None)
    query = drill_query(ref)
    assert query == {"metric": "reply_time_median", "where": ["agent="], "target": "15"}
    assert parse_where(query["where"]) == {"agent": None}  # the no-agent group
    assert point_ref({"customdata": ["n", ref]}) == ref and point_ref({"customdata": 3}) is None
    with pytest.raises(ValueError, match="needs a metric"):
        Drill.of().ref(None, {})


def test_volume_bars_open_their_metric_and_period() -> None:
    frame = pl.DataFrame(
        {"day": [date(2026, 9, 1), date(2026, 9, 2)], "inbound_messages": [3, 4], "outbound_messages": [1, 2]}
    )
    fig = figures.volume_over_time(frame, drill=Drill.of(groups={"day": "day"}))
    assert fig.layout.meta == DRILL_META
    inbound, outbound = (refs(t) for t in fig.data)
    assert inbound[1] == {"metric": "inbound_messages", "where": ["day=2026-09-02"]}
    assert outbound[0] == {"metric": "outbound_messages", "where": ["day=2026-09-01"]}
    assert figures.volume_over_time(frame).layout.meta is None  # no drill: a plain chart


def test_trend_points_keep_their_n_on_hover() -> None:
    frame = pl.DataFrame({"week": [date(2026, 9, 7)], "nps": [12.5], "nps_n": [40]})
    fig = figures.lines_over_time(
        frame,
        x="week",
        series={"nps": "NPS"},
        title="t",
        drill=Drill.of(groups={"week": "week"}, fixed={"agent": "a1"}),
    )
    (trace,) = fig.data
    assert trace.customdata[0][0] == 40 and "%{customdata[0]:,}" in trace.hovertemplate
    assert refs(trace) == [{"metric": "nps", "where": ["week=2026-09-07", "agent=a1"]}]


def test_heatmap_cells_are_clickable_through_an_overlay() -> None:
    names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    frame = pl.DataFrame(
        {
            "weekday": [d for d in range(1, 8) for _ in range(24)],
            "weekday_name": [names[d - 1] for d in range(1, 8) for _ in range(24)],
            "hour": list(range(24)) * 7,
            "n": [1] * 168,
            "per_week": [0.5] * 168,
        }
    )
    fig = figures.heatmap(frame, drill=Drill.of("conversations"))
    heat, overlay = fig.data
    assert heat.hoverinfo == "skip" and overlay.marker.opacity == 0 and len(overlay.customdata) == 168
    cell = overlay.x.index(9) if isinstance(overlay.x, list) else list(overlay.x).index(9)
    assert refs(overlay)[cell] == {"metric": "conversations", "where": ["weekday=Monday", "hour=9"]}
    assert parse_where(refs(overlay)[cell]["where"]) == {"weekday": 1, "hour": 9}


def test_agent_hour_matrix_cells_carry_the_agent_id_not_its_name() -> None:
    frame = pl.DataFrame({"agent": ["a1", "a2"], "name": ["Ann", "Bo"], "hour": [9, 10], "replies": [3, 4]})
    fig = figures.matrix_heatmap(
        frame, x="hour", y="name", z="replies", title="t", drill=Drill.of("human_replies", groups={"agent": "agent"})
    )
    found = [parse_where(r["where"]) for r in refs(fig.data[1])]
    assert {"agent": "a2", "hour": 9} in found and len(found) == 4  # an empty cell opens too


def test_distribution_bars_open_their_bucket_and_scores_their_score() -> None:
    buckets = pl.DataFrame({"bucket": [0, 3], "n": [5, 5]})
    fig = figures.duration_distribution(buckets, title="t", drill=Drill.of("reply_time_median"))
    found = refs(fig.data[0])
    assert found[0] == {"metric": "reply_time_median", "max": "300"}
    assert found[3] == {"metric": "reply_time_median", "min": "1800", "max": "3600"}
    assert found[-1] == {"metric": "reply_time_median", "min": "172800"}
    assert "%{customdata[0]:.1%}" in fig.data[0].hovertemplate

    scores = pl.DataFrame({"score": [3, 9], "responses": [1, 2]})
    fig = figures.score_distribution(
        scores,
        low=0,
        high=10,
        bands=[("detractors", 0, 6), ("passives", 7, 8), ("promoters", 9, 10)],
        title="t",
        drill=Drill.of("survey_replies_valid", fixed={"survey": "nps"}),
    )
    promoters = refs(fig.data[2])
    assert promoters[0]["metric"] == "survey_replies_valid"
    assert parse_where(promoters[0]["where"]) == {"survey": "nps", "score": "9"}


def test_bars_take_each_row_s_own_metric_and_extra() -> None:
    frame = pl.DataFrame(
        {
            "target": ["≤ 15 min", "same business day"],
            "share": [0.5, 0.9],
            "drill_metric": ["response_within_target_rate", "same_business_day_response_rate"],
            "drill_extra": ["target=15", ""],
        }
    )
    fig = figures.bars(frame, x="target", y="share", title="t", drill=Drill.of(order="value"))
    assert refs(fig.data[0]) == [
        {"metric": "response_within_target_rate", "order": "value", "target": "15"},
        {"metric": "same_business_day_response_rate", "order": "value"},
    ]


# ---- partial periods, low n and each point's n (issue 13) ----------------------------------------------


WEEKS = pl.DataFrame(
    {
        "week": [date(2026, 7, 27), date(2026, 8, 3), date(2026, 8, 10)],
        "partial": [True, False, False],
        "csat_satisfied_rate": [1.0, 0.61, 0.55],
        "csat_satisfied_rate_n": [3, 71, 65],
        "csat_satisfied_rate_low_n": [True, False, False],
        "nps": [50.0, 35.3, 20.0],
        "nps_n": [16, 17, 2],
        "nps_low_n": [False, False, True],
    }
)


def test_a_trend_marks_partial_periods_and_low_n_points_and_writes_each_n() -> None:
    fig = figures.lines_over_time(
        WEEKS, x="week", series={"csat_satisfied_rate": "satisfied", "nps": "NPS"}, title="t", show_n=True
    )
    satisfied, nps = fig.data
    assert list(satisfied.marker.symbol) == ["circle-open", "circle", "circle"]  # the partial first week
    assert list(nps.marker.symbol) == ["circle-open", "circle", "circle-open"]  # partial, and n = 2 < min_n
    assert list(satisfied.text) == ["n=3", "n=71", "n=65"]
    assert [tuple(c) for c in nps.customdata] == [(16, "; partial week"), (17, ""), (2, "; low n")]
    assert "n = %{customdata[0]:,}%{customdata[1]}" in nps.hovertemplate


def test_without_flags_a_trend_is_drawn_as_before() -> None:
    plain = WEEKS.select("week", "nps", "nps_n")
    (line,) = figures.lines_over_time(plain, x="week", series={"nps": "NPS"}, title="t").data
    assert list(line.marker.symbol) == ["circle"] * 3 and line.text is None and line.mode == "lines+markers"


def test_volume_fades_partial_periods() -> None:
    volume = pl.DataFrame(
        {
            "week": [date(2026, 7, 27), date(2026, 8, 3)],
            "inbound_messages": [90, 1518],
            "outbound_messages": [80, 1400],
            "partial": [True, False],
        }
    )
    inbound, outbound = figures.volume_over_time(volume, x="week").data
    assert list(inbound.marker.opacity) == [0.4, 1.0] == list(outbound.marker.opacity)
    assert "partial week" in inbound.customdata[0][0] and inbound.customdata[1] == [""]
