"""Data health: loads (ETL runs and their files), rejected rows with reasons, freshness per source."""

import streamlit as st

from charts import figures
from pages import common

st.title("Data health")
if not common.has_warehouse():
    common.require_data()
else:
    st.caption(
        "What was loaded and when. The sidebar filters do not apply here: this page describes loads, not conversations."
    )
    runs = common.health_read("runs")
    if runs.is_empty():
        common.require_data()
    else:
        last = runs.row(0, named=True)
        cols = st.columns(4)
        cols[0].metric("Loads", common.fmt_number(runs.height))
        cols[1].metric(
            "Last load (UTC)",
            f"{last['finished_at'] or last['started_at']:%b %d %H:%M}",
            help=f"Run {last['run_id']} ({last['status']}), {last['started_at']:%Y-%m-%d %H:%M:%S} UTC.",
        )
        cols[2].metric("Rows loaded (all runs)", common.fmt_number(runs["rows_loaded"].sum()))
        cols[3].metric("Rows rejected (all runs)", common.fmt_number(runs["rows_rejected"].sum()))

        st.subheader("Freshness per source")
        freshness = common.health_read("sources")
        st.caption(
            "Per kind of file: when it was last loaded and the first / last message time it held (UTC). "
            "A source whose last message is old is worth a look."
        )
        common.table(freshness, "freshness")

        st.subheader("Runs")
        common.table(
            runs, "etl_runs", column_config={"seconds": st.column_config.NumberColumn("duration", format="%.1f s")}
        )

        st.subheader("Files per run")
        run_ids = runs["run_id"].to_list()
        chosen = st.selectbox(
            "Run", ["all", *run_ids], key="health_run", format_func=lambda r: "All runs" if r == "all" else f"Run {r}"
        )
        files = common.health_read("files", None if chosen == "all" else chosen)
        if files.is_empty():
            common.empty("No files recorded for this run.")
        else:
            common.table(files, "etl_files")

        st.subheader("Rejected rows")
        # Loads store reasons with phone numbers masked and raw rows without card numbers; a warehouse an older
        # version wrote may not be migrated yet: its reasons are masked here and its raw rows not offered.
        outdated = common.pending_migrations()
        if outdated:
            st.warning(
                "This warehouse was written by an older Replyboard and may still hold card numbers in clear. "
                f"Bring it up to date with `python -m etl migrate --db {common.db_path()}` (the next load does "
                "it too); until then the rejected rows' raw text is not offered for download.",
                icon=":material/lock:",
            )
        region = common.settings().default_region if outdated else None
        reasons = common.health_read("reasons", region)
        if reasons.is_empty():
            st.success("No rejected rows: every row read was loaded (or recognised as a duplicate).")
        else:
            common.show_figure(
                figures.bars(
                    reasons.head(15).reverse(),
                    x="reason",
                    y="rows",
                    horizontal=True,
                    title="Rejected rows by reason (top 15)",
                    y_title="rows",
                )
            )
            common.table(reasons, "rejected_reasons")
            rows = common.health_read("rejected", region)
            st.caption("Which line of which file, and why (newest run first, at most 1,000 shown).")
            st.dataframe(rows, hide_index=True)
            if not outdated:
                raw = common.health_read("rejected_raw")
                st.warning(
                    "The download below is the **only place raw rows appear** in Replyboard: it holds each rejected "
                    "line as it was read, phone numbers and message bodies unmasked (card numbers and SSNs are "
                    "never stored: they were redacted at load), so the file can be fixed and loaded again. Handle "
                    "it like the original export and delete it when done.",
                    icon=":material/lock_open:",
                )
                common.download_csv(raw, "rejected_rows_raw", label="Download rejected rows with raw text (CSV)")
