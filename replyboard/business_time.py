"""Business-hours arithmetic: open windows, business seconds, same-business-day deadlines.

Definitions (shared/reference/metrics.md):

* **Business-hours duration** counts only the seconds inside the configured opening windows (several
  windows per weekday, team timezone, holidays closed, DST-correct).  It is computed as
  ``F(end) - F(start)`` where ``F(t)`` is the number of open seconds between an epoch and ``t``.
* **Same-business-day deadline**: a message received inside opening hours must be answered before that
  local business day's close (the end of the day's *last* window); one received outside them must be
  answered before the close of the next business day.  Unified rule used here: the deadline is the close
  of the business day that contains the first open moment ``>= t``.  Windows are half-open
  ``[start, end)``, so a message at exactly a window's end waits for the next window.

Timezone rules (deterministic for every zone):

* Each local day takes its windows from the business-hours schedule in force on it and its holidays from
  the holiday country in force on it (settings may date their changes: replyboard.schedules), so a
  schedule change applies from its date on and leaves the days before it as they were.
* Window boundaries are local wall-clock times in ``settings.zone``.  Each boundary is turned into an
  aware datetime with ``fold=0`` and normalised through a UTC round trip (``.astimezone(UTC)``).  For a
  time inside a DST *gap* (e.g. 02:30 on the US spring-forward day) ``fold=0`` applies the offset in force
  before the transition, so 02:30 becomes 07:30 UTC (= 03:30 EDT).  For an *ambiguous* time (e.g. 01:30
  on the US fall-back day) ``fold=0`` picks the first occurrence (01:30 EDT = 05:30 UTC).
* A window ending ``24:00`` (parsed by ``parse_window`` as 23:59:59.999999) ends at local midnight of the
  next day, so a 00:00-24:00 day lasts 23 h on spring-forward day and 25 h on fall-back day.
* After conversion the windows are kept sorted and disjoint: a window starting before the previous one
  ended (only possible when a boundary falls inside a gap) is clipped to start at that end, and windows
  that become empty are dropped.

One set of rules, used everywhere (derivation, the read layer, the sample-data generator), in two forms:

* pure Python (:func:`open_intervals`, :func:`business_seconds`, :func:`business_deadline`,
  :func:`business_cutoff`) — the clear reference, used for small data (a transcript, an age cutoff);
* vectorised DuckDB (:func:`calendar_frame`, :func:`register_calendar_around`, :func:`business_seconds_query`,
  :func:`deadline_query`) — one row per open window and ``ASOF LEFT JOIN``\\ s, for millions of rows.
  etl.derive runs exactly these builders for every inquiry block; the tests run the same builders against
  the Python reference. Both forms are built from :func:`open_intervals`, and so is the generator's
  minute grid (sample_data.generate.Calendar).

SQL shape (calendar table from :func:`register_calendar`; ``s.start_ts``/``s.end_ts`` TIMESTAMPTZ)::

    SELECT s.*,
           CASE WHEN s.start_ts IS NULL OR s.end_ts IS NULL THEN NULL
                ELSE greatest(F(s.end_ts, e) - F(s.start_ts, b), 0) END AS business_seconds
           [, coalesce(b.window_start <= s.start_ts AND s.start_ts < b.window_end, false) AS started_in_hours]
    FROM pairs AS s
    ASOF LEFT JOIN business_calendar AS b ON s.start_ts >= b.window_start
    ASOF LEFT JOIN business_calendar AS e ON s.end_ts >= e.window_start

    -- F(t, w) = coalesce(w.cum_open_before
    --                    + least(greatest(epoch_us(t) - epoch_us(w.window_start), 0),
    --                            epoch_us(w.window_end) - epoch_us(w.window_start)) / 1e6, 0)

    SELECT s.*, d.day_close AS deadline
    FROM messages AS s
    ASOF LEFT JOIN business_calendar AS d ON s.ts < d.window_end

The calendar must cover the data: a timestamp before the first window has ``F = 0``; one after the last
window has ``F = total`` (so durations past the calendar end are truncated) and no deadline (NULL).
:func:`register_calendar_around` registers it from a week before the earliest local date to 40 days after
the latest, so deadlines over long weekends and holiday runs are found.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING

import holidays as holidays_lib
import polars as pl

from replyboard.schedules import country_spans
from replyboard.settings import BusinessCalendar

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "BUSINESS_SECONDS_SQL",
    "CALENDAR_SCHEMA",
    "DEADLINE_SQL",
    "F_OF_T_SQL",
    "business_cutoff",
    "business_deadline",
    "business_seconds",
    "business_seconds_query",
    "calendar_frame",
    "closed_dates",
    "deadline_query",
    "f_of_t_sql",
    "open_intervals",
    "register_calendar",
    "register_calendar_around",
]

_END_OF_DAY = time(23, 59, 59, 999999)  # how parse_window spells "24:00"
_ONE_DAY = timedelta(days=1)
_ONE_US = timedelta(microseconds=1)
_DEADLINE_CHUNK_DAYS = 35
_DEADLINE_MAX_CHUNKS = 40  # give up (None) after ~3.8 years without an open window
_CUTOFF_CHUNK_DAYS = 30
_CUTOFF_MAX_CHUNKS = 80  # ~6.5 years back; a calendar with no opening hours at all ends the search
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CALENDAR_DAYS_BEFORE = 7  # register_calendar_around: margin before the earliest instant
CALENDAR_DAYS_AFTER = 40  # and after the latest: room for a deadline after a holiday run

CALENDAR_SCHEMA: dict[str, pl.DataType] = {
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "local_date": pl.Date(),
    "day_close": pl.Datetime("us", "UTC"),
    "cum_open_before": pl.Float64(),
}

# F(t) for a timestamp expression {t} and the calendar row {w} found by ``ASOF LEFT JOIN ... ON t >=
# w.window_start``: open seconds of all earlier windows plus the part of w before t.  Integer microsecond
# arithmetic keeps it exact; no match (t before the calendar) means F = 0; NULL t stays NULL.
F_OF_T_SQL = (
    "CASE WHEN {t} IS NULL THEN NULL ELSE coalesce({w}.cum_open_before + "
    "least(greatest(epoch_us({t}) - epoch_us({w}.window_start), 0), "
    "epoch_us({w}.window_end) - epoch_us({w}.window_start)) / 1e6, 0.0) END"
)

# Business seconds between two TIMESTAMPTZ columns of {source}; 0 when end <= start, NULL if either is NULL.
# {extra}: more columns from the start's calendar row _bt_b (IN_HOURS_SQL), or nothing.
BUSINESS_SECONDS_SQL = """SELECT s.*,
       CASE WHEN s.{start} IS NULL OR s.{end} IS NULL THEN NULL
            ELSE greatest(({f_end}) - ({f_start}), 0.0) END AS {alias}{extra}
FROM {source} AS s
ASOF LEFT JOIN {calendar} AS _bt_b ON s.{start} >= _bt_b.window_start
ASOF LEFT JOIN {calendar} AS _bt_e ON s.{end} >= _bt_e.window_start"""

# Whether the start fell inside an opening window (false outside them, before the calendar and for NULL).
IN_HOURS_SQL = ",\n       coalesce(s.{start} >= _bt_b.window_start AND s.{start} < _bt_b.window_end, false) AS {alias}"

# Same-business-day deadline of a TIMESTAMPTZ column: the day_close of the first window ending after t.
DEADLINE_SQL = """SELECT s.*, _bt_d.day_close AS {alias}
FROM {source} AS s
ASOF LEFT JOIN {calendar} AS _bt_d ON s.{ts} < _bt_d.window_end"""

_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}$")


# --------------------------------------------------------------------------------------------------
# Pure Python reference
# --------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _country_holidays(code: str, years: tuple[int, ...]) -> frozenset[date]:
    try:
        table = holidays_lib.country_holidays(code, years=years)
    except NotImplementedError as exc:
        raise ValueError(f"holiday_country {code!r} is not a country known to the holidays package") from exc
    return frozenset(table.keys())


def closed_dates(settings: BusinessCalendar, start: date, end: date) -> set[date]:
    """Holidays between local dates start..end inclusive: settings.holidays plus the public holidays of the
    holiday_country in force on each day (a dated holiday_country changes country from its dates on)."""
    closed = {d for d in settings.holidays if start <= d <= end}
    for country, lo, hi in country_spans(settings.holiday_country, start, end):
        years = tuple(range(lo.year, hi.year + 1))
        closed |= {d for d in _country_holidays(country, years) if lo <= d <= hi}
    return closed


def _to_utc(day: date, wall: time, zone) -> datetime:
    """Local wall time -> aware UTC; fold=0 for gap/overlap times, '24:00' -> next midnight."""
    if wall == _END_OF_DAY:
        day, wall = day + _ONE_DAY, time(0)
    return datetime.combine(day, wall).replace(tzinfo=zone, fold=0).astimezone(UTC)


def open_intervals(settings: BusinessCalendar, start: date, end: date) -> list[tuple[datetime, datetime, date]]:
    """Every opening window of local dates start..end inclusive as (start_utc, end_utc, local_date).

    Holidays are skipped; the result is sorted, disjoint and non-empty per row (see module docstring for
    the DST rules).
    """
    if end < start:
        return []
    zone = settings.zone
    closed = closed_dates(settings, start, end)
    out: list[tuple[datetime, datetime, date]] = []
    last_end: datetime | None = None
    day = start
    while day <= end:
        if day not in closed:
            for w_start, w_end in settings.week_for(day)[day.weekday()]:  # the schedule in force that day
                s, e = _to_utc(day, w_start, zone), _to_utc(day, w_end, zone)
                if last_end is not None and s < last_end:
                    s = last_end
                if e > s:
                    out.append((s, e, day))
                    last_end = e
        day += _ONE_DAY
    return out


def _require_aware(value: datetime, name: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")


def business_seconds(settings: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Open seconds in [start, end] (aware datetimes, any zone); 0.0 when end <= start."""
    _require_aware(start, "start")
    _require_aware(end, "end")
    if end <= start:
        return 0.0
    zone = settings.zone
    first = start.astimezone(zone).date() - _ONE_DAY  # one day of margin on each side
    last = end.astimezone(zone).date() + _ONE_DAY
    total = timedelta(0)
    for w_start, w_end, _ in open_intervals(settings, first, last):
        lo, hi = max(w_start, start), min(w_end, end)
        if hi > lo:
            total += hi - lo
    return total.total_seconds()


def business_seconds_until(
    settings: BusinessCalendar, starts: Sequence[datetime | None], end: datetime
) -> list[float | None]:
    """``business_seconds(settings, start, end)`` for many starts and one end (the waits of unanswered blocks
    at the end of the data): the windows are built once and each start is placed by bisection."""
    _require_aware(end, "end")
    known = [s for s in starts if s is not None]
    if not known:
        return [None] * len(starts)
    zone = settings.zone
    first = min(min(known), end).astimezone(zone).date() - _ONE_DAY
    windows = open_intervals(settings, first, end.astimezone(zone).date() + _ONE_DAY)
    ends = [min(w_end, end) for _, w_end, _ in windows]
    lengths = [max((e - w_start).total_seconds(), 0.0) for (w_start, _, _), e in zip(windows, ends, strict=True)]
    after = [*list(accumulate(reversed(lengths)))[::-1], 0.0]  # open seconds from window i to the end
    starts_utc = [w_start for w_start, _, _ in windows]
    out: list[float | None] = []
    for start in starts:
        if start is None:
            out.append(None)
            continue
        _require_aware(start, "start")
        i = bisect_right(starts_utc, start)  # windows [i:] start after `start`; window i-1 may contain it
        total = after[i]
        if i > 0 and start < ends[i - 1]:
            total += (ends[i - 1] - max(start, starts_utc[i - 1])).total_seconds()
        out.append(max(total, 0.0) if start < end else 0.0)
    return out


def _day_closes(intervals: Iterable[tuple[datetime, datetime, date]]) -> dict[date, datetime]:
    closes: dict[date, datetime] = {}
    for _, w_end, day in intervals:
        if day not in closes or w_end > closes[day]:
            closes[day] = w_end
    return closes


def business_deadline(settings: BusinessCalendar, t: datetime) -> datetime | None:
    """Same-business-day deadline (aware UTC) for a message received at t.

    The close (end of the last window) of the business day containing the first open moment >= t.
    None when the settings have no opening hours at all (or none within ~3.8 years of t).
    """
    _require_aware(t, "t")
    if not settings.has_opening_hours:
        return None
    day = t.astimezone(settings.zone).date() - _ONE_DAY
    for _ in range(_DEADLINE_MAX_CHUNKS):
        chunk_end = day + timedelta(days=_DEADLINE_CHUNK_DAYS - 1)
        intervals = open_intervals(settings, day, chunk_end)
        for _, w_end, local_day in intervals:
            if w_end > t:
                return _day_closes(intervals)[local_day]
        day = chunk_end + _ONE_DAY
    return None


def business_cutoff(settings: BusinessCalendar, end: datetime, seconds: float) -> datetime:
    """The latest instant with at least `seconds` open seconds between it and `end` (the inverse of
    business_seconds: business_seconds(settings, cutoff, end) == seconds when there is enough open time).

    Something that started at or before it is `seconds` business-seconds old at `end`; after it, younger.
    Walks back over the opening windows a month at a time; the epoch when ~6.5 years hold too little.
    """
    _require_aware(end, "end")
    if seconds <= 0:
        return end
    remaining = float(seconds)
    last_day = end.astimezone(settings.zone).date() + _ONE_DAY
    for _ in range(_CUTOFF_MAX_CHUNKS):
        first_day = last_day - timedelta(days=_CUTOFF_CHUNK_DAYS)
        for w_start, w_end, _day in reversed(open_intervals(settings, first_day, last_day)):
            hi = min(w_end, end)
            if hi <= w_start:
                continue
            length = (hi - w_start).total_seconds()
            if length >= remaining:
                return hi - timedelta(seconds=remaining)
            remaining -= length
        last_day = first_day - _ONE_DAY
    return _EPOCH


# --------------------------------------------------------------------------------------------------
# Vectorised calendar for SQL
# --------------------------------------------------------------------------------------------------


def calendar_frame(settings: BusinessCalendar, start: date, end: date) -> pl.DataFrame:
    """One row per opening window of local dates start..end (see CALENDAR_SCHEMA).

    cum_open_before = open seconds of all earlier windows of the frame, so for the window w with the
    greatest window_start <= t: F(t) = w.cum_open_before + clamp(t - w.window_start, 0, len(w)).
    """
    intervals = open_intervals(settings, start, end)
    closes = _day_closes(intervals)
    lengths_us = [(e - s) // _ONE_US for s, e, _ in intervals]
    cum_us = list(accumulate(lengths_us, initial=0))[:-1]
    return pl.DataFrame(
        {
            "window_start": [s for s, _, _ in intervals],
            "window_end": [e for _, e, _ in intervals],
            "local_date": [d for _, _, d in intervals],
            "day_close": [closes[d] for _, _, d in intervals],
            "cum_open_before": [c / 1e6 for c in cum_us],
        },
        schema=CALENDAR_SCHEMA,
    )


def _check_table(name: str) -> str:
    if not _TABLE_RE.match(name):
        raise ValueError(f"{name!r} is not a plain table name like 'business_calendar' or 'main.cal'")
    return name


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def register_calendar(
    con: duckdb.DuckDBPyConnection,
    settings: BusinessCalendar,
    start: date,
    end: date,
    table: str = "business_calendar",
    *,
    temporary: bool = False,
) -> int:
    """CREATE OR REPLACE [TEMP] TABLE {table} from calendar_frame(settings, start, end); returns its row count.

    Columns: window_start, window_end, day_close TIMESTAMPTZ; local_date DATE; cum_open_before DOUBLE.
    """
    table = _check_table(table)
    frame = calendar_frame(settings, start, end)
    view = "_replyboard_calendar_src"
    con.register(view, frame.to_arrow())
    try:
        con.execute(
            f"CREATE OR REPLACE {'TEMP ' if temporary else ''}TABLE {table} AS SELECT window_start, window_end, local_date, day_close, "
            f"cum_open_before FROM {view} ORDER BY window_start"
        )
    finally:
        con.unregister(view)
    return frame.height


def register_calendar_around(
    con: duckdb.DuckDBPyConnection,
    settings: BusinessCalendar,
    first: datetime | None,
    last: datetime | None,
    table: str = "business_calendar",
    *,
    temporary: bool = False,
) -> int:
    """register_calendar covering the instants first..last: from CALENDAR_DAYS_BEFORE days before first's
    local date to CALENDAR_DAYS_AFTER days after last's. No instants (None): the table, empty."""
    if first is None or last is None:
        start, end = date(2000, 1, 2), date(2000, 1, 1)  # an empty range: the schema, no rows
    else:
        start = first.astimezone(settings.zone).date() - timedelta(days=CALENDAR_DAYS_BEFORE)
        end = last.astimezone(settings.zone).date() + timedelta(days=CALENDAR_DAYS_AFTER)
    return register_calendar(con, settings, start, end, table, temporary=temporary)


def f_of_t_sql(t: str, w: str) -> str:
    """F(t) SQL expression for timestamp expression t and calendar alias w (see F_OF_T_SQL)."""
    return F_OF_T_SQL.format(t=t, w=w)


def business_seconds_query(
    source: str,
    start_col: str = "start_ts",
    end_col: str = "end_ts",
    calendar: str = "business_calendar",
    alias: str = "business_seconds",
    *,
    in_hours_alias: str | None = None,
) -> str:
    """SQL returning every row of source plus a DOUBLE column {alias} of business seconds, and with
    in_hours_alias a BOOLEAN column of that name: whether start_col fell inside an opening window.

    source is a table/view name or a parenthesised subquery; start_col/end_col are TIMESTAMPTZ columns.
    """
    start, end = _quote(start_col), _quote(end_col)
    extra = IN_HOURS_SQL.format(start=start, alias=_quote(in_hours_alias)) if in_hours_alias else ""
    return BUSINESS_SECONDS_SQL.format(
        source=source,
        start=start,
        end=end,
        alias=_quote(alias),
        extra=extra,
        calendar=_check_table(calendar),
        f_start=f_of_t_sql(f"s.{start}", "_bt_b"),
        f_end=f_of_t_sql(f"s.{end}", "_bt_e"),
    )


def deadline_query(
    source: str, ts_col: str = "ts", calendar: str = "business_calendar", alias: str = "deadline"
) -> str:
    """SQL returning every row of source plus a TIMESTAMPTZ column {alias}: the same-business-day deadline."""
    return DEADLINE_SQL.format(source=source, ts=_quote(ts_col), alias=_quote(alias), calendar=_check_table(calendar))
