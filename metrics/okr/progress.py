"""OKR arithmetic, numbers in and numbers out: progress from baseline to target, pacing against the share
of the period elapsed, status, the weighted mean of an objective, check-ins, which period to show.

* Progress = clamp((current - baseline) / (target - baseline), 0, 1). Pass/fail (progress 1 when the
  target is met, else 0) when there is no usable baseline (none, or one already meeting the target).
* Expected progress = days elapsed at ``as_of`` (inclusive) / days in the period.
* Comparators: gte (met when current >= target), gt (current > target: "above a 7"), lte (<=), lt (<). gte and
  gt aim up (the target above the baseline), lte and lt down.
* Status: "on track" when the target is met or progress >= expected - ON_TRACK_MARGIN; "at risk" when
  progress >= expected - AT_RISK_MARGIN; else "off track"; "no data" without a progress; "no data in this
  period" for a metric key result whose period the warehouse's data does not reach at all.
* Objective progress = weighted mean of its KRs' progress, KRs without one left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from metrics.okr.spec import CheckIn, Period

ON_TRACK_MARGIN = 0.1  # on track: progress >= expected - 0.1 (or the target is met)
AT_RISK_MARGIN = 0.3  # at risk: progress >= expected - 0.3; below that: off track
_EPS = 1e-9  # so that 0.45 vs 0.55 - 0.1 compares as equal
NO_DATA_IN_PERIOD = "no data in this period"
STATUSES = ("on track", "at risk", "off track", "no data", NO_DATA_IN_PERIOD, "not started")
COMPARATORS = ("gte", "gt", "lte", "lt")
SYMBOLS = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<"}
_MET = {
    "gte": lambda current, target: current >= target,
    "gt": lambda current, target: current > target,
    "lte": lambda current, target: current <= target,
    "lt": lambda current, target: current < target,
}


def clamp01(x: float) -> float:
    return max(0.0, min(1.0, x))


def aims_up(comparator: str) -> bool:
    """gte and gt want the metric to rise to the target; lte and lt want it to fall."""
    return comparator in ("gte", "gt")


def meets_target(current: float, comparator: str, target: float) -> bool:
    return _MET[comparator](current, target)


def baseline_usable(baseline: float | None, comparator: str, target: float) -> bool:
    """A baseline short of the target, in the comparator's direction (else the KR is pass/fail)."""
    if baseline is None:
        return False
    return target > baseline if aims_up(comparator) else target < baseline


def key_result_progress(current: float, baseline: float | None, target: float, comparator: str) -> tuple[float, str]:
    """(progress 0-1, scoring): linear from baseline to target, or pass/fail when no usable baseline."""
    if not baseline_usable(baseline, comparator, target):
        return (1.0 if meets_target(current, comparator, target) else 0.0), "pass_fail"
    assert baseline is not None
    return clamp01((current - baseline) / (target - baseline)), "linear"


def expected_progress(start: date, end: date, as_of: date) -> float:
    """Share of the period elapsed at as_of, counting as_of's day (0 before the start, 1 from the end on)."""
    total = (end - start).days + 1
    elapsed = (min(as_of, end) - start).days + 1
    return clamp01(elapsed / total)


def pacing_status(progress: float | None, expected: float, met: bool = False) -> str:
    if progress is None:
        return "no data"
    if met or progress >= expected - ON_TRACK_MARGIN - _EPS:
        return "on track"
    if progress >= expected - AT_RISK_MARGIN - _EPS:
        return "at risk"
    return "off track"


def weighted_progress(items: Iterable[tuple[float | None, float]]) -> float | None:
    """Weighted mean of (progress, weight) pairs, pairs without progress left out; None if none is left."""
    pairs = [(p, w) for p, w in items if p is not None]
    total = sum(w for _, w in pairs)
    return sum(p * w for p, w in pairs) / total if total else None


def last_checkin(checkins: Iterable[CheckIn], as_of: date) -> CheckIn | None:
    """The latest check-in dated on or before as_of (the later one in the file on a tie)."""
    best = None
    for c in checkins:
        if c.date <= as_of and (best is None or c.date >= best.date):
            best = c
    return best


def checkin_progress(checkin: CheckIn | None, progress_kind: str) -> float | None:
    if checkin is None:
        return None
    if progress_kind == "done":
        return 1.0 if checkin.value is True else 0.0
    return clamp01(float(checkin.value))


def pick_period(periods: list[Period], day: date) -> Period | None:
    """The period to show on a given day: the one running then, else the latest already started, else the
    first to come."""
    running = [p for p in periods if p.start <= day <= p.end]
    if running:
        return min(running, key=lambda p: p.days)  # a month inside a quarter: the shorter, more specific one
    started = [p for p in periods if p.start <= day]
    if started:
        return max(started, key=lambda p: p.end)
    return min(periods, key=lambda p: p.start, default=None)
