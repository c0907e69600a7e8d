"""Agents: replies, conversations, texting time, response medians and CSAT per agent; workload by hour;
each agent's share of the team; one agent in detail."""

from dataclasses import replace

import polars as pl
import streamlit as st

from charts import figures
from charts.figures import Drill
from pages import common

PER_AGENT = [
    "human_replies",
    "conversations_handled",
    "active_texting_seconds",
    "first_response_time_median",
    "reply_time_median",
    "csat_mean",
    "csat_responses",
]

st.title("Agents")
if common.require_data():
    st.caption(
        f"Response medians in **{common.hours_label()}**; a reply's time goes to the agent who replied, a survey "
        "score to the agent who sent the last human reply before the survey. Active texting time: each human "
        f"reply stands for {common.settings().typing_allowance_seconds} s of typing, overlapping spans merged. "
        "Click a column header to sort."
    )
    agents = common.metrics(PER_AGENT, by="agent").filter(pl.col("agent").is_not_null())
    if agents.is_empty():
        common.empty()
    else:
        shares = common.share_of_team("human_replies").select("agent", "share_of_team")
        agents = common.named(common.with_low_n(agents, {"csat_mean": "CSAT"})).join(shares, on="agent", how="left")
        table = agents.with_columns(
            (pl.col("active_texting_seconds") / 3600).round(2).alias("active_texting_hours"),
            (pl.col("first_response_time_median") / 60).round(1),
            (pl.col("reply_time_median") / 60).round(1),
            pl.col("csat_mean").round(2),
            pl.col("share_of_team").alias("share_of_team_replies"),
        ).select(
            "name",
            "team",
            "human_replies",
            "share_of_team_replies",
            "conversations_handled",
            "active_texting_hours",
            "first_response_time_median",
            "first_response_time_median_n",
            "reply_time_median",
            "reply_time_median_n",
            "csat_mean",
            "csat_responses",
            "low n",
            "agent",
        )
        number = st.column_config.NumberColumn
        common.drill_table(
            table.sort("human_replies", descending=True),
            "agents",
            key="agents-table",
            groups={"agent": "agent"},
            metrics={c: c for c in PER_AGENT}
            | {
                "share_of_team_replies": "human_replies",
                "active_texting_hours": "active_texting_seconds",
                "first_response_time_median_n": "first_response_time_median",
                "reply_time_median_n": "reply_time_median",
            },
            default="human_replies",
            column_config={
                "name": "agent",
                "human_replies": "human replies",
                "share_of_team_replies": number("share of team", format="percent"),
                "conversations_handled": "conversations",
                "active_texting_hours": number("active texting", format="%.1f h"),
                "first_response_time_median": number("first response median", format="%.1f min"),
                "first_response_time_median_n": "first responses (n)",
                "reply_time_median": number("reply median", format="%.1f min"),
                "reply_time_median_n": "replies timed (n)",
                "csat_mean": number("CSAT mean", format="%.2f"),
                "csat_responses": "CSAT (n)",
                "low n": st.column_config.TextColumn(
                    "low n", help=f"figures of this agent made from fewer than {common.min_n()} replies"
                ),
                "agent": "id",
            },
        )

        left, right = st.columns(2)
        with left:
            by_hour = (
                common.metrics(["human_replies"], by=("agent", "hour"))
                .filter(pl.col("agent").is_not_null() & (pl.col("human_replies") > 0))
                .select("agent", "hour", pl.col("human_replies").alias("replies"))
            )
            order = table.sort("name")["agent"].to_list()
            by_hour = common.named(by_hour).sort(
                pl.col("agent").replace_strict(
                    {a: i for i, a in enumerate(order)}, default=len(order), return_dtype=pl.Int64
                ),
                "hour",
            )
            common.show_figure(
                figures.matrix_heatmap(
                    by_hour,
                    x="hour",
                    y="name",
                    z="replies",
                    x_values=list(range(24)),
                    x_title="hour (team timezone)",
                    title="Human replies by hour",
                    hover="%{y}, %{x}:00: %{z:,} replies",
                    drill=Drill.of("human_replies", groups={"agent": "agent", "hour": "hour"}),
                )
            )
            common.download_csv(by_hour, "agent_replies_by_hour")
        with right:
            common.show_figure(
                figures.stacked_bars(
                    table.sort("team", "name").with_columns(pl.col("team").fill_null("no team")),
                    x="name",
                    y="share_of_team_replies",
                    stack="team",
                    horizontal=True,
                    percent=True,
                    title="Each agent's share of their team's human replies",
                    y_title="share of team replies",
                    drill=Drill.of("human_replies", groups={"agent": "agent"}),
                )
            )

        st.subheader("One agent")
        labels = dict(zip(table["agent"].to_list(), table["name"].to_list(), strict=True))
        chosen = st.selectbox(
            "Agent", sorted(labels, key=lambda a: labels[a] or a), format_func=labels.get, key="agent_detail"
        )
        if chosen:
            f = replace(common.filters(), agents=(chosen,), teams=())
            period = common.trend_period()
            trend = common.metrics(["human_replies", "reply_time_median", "first_response_time_median"], by=period, f=f)
            a, b = st.columns(2)
            with a:
                common.show_figure(
                    figures.bars(
                        trend,
                        x=period,
                        y="human_replies",
                        y_title="replies",
                        title=f"{labels[chosen]}: human replies per {period}",
                        drill=Drill.of(groups={period: period}, fixed={"agent": chosen}),
                    )
                )
            with b:
                minutes = trend.with_columns(
                    (pl.col(c) / 60).round(1) for c in ("reply_time_median", "first_response_time_median")
                )
                common.show_figure(
                    figures.lines_over_time(
                        minutes,
                        x=period,
                        y_title=f"minutes ({common.hours_label()})",
                        log_y=True,
                        series={
                            "reply_time_median": "reply median",
                            "first_response_time_median": "first response median",
                        },
                        title=f"{labels[chosen]}: response time median per {period}",
                        drill=Drill.of(groups={period: period}, fixed={"agent": chosen}),
                    )
                )
            common.download_csv(trend, f"agent_{chosen}_trend", key="dl-agent-trend")
            recent = common.agent_conversations(chosen)
            st.markdown(f"**Recent conversations {labels[chosen]} replied in** (newest first, at most 25)")
            if recent.is_empty():
                common.empty("No conversations for this agent with these filters.")
            else:
                common.conversation_table(
                    common.named(recent),
                    "agent_recent_conversations",
                    key="agent-recent",
                    ids=recent["conversation_id"].to_list(),
                    column_config={
                        "contact_number": "contact",
                        "inbound": "from customer",
                        "human_replies": "human replies",
                        "first_agent": "first agent",
                        "replies_by_agent": f"by {labels[chosen]}",
                    },
                )
