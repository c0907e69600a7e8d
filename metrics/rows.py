"""Drill-downs: the rows behind a number (inquiry blocks, conversations, messages, survey replies, contacts).

``rows(con, "reply_time_median", filters=..., where={"agent": "a1"})`` lists the rows the metric aggregates
for those filters and that group, each with its own value (reply seconds, score, typing seconds) and, for a
rate, whether the row counts in its numerator. Contact numbers are masked to their last four digits: the only
place raw numbers appear is the Explore page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from metrics.compiler import NULL_GROUP, CompileError, Filters, RowOrder, compile_rows
from metrics.params import Params
from metrics.query import WEEKDAY_NAMES, as_of, derived_settings, run_compiled
from metrics.registry import DIMENSIONS, REGISTRY
from replyboard.business_time import business_seconds_until
from replyboard.phones import mask_number

MAX_PAGE = 10_000


@dataclass(frozen=True)
class Rows:
    metric: str
    row: str  # what one row is ("inquiry block")
    rows: str  # plural
    value_column: str | None  # the column holding each row's own value (reply seconds, score...)
    frame: pl.DataFrame
    total: int  # rows behind the number, all pages
    offset: int


def parse_where(items: Sequence[str]) -> dict[str, object]:
    """``["agent=a1", "weekday=Monday", "team="]`` -> typed group values (an empty value: the no-value group)."""
    out: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep:
            raise CompileError(f"--where {item!r}: write DIMENSION=VALUE, e.g. agent=a1")
        if name not in DIMENSIONS:
            raise CompileError(f"--where {item!r}: unknown dimension {name!r}; valid: {', '.join(DIMENSIONS)}")
        if name in out:
            raise CompileError(f"--where {name}= is given twice")
        out[name] = group_value(name, text)
    return out


def group_value(dimension: str, text: str | None) -> object:
    """A dimension's value as the compiled SQL compares it (dates, weekday number, hour)."""
    if text is None or text == "":
        return NULL_GROUP
    try:
        if dimension in ("day", "week", "month"):
            return date.fromisoformat(text)
        if dimension == "weekday":
            names = [w.lower() for w in WEEKDAY_NAMES]
            return names.index(text.lower()) + 1 if text.lower() in names else _bounded(int(text), 1, 7)
        if dimension == "hour":
            return _bounded(int(text), 0, 23)
    except ValueError:
        raise CompileError(f"{dimension}={text!r} is not a valid {DIMENSIONS[dimension].label}") from None
    return text


def _bounded(value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ValueError(value)
    return value


def rows(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    filters: Filters = Filters(),
    params: Params = Params(),
    where: Mapping[str, object] | None = None,
    order: RowOrder = "time",
    descending: bool = False,
    limit: int | None = 100,
    offset: int = 0,
    extra_columns: Sequence[str] = (),
    value_range: tuple[float | None, float | None] = (None, None),
) -> Rows:
    """One page of the rows behind ``name`` (``limit`` None: all of them) and how many there are in all.

    ``value_range`` (low, high): only rows whose own value is >= low and < high (a histogram bucket).
    With ``params.hours == "business"`` an unanswered block's ``waiting_seconds`` is its wait in business
    time (opening hours of the calendar the warehouse was derived with), like its reply time would be."""
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        raise CompileError(f"a page holds 1 to {MAX_PAGE:,} rows, not {limit}")
    if offset < 0:
        raise CompileError("the offset cannot be negative")
    listing, count = compile_rows(
        REGISTRY,
        name,
        filters,
        params.hours,
        where,
        order=order,
        descending=descending,
        limit=limit,
        offset=offset,
        extra_columns=extra_columns,
        value_range=value_range,
        scope=params.scope,
    )
    frame = run_compiled(con, listing, params)
    if params.hours == "business" and "waiting_seconds" in frame.columns and "started_at" in frame.columns:
        frame = frame.with_columns(
            pl.when(pl.col("waiting_seconds").is_not_null())
            .then(business_waits(con, frame["started_at"]))
            .alias("waiting_seconds")
        )
    total = int(run_compiled(con, count, params)["rows"][0])
    frame = frame.rename({"t": "local_time", "first_t": "first_local_time", "last_t": "last_local_time"}, strict=False)
    if "contact_number" in frame.columns:
        frame = frame.with_columns(
            pl.col("contact_number").map_elements(mask_number, return_dtype=pl.String, skip_nulls=False)
        )
    metric = REGISTRY.metrics[name]
    fact = REGISTRY.fact_of(metric)
    return Rows(name, fact.row, fact.rows, metric.value_column, frame, total, offset)


def business_waits(con: duckdb.DuckDBPyConnection, started: pl.Series) -> pl.Series:
    """Open business seconds from each start to the end of the data, on the calendar the warehouse was
    derived with (replyboard.business_time, the one implementation).

    Ordering by calendar wait orders by business wait too (F never decreases), so a page sorted in SQL stays
    sorted once its waits are converted."""
    end = as_of(con)
    if end is None:
        return pl.Series(started.name, [None] * len(started), dtype=pl.Float64)
    waits = business_seconds_until(derived_settings(con), started.to_list(), end)
    return pl.Series(started.name, waits, dtype=pl.Float64)
