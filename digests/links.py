"""Links into the dashboard that open the same view: settings' dashboard_url + a page's URL path + the query
parameters its widgets are bound to (the sidebar's `dates`, `line`, `team`, `agent`, `hours`; the OKR page's
`okr_period`; the work queues' `queue`; the rows page's `metric` and `where`).

Streamlit binds a multiselect to the URL by its labels (a line's name, an agent's name), a date range as two
`dates` values: the same labels are written here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

# Streamlit serves the default page (the first of pages/catalog.py, the OKRs) at the root, not at its url_path: a
# link to /okrs would open "Page not found". tests/test_digests.py checks the catalog still starts with it.
DEFAULT_PAGE = "okrs"


@dataclass(frozen=True)
class Labels:
    """How the sidebar names lines and agents (metrics.health.line_labels / agent_directory)."""

    lines: Mapping[str, str]
    agents: Mapping[str, str]


def page(base: str, path: str, params: Mapping[str, object] | None = None) -> str:
    """base/path?query, list values repeated (dates=...&dates=...), empty ones left out."""
    query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "", [], ())}, doseq=True)
    return f"{base.rstrip('/')}/{'' if path == DEFAULT_PAGE else path}" + (f"?{query}" if query else "")


def view(
    window: tuple[date, date] | None,
    labels: Labels,
    *,
    lines: Sequence[str] = (),
    channels: Sequence[str] = (),
    teams: Sequence[str] = (),
    agents: Sequence[str] = (),
    hours: str = "calendar",
) -> dict[str, object]:
    """The sidebar's query parameters for a window and filters."""
    return {
        "dates": [window[0].isoformat(), window[1].isoformat()] if window else None,
        "line": [labels.lines.get(n, n) for n in lines],
        "channel": list(channels),
        "team": list(teams),
        "agent": [labels.agents.get(a, a) for a in agents],
        "hours": hours if hours != "calendar" else None,
    }
