"""Replyboard: the entry point routes to the pages and owns the global filters.

Run with `make run` (or `REPLYBOARD_DB=path streamlit run app.py`). Filters live in the sidebar,
persist across pages and are bound to the URL query string, so a copied link reproduces the view.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from metrics.scope import Role
from pages import catalog, common, signin
from replyboard.appstate import AppStateError

st.set_page_config(page_title="Replyboard", page_icon=":material/sms:", layout="wide")


def navigation(role: Role) -> dict[str, list]:
    """The pages of the person's role, by section: a page not listed cannot be opened, not even by its URL."""
    sections: dict[str, list] = {}
    for i, spec in enumerate(catalog.pages_for(role)):
        sections.setdefault(spec.section, []).append(
            st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url_path, default=i == 0)
        )
    return sections


def refused(refusal: signin.Refusal) -> None:
    """Nobody may see data in this session: one page that says why (and offers sign-in or sign-out)."""
    if signin.mode() != "local":
        try:
            common.record_refusal(refusal, signin.email_of(st.user.to_dict()))
        except AppStateError as exc:
            st.warning(f"The audit log cannot be written: {exc}")
    st.navigation([st.Page(lambda: signin.show_refusal(refusal), title=refusal.title, url_path="signin")]).run()


def signed_in_as(who: signin.Person) -> None:
    with st.sidebar:
        if who.via == "local":
            st.caption(f"Single-user mode (no sign-in configured): {who.email}, every page.")
            return
        what = {"lead": ", ".join((*who.scope.teams, *who.scope.lines)), "agent": who.scope.agent or ""}.get(
            who.scope.role, "every line and team"
        )
        st.caption(f"Signed in as **{who.email}** · {who.scope.role} · {what}")
        if who.via == "oidc" and st.button("Sign out", icon=":material/logout:", key="signout-sidebar"):
            st.logout()


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
                help="Inclusive. Pick both days on the calendar, or type them and press Enter (a typed date applies "
                "when you press Enter or leave the field). Each metric uses its own time anchor: message time, inquiry "
                "start, survey reply.",
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
    count = f" · {f.messages:,} messages" if common.scope().unrestricted else ""  # the warehouse's, not the scope's
    st.caption(
        f"Last load {common.fmt_day(f.last_load)} {f.last_load:%H:%M} UTC{count} · "
        f"{common.fmt_day(f.first_day)} to {common.fmt_day(f.last_day)}"
    )


def main() -> None:
    who = signin.resolve(common.settings().access_file)
    if isinstance(who, signin.Refusal):
        refused(who)
        return
    try:
        common.record_sign_in(who)
    except AppStateError as exc:  # the dashboard still serves; the lead must know the log has a gap
        st.warning(f"The audit log cannot be written: {exc}")
    nav = st.navigation(navigation(who.scope.role))
    signed_in_as(who)
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
