"""How numbers are written for people: durations, rates, scores and counts (pages, CSVs, CLI tables, digests).

One module, so a figure reads the same on a KPI card, in a table, in a CSV header and in the CLI's table:

* durations pick their unit by size (45 s, 12 min, 3.4 h, 2.1 d); a table column picks one unit for all its
  cells by their typical size, so the column still sorts as numbers;
* rates are percentages with one decimal (62.7%, 100.0%), changes of a rate are percentage points;
* scores two decimals, NPS a whole number, counts whole numbers with thousands separators;
* CSVs keep numbers (a spreadsheet sums them) with the unit in the header (``first_response_time_median_min``,
  ``same_business_day_response_rate_pct``), rounded to what the figure means.

Units are the read layer's (``metrics.spec``): seconds, ratio, score, nps, count; "number" is anything else.
JSON output stays raw numbers; nothing here is for machines.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import NamedTuple, TypeGuard

import polars as pl

DASH = "–"
MINUS = "-"  # ASCII, as Streamlit's st.metric and a spreadsheet read a negative change

# A duration is written in the largest unit it has at least 1.5 of (90 s is "2 min", 36 h "1.5 d" is not:
# up to two days read better in hours, the night and the weekend included).
_SECONDS_UP_TO = 90
_MINUTES_UP_TO = 90 * 60
_HOURS_UP_TO = 48 * 3600


class Scale(NamedTuple):
    """One unit for a column of durations: divide seconds by ``divisor``, write ``suffix`` after."""

    divisor: float
    suffix: str  # s, min, h, d
    decimals: int


SECONDS = Scale(1, "s", 0)
MINUTES = Scale(60, "min", 1)
HOURS = Scale(3600, "h", 1)
DAYS = Scale(86400, "d", 1)


def duration_scale(seconds: float) -> Scale:
    """The unit a duration of this size is written in."""
    size = abs(seconds)
    if size < _SECONDS_UP_TO:
        return SECONDS
    if size < _MINUTES_UP_TO:
        return MINUTES
    if size < _HOURS_UP_TO:
        return HOURS
    return DAYS


def column_scale(values: Iterable[float | None]) -> Scale:
    """One unit for a column: the one its median value is written in (minutes when it has no value)."""
    known = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return duration_scale(statistics.median(known)) if known else MINUTES


def _finite(value: float | int | None) -> TypeGuard[float]:
    return value is not None and math.isfinite(float(value))


def fmt_duration(seconds: float | None) -> str:
    """The unit chosen by size: 45 s, 12 min, 3.4 h, 2.0 d (minutes whole, hours and days to a tenth)."""
    if not _finite(seconds):
        return DASH
    assert seconds is not None
    value = float(seconds)
    scale = duration_scale(value)
    digits = 0 if scale in (SECONDS, MINUTES) else 1
    magnitude = round(abs(value) / scale.divisor, digits)
    return (MINUS if value < 0 and magnitude else "") + f"{magnitude:.{digits}f} {scale.suffix}"


def fmt_rate(value: float | None, digits: int = 1) -> str:
    """A share 0-1 as a percentage: 0.62667 -> 62.7%."""
    return f"{float(value) * 100:.{digits}f}%" if _finite(value) else DASH


def fmt_number(value: float | int | None, digits: int = 0) -> str:
    """1234.5 -> 1,235 (or 1,234.50 with digits=2)."""
    if _finite(value):
        return f"{float(value):,.{digits}f}"
    return DASH


def fmt_score(value: float | None) -> str:
    """A mean survey score on its scale: 7.2347 -> 7.23."""
    return fmt_number(value, 2)


def fmt_count(value: float | int | None) -> str:
    """A count: whole numbers with separators; an average count (per week, per conversation) to a tenth."""
    if not _finite(value):
        return DASH
    assert value is not None
    return fmt_number(value, 0 if float(value).is_integer() else 1)


def fmt_value(unit: str | None, value: float | int | None) -> str:
    """A figure by its unit (the registry's: seconds, ratio, score, nps, count)."""
    if unit == "seconds":
        return fmt_duration(value)
    if unit == "ratio":
        return fmt_rate(value)
    if unit == "score":
        return fmt_score(value)
    if unit == "nps":
        return fmt_number(value, 0)
    if unit == "count":
        return fmt_count(value)
    if isinstance(value, float):
        return fmt_number(value, 2)
    return fmt_number(value)


def fmt_target(unit: str | None, comparator: str, value: float) -> str:
    """'≤ 2 h', '≥ 95.0%', '> 7.00': a target as its comparator and value (a round duration without decimals, as
    people set it: 120 minutes is "2 h")."""
    sign = {"gte": "≥", "gt": ">", "lte": "≤", "lt": "<"}.get(comparator, comparator)
    text = fmt_value(unit, value)
    if unit == "seconds":
        text = text.replace(".0 ", " ")
    return f"{sign} {text}"


class Change(NamedTuple):
    """A change between two windows as people read it: its text and whether it rounds to nothing."""

    text: str
    zero: bool


def fmt_change(unit: str | None, value: float | None, previous: float | None) -> Change | None:
    """'+528', '-2 min', '+1.9 pts', '-0.11'; a change that rounds to zero is 'no change'. None when a side is
    unknown."""
    if not (_finite(value) and _finite(previous)):
        return None
    assert value is not None and previous is not None
    diff = float(value) - float(previous)
    if unit == "ratio":
        magnitude = f"{abs(diff) * 100:.1f} pts"
    elif unit == "seconds":
        magnitude = fmt_duration(abs(diff))
    else:
        magnitude = fmt_value(unit, abs(diff))
    if not any(ch.isdigit() and ch != "0" for ch in magnitude):
        return Change("no change", True)
    return Change(("+" if diff > 0 else MINUS) + magnitude, False)


def fmt_day(day: date | datetime | None) -> str:
    """A day with its year, as people write it: Oct 19, 2026."""
    return DASH if day is None else f"{day:%b} {day.day}, {day.year}"


def fmt_days(first: date, last: date) -> str:
    """A window of days: 'Sep 1-30', 'Sep 20 - Oct 19', 'Dec 28, 2025 - Jan 3, 2026'."""
    if first.year != last.year:
        return f"{fmt_day(first)} - {fmt_day(last)}"
    if first == last:
        return f"{first:%b} {first.day}"
    if first.month == last.month:
        return f"{first:%b} {first.day}-{last.day}"
    return f"{first:%b} {first.day} - {last:%b} {last.day}"


def fmt_age(hours: float) -> str:
    """How old something is, roughly: '5 hours', '3 days', '6 weeks'."""
    if hours < 48:
        n, word = round(hours), "hour"
    elif hours < 14 * 24:
        n, word = round(hours / 24), "day"
    else:
        n, word = round(hours / 168), "week"
    return f"{n} {word}{'' if n == 1 else 's'}"


# ---- CSV: numbers with their unit in the header --------------------------------------------------------------

_CSV_DIGITS = {"score": 2, "nps": 1, "number": 3}


def csv_name(column: str, unit: str | None) -> str:
    """The CSV header of a column: durations in minutes (``_min``), shares in percent (``_pct``)."""
    if unit == "seconds":
        base = column.removesuffix("_seconds")
        return f"{base}_min" if base != "seconds" else "minutes"
    if unit == "ratio":
        return f"{column}_pct"
    return column


def csv_frame(frame: pl.DataFrame, units: Mapping[str, str]) -> pl.DataFrame:
    """The frame as a CSV should hold it: durations in minutes and shares in percent, each to a tenth (the unit in
    the header), scores to two decimals, other decimals to three; instants in UTC and local times, each to the second. ``units``: column -> unit."""
    exprs = []
    for column, dtype in frame.schema.items():
        unit = units.get(column)
        col = pl.col(column)
        if dtype.is_numeric() and unit == "seconds":
            exprs.append((col.cast(pl.Float64) / 60).round(1).alias(csv_name(column, unit)))
        elif dtype.is_numeric() and unit == "ratio":
            exprs.append((col.cast(pl.Float64) * 100).round(1).alias(csv_name(column, unit)))
        elif dtype.is_float():
            exprs.append(col.round(_CSV_DIGITS.get(unit or "number", 3)))
        elif isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:  # an instant: UTC, to the second
            exprs.append(col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        elif isinstance(dtype, pl.Datetime):  # a local time (team timezone), to the second
            exprs.append(col.dt.strftime("%Y-%m-%d %H:%M:%S"))
        else:
            exprs.append(col)
    return frame.select(exprs)
