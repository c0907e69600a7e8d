"""Running compiled metric queries: the same filters, dimensions and n for every metric, on any caller.

``compute(con, names, by=(...), filters=..., params=...)`` returns one row per group with every dimension's
value, each metric and its ``_n``. The run-time parameters a query needs (the end of the data, the age cutoffs
of the rates, the reporting settings) are bound here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl

from metrics.compiler import CompiledQuery, CompileError, Filters, compile_metrics
from metrics.derived import derived_settings, settings_from_key
from metrics.params import Params
from metrics.registry import BEYOND_SCORE_RE, FOLLOW_UP_SECONDS, METRICS, REGISTRY
from metrics.spec import SimpleMetric
from replyboard import business_time
from replyboard.contract import MessageKind, ParseStatus
from replyboard.settings import Settings
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


def business_cutoff(settings: Settings, end: datetime, seconds: float) -> datetime:
    """replyboard.business_time.business_cutoff, cached on the settings' derivation key: pages and OKRs ask
    for the same few cutoffs again and again."""
    return _business_cutoff(settings.derivation_key(), end, seconds)


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
    if dims:
        result = result.sort(list(dims), nulls_last=True)
        if "weekday" in dims:
            result = result.with_columns(
                pl.col("weekday").map_elements(lambda d: WEEKDAY_NAMES[d - 1], return_dtype=pl.String)
            )
    return result.select([*dims, *(c for n in names for c in (n, f"{n}_n"))])


def compare(
    con: duckdb.DuckDBPyConnection, names: list[str], filters: Filters, params: Params = Params()
) -> dict[str, dict[str, float | int | None]]:
    """Each metric now and over the previous same-length window: {name: {value, n, previous, previous_n}}."""
    now = compute(con, names, filters=filters, params=params).row(0, named=True)
    before = compute(con, names, filters=filters.previous(), params=params).row(0, named=True)
    return {
        n: {"value": now[n], "n": now[f"{n}_n"], "previous": before[n], "previous_n": before[f"{n}_n"]} for n in names
    }
