"""My stats (agents): the signed-in agent's own figures and trend against their team's median agent.

The team's median is computed in the read layer (metrics.reads.against_team_median) over the team's agents;
only that number reaches this page: no other agent's name or value. Every figure links to the agent's own rows.
"""

from collections.abc import Callable

import polars as pl
import streamlit as st

from charts import figures
from charts.figures import Drill
from pages import common

MINE: dict[str, tuple[str, Callable[[float | None], str]]] = {
    "human_replies": ("Replies", common.fmt_number),
    "conversations_handled": ("Conversations", common.fmt_number),
    "reply_time_median": ("Reply time (median)", common.fmt_duration),
    "first_response_time_median": ("First response (median)", common.fmt_duration),
    "csat_mean": ("CSAT (mean)", lambda v: common.fmt_number(v, 2)),
}
LOWER_IS_BETTER = {"reply_time_median", "first_response_time_median"}

common.require_role("agent")
st.title("My stats")
if common.require_data():
    names = list(MINE)
    totals, team = common.against_team(names)
    row = totals.row(0, named=True) if totals.height else {}
    st.caption(
        f"Your figures in the sidebar's window ({common.hours_label()}), each against the median agent of "
        + (f"team **{team}** ({row.get('team_agents', 0)} agents with figures)" if team else "your team (none set)")
        + ": the median is worked out on the server, other agents' figures never reach this page."
    )
    cols = st.columns(len(MINE))
    for col, (name, (label, fmt)) in zip(cols, MINE.items(), strict=True):
        mine, median = row.get(name), row.get(f"{name}_team_median")
        delta = None
        if mine is not None and median is not None:
            delta = f"{'+' if mine >= median else '-'}{fmt(abs(mine - median))} (team {fmt(median)})"
        common.kpi(
            col,
            label,
            fmt(mine),
            name,
            row.get(f"{name}_n"),
            delta=delta,
            delta_color="inverse" if name in LOWER_IS_BETTER else "normal",
            help=f"{common.describe(name)} Team median: {fmt(median)}.",
        )

    period = common.trend_period()
    trend, _ = common.against_team(names, by=period)
    st.subheader(f"Per {period}, against the team's median")
    if trend.is_empty():
        common.empty("No figures of yours in this window.")
    else:
        left, right = st.columns(2)
        with left:
            common.show_figure(
                figures.lines_over_time(
                    trend,
                    x=period,
                    series={"human_replies": "you", "human_replies_team_median": "team median"},
                    title=f"Replies per {period}",
                    y_title="replies",
                    drill=Drill.of("human_replies", groups={period: period}),
                )
            )
        with right:
            minutes = trend.with_columns(
                (pl.col(c) / 60).round(1) for c in ("reply_time_median", "reply_time_median_team_median")
            )
            common.show_figure(
                figures.lines_over_time(
                    minutes,
                    x=period,
                    series={"reply_time_median": "you", "reply_time_median_team_median": "team median"},
                    title=f"Reply time median per {period}",
                    y_title=f"minutes ({common.hours_label()})",
                    log_y=True,
                    drill=Drill.of("reply_time_median", groups={period: period}),
                )
            )
        common.show_figure(
            figures.lines_over_time(
                trend,
                x=period,
                series={"csat_mean": "you", "csat_mean_team_median": "team median"},
                title=f"CSAT mean per {period}",
                y_title="CSAT",
                drill=Drill.of("csat_mean", groups={period: period}),
            )
        )
        common.download_csv(trend, "my_stats", key="dl-my-stats")
