"""Explore (analysts): read-only SQL over the warehouse, with the schema, downloads and a quick chart.

The query runs in replyboard.sandbox: one SELECT, no writes, no files, no settings, a time and a row
limit. Phone numbers are shown unmasked here, and only here, because an analyst asked for them.
"""

import io

import streamlit as st

from pages import common
from replyboard import figures, sandbox
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


@st.cache_data(ttl=common.CACHE_TTL, show_spinner=False)
def _schema(version: str):
    return sandbox.schema_overview(common.db_path())


st.title("Explore")
st.caption(
    f"Read-only SQL (DuckDB dialect) over the warehouse: one SELECT at a time, at most {ROW_LIMIT:,} rows "
    f"and {TIMEOUT_SECONDS:.0f} s. Timestamps are UTC; `*_local` columns are in the team timezone."
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
                st.session_state["explore_result"] = sandbox.run_query(
                    common.db_path(), text, row_limit=ROW_LIMIT, timeout_seconds=TIMEOUT_SECONDS
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
            st.dataframe(frame, hide_index=True)
            ready = sandbox.csv_ready(frame)
            left, right = st.columns(2)
            left.download_button("Download CSV", to_safe_csv_bytes(ready), "query.csv", "text/csv")
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            right.download_button(
                "Download Parquet", buffer.getvalue(), "query.parquet", "application/vnd.apache.parquet"
            )
            if frame.width >= 2 and frame.height:
                numeric = [c for c, t in zip(frame.columns, frame.dtypes, strict=True) if t.is_numeric()]
                if numeric:
                    st.markdown("**Quick chart**")
                    c1, c2, c3 = st.columns(3)
                    x = c1.selectbox("x", frame.columns, key="explore_x")
                    y = c2.selectbox("y", numeric, index=len(numeric) - 1, key="explore_y")
                    kind = c3.segmented_control("chart", ["bar", "line"], default="bar", key="explore_kind")
                    common.show_figure(figures.quick_chart(frame, x=x, y=y, kind=kind or "bar"))
