"""Colours in one place. Colour means status: green on track, amber at risk, red off track, grey no data, on every
chart, badge, legend and progress bar; the other colours (directions, teams, series) never use those four.

Streamlit's own elements (badges, KPI deltas) take named colours, so each status also names the Streamlit colour
closest to its hex code; .streamlit/config.toml's primary colour is blue, not Streamlit's default red.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

# The colours Streamlit names for badges and KPI deltas (st.metric's delta_color takes these too).
StreamlitColour = Literal["red", "orange", "yellow", "green", "blue", "violet", "gray", "grey", "primary"]


class StatusStyle(NamedTuple):
    colour: str  # hex, for charts
    streamlit: StreamlitColour  # the named colour of Streamlit's badges and deltas


STATUS_STYLES = {
    "on track": StatusStyle("#1a7f37", "green"),
    "at risk": StatusStyle("#bf8700", "orange"),
    "off track": StatusStyle("#cf222e", "red"),
    "no data": StatusStyle("#8c959f", "gray"),
    "not started": StatusStyle("#8c959f", "gray"),
    "done": StatusStyle("#1a7f37", "green"),
}
STATUS_COLOURS = {status: style.colour for status, style in STATUS_STYLES.items()}
LEGEND_STATUSES = ("on track", "at risk", "off track", "no data")  # what a status legend lists
NO_DATA = STATUS_STYLES["no data"]

# Neither a status nor each other: series, directions, teams. Blues, violets, teal, pink, brown: no green, amber,
# red or grey (those are statuses).
PALETTE = ["#0969da", "#8250df", "#1b7c83", "#bf3989", "#8c564b", "#17becf", "#0a3069", "#b07aa1"]
DIRECTION_COLOURS = {"inbound": "#0969da", "outbound": "#8250df"}
TARGET_LINE = "#24292f"  # targets and expected-by-now markers: dark, dashed
HEATMAP_SCALE = "Blues"
# Survey score bands: NPS detractors / passives / promoters, CSAT below / at or above the satisfied threshold.
SCORE_BAND_COLOURS = {
    "detractors": STATUS_COLOURS["off track"],
    "passives": STATUS_COLOURS["at risk"],
    "promoters": STATUS_COLOURS["on track"],
    "not satisfied": NO_DATA.colour,
    "satisfied": STATUS_COLOURS["on track"],
}
NO_TEAM = "no team"
UNASSIGNED = "Unassigned"  # the group of rows no agent owns (README "Ownership"): a null agent key


def status_style(status: str | None) -> StatusStyle:
    return STATUS_STYLES.get(status or "no data", NO_DATA)


def status_badge(status: str | None, text: str | None = None) -> str:
    """Markdown for a coloured badge (Streamlit's ``:green-badge[...]``) of a status."""
    label = (text or status or "no data").replace("[", "(").replace("]", ")")
    return f":{status_style(status).streamlit}-badge[{label}]"


def status_legend() -> str:
    """Markdown: each status as its coloured badge, so the legend shows the colours it explains."""
    return " ".join(status_badge(s) for s in LEGEND_STATUSES)


def target_status(met: bool | None) -> str:
    """A figure against its target: on track when it meets it, off track when not, no data without a figure."""
    return "no data" if met is None else "on track" if met else "off track"


def category_colours(values: Iterable[str | None]) -> dict[str, str]:
    """One colour per value (a team, a line), by the sorted list of every value there is, not only those on
    screen: a team keeps its colour whatever the filters show."""
    named = sorted({v for v in values if v})
    return {value: PALETTE[i % len(PALETTE)] for i, value in enumerate(named)}


def team_colours(teams: Iterable[str | None]) -> dict[str, str]:
    """category_colours of every team; the group without a team is grey."""
    return category_colours(t for t in teams if t != NO_TEAM) | {NO_TEAM: NO_DATA.colour}
