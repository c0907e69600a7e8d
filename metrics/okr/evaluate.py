"""Measuring OKRs on the warehouse: each key result's current value, baseline, progress, status and weekly
history, and each objective's weighted progress (the maths is :mod:`metrics.okr.progress`'s).

Attainment (:func:`evaluate`)
-----------------------------
* ``as_of`` defaults to today in the team timezone and is capped at the period end and at the data's last
  day (the newest message's local day): a period is never judged past the data it is measured on, so an
  October file whose data ends on the 19th is judged as of the 19th, with the expected progress of that day.
  Before the start the period is "not started" (current None; the baseline is still shown).
* A period the data does not reach at all (no message between its start and end: the data ends before it
  starts, begins after it ends, or there is none) is "no data in this period" for its metric key results
  (no current, no history, the baseline still shown) and for an objective holding any; its manual key
  results still show their check-ins, as of today (capped at the period end).
* Current value: the metric (``metrics.query.compute``) over the window with the KR's filters and hours:
  the period to date ``[start, as_of]``, or the ``rolling_days`` days ending at ``as_of``. Values are the
  warehouse's view of that window: a reply that arrived after ``as_of`` to a message inside it counts.
* Baseline: the given one, else the metric over the same-length window just before the period start
  (the whole period's length for ``window: period``, ``rolling_days`` for a rolling window), fixed for the
  whole period. For window-length-sensitive metrics (counts, repeat_customer_rate) give a baseline or use a
  rolling window: a period-to-date count is not comparable with a whole previous period.
* Progress = clamp((current - baseline) / (target - baseline), 0, 1). Pass/fail (progress 1 when the
  target is met, else 0) when there is no baseline (none given, no data before the period) and when a
  computed baseline already meets the target (the KR is then "keep it there").
* Expected progress = days elapsed at ``as_of`` (inclusive) / days in the period.
* Status: "on track" when the target is met or progress >= expected - ON_TRACK_MARGIN; "at risk" when
  progress >= expected - AT_RISK_MARGIN; else "off track". "no data" when the window has no data (n == 0;
  for count and sum metrics, whose value is 0 when nothing happened: no message at all in the window).
  Grade = progress rounded to 2 decimals (0.7 is the usual "good" final grade).
* ``low_n``: a rate or score key result whose current value comes from fewer rows than ``settings.min_n``.
* Manual KR: progress = value of the last check-in dated on or before ``as_of`` (done: 1 or 0); no
  check-in yet -> "no data". Pacing as above.
* Objective progress = weighted mean of its KRs' progress, KRs with no data left out (they are listed
  with status "no data"; ``measured`` counts the KRs that entered the mean); status as for a KR (met when
  the mean reaches 1).

History (:func:`weekly_history`): one point per week since the period started (week ends start+6,
start+13, ... and a last point at ``as_of`` when that is mid-week), each the KR's current value as it
would have been computed at that date: cumulative from the period start ``[start, week_end]`` for
``window: period``, the rolling days ending ``week_end`` for a rolling window, the check-in in effect
for a manual KR. The last point equals the current value, so a sparkline ends where the card's figure is.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import duckdb

from metrics.annotations import NO_OVERLAY, Overlay
from metrics.health import data_bounds, has_warehouse, message_count
from metrics.okr.progress import (
    NO_DATA_IN_PERIOD,
    baseline_usable,
    checkin_progress,
    expected_progress,
    key_result_progress,
    last_checkin,
    meets_target,
    pacing_status,
    pick_period,
    weighted_progress,
)
from metrics.okr.spec import CheckIn, KeyResultFilters, ManualKeyResult, MetricKeyResult, Period, RollingWindow
from metrics.params import Hours, Params
from metrics.query import Filters, compute, flags_low_n, zero_when_empty
from metrics.registry import METRICS
from metrics.scope import EVERYTHING, Scope
from replyboard.settings import Settings


def effective_as_of(period: Period, as_of: date | None, settings: Settings, data_last_day: date | None = None) -> date:
    """as_of, default today in the team timezone, capped at the period end and at the data's last day (when
    given: the period holds data, see covers)."""
    day = as_of or datetime.now(settings.zone).date()
    return min(day, period.end, data_last_day or period.end)


def covers(period: Period, first_day: date | None, last_day: date | None) -> bool:
    """Whether the data (messages from first_day to last_day, local days) reaches into the period."""
    return first_day is not None and last_day is not None and first_day <= period.end and last_day >= period.start


def data_days(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """The first and last local day with messages (None, None for an empty warehouse)."""
    return data_bounds(con) if has_warehouse(con) else (None, None)


# --------------------------------------------------------------------------------------------------------------
# Attainment: results


class HistoryPoint(NamedTuple):
    week_end: date
    value: float | None
    n: int


@dataclass(frozen=True)
class KeyResultResult:
    id: str
    title: str
    type: str  # metric | manual
    metric: str | None  # None for manual
    comparator: str  # gte | gt | lte | lt (manual: gte)
    target: float  # manual: 1.0
    baseline: float | None  # manual: 0.0
    baseline_source: str | None  # given | computed | None (pass/fail: no baseline could be had)
    scoring: str  # linear | pass_fail
    current: float | None  # manual: the last check-in's progress
    n: int  # rows behind current (manual: check-ins so far)
    progress: float | None
    expected_progress: float
    status: str  # one of STATUSES
    grade: float | None
    met: bool
    weight: float
    unit: str | None
    owner: str | None
    hours: str | None
    window: str  # period | rolling N days | checkins
    window_start: date | None
    window_end: date | None
    filters: dict[str, list[str]] = field(default_factory=dict)
    checkins: list[dict] = field(default_factory=list)  # manual: every check-in, oldest first
    confidence: float | None = None  # manual: of the last check-in
    note: str | None = None  # manual: of the last check-in
    history: list[HistoryPoint] = field(default_factory=list)
    low_n: bool = False  # a rate or score measured on fewer rows than settings.min_n

    def as_dict(self) -> dict:
        out = asdict(self)
        out["history"] = [{"week_end": h.week_end, "value": h.value, "n": h.n} for h in self.history]
        return _jsonable(out)


@dataclass(frozen=True)
class ObjectiveResult:
    id: str
    title: str
    owner: str | None
    period: str
    period_start: date
    period_end: date
    as_of: date
    data_through: date | None  # the newest message's day (team timezone)
    progress: float | None
    expected_progress: float
    status: str
    grade: float | None
    measured: int  # key results in the weighted mean (the others have no data)
    key_results: list[KeyResultResult]

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "key_results"}
        out["key_results"] = [kr.as_dict() for kr in self.key_results]
        return _jsonable(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


# --------------------------------------------------------------------------------------------------------------
# Attainment: measuring


def params_for(settings: Settings, hours: Hours, overlay: Overlay = NO_OVERLAY, scope: Scope = EVERYTHING) -> Params:
    """A KR's query parameters: its hours, the annotations, and whose scope it is measured in (a KR's own filters
    narrow inside that scope: a lead's OKRs count their teams only)."""
    return Params.from_settings(settings, hours=hours, overlay=overlay, scope=scope)


def _filters(kr: MetricKeyResult, date_from: date, date_to: date) -> Filters:
    f = kr.filters or KeyResultFilters()
    return Filters(
        date_from=date_from,
        date_to=date_to,
        lines=tuple(f.lines),
        channels=tuple(f.channels),
        agents=tuple(f.agents),
        teams=tuple(f.teams),
    )


def current_window(period: Period, kr: MetricKeyResult, as_of: date) -> tuple[date, date]:
    if isinstance(kr.window, RollingWindow):
        return as_of - timedelta(days=kr.window.rolling_days - 1), as_of
    return period.start, as_of


def baseline_window(period: Period, kr: MetricKeyResult) -> tuple[date, date]:
    days = kr.window.rolling_days if isinstance(kr.window, RollingWindow) else period.days
    return period.start - timedelta(days=days), period.start - timedelta(days=1)


def measure(
    con: duckdb.DuckDBPyConnection,
    kr: MetricKeyResult,
    settings: Settings,
    date_from: date,
    date_to: date,
    overlay: Overlay = NO_OVERLAY,
    scope: Scope = EVERYTHING,
) -> tuple[float | None, int]:
    """(value, n) of the KR's metric over [date_from, date_to]; value None when the window has no data."""
    row = compute(
        con,
        [kr.metric],
        filters=_filters(kr, date_from, date_to),
        params=params_for(settings, kr.hours, overlay, scope),
    ).row(0, named=True)
    value, n = row[kr.metric], int(row[f"{kr.metric}_n"] or 0)
    if zero_when_empty(kr.metric):
        return (float(value or 0) if _has_messages(con, date_from, date_to) else None), n
    return (None if value is None or n == 0 else float(value)), n


def _has_messages(con: duckdb.DuckDBPyConnection, date_from: date, date_to: date) -> bool:
    return message_count(con, date_from, date_to) > 0


def _week_ends(period: Period, as_of: date) -> Iterator[date]:
    if as_of < period.start:
        return
    day = period.start + timedelta(days=6)
    while day < as_of:
        yield day
        day += timedelta(days=7)
    yield as_of


def weekly_history(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    kr: MetricKeyResult | ManualKeyResult,
    settings: Settings,
    as_of: date | None = None,
    overlay: Overlay = NO_OVERLAY,
    scope: Scope = EVERYTHING,
) -> list[HistoryPoint]:
    """(week_end, value, n) per week since the period started, each the KR's value as of that day.

    window period: cumulative [start, week_end]; rolling: the rolling days ending week_end; manual: the
    check-in in effect (value = its progress, n = check-ins so far). The last point is as_of itself.
    """
    day = effective_as_of(period, as_of, settings)
    points = []
    for week_end in _week_ends(period, day):
        if isinstance(kr, ManualKeyResult):
            checkin = last_checkin(kr.checkins, week_end)
            n = sum(1 for c in kr.checkins if c.date <= week_end)
            points.append(HistoryPoint(week_end, checkin_progress(checkin, kr.progress_kind), n))
        else:
            value, n = measure(con, kr, settings, *current_window(period, kr, week_end), overlay, scope)
            points.append(HistoryPoint(week_end, value, n))
    return points


def _filters_dict(kr: MetricKeyResult) -> dict[str, list[str]]:
    return {k: v for k, v in (kr.filters or KeyResultFilters()).model_dump().items() if v}


def evaluate_key_result(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    kr: MetricKeyResult | ManualKeyResult,
    settings: Settings,
    as_of: date,
    *,
    with_history: bool = False,
    overlay: Overlay = NO_OVERLAY,
    covered: bool = True,
    scope: Scope = EVERYTHING,
) -> KeyResultResult:
    """One KR at as_of (already capped by the caller: effective_as_of). covered: whether the data reaches into
    the period at all; a metric KR of a period it does not reach is "no data in this period"."""
    expected = expected_progress(period.start, period.end, as_of)
    started = as_of >= period.start
    if not covered and isinstance(kr, MetricKeyResult):
        with_history = False  # nothing to measure week by week
    history = weekly_history(con, period, kr, settings, as_of, overlay, scope) if with_history and started else []
    if isinstance(kr, ManualKeyResult):
        checkin = last_checkin(kr.checkins, as_of) if started else None
        progress = checkin_progress(checkin, kr.progress_kind)
        met = progress is not None and progress >= 1
        return KeyResultResult(
            id=kr.id,
            title=kr.title,
            type="manual",
            metric=None,
            comparator="gte",
            target=1.0,
            baseline=0.0,
            baseline_source=None,
            scoring="pass_fail" if kr.progress_kind == "done" else "linear",
            current=progress,
            n=sum(1 for c in kr.checkins if c.date <= as_of) if started else 0,
            progress=progress,
            expected_progress=expected,
            status=pacing_status(progress, expected, met) if started else "not started",
            grade=None if progress is None else round(progress, 2),
            met=met,
            weight=kr.weight,
            unit=kr.progress_kind,
            owner=kr.owner,
            hours=None,
            window="checkins",
            window_start=None,
            window_end=as_of if started else None,
            checkins=[_jsonable(c.model_dump()) for c in sorted(kr.checkins, key=lambda c: c.date)],
            confidence=checkin.confidence if checkin else None,
            note=checkin.note if checkin else None,
            history=history,
        )
    baseline, source = kr.baseline, "given" if kr.baseline is not None else None
    if baseline is None:
        baseline, _ = measure(con, kr, settings, *baseline_window(period, kr), overlay, scope)
        source = "computed" if baseline is not None else None
    window = "period" if kr.window == "period" else f"rolling {kr.window.rolling_days} days"
    current, n = None, 0
    w_from, w_to = current_window(period, kr, as_of)
    if started and covered:
        current, n = measure(con, kr, settings, w_from, w_to, overlay, scope)
    progress = None
    scoring = "linear" if baseline_usable(baseline, kr.comparator, kr.target) else "pass_fail"
    met = False
    if current is not None:
        progress, scoring = key_result_progress(current, baseline, kr.target, kr.comparator)
        met = meets_target(current, kr.comparator, kr.target)
    return KeyResultResult(
        id=kr.id,
        title=kr.title,
        type="metric",
        metric=kr.metric,
        comparator=kr.comparator,
        target=kr.target,
        baseline=baseline,
        baseline_source=source,
        scoring=scoring,
        current=current,
        n=n,
        progress=progress,
        expected_progress=expected,
        status=(pacing_status(progress, expected, met) if covered else NO_DATA_IN_PERIOD) if started else "not started",
        grade=None if progress is None else round(progress, 2),
        met=met,
        weight=kr.weight,
        unit=kr.unit or METRICS[kr.metric].unit,
        owner=kr.owner,
        hours=kr.hours,
        window=window,
        window_start=w_from if started and covered else None,
        window_end=w_to if started and covered else None,
        filters=_filters_dict(kr),
        history=history,
        low_n=current is not None and flags_low_n(kr.metric) and n < settings.min_n,
    )


def with_checkins(period: Period, extra: Mapping[str, Iterable[tuple[date, float, float | None, str]]]) -> Period:
    """The period with check-ins recorded on the dashboard (the app-state store) added to its manual key
    results' YAML check-ins: {key_result_id: [(day, progress 0-1, confidence, note)]}. A "done" key result
    counts a progress of 1 as done."""
    objectives = []
    for obj in period.objectives:
        krs = []
        for kr in obj.key_results:
            if isinstance(kr, ManualKeyResult) and (added := list(extra.get(kr.id, ()))):
                checkins = [
                    CheckIn(
                        date=day,
                        value=(value >= 1) if kr.progress_kind == "done" else value,
                        confidence=confidence,
                        note=note or None,
                    )
                    for day, value, confidence, note in added
                ]
                kr = kr.model_copy(update={"checkins": [*kr.checkins, *checkins]})
            krs.append(kr)
        objectives.append(obj.model_copy(update={"key_results": krs}))
    return period.model_copy(update={"objectives": objectives})


def evaluate(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    settings: Settings,
    as_of: date | None = None,
    *,
    with_history: bool = False,
    overlay: Overlay = NO_OVERLAY,
    scope: Scope = EVERYTHING,
) -> list[ObjectiveResult]:
    """Every objective of the period at as_of (default today in the team timezone, capped at the period end
    and at the data's last day; see the module docstring)."""
    first_day, last_day = data_days(con)
    covered = covers(period, first_day, last_day)
    day = effective_as_of(period, as_of, settings, last_day if covered else None)
    expected = expected_progress(period.start, period.end, day)
    started = day >= period.start
    results = []
    for obj in period.objectives:
        krs = [
            evaluate_key_result(
                con, period, kr, settings, day, with_history=with_history, overlay=overlay, covered=covered, scope=scope
            )
            for kr in obj.key_results
        ]
        # an objective measured partly on data the warehouse does not hold for the period is not judged
        judged = covered or not any(isinstance(kr, MetricKeyResult) for kr in obj.key_results)
        progress = weighted_progress((kr.progress, kr.weight) for kr in krs) if started and judged else None
        if not started:
            status = "not started"
        elif not judged:
            status = NO_DATA_IN_PERIOD
        else:
            status = pacing_status(progress, expected, progress is not None and progress >= 1)
        results.append(
            ObjectiveResult(
                id=obj.id,
                title=obj.title,
                owner=obj.owner,
                period=period.period,
                period_start=period.start,
                period_end=period.end,
                as_of=day,
                data_through=last_day,
                progress=progress,
                expected_progress=expected,
                status=status,
                grade=None if progress is None else round(progress, 2),
                measured=sum(1 for kr in krs if kr.progress is not None) if judged else 0,
                key_results=krs,
            )
        )
    return results


def default_period(periods: list[Period], data_last_day: date | None, settings: Settings) -> Period | None:
    """The period to show first: the one that contains the data's last day (pick_period's rule on that day),
    or, with no data, the one running today."""
    return pick_period(periods, data_last_day or datetime.now(settings.zone).date())
