"""Turning metric declarations into SQL: the same filters, groupings and n for every metric."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl
from pydantic import ValidationError

from metrics.registry import DIMENSIONS, FACTS, FOLLOW_UP_SECONDS, METRICS, Metric
from replyboard.business_time import open_intervals
from replyboard.settings import Settings
from replyboard.warehouse import frame, one

ZERO_WHEN_EMPTY = ("count", "count distinct", "sum")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DIMENSION_SQL = {
    "agent": "agent_id",
    "team": "team",
    "line": "line_number",
    "channel": "channel",
    "direction": "direction",
    "day": "CAST(t AS DATE)",
    "week": "CAST(date_trunc('week', t) AS DATE)",
    "month": "CAST(date_trunc('month', t) AS DATE)",
    "weekday": "isodow(t)",
    "hour": "hour(t)",
}


class MetricError(ValueError):
    """An unknown metric or dimension, or a dimension a metric cannot be split by."""


@dataclass(frozen=True)
class Filters:
    """Dates are inclusive, in the team timezone, applied to each metric's time anchor."""

    date_from: date | None = None
    date_to: date | None = None
    lines: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def previous(self) -> Filters:
        """The same-length window just before this one (for deltas and OKR baselines)."""
        if self.date_from is None or self.date_to is None:
            raise MetricError("a previous period needs both a start and an end date")
        length = (self.date_to - self.date_from).days + 1
        return replace(
            self, date_from=self.date_from - timedelta(days=length), date_to=self.date_from - timedelta(days=1)
        )


@dataclass(frozen=True)
class Options:
    hours: str = "calendar"  # calendar | business
    target_minutes: float = 120
    satisfied_at_least: int = 8
    typing_allowance_seconds: int = 120


def check_names(names: list[str], by: str | None = None) -> None:
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise MetricError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; valid: {', '.join(METRICS)}"
        )
    if by is not None:
        if by not in DIMENSIONS:
            raise MetricError(f"unknown dimension {by!r}; valid: {', '.join(DIMENSIONS)}")
        cannot = [n for n in names if by not in METRICS[n].dimensions]
        if cannot:
            raise MetricError(
                f"{', '.join(cannot)} cannot be split by {by}; valid: {', '.join(METRICS[cannot[0]].dimensions)}"
            )


def _where(filters: Filters) -> tuple[str, dict]:
    clauses, params = [], {}
    if filters.date_from:
        clauses.append("t >= $date_from")
        params["date_from"] = datetime.combine(filters.date_from, datetime.min.time())
    if filters.date_to:
        clauses.append("t < $date_to")
        params["date_to"] = datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
    for name, column in (("lines", "line_number"), ("channels", "channel"), ("agents", "agent_id"), ("teams", "team")):
        values = getattr(filters, name)
        if values:
            clauses.append(f"list_contains(${name}, {column})")
            params[name] = list(values)
    return (" AND ".join(clauses) or "true"), params


def as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The end of the data: the newest message (so historical data isn't judged against today)."""
    row = one(con, "SELECT max(created_at) FROM messages")
    return row[0] if row else None


def derived_settings(con: duckdb.DuckDBPyConnection) -> Settings:
    """The settings the warehouse's facts were derived with (business hours, survey window), else defaults."""
    try:
        row = one(con, "SELECT value FROM meta WHERE key = 'derivation_key'")
    except duckdb.Error:  # no meta table
        return Settings()
    return _settings_from_key(row[0] if row else None)


@functools.lru_cache(maxsize=8)
def _settings_from_key(key: str | None) -> Settings:
    try:
        return Settings.model_validate_json(key) if key else Settings()
    except ValidationError:  # a key written by another version
        return Settings()


def business_cutoff(settings: Settings, end: datetime, seconds: float) -> datetime:
    """The latest instant with at least `seconds` open business seconds between it and `end`.

    A block that started at or before it is `seconds` business-seconds old at `end` (F(end) - F(start) >=
    seconds); one that started after it is younger. Walks back over the opening windows a month at a time.
    """
    return _business_cutoff(settings.derivation_key(), end, seconds)


@functools.lru_cache(maxsize=64)  # pages and OKRs ask for the same few cutoffs again and again
def _business_cutoff(key: str, end: datetime, seconds: float) -> datetime:
    settings = _settings_from_key(key)
    if seconds <= 0:
        return end
    remaining = float(seconds)
    zone = settings.zone
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    for _ in range(80):  # ~6.5 years back; a calendar with no opening hours at all ends the search
        first_day = last_day - timedelta(days=30)
        for w_start, w_end, _day in reversed(open_intervals(settings, first_day, last_day)):
            hi = min(w_end, end)
            if hi <= w_start:
                continue
            length = (hi - w_start).total_seconds()
            if length >= remaining:
                return hi - timedelta(seconds=remaining)
            remaining -= length
        last_day = first_day - timedelta(days=1)
    return datetime(1970, 1, 1, tzinfo=end.tzinfo)


def _age_cutoff(con: duckdb.DuckDBPyConnection, end: datetime, seconds: float, options: Options) -> datetime:
    """Blocks that started at or before this are at least `seconds` old at `end`, in the chosen hours."""
    if options.hours == "business":
        return business_cutoff(derived_settings(con), end, seconds)
    return end - timedelta(seconds=seconds)


def _render(expr: str, options: Options) -> str:
    return (
        expr.replace("{secs}", "business_seconds" if options.hours == "business" else "calendar_seconds")
        .replace("{target}", repr(float(options.target_minutes) * 60))
        .replace("{as_of}", "$as_of")
        .replace("{target_cutoff}", "$target_cutoff")
        .replace("{follow_up_cutoff}", "$follow_up_cutoff")
        .replace("{survey_cutoff}", "$survey_cutoff")
        .replace("{satisfied}", str(int(options.satisfied_at_least)))
    )


def _fact_query(
    fact: str, metrics: list[Metric], by: str | None, where: str, options: Options, with_team: bool = True
) -> str:
    key = f"{_DIMENSION_SQL[by]} AS key, " if by else ""
    group = " GROUP BY ALL" if by else ""
    cols = ", ".join(
        f'{_render(m.value, options)} AS "{m.name}", {_render(m.n, options)} AS "{m.name}_n"' for m in metrics
    )
    base = f"SELECT * FROM ({FACTS[fact].rows(with_team)}) WHERE {where}"
    stage = metrics[0].stage
    if stage == "replies":
        # Spans merge over ALL of an agent's replies before any filter, so a filtered value (one line, one
        # day) always equals that group's value in a grouped report, and groups sum to the total.
        allowance = int(options.typing_allowance_seconds)
        base = (
            f"SELECT * FROM (SELECT *, coalesce(least({allowance}, epoch(created_at) - epoch(lag(created_at) "
            f"OVER (PARTITION BY agent_id ORDER BY created_at))), {allowance}) AS span "
            f"FROM ({FACTS[fact].rows(with_team)}) WHERE kind = 'human_reply') WHERE {where}"
        )
    elif stage == "contacts":
        inner_key = f"{_DIMENSION_SQL[by]} AS key, " if by else ""
        base = f"SELECT {inner_key}contact_number, count(*) AS conversations FROM ({base}) GROUP BY ALL"
        key = "key, " if by else ""
    return f"SELECT {key}{cols} FROM ({base}){group}"


def compute(
    con: duckdb.DuckDBPyConnection,
    names: list[str],
    *,
    by: str | None = None,
    filters: Filters = Filters(),
    options: Options = Options(),
) -> pl.DataFrame:
    """One row per group (or one row): the group key under `by`'s name, each metric and its `_n`."""
    check_names(names, by)
    where, params = _where(filters)
    end = as_of(con) or datetime(1970, 1, 1, tzinfo=UTC)
    params["as_of"] = end
    rendered = " ".join(_render(METRICS[n].value + METRICS[n].n, options) for n in names)
    if "$target_cutoff" in rendered:
        params["target_cutoff"] = _age_cutoff(con, end, float(options.target_minutes) * 60, options)
    if "$follow_up_cutoff" in rendered:
        params["follow_up_cutoff"] = _age_cutoff(con, end, FOLLOW_UP_SECONDS, options)
    if "$survey_cutoff" in rendered:
        hours = derived_settings(con).survey_prompts.reply_window_hours
        params["survey_cutoff"] = end - timedelta(hours=hours)
    batches: dict[tuple[str, str | None], list[Metric]] = {}
    for name in dict.fromkeys(names):
        metric = METRICS[name]
        batches.setdefault((metric.fact, metric.stage), []).append(metric)
    result: pl.DataFrame | None = None
    for (fact, _), group in batches.items():
        sql = _fact_query(fact, group, by, where, options, with_team=by == "team" or bool(filters.teams))
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        part = frame(con, sql, used)
        if result is None:
            result = part
        elif by:
            # nulls_equal: the "no agent / no team" group of each fact is one and the same row
            result = result.join(part, on="key", how="full", coalesce=True, nulls_equal=True)
        else:
            result = pl.concat([result, part], how="horizontal")
    assert result is not None
    for name in names:
        if METRICS[name].aggregation in ZERO_WHEN_EMPTY:  # a count or sum over no rows is 0, not unknown
            result = result.with_columns(pl.col(name).fill_null(0))
        result = result.with_columns(pl.col(f"{name}_n").fill_null(0).cast(pl.Int64))
    if by:
        result = result.sort("key", nulls_last=True)
        if by == "weekday":
            result = result.with_columns(
                pl.col("key").map_elements(lambda d: WEEKDAY_NAMES[d - 1], return_dtype=pl.String)
            )
        result = result.rename({"key": by})
    ordered = ([by] if by else []) + [c for n in dict.fromkeys(names) for c in (n, f"{n}_n")]
    return result.select(ordered)


def compare(
    con: duckdb.DuckDBPyConnection, names: list[str], filters: Filters, options: Options = Options()
) -> dict[str, dict[str, float | int | None]]:
    """Each metric now and over the previous same-length window: {name: {value, n, previous, previous_n}}."""
    now = compute(con, names, filters=filters, options=options).row(0, named=True)
    before = compute(con, names, filters=filters.previous(), options=options).row(0, named=True)
    return {
        n: {"value": now[n], "n": now[f"{n}_n"], "previous": before[n], "previous_n": before[f"{n}_n"]} for n in names
    }


def busiest_matrix(con: duckdb.DuckDBPyConnection, filters: Filters, measure: str = "inbound_messages") -> pl.DataFrame:
    """Weekday x hour (team timezone): inbound messages or new conversations per week, on average.

    Each cell's count is divided by how many times that weekday occurs in the window, so a window of
    five Mondays and four Sundays compares fairly.
    """
    fact, cond = {
        "inbound_messages": ("messages", "direction = 'inbound'"),
        "new_conversations": ("conversations", "true"),
    }[measure]
    where, params = _where(filters)
    counts = frame(
        con,
        f"""
        SELECT isodow(t) AS weekday, hour(t) AS hour, count(*) AS n
        FROM ({FACTS[fact].sql}) WHERE {where} AND {cond} GROUP BY ALL
        """,
        params,
    )
    first, last = filters.date_from, filters.date_to
    if first is None or last is None:  # an open end: the data's own first / last local day
        span = one(con, f"SELECT min(CAST(t AS DATE)), max(CAST(t AS DATE)) FROM ({FACTS[fact].sql})")
        first = first or (span[0] if span and span[0] else date.today())
        last = last or (span[1] if span and span[1] else date.today())
    occurrences = [0] * 7
    day = first
    while day <= last:
        occurrences[day.weekday()] += 1
        day += timedelta(days=1)
    grid = pl.DataFrame(
        {"weekday": [d for d in range(1, 8) for _ in range(24)], "hour": list(range(24)) * 7},
        schema={"weekday": pl.Int64, "hour": pl.Int64},
    )
    out = grid.join(counts.with_columns(pl.col("weekday", "hour").cast(pl.Int64)), on=["weekday", "hour"], how="left")
    out = out.sort("weekday", "hour")
    weeks = pl.Series([max(occurrences[d - 1], 1) for d in out["weekday"]])
    return out.with_columns(
        pl.col("n").fill_null(0),
        (pl.col("n").fill_null(0) / weeks).alias("per_week"),
        pl.col("weekday").map_elements(lambda d: WEEKDAY_NAMES[d - 1], return_dtype=pl.String).alias("weekday_name"),
    )
