"""The days a message can fall on: loads reject rows outside them, date filters and OKR periods must lie
inside them (so no date arithmetic ever runs past the calendar's end, as 9999-12-31 + 1 day would)."""

from __future__ import annotations

from datetime import date, timedelta

FIRST_DAY = date(2000, 1, 1)  # earlier instants are typos or epoch-zero defaults, not messages
LAST_DAY = date(2099, 12, 31)
END = LAST_DAY + timedelta(days=1)  # the first instant past the range (exclusive bound)
SPAN = f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"


def outside(day: date) -> bool:
    return not FIRST_DAY <= day <= LAST_DAY


def problem(day: date, what: str) -> str | None:
    """A sentence saying why `day` cannot be used as `what`, or None when it can."""
    if outside(day):
        return f"{what} {day.isoformat()} is outside the dates Replyboard holds ({SPAN})"
    return None
