"""Overview: the headline figures (metrics.headline, as the digests send them) against the previous period, and
volume over time."""

import streamlit as st

from charts import figures
from charts.figures import Drill
from metrics import headline
from pages import common

st.title("Overview")
if common.require_data():
    values = common.metrics_with_previous(list(headline.HEADLINE_METRICS))
    cols = st.columns(3)
    for i, (name, label) in enumerate(headline.HEADLINE):
        v = values[name]
        common.kpi(
            cols[i % 3],
            label,
            headline.value_text(name, v["value"]),
            name,
            v["n"],
            delta=headline.delta_text(name, v["value"], v["previous"]),
            delta_color=headline.streamlit_delta_colour(name),
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
    if volume.height and volume["partial"].any():
        st.caption(f"Faded bars: a {by} the data (or the dates) covers only in part, so its count is not comparable.")
    common.download_csv(volume, "volume")
