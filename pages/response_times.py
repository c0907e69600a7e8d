"""Response times: how long customers wait, the trend, the share within targets, per line and channel,
and the inquiries still waiting for a reply."""

from dataclasses import replace

import polars as pl
import streamlit as st

from charts import figures
from charts.figures import Drill
from pages import common

TARGETS_MINUTES = (15, 60, 120, 240)

st.title("Response times")
if common.require_data():
    st.caption(
        f"Counted in **{common.hours_label()}** (switch in the sidebar). Reply time: the first human reply after "
        "an inquiry block's first message (a burst of customer texts is one block; automated texts never count "
        "as a reply). First response: a conversation's first block. Dates apply to when the block started."
    )
    headline = [
        ("reply_time_median", "Reply time (median)"),
        ("reply_time_p90", "Reply time (p90)"),
        ("unanswered_inquiries", "Unanswered inquiries"),
        ("first_response_time_median", "First response (median)"),
        ("first_response_time_p90", "First response (p90)"),
        ("same_business_day_response_rate", "Answered same business day"),
    ]
    row = common.metrics([m for m, _ in headline]).row(0, named=True)
    for first in (0, 3):  # three cards a row: no label is cut at 1,280 px
        for col, (name, label) in zip(st.columns(3), headline[first : first + 3], strict=True):
            common.kpi_metric(col, name, label, row, target=common.target_for(name))

    st.subheader("Distribution")
    which = st.segmented_control(
        "Inquiries",
        ["all", "first"],
        default="all",
        required=True,
        key="rt_which",
        format_func=lambda w: {"all": "Every inquiry block", "first": "First responses only"}[w],
    )
    timed = "first_response_time_median" if which == "first" else "reply_time_median"
    buckets = common.histogram(timed, tuple(figures.DURATION_EDGES))
    response_target = common.target_for(timed)
    common.show_figure(
        figures.duration_distribution(
            buckets,
            title="Answered inquiries by reply time",
            x_title=f"reply time ({common.hours_label()}); click a bar for its inquiries",
            drill=Drill.of(timed, order="value", desc="true"),
            target_seconds=response_target.value if response_target else None,
            target_label=response_target.text if response_target else "",
        )
    )

    st.subheader("Trend")
    period = common.trend_period()
    trend = common.metrics(["reply_time_median", "reply_time_p90", "first_response_time_median"], by=period)
    trend_min = trend.with_columns(
        (pl.col(c) / 60).round(1) for c in ("reply_time_median", "reply_time_p90", "first_response_time_median")
    )
    common.show_figure(
        figures.lines_over_time(
            trend_min,
            x=period,
            title=f"Reply time per {period} (n = {trend['reply_time_median_n'].sum():,} replies)",
            series={
                "reply_time_median": "median",
                "reply_time_p90": "p90",
                "first_response_time_median": "first response median",
            },
            y_title=f"minutes ({common.hours_label()})",
            log_y=True,
            drill=Drill.of(groups={period: period}),
            target=common.target_line("reply_time_median", 60),
        )
    )
    common.download_csv(trend, "response_time_trend")

    st.subheader("Share within targets")
    shares = pl.DataFrame(
        [
            {
                "target": f"≤ {t} min",
                "share": r["response_within_target_rate"],
                "n": r["response_within_target_rate_n"],
                "drill_metric": "response_within_target_rate",
                "drill_extra": f"target={t}",
            }
            for t in TARGETS_MINUTES
            for r in [common.metrics(["response_within_target_rate"], p=common.params(t)).row(0, named=True)]
        ]
        + [
            {
                "target": "same business day",
                "share": row["same_business_day_response_rate"],
                "n": row["same_business_day_response_rate_n"],
                "drill_metric": "same_business_day_response_rate",
                "drill_extra": "",
            }
        ],
        schema={
            "target": pl.String,
            "share": pl.Float64,
            "n": pl.Int64,
            "drill_metric": pl.String,
            "drill_extra": pl.String,
        },
    )
    left, right = st.columns([3, 2])
    with left:
        same_day = common.target_for("same_business_day_response_rate")
        common.show_figure(
            figures.bars(
                shares.filter(pl.col("share").is_not_null()),
                x="target",
                y="share",
                percent=True,
                title="Inquiries answered within the target",
                y_title="share of inquiries",
                drill=Drill.of(order="value", desc="true"),
                target=figures.TargetLine(same_day.value, f"same business day {same_day.text}") if same_day else None,
            )
        )
    with right:
        st.caption(
            "Share = blocks answered within the target ÷ blocks answered or already older than the target "
            "(an unanswered block past the target is a miss). Same business day: answered before that day's "
            "close, or the next business day's close when it arrived outside opening hours."
        )
        common.drill_table(
            shares,
            "response_targets",
            key="rt-targets",
            groups={},
            metrics={},
            default="response_within_target_rate",
            columns={
                "target": common.Col("answered within"),
                "share": common.Col("share", "ratio"),
                "n": common.Col("n", "count"),
            },
        )

    st.subheader("Per line and channel")
    per = [
        "reply_time_median",
        "reply_time_p90",
        "first_response_time_median",
        "response_within_target_rate",
        "same_business_day_response_rate",
        "unanswered_inquiries",
    ]
    target = common.params().target_minutes
    Col = common.Col
    columns = {
        "reply_time_median": Col("reply (median)", "seconds"),
        "reply_time_p90": Col("reply (p90)", "seconds"),
        "first_response_time_median": Col("first response (median)", "seconds"),
        "response_within_target_rate": Col(f"within {target:g} min", "ratio"),
        "same_business_day_response_rate": Col("same business day", "ratio"),
        "reply_time_median_n": Col("answered (n)", "count"),
        "unanswered_inquiries": Col("unanswered", "count"),
        "low n": Col("low n", help="Rates made from fewer inquiry blocks than min_n (settings)."),
    }
    for by, title in (("line", "By line"), ("channel", "By channel")):
        frame = common.metrics(per, by=by)
        if frame.is_empty():
            common.empty("No inquiries for these filters.")
            break
        rates = {"response_within_target_rate": "within target", "same_business_day_response_rate": "same day"}
        frame = common.with_low_n(frame, rates)
        st.markdown(f"**{title}**")
        common.drill_table(
            common.named(frame).select(by, *columns),
            f"response_times_by_{by}",
            key=f"rt-by-{by}",
            groups={by: by},
            metrics={c: "reply_time_median" if c == "reply_time_median_n" else c for c in columns if c != "low n"},
            default="reply_time_median",
            columns={by: Col(by)} | columns,
        )

    st.subheader("Slowest unanswered inquiries right now")
    # Unanswered blocks have no replier yet, so the agent and team filters cannot apply here.
    nobody = replace(common.filters(), agents=(), teams=())
    unanswered = common.rows("unanswered_inquiries", order="value", descending=True, limit=50, f=nobody)
    waiting = unanswered.frame.select(
        pl.col("local_time").alias("started"),
        pl.col("line_number").alias("line"),
        "contact_number",
        "channel",
        pl.col("inquiries").alias("texts"),
        "waiting_seconds",
    )
    st.caption(
        f"Waiting time is counted to the newest message loaded ({common.fmt_day(common.data_bounds()[1])}), in "
        f"{common.hours_label()}, so an old export is not judged against today. Lines, channels and dates apply; "
        "agent and team filters do not (nobody has replied yet). Oldest first, at most 50; the work queue lists "
        "them all."
    )
    if waiting.is_empty():
        common.empty("No unanswered inquiries for these filters.")
    else:
        common.conversation_table(
            common.named(waiting),
            "unanswered_inquiries",
            key="rt-unanswered",
            ids=unanswered.frame["conversation_id"].to_list(),
            columns={
                "started": Col("started", "time", pinned=True),
                "waiting_seconds": Col("waiting", "wait"),
                "line": Col("line"),
                "contact_number": Col("contact"),
                "channel": Col("channel"),
                "texts": Col("texts", "count"),
            },
        )
        st.page_link(
            common.QUEUES_PAGE,
            label=f"All {unanswered.total:,} in the work queue",
            icon=":material/inbox:",
            query_params={"queue": "waiting"},
        )
