"""Replyboard: the entry point routes to the pages and owns the global filters.

Run with `make run` (or `REPLYBOARD_DB=path streamlit run app.py`). Filters live in the sidebar,
persist across pages and are bound to the URL query string, so a copied link reproduces the view.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from pages import catalog, common

st.set_page_config(page_title="Replyboard", page_icon=":material/sms:", layout="wide")


def navigation() -> dict[str, list]:
    sections: dict[str, list] = {}
    for i, spec in enumerate(catalog.PAGES):
        sections.setdefault(spec.section, []).append(
            st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=i == 0)
        )
    return sections


def _options(sql: str) -> list[str]:
    frame = common.sql(sql)
    return [v for v in frame.to_series(0).to_list() if v is not None] if not frame.is_empty() else []


def sidebar_filters() -> None:
    """Global filters: keyed widgets bound to query params, so values survive page switches and links."""
    first, last = common.data_bounds()
    with st.sidebar:
        st.header("Filters")
        if last is not None:
            default_start = max(first, last - timedelta(days=29))
            st.date_input(
                "Dates (team timezone)",
                value=(default_start, last),
                min_value=first - timedelta(days=366),
                max_value=last + timedelta(days=366),
                key="dates",
                bind="query-params",
                help="Inclusive. Each metric uses its own time anchor: message time, inquiry start, survey reply.",
            )
        labels = dict(sorted(common.line_labels().items(), key=lambda item: item[1]))  # numbers masked
        st.multiselect(
            "Lines",
            list(labels),
            format_func=lambda n: labels.get(n, n),
            key="line",
            bind="query-params",
            placeholder="All lines",
        )
        st.multiselect(
            "Channels",
            _options("SELECT DISTINCT channel FROM messages ORDER BY 1"),
            key="channel",
            bind="query-params",
            placeholder="All channels",
        )
        st.multiselect(
            "Teams",
            _options("SELECT DISTINCT team FROM agents WHERE team IS NOT NULL ORDER BY 1"),
            key="team",
            bind="query-params",
            placeholder="All teams",
        )
        agents = common.sql("SELECT agent_id, coalesce(name, agent_id) AS label FROM agents ORDER BY label")
        agent_labels = (
            dict(zip(agents["agent_id"].to_list(), agents["label"].to_list(), strict=True))
            if not agents.is_empty()
            else {}
        )
        st.multiselect(
            "Agents",
            list(agent_labels),
            format_func=lambda a: agent_labels.get(a, a),
            key="agent",
            bind="query-params",
            placeholder="All agents",
        )
        st.segmented_control(
            "Response times in (hours)",
            ["calendar", "business"],
            default="calendar",
            key="hours",
            bind="query-params",
            help="Business hours count only the opening windows in settings.yaml (team timezone, holidays closed).",
        )
        freshness()


def freshness() -> None:
    runs = common.sql(
        "SELECT max(finished_at) AS last_load, (SELECT count(*) FROM messages) AS messages, "
        "(SELECT CAST(min(created_local) AS DATE) FROM messages) AS first, "
        "(SELECT CAST(max(created_local) AS DATE) FROM messages) AS last FROM etl_runs"
    )
    if runs.is_empty() or runs["last_load"][0] is None:
        st.caption("No load yet.")
        return
    r = runs.row(0, named=True)
    st.caption(
        f"Last load {r['last_load']:%Y-%m-%d %H:%M} UTC · {r['messages']:,} messages · {r['first']} to {r['last']}"
    )


def main() -> None:
    nav = st.navigation(navigation())
    if common.db_path().exists() and common.has_data():
        sidebar_filters()
    nav.run()


main()
