"""Explore (analysts): read-only SQL over the warehouse, with the schema, downloads and a quick chart.

The query runs in replyboard.sandbox: one SELECT in a child process with its own memory limit, no writes,
no files, no settings, a time, a row and a size limit. Phone numbers are shown unmasked here, and only
here, because an analyst asked for them.

Session state keeps the last result, which is what the table shows (so moving the chart's selectors does
not run the query again): it is never larger than the size limit, which stays below Streamlit's message
size. The CSV and Parquet files are made only when their button is clicked, and are not kept.
"""

import io

import polars as pl
import streamlit as st

from charts import figures
from pages import common
from replyboard import sandbox
from replyboard.csv_safety import to_safe_csv_bytes

EXAMPLE = """-- Replies per agent and weekday (team timezone)
SELECT a.name AS agent, dayname(m.created_local) AS weekday, count(*) AS replies
FROM messages m JOIN agents a USING (agent_id)
WHERE m.kind = 'human_reply'
GROUP BY ALL
ORDER BY replies DESC
LIMIT 50"""
ROW_LIMIT = 10_000
TIMEOUT_SECONDS = 10.0


@common.cached
def _schema(version: str):
    return sandbox.schema_overview(common.db_path())


def _result_limit() -> int:
    """Bytes a result may have: the sandbox's limit, and at most half of what Streamlit sends in a message."""
    message_bytes = int(st.get_option("server.maxMessageSize")) * 10**6  # Streamlit counts MB as 10**6
    return min(sandbox.MAX_RESULT_BYTES, message_bytes // 2)


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


common.require_role("analyst")  # raw SQL reads every stored message: analysts only, a direct URL included
st.title("Explore")
st.caption(
    f"Read-only SQL (DuckDB dialect) over the warehouse: one SELECT at a time, at most {ROW_LIMIT:,} rows "
    f"and {TIMEOUT_SECONDS:.0f} s, {_result_limit() / 10**6:.0f} MB of results. Timestamps are UTC; "
    "`*_local` columns are in the team timezone. **The sidebar's filters do not apply here**: a query reads "
    "the whole warehouse; write the dates, lines or agents you want into its WHERE clause."
)
if common.require_data():
    editor, schema_col = st.columns([3, 1])
    with schema_col:
        st.markdown("**Tables**")
        schema = _schema(common.data_version())
        for table in schema["table"].unique(maintain_order=True).to_list():
            with st.expander(table):
                cols = schema.filter(schema["table"] == table)
                st.markdown(
                    "\n".join(f"- `{c}` {t.lower()}" for c, t in zip(cols["column"], cols["type"], strict=True))
                )
    with editor:
        with st.form("sql"):
            text = st.text_area("SQL", value=EXAMPLE, height=220, key="explore_sql")
            submitted = st.form_submit_button("Run", type="primary")
        if submitted or "explore_result" not in st.session_state:
            try:
                st.session_state["explore_result"] = None  # the old result goes before the new one arrives
                common.audit("explore_query", sql=text)  # who ran what, and when, before it runs
                st.session_state["explore_result"] = sandbox.run_query(
                    common.db_path(),
                    text,
                    row_limit=ROW_LIMIT,
                    timeout_seconds=TIMEOUT_SECONDS,
                    max_result_bytes=_result_limit(),
                )
                st.session_state["explore_problem"] = None
            except sandbox.SandboxProblem as exc:
                st.session_state["explore_result"] = None
                st.session_state["explore_problem"] = exc.message
        problem = st.session_state.get("explore_problem")
        result = st.session_state.get("explore_result")
        if problem:
            st.error(problem)
        elif result is not None:
            frame = result.frame
            st.caption(f"{frame.height:,} rows in {result.elapsed:.2f} s")
            if result.notice:
                st.warning(result.notice)
            st.dataframe(frame, hide_index=True, placeholder="NULL")
            left, right = st.columns(2)
            left.download_button(  # made on click (callables), so no copy of the result stays with the session
                "Download CSV",
                common.exported("query.csv", lambda: to_safe_csv_bytes(sandbox.csv_ready(frame)), rows=frame.height),
                "query.csv",
                "text/csv",
                on_click="ignore",
            )
            right.download_button(
                "Download Parquet",
                common.exported("query.parquet", lambda: _parquet(frame), rows=frame.height),
                "query.parquet",
                "application/vnd.apache.parquet",
                on_click="ignore",
            )
            if frame.width >= 2 and frame.height:
                numeric = [c for c, t in zip(frame.columns, frame.dtypes, strict=True) if t.is_numeric()]
                if numeric:
                    st.markdown("**Quick chart**")
                    c1, c2, c3, c4 = st.columns(4)
                    x = c1.selectbox("x", frame.columns, key="explore_x")
                    y = c2.selectbox("y", numeric, index=len(numeric) - 1, key="explore_y")
                    others = [c for c in frame.columns if c not in (x, y)]
                    # rows sharing an x (agent x weekday) are one series per colour group, not one piled bar
                    repeated = x in frame.columns and frame[x].n_unique() < frame.height
                    guess = next((c for c in others if not frame.schema[c].is_numeric()), None) if repeated else None
                    colour = c3.selectbox(
                        "colour (one series each)",
                        [None, *others],
                        index=0 if guess is None else others.index(guess) + 1,
                        format_func=lambda c: "none" if c is None else c,
                        key="explore_colour",
                    )
                    kind = c4.segmented_control("chart", ["bar", "line"], default="bar", key="explore_kind")
                    common.show_figure(figures.quick_chart(frame, x=x, y=y, kind=kind or "bar", colour=colour))
