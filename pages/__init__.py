"""The dashboard's pages; app.py routes to them with st.navigation (see pages/catalog.py)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:
    # A fresh server's first session, opened on a deep link (/agents), runs that file from pages/ directly
    # (Streamlit's older multipage mode) before app.py has declared its navigation. Switch to app.py's
    # navigation and rerun, so every link shows the real app with its sidebar filters.
    PagesManager.uses_pages_directory = False
    st.rerun()
