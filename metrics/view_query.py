"""The dashboard's sidebar as URL query parameters: a link with them opens a page with exactly those filters set.

app.py binds its sidebar widgets to the URL by label (a line's name, an agent's name) and a date range as two
`dates` values; the digests' links and the OKR page's "see rows" links write them here, once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Labels:
    """How the sidebar names lines and agents (metrics.health.line_labels / agent_directory)."""

    lines: Mapping[str, str]
    agents: Mapping[str, str]


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
    """The sidebar's query parameters for a window and filters (empty ones None or [])."""
    return {
        "dates": [window[0].isoformat(), window[1].isoformat()] if window else None,
        "line": [labels.lines.get(n, n) for n in lines],
        "channel": list(channels),
        "team": list(teams),
        "agent": [labels.agents.get(a, a) for a in agents],
        "hours": hours if hours != "calendar" else None,
    }


def key_result_view(
    window: tuple[date, date], filters: Mapping[str, Sequence[str]], hours: str | None, labels: Labels
) -> dict[str, object]:
    """The view a metric key result is measured in: its own window, filters and hours."""
    return view(
        window,
        labels,
        lines=filters.get("lines", ()),
        channels=filters.get("channels", ()),
        teams=filters.get("teams", ()),
        agents=filters.get("agents", ()),
        hours=hours or "calendar",
    )


def present(query: Mapping[str, object]) -> dict[str, object]:
    """The parameters that say something (an empty filter is no parameter)."""
    return {k: v for k, v in query.items() if v not in (None, "", [], ())}
