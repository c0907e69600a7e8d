"""Overview: the headline figures against the previous period, and volume over time."""

import streamlit as st

from charts import figures
from charts.figures import Drill
from pages import common

st.title("Overview")
if common.require_data():
    headline = [
        ("inbound_messages", "Texts received", common.fmt_number, "off"),
        ("conversations", "Conversations", common.fmt_number, "off"),
        ("first_response_time_median", "First response (median)", common.fmt_duration, "inverse"),
        ("first_response_time_p90", "First response (p90)", common.fmt_duration, "inverse"),
        ("same_business_day_response_rate", "Answered same business day", common.fmt_rate, "normal"),
        ("csat_mean", "CSAT (mean)", lambda v: common.fmt_number(v, 2), "normal"),
        ("nps", "NPS", lambda v: common.fmt_number(v, 0), "normal"),
        ("automated_share", "Automated share", common.fmt_rate, "inverse"),
        ("repeat_customer_rate", "Repeat customers", common.fmt_rate, "normal"),
    ]
    values = common.metrics_with_previous([m for m, *_ in headline])
    cols = st.columns(3)
    for i, (name, label, fmt, colour) in enumerate(headline):
        v = values[name]
        delta = None
        if v["value"] is not None and v["previous"] is not None:
            diff = v["value"] - v["previous"]
            delta = fmt(abs(diff)) if fmt is not common.fmt_rate else f"{diff * 100:.1f} pts"
            delta = (
                ("+" if diff >= 0 else "-") + delta
                if fmt is not common.fmt_rate
                else ("+" if diff >= 0 else "") + delta
            )
        common.kpi(
            cols[i % 3],
            label,
            fmt(v["value"]),
            name,
            v["n"],
            delta=delta,
            delta_color=colour,
            help=f"n = {v['n']:,} (previous period: n = {v['previous_n']:,}). Metric: `{name}`.",
        )
    by = (
        "week"
        if (
            common.filters().date_to
            and common.filters().date_from
            and (common.filters().date_to - common.filters().date_from).days > 62
        )
        else "day"
    )
    volume = common.metrics(["inbound_messages", "outbound_messages"], by=by)
    common.show_figure(
        figures.volume_over_time(
            volume, x=by, title=f"Texts per {by} (click a bar for its texts)", drill=Drill.of(groups={by: by})
        )
    )
    common.download_csv(volume, "volume")
