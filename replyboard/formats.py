"""How numbers are written for people: durations, rates, scores and counts (pages, CSVs, CLI tables, digests).

JSON output stays raw numbers; these are for what a person reads.
"""

from __future__ import annotations

DASH = "–"


def fmt_duration(seconds: float | None) -> str:
    """The unit chosen by size: 45 s, 12 min, 3.4 h, 2.1 d."""
    if seconds is None:
        return DASH
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fmt_rate(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def fmt_number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}"
