"""The dashboard's pages; app.py routes to them with st.navigation (see pages/catalog.py)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

if PagesManager.uses_pages_directory:
    # A fresh server's first session runs in Streamlit's older multipage mode (a folder named pages/ exists)
    # until app.py has declared its navigation: a deep link runs pages/x.py directly, or, when its URL is not
    # a file's name (/response-times), app.py as if / had been asked for. Switch to app.py's navigation and
    # rerun on the page the link names (by name: the older mode's page ids are not app.py's), its query kept.
    PagesManager.uses_pages_directory = False
    ctx = get_script_run_ctx()
    wanted = ctx.pages_manager.intended_page_name if ctx else None
    if ctx is not None and ctx.script_requests is not None and wanted:
        from streamlit.commands.execution_control import _force_yield_point  # Streamlit 1.67 (pinned)
        from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

        ctx.script_requests.request_rerun(
            RerunData(query_string=ctx.query_string, page_name=wanted, context_info=ctx.context_info)
        )
        _force_yield_point()
    st.rerun()
