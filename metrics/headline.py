"""The headline figures: the Overview page's cards and the digests' table are the same list, written the same way.

Each figure is a registry metric with a label; its value and its change against the previous window are written
by unit (durations, rates, scores), and whether a change is good follows the metric's ``better``.
"""

from __future__ import annotations

from typing import Literal

from metrics.registry import CATALOG
from replyboard.formats import fmt_duration, fmt_number, fmt_rate

HEADLINE: tuple[tuple[str, str], ...] = (
    ("inbound_messages", "Texts received"),
    ("conversations", "Conversations"),
    ("first_response_time_median", "First response (median)"),
    ("first_response_time_p90", "First response (p90)"),
    ("same_business_day_response_rate", "Answered same business day"),
    ("csat_mean", "CSAT (mean)"),
    ("nps", "NPS"),
    ("automated_share", "Automated share"),
    ("repeat_customer_rate", "Repeat customers"),
)
HEADLINE_METRICS = tuple(name for name, _ in HEADLINE)
Tone = Literal["good", "bad", "neutral"]


def value_text(metric: str, value: float | None) -> str:
    unit = CATALOG[metric].unit
    if unit == "seconds":
        return fmt_duration(value)
    if unit == "ratio":
        return fmt_rate(value)
    if unit == "score":
        return fmt_number(value, 2)
    return fmt_number(value, 0)


def delta_text(metric: str, value: float | None, previous: float | None) -> str | None:
    """ "+1.2 pts" for rates, "-3 min" for durations, "+12" for counts; None when either side is unknown."""
    if value is None or previous is None:
        return None
    diff = value - previous
    sign = "+" if diff >= 0 else "-"
    if CATALOG[metric].unit == "ratio":
        return f"{sign}{abs(diff) * 100:.1f} pts"
    return sign + value_text(metric, abs(diff))


def tone(metric: str, value: float | None, previous: float | None) -> Tone:
    """Whether the change is an improvement by the metric's ``better`` (neutral when it has none)."""
    better = CATALOG[metric].better
    if value is None or previous is None or better is None or value == previous:
        return "neutral"
    return "good" if (value > previous) == (better == "higher") else "bad"


def streamlit_delta_colour(metric: str) -> str:
    """st.metric's delta_color for the metric: normal (higher is better), inverse (lower), off (neither)."""
    return {"higher": "normal", "lower": "inverse"}.get(CATALOG[metric].better or "", "off")
