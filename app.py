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


def sidebar_filters() -> None:
    """Global filters: keyed widgets bound to query params, so values survive page switches and links."""
    first, last = common.data_bounds()
    options = common.filter_options()
    with st.sidebar:
        st.header("Filters")
        if first is not None and last is not None:
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
        st.multiselect(
            "Lines",
            list(options.lines),
            format_func=lambda n: options.lines.get(n, n),
            key="line",
            bind="query-params",
            placeholder="All lines",
        )
        st.multiselect("Channels", options.channels, key="channel", bind="query-params", placeholder="All channels")
        st.multiselect("Teams", options.teams, key="team", bind="query-params", placeholder="All teams")
        st.multiselect(
            "Agents",
            list(options.agents),
            format_func=lambda a: options.agents.get(a, a),
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
    f = common.freshness()
    if f.last_load is None:
        st.caption("No load yet.")
        return
    st.caption(
        f"Last load {common.fmt_day(f.last_load)} {f.last_load:%H:%M} UTC · {f.messages:,} messages from "
        f"{common.fmt_day(f.first_day)} to {common.fmt_day(f.last_day)}"
    )


def main() -> None:
    nav = st.navigation(navigation())
    problem = common.warehouse_problem()
    if problem:  # a damaged file: one clear message on every page instead of a traceback
        common.show_warehouse_problem(problem)
        return
    try:
        if common.db_path().exists() and common.has_data():
            sidebar_filters()
            common.data_banner()  # "data through ..." on every page; a warning when the data is stale
        nav.run()
    except Exception as exc:  # a damaged block that only this page's queries read; anything else re-raised
        if not common.show_storage_failure(exc):
            raise


main()
