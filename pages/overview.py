"""Overview: the headline figures (metrics.headline, as the digests send them) against the previous window (named
on each card) and their targets, and volume over time."""

import streamlit as st

from charts import figures
from charts.figures import Drill
from metrics import headline
from pages import common

PER_ROW = 4  # four cards a row: no label is cut at 1,280 px

st.title("Overview")
if common.require_data():
    names = list(headline.HEADLINE_METRICS)
    values = common.metrics_with_previous(names)
    now = {k: v for m in names for k, v in ((m, values[m]["value"]), (f"{m}_n", values[m]["n"]))}
    before = {k: v for m in names for k, v in ((m, values[m]["previous"]), (f"{m}_n", values[m]["previous_n"]))}
    compared_with = common.previous_window_label()
    st.caption(
        f"Response times in **{common.hours_label()}**. Each change compares with the same number of days just "
        "before the sidebar's dates; green is better, red worse. Targets come from settings.yaml and the OKRs."
    )
    for first in range(0, len(headline.HEADLINE), PER_ROW):
        cols = st.columns(PER_ROW)
        for col, (name, label) in zip(cols, headline.HEADLINE[first : first + PER_ROW], strict=False):
            common.kpi_metric(
                col,
                name,
                label,
                now,
                previous=before if compared_with else None,
                compared_with=compared_with,
                target=common.target_for(name),
            )
    by = common.trend_period()
    volume = common.metrics(["inbound_messages", "outbound_messages"], by=by)
    common.show_figure(
        figures.volume_over_time(
            volume, x=by, title=f"Texts per {by} (click a bar for its texts)", drill=Drill.of(groups={by: by})
        )
    )
    if volume.height and volume["partial"].any():
        st.caption(f"Faded bars: a {by} the data (or the dates) covers only in part, so its count is not comparable.")
    common.download_csv(volume, "volume")
