"""Running compiled metric queries: the same filters, dimensions and n for every metric, on any caller.

``compute(con, names, by=(...), filters=..., params=...)`` returns one row per group with every dimension's
value, each metric and its ``_n``; a rate or score (units ratio, score, nps) also gets ``_low_n``: true when its
n is below ``params.min_n`` (the settings' min_n), so every page and export can flag a figure a handful of rows
make. Split by a calendar period (day, week, month) each row also carries ``partial``: true when the period
reaches outside the days the query covers (the date filters, and the data's first to last day with
messages, whole days), as a trend's first and last week usually do. The run-time parameters a query needs
(the end of the data, the age cutoffs of the rates, the reporting settings) are bound here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from metrics.compiler import CompiledQuery, CompileError, Filters, compile_metrics
from metrics.derived import derived_settings, settings_from_key
from metrics.params import Params
from metrics.registry import BEYOND_SCORE_RE, FOLLOW_UP_SECONDS, METRICS, REGISTRY
from metrics.spec import RATE_OR_SCORE_UNITS, SimpleMetric
from replyboard import business_time
from replyboard.contract import MessageKind, ParseStatus
from replyboard.settings import DerivationSettings
from replyboard.warehouse import frame, one

__all__ = ["CompileError", "Filters", "MetricError", "Params", "compare", "compute", "derived_settings", "run_compiled"]

MetricError = CompileError  # the name callers catch
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def zero_when_empty(name: str) -> bool:
    """A count or sum over no rows is 0, not unknown."""
    metric = METRICS[name]
    return isinstance(metric, SimpleMetric) and REGISTRY.measures[metric.measure].agg in (
        "count",
        "count_distinct",
        "sum",
    )


def as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The end of the data: the newest message (so historical data isn't judged against today)."""
    row = one(con, "SELECT max(created_at) FROM messages")
    return row[0] if row else None


def data_bounds(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """First and last local day with messages."""
    row = one(con, "SELECT CAST(min(created_local) AS DATE), CAST(max(created_local) AS DATE) FROM messages")
    return (row[0], row[1]) if row else (None, None)


def flags_low_n(name: str) -> bool:
    """A rate or score: its value gets a ``_low_n`` flag."""
    return METRICS[name].unit in RATE_OR_SCORE_UNITS


def period_last_day(first: date, period: str) -> date:
    """The last day of the day / week (Monday first) / month that starts on ``first``."""
    if period == "day":
        return first
    if period == "week":
        return first + timedelta(days=6)
    next_month = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return next_month - timedelta(days=1)


def _partial_periods(
    con: duckdb.DuckDBPyConnection, result: pl.DataFrame, dims: Sequence[str], filters: Filters
) -> pl.DataFrame:
    """Add ``partial``: whether a row's period reaches outside the covered days (filters ∩ the data's days)."""
    periods = [(d, p) for d in dims if (p := REGISTRY.dimensions[d].period)]
    if not periods:
        return result
    first, last = data_bounds(con)
    lo = max((d for d in (filters.date_from, first) if d is not None), default=None)
    hi = min((d for d in (filters.date_to, last) if d is not None), default=None)

    def partial(row: dict) -> bool | None:
        starts = [(row[d], p) for d, p in periods]
        if any(start is None for start, _ in starts):
            return None
        return any(
            (lo is not None and start < lo) or (hi is not None and period_last_day(start, p) > hi)
            for start, p in starts
        )

    flags = [partial(row) for row in result.select([d for d, _ in periods]).iter_rows(named=True)]
    return result.with_columns(pl.Series("partial", flags, dtype=pl.Boolean))


def business_cutoff(settings: DerivationSettings, end: datetime, seconds: float) -> datetime:
    """replyboard.business_time.business_cutoff, cached on the derivation key: pages and OKRs ask for the
    same few cutoffs again and again."""
    return _business_cutoff(settings.model_dump_json(), end, seconds)


@functools.lru_cache(maxsize=64)
def _business_cutoff(key: str, end: datetime, seconds: float) -> datetime:
    return business_time.business_cutoff(settings_from_key(key), end, seconds)


def _age_cutoff(con: duckdb.DuckDBPyConnection, end: datetime, seconds: float, params: Params) -> datetime:
    """Blocks that started at or before this are at least `seconds` old at `end`, in the chosen hours."""
    if params.hours == "business":
        return business_cutoff(derived_settings(con), end, seconds)
    return end - timedelta(seconds=seconds)


def bindings(con: duckdb.DuckDBPyConnection, needs: frozenset[str] | set[str], params: Params) -> dict[str, object]:
    """Values of the named run-time parameters a compiled query needs (computed only when needed)."""
    out: dict[str, object] = {}
    end: datetime | None = None

    def data_end() -> datetime:
        nonlocal end
        if end is None:
            end = as_of(con) or _EPOCH
        return end

    overlay = params.overlay.bindings()
    for name in needs:
        if name.startswith("kind_"):
            out[name] = MessageKind(name.removeprefix("kind_")).value
        elif name.startswith("status_"):
            out[name] = ParseStatus(name.removeprefix("status_")).value
        elif name in overlay:
            out[name] = overlay[name]
        elif name == "as_of":
            out[name] = data_end()
        elif name == "target_seconds":
            out[name] = params.target_seconds
        elif name == "target_cutoff":
            out[name] = _age_cutoff(con, data_end(), params.target_seconds, params)
        elif name == "follow_up_cutoff":
            out[name] = _age_cutoff(con, data_end(), FOLLOW_UP_SECONDS, params)
        elif name == "survey_cutoff":
            hours = derived_settings(con).survey_prompts.reply_window_hours
            out[name] = data_end() - timedelta(hours=hours)
        elif name == "satisfied_at_least":
            out[name] = params.satisfied_at_least
        elif name == "typing_allowance_seconds":
            out[name] = params.typing_allowance_seconds
        elif name == "beyond_score_re":
            out[name] = BEYOND_SCORE_RE
        else:
            raise CompileError(f"no value for parameter ${name}")
    return out


def run_compiled(con: duckdb.DuckDBPyConnection, query: CompiledQuery, params: Params) -> pl.DataFrame:
    return frame(con, query.sql, {**query.params, **bindings(con, query.needs, params)})


def _by(by: str | Sequence[str] | None) -> tuple[str, ...]:
    if by is None:
        return ()
    return (by,) if isinstance(by, str) else tuple(by)


def compute(
    con: duckdb.DuckDBPyConnection,
    names: Sequence[str],
    *,
    by: str | Sequence[str] | None = None,
    filters: Filters = Filters(),
    params: Params = Params(),
    where: Mapping[str, object] | None = None,
) -> pl.DataFrame:
    """One row per group (or one row): each dimension of ``by`` under its name, each metric and its ``_n``.

    ``where`` restricts to one group (dimension -> value; None for the "no value" group), as a drill-down does.
    """
    dims = _by(by)
    names = list(dict.fromkeys(names))
    queries = compile_metrics(REGISTRY, names, dims, filters, params.hours, where, params.scope)
    result: pl.DataFrame | None = None
    for query in queries:
        part = run_compiled(con, query, params)
        if result is None:
            result = part
        elif dims:
            # nulls_equal: the "no agent / no team" group of each fact is one and the same row
            result = result.join(part, on=list(dims), how="full", coalesce=True, nulls_equal=True)
        else:
            result = pl.concat([result, part], how="horizontal")
    assert result is not None
    for name in names:
        if zero_when_empty(name):
            result = result.with_columns(pl.col(name).fill_null(0))
        result = result.with_columns(pl.col(f"{name}_n").fill_null(0).cast(pl.Int64))
        if flags_low_n(name):
            result = result.with_columns((pl.col(f"{name}_n") < params.min_n).alias(f"{name}_low_n"))
    if dims:
        result = _partial_periods(con, result.sort(list(dims), nulls_last=True), dims, filters)
        if "weekday" in dims:
            result = result.with_columns(
                pl.col("weekday").map_elements(lambda d: WEEKDAY_NAMES[d - 1], return_dtype=pl.String)
            )
    # the flags come last, so the columns a CSV reader knew keep their positions
    columns = [*dims, *(c for n in names for c in (n, f"{n}_n"))]
    columns += [f"{n}_low_n" for n in names if flags_low_n(n)]
    return result.select([*columns, *(["partial"] if "partial" in result.columns else [])])


def compare(
    con: duckdb.DuckDBPyConnection, names: list[str], filters: Filters, params: Params = Params()
) -> dict[str, dict[str, float | int | None]]:
    """Each metric now and over the previous same-length window: {name: {value, n, previous, previous_n}}."""
    now = compute(con, names, filters=filters, params=params).row(0, named=True)
    before = compute(con, names, filters=filters.previous(), params=params).row(0, named=True)
    return {
        n: {"value": now[n], "n": now[f"{n}_n"], "previous": before[n], "previous_n": before[f"{n}_n"]} for n in names
    }
