"""Agents: replies, conversations, texting time, response medians and CSAT per agent; workload by hour;
each agent's share of the team; one agent in detail."""

from dataclasses import replace

import polars as pl
import streamlit as st

from charts import figures, theme
from charts.figures import Drill
from pages import common

TOP = 12  # agents drawn in the charts by default: the busiest; the others are picked by name
PER_AGENT = [
    "human_replies",
    "conversations_handled",
    "active_texting_seconds",
    "first_response_time_median",
    "reply_time_median",
    "unanswered_inquiries",
    "same_business_day_response_rate",
    "csat_mean",
    "csat_responses",
]

st.title("Agents")
if common.require_data():
    st.caption(
        f"Response medians in **{common.hours_label()}**. Inquiry blocks, their reply times and the unanswered ones, "
        "and survey scores, go to the conversation's owner: the agent the source assigns, else the agent of its "
        f"first human reply; **{theme.UNASSIGNED}** is what no agent owns yet (so the rows add up to the team's "
        "figures); replies and texting time go to who sent them. Active texting time: each human "
        f"reply stands for {common.settings().typing_allowance_seconds} s of typing, overlapping spans merged. "
        "Click a column header to sort."
    )
    agents = common.metrics(PER_AGENT, by="agent")
    if agents.is_empty():
        common.empty()
    else:
        shares = common.share_of_team("human_replies").select("agent", "share_of_team")
        agents = common.named(
            common.with_low_n(agents, {"csat_mean": "CSAT", "same_business_day_response_rate": "same day"})
        ).join(shares, on="agent", how="left")
        table = agents.rename({"share_of_team": "share_of_team_replies"}).select(
            "name",
            "team",
            "human_replies",
            "share_of_team_replies",
            "conversations_handled",
            "active_texting_seconds",
            "first_response_time_median",
            "first_response_time_median_n",
            "reply_time_median",
            "reply_time_median_n",
            "unanswered_inquiries",
            "same_business_day_response_rate",
            "csat_mean",
            "csat_responses",
            "low n",
            "agent",
        )
        Col = common.Col
        common.drill_table(
            table.sort("human_replies", descending=True),
            "agents",
            key="agents-table",
            groups={"agent": "agent"},
            metrics={c: c for c in PER_AGENT}
            | {
                "share_of_team_replies": "human_replies",
                "first_response_time_median_n": "first_response_time_median",
                "reply_time_median_n": "reply_time_median",
            },
            default="human_replies",
            # the columns a lead compares, all visible at 1,440 px (the help names each in full); medians' n in the CSV
            columns={
                "name": Col("agent", pinned=True, width=120),
                "team": Col("team", width=70),
                "human_replies": Col("replies", "count", width=70, help="Human replies sent."),
                "share_of_team_replies": Col(
                    "team share", "ratio", width=80, help="Share of the team's human replies."
                ),
                "conversations_handled": Col("conv.", "count", width=65, help="Conversations handled."),
                "active_texting_seconds": Col("texting", "seconds", width=80, help="Active texting time."),
                "first_response_time_median": Col(
                    "first reply", "seconds", width=85, help="Median first response time (n in the CSV)."
                ),
                "reply_time_median": Col("reply time", "seconds", width=80, help="Median reply time."),
                "unanswered_inquiries": Col(
                    "unanswered", "count", width=85, help="Inquiry blocks of their conversations with no reply yet."
                ),
                "same_business_day_response_rate": Col(
                    "same day", "ratio", width=75, help="Same-business-day response rate of their inquiry blocks."
                ),
                "csat_mean": Col("CSAT", "score", width=60, help="Mean CSAT score."),
                "csat_responses": Col("CSAT n", "count", width=60, help="Valid CSAT replies."),
                "low n": Col(
                    "low n", width=60, help=f"Figures of this agent made from fewer than {common.min_n()} replies."
                ),
            },
        )

        everyone = table.filter(pl.col("agent").is_not_null()).sort("human_replies", descending=True)
        labels = dict(zip(everyone["agent"].to_list(), everyone["name"].to_list(), strict=True))
        charted = everyone["agent"].to_list()
        if len(charted) > TOP + 3:  # a long list: the busiest in the charts, any other by name (the box searches)
            charted = (
                st.multiselect(
                    f"Agents in the charts (the {TOP} with the most human replies of {len(labels):,}; type to find others)",
                    list(labels),
                    default=charted[:TOP],
                    format_func=lambda a: labels.get(a) or a,
                    key="agents_charted",
                )
                or charted[:TOP]
            )
        shown = table.filter(pl.col("agent").is_in(charted))

        left, right = st.columns(2)
        with left:
            by_hour = (
                common.metrics(["human_replies"], by=("agent", "hour"))
                .filter(pl.col("agent").is_in(charted) & (pl.col("human_replies") > 0))
                .select("agent", "hour", pl.col("human_replies").alias("replies"))
            )
            order = shown.sort("name")["agent"].to_list()
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
                    shown.sort("team", "name").with_columns(pl.col("team").fill_null(theme.NO_TEAM)),
                    x="name",
                    y="share_of_team_replies",
                    stack="team",
                    horizontal=True,
                    percent=True,
                    title="Each agent's share of their team's human replies",
                    y_title="share of team replies",
                    drill=Drill.of("human_replies", groups={"agent": "agent"}),
                    colours=theme.team_colours(common.filter_options().teams),
                )
            )

        st.subheader("One agent")
        by_name = sorted(labels, key=lambda a: labels[a] or a)
        chosen = st.selectbox(
            "Agent",
            by_name,
            index=by_name.index(everyone["agent"][0]),  # the busiest first; type a name to find another
            format_func=labels.__getitem__,
            key="agent_detail",
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
                        target=common.target_line("reply_time_median", 60),
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
                    columns={
                        "started": common.Col("started", "time", pinned=True),
                        "line": common.Col("line"),
                        "contact_number": common.Col("contact"),
                        "channel": common.Col("channel", width="small"),
                        "messages": common.Col("messages", "count"),
                        "inbound": common.Col("from customer", "count"),
                        "human_replies": common.Col("human replies", "count"),
                        "replies_by_agent": common.Col(f"by {labels[chosen]}", "count"),
                        "first_agent": common.Col("first agent"),
                        "conversation_id": common.Col("conversation"),
                    },
                )
