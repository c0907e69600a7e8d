"""Busiest times: when customers text (weekday x hour), daily volume, and volume by line."""

import polars as pl
import streamlit as st

from charts import figures, theme
from charts.figures import Drill
from metrics.reads import with_share
from pages import common

MEASURES = {"inbound_messages": "Inbound texts", "conversations": "New conversations"}

st.title("Busiest times")
if common.require_data():
    f = common.filters()
    if f.agents or f.teams:
        st.caption(
            "Agent and team filters select by owner: a customer's text counts for the owner of its conversation "
            "(and its team, else the line's team); clear those filters to see all customer demand."
        )
    measure = st.segmented_control(
        "Count",
        list(MEASURES),
        default="inbound_messages",
        required=True,
        format_func=MEASURES.__getitem__,
        key="busiest_measure",
    )
    matrix = common.busiest(measure)
    if matrix["n"].sum() == 0:
        common.empty()
    else:
        peak = matrix.sort("per_week", descending=True).row(0, named=True)
        st.caption(
            f"Average per week in the team timezone: each cell's count ÷ how often that weekday occurs in the "
            f"window. Busiest: **{peak['weekday_name']} {peak['hour']:02d}:00** with {peak['per_week']:.1f} per "
            f"week (n = {matrix['n'].sum():,})."
        )
    common.show_figure(
        figures.heatmap(
            matrix,
            title=f"{MEASURES[measure]} per week, weekday × hour (click a cell for its rows)",
            drill=Drill.of(measure),
        )
    )
    common.download_csv(
        matrix.select(pl.col("weekday_name").alias("weekday"), "hour", "n", "per_week"), f"busiest_{measure}"
    )

    st.subheader("Daily volume")
    daily = common.metrics(["inbound_messages", "outbound_messages", "conversations"], by="day")
    common.show_figure(
        figures.volume_over_time(daily, x="day", title="Texts per day", drill=Drill.of(groups={"day": "day"}))
    )
    common.download_csv(daily, "daily_volume")

    st.subheader("By line")
    per_day = common.metrics(["inbound_messages"], by=("day", "line")).filter(pl.col("inbound_messages") > 0)
    common.show_figure(
        figures.stacked_bars(
            common.named(per_day),
            x="day",
            y="inbound_messages",
            stack="line",
            title="Inbound texts per day by line",
            y_title="texts",
            drill=Drill.of(groups={"day": "day", "line": "line"}),
            colours=theme.category_colours(common.line_labels().values()),  # a line keeps its colour
        )
    )
    by_line = common.metrics(
        ["inbound_messages", "outbound_messages", "human_replies", "conversations", "unanswered_inquiries"], by="line"
    )
    if by_line.is_empty():
        common.empty()
    else:
        by_line = common.named(by_line)
        by_line = with_share(by_line, "inbound_messages", name="share_of_inbound")
        counts = ["inbound_messages", "outbound_messages", "human_replies", "conversations", "unanswered_inquiries"]
        Col = common.Col
        common.drill_table(
            by_line.select("line", "inbound_messages", "share_of_inbound", *counts[1:]),
            "volume_by_line",
            key="busiest-by-line",
            groups={"line": "line"},
            metrics={c: c for c in counts} | {"share_of_inbound": "inbound_messages"},
            default="inbound_messages",
            columns={
                "line": Col("line"),
                "inbound_messages": Col("texts received", "count"),
                "share_of_inbound": Col("share of received", "ratio"),
                "outbound_messages": Col("texts sent", "count"),
                "human_replies": Col("human replies", "count"),
                "conversations": Col("conversations", "count"),
                "unanswered_inquiries": Col("unanswered", "count"),
            },
        )
