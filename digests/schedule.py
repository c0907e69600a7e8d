"""When a digest is due and which days it covers.

A subscription's cadence is a cron expression in the team timezone. The digest an occurrence sends covers the
complete days before it: its as-of day is the day before the occurrence (Monday 08:00 -> Sunday), and the period
recorded for it, so that it goes out once, is that day. The change since the last digest is counted from the
as-of day of the occurrence before.

A scheduled run (``etl serve``'s "digests" task, or cron calling ``digest --send``) sends each subscription's
latest occurrence that has not gone out yet, if it came less than CATCH_UP ago: a process that was down over a
Monday morning sends that Monday's digest when it comes back the same day, not last month's.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

CATCH_UP = timedelta(hours=24)


def latest_occurrence(cadence: str, at: datetime) -> datetime:
    """The latest time of the cadence at or before ``at`` (aware; in ``at``'s zone)."""
    return croniter(cadence, at + timedelta(seconds=1)).get_prev(datetime)


def next_occurrence(cadence: str, at: datetime) -> datetime:
    return croniter(cadence, at).get_next(datetime)


def as_of_for(occurrence: datetime) -> date:
    return occurrence.date() - timedelta(days=1)


def previous_as_of(cadence: str, as_of: date, zone: ZoneInfo) -> date:
    """The as-of day of the digest sent before the one covering ``as_of``."""
    send_day = datetime.combine(as_of + timedelta(days=1), time(), zone)
    return as_of_for(croniter(cadence, send_day).get_prev(datetime))


def due(cadence: str, at: datetime, *, catch_up: timedelta = CATCH_UP) -> date | None:
    """The as-of day a run at ``at`` should send, or None when the latest occurrence is older than catch_up."""
    occurrence = latest_occurrence(cadence, at)
    return as_of_for(occurrence) if at - occurrence < catch_up else None
