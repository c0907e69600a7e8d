"""Links into the dashboard that open the same view: settings' dashboard_url + a page's URL path + the query
parameters its widgets are bound to (the sidebar's `dates`, `line`, `team`, `agent`, `hours`; the OKR page's
`okr_period`; the work queues' `queue`; the rows page's `metric` and `where`).

Streamlit binds a multiselect to the URL by its labels (a line's name, an agent's name), a date range as two
`dates` values: the same labels are written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from metrics.view_query import Labels, key_result_view, present, view  # noqa: F401 - the digests' names for them

# Streamlit serves the default page (the first of pages/catalog.py, the OKRs) at the root, not at its url_path: a
# link to /okrs would open "Page not found". tests/test_digests.py checks the catalog still starts with it.
DEFAULT_PAGE = "okrs"


def page(base: str, path: str, params: Mapping[str, object] | None = None) -> str:
    """base/path?query, list values repeated (dates=...&dates=...), empty ones left out."""
    query = urlencode(present(params or {}), doseq=True)
    return f"{base.rstrip('/')}/{'' if path == DEFAULT_PAGE else path}" + (f"?{query}" if query else "")
