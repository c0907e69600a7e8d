"""The headline figures: the Overview page's cards and the digests' table are the same list, written the same way.

Each figure is a registry metric with a label; its value and its change against the previous window are written
by unit (durations, rates, scores), and whether a change is good follows the metric's ``better``.
"""

from __future__ import annotations

from typing import Literal

from metrics.registry import CATALOG
from replyboard.formats import fmt_change, fmt_value

# In fours, as the Overview's rows: volume, speed, satisfaction.
HEADLINE: tuple[tuple[str, str], ...] = (
    ("inbound_messages", "Texts received"),
    ("conversations", "Conversations"),
    ("unanswered_inquiries", "Unanswered inquiries"),
    ("repeat_customer_rate", "Repeat customers"),
    ("first_response_time_median", "First response (median)"),
    ("first_response_time_p90", "First response (p90)"),
    ("same_business_day_response_rate", "Answered same business day"),
    ("automated_share", "Automated share"),
    ("csat_mean", "CSAT (mean)"),
    ("nps", "NPS"),
)
HEADLINE_METRICS = tuple(name for name, _ in HEADLINE)
Tone = Literal["good", "bad", "neutral"]


def value_text(metric: str, value: float | None) -> str:
    """The figure by its unit (replyboard.formats, as every page writes it)."""
    return fmt_value(CATALOG[metric].unit, value)


def delta_text(metric: str, value: float | None, previous: float | None) -> str | None:
    """ "+1.2 pts" for rates, "-3 min" for durations, "+12" for counts, "no change" for one that rounds to
    nothing; None when either side is unknown."""
    change = fmt_change(CATALOG[metric].unit, value, previous)
    return None if change is None else change.text


def tone(metric: str, value: float | None, previous: float | None) -> Tone:
    """Whether the change is an improvement by the metric's ``better`` (neutral when it has none, or when it
    rounds to nothing as written)."""
    better = CATALOG[metric].better
    change = fmt_change(CATALOG[metric].unit, value, previous)
    if change is None or change.zero or better is None or value is None or previous is None:
        return "neutral"
    return "good" if (value > previous) == (better == "higher") else "bad"


def streamlit_delta_colour(metric: str) -> str:
    """st.metric's delta_color for the metric: normal (higher is better), inverse (lower), off (neither)."""
    return {"higher": "normal", "lower": "inverse"}.get(CATALOG[metric].better or "", "off")
