"""Data health: loads (ETL runs and their files), rejected rows with reasons, freshness per source (with a
warning when the newest message is older than the settings' stale_after_hours)."""

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from charts import figures
from pages import common
from replyboard import formats

Col = common.Col
COUNTS = {
    "rows_read": Col("rows read", "count"),
    "rows_loaded": Col("loaded", "count"),
    "rows_updated": Col("updated", "count"),
    "rows_duplicate": Col("duplicates", "count"),
    "rows_rejected": Col("rejected", "count"),
}


def stale_sources(freshness: pl.DataFrame, hours: float) -> list[str]:
    """'messages: newest message Oct 19, 2026, 6 weeks ago' for each source whose newest message is too old."""
    now = datetime.now(UTC)
    out = []
    for row in freshness.iter_rows(named=True):
        last = row.get("last_message_at")
        if last is None:
            continue
        last = last if last.tzinfo else last.replace(tzinfo=UTC)
        age = (now - last).total_seconds() / 3600
        if age > hours:
            out.append(f"**{row['source']}**: newest message {formats.fmt_day(last)}, {formats.fmt_age(age)} ago")
    return out


common.require_role("analyst")  # loads of every line, and the one raw export: analysts only
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
        cols = st.columns([1, 1.6, 1.2, 1.2])  # the last load's date and time fit
        cols[0].metric("Loads", common.fmt_number(runs.height))
        when = last["finished_at"] or last["started_at"]
        cols[1].metric(
            "Last load (UTC)",
            f"{formats.fmt_day(when)} {when:%H:%M}",
            help=f"Run {last['run_id']} ({last['status']}), {last['started_at']:%Y-%m-%d %H:%M:%S} UTC.",
        )
        cols[2].metric("Rows loaded (all runs)", common.fmt_number(int(runs["rows_loaded"].sum())))
        cols[3].metric("Rows rejected (all runs)", common.fmt_number(int(runs["rows_rejected"].sum())))

        st.subheader("Freshness per source")
        freshness = common.health_read("sources")
        st.caption(
            "Per kind of file: when it was last loaded and the first / last message time it held (UTC). "
            "A source whose last message is old is worth a look."
        )
        limit = common.settings().stale_after_hours
        old = stale_sources(freshness, limit)
        if old:
            st.warning(
                f"Older than {formats.fmt_age(limit)} (`stale_after_hours` in settings.yaml): "
                + "; ".join(old)
                + ". Load newer exports or check that the sync and the webhook receiver still run.",
                icon=":material/schedule:",
            )
        common.table(
            freshness,
            "freshness",
            columns={
                "source": Col("source"),
                "loads": Col("loads", "count"),
                "last_load": Col("last load (UTC)", "time"),
                **COUNTS,
                "first_message_at": Col("first message (UTC)", "time"),
                "last_message_at": Col("last message (UTC)", "time"),
            },
        )

        st.subheader("Runs")
        common.table(
            runs,
            "etl_runs",
            columns={
                "run_id": Col("run", width="small"),
                "started_at": Col("started (UTC)", "time"),
                "finished_at": Col("finished (UTC)", "time"),
                "status": Col("status", width="small"),
                **COUNTS,
                "seconds": Col("took", "seconds"),
            },
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
            common.table(
                files,
                "etl_files",
                columns={
                    "run_id": Col("run", width="small"),
                    "path": Col("file", pinned=True, width=250),
                    "kind": Col("kind"),
                    **COUNTS,
                    "first_at": Col("first message (UTC)", "time"),
                    "last_at": Col("last message (UTC)", "time"),
                },
            )

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
            common.table(
                reasons,
                "rejected_reasons",
                columns={
                    "reason": Col("reason", pinned=True, width="large"),
                    "kind": Col("kind"),
                    "rows": Col("rows", "count"),
                    "files": Col("files", "count"),
                    "last_run": Col("last run"),
                },
            )
            rows = common.health_read("rejected", region)
            st.caption("Which line of which file, and why (newest run first, at most 1,000 shown).")
            st.dataframe(
                rows,
                hide_index=True,
                placeholder=formats.DASH,
                column_config={
                    "run_id": st.column_config.NumberColumn("run", width="small"),
                    "path": st.column_config.Column("file", width="medium", pinned=True),
                    "line": st.column_config.NumberColumn("line", width="small"),
                    "reason": st.column_config.Column("reason", width="large"),
                },
            )
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
