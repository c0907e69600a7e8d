"""Figures the pages show that are built from metrics: busiest-times matrix, distributions, shares of a total.

Each is computed from registry metrics (metrics.query.compute) or from the rows behind one (metrics.rows), so a
page draws the same numbers the CLI and the digests report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

import duckdb
import polars as pl

from metrics.compiler import CompileError, Filters, compile_rows
from metrics.health import data_bounds
from metrics.params import Params
from metrics.query import WEEKDAY_NAMES, bindings, compute, run_compiled
from metrics.registry import CATALOG, REGISTRY
from metrics.scope import Scope
from replyboard.phones import mask_number
from replyboard.warehouse import frame, one


def weekday_occurrences(first: date, last: date) -> list[int]:
    """How often each weekday (Monday first) occurs between two days, inclusive."""
    counts = [0] * 7
    days = (last - first).days + 1
    for offset in range(min(days, 7)):
        weekday = (first + timedelta(days=offset)).weekday()
        counts[weekday] = len(range(offset, days, 7))
    return counts


def busiest_matrix(
    con: duckdb.DuckDBPyConnection, filters: Filters, metric: str = "inbound_messages", params: Params = Params()
) -> pl.DataFrame:
    """Weekday x hour (team timezone) of a count metric per week on average: weekday (1-7), weekday_name,
    hour, n (the count), per_week (n ÷ how often that weekday occurs in the window, so five Mondays and four
    Sundays compare fairly). An open end of the window is the data's own first / last day."""
    if CATALOG[metric].aggregation != "count":
        raise CompileError(f"{metric} is not a count; the busiest-times matrix needs a count metric")
    counts = compute(con, [metric], by=("weekday", "hour"), filters=filters, params=params)
    first, last = filters.date_from, filters.date_to
    if first is None or last is None:
        lo, hi = data_bounds(con)
        first = first or lo or date.today()
        last = last or hi or date.today()
    occurrences = weekday_occurrences(first, last)
    grid = pl.DataFrame(
        {"weekday": [d for d in range(1, 8) for _ in range(24)], "hour": list(range(24)) * 7},
        schema={"weekday": pl.Int64, "hour": pl.Int64},
    )
    numbered = counts.with_columns(
        pl.col("weekday").replace_strict({n: i + 1 for i, n in enumerate(WEEKDAY_NAMES)}, return_dtype=pl.Int64),
        pl.col("hour").cast(pl.Int64),
        pl.col(metric).cast(pl.Int64).alias("n"),
    ).select("weekday", "hour", "n")
    out = grid.join(numbered, on=["weekday", "hour"], how="left").sort("weekday", "hour")
    weeks = pl.Series([max(occurrences[d - 1], 1) for d in out["weekday"]])
    return out.with_columns(
        pl.col("n").fill_null(0),
        (pl.col("n").fill_null(0) / weeks).alias("per_week"),
        pl.col("weekday").map_elements(lambda d: WEEKDAY_NAMES[d - 1], return_dtype=pl.String).alias("weekday_name"),
    )


def value_histogram(
    con: duckdb.DuckDBPyConnection,
    metric: str,
    edges: Sequence[float],
    *,
    filters: Filters = Filters(),
    params: Params = Params(),
) -> pl.DataFrame:
    """The rows behind ``metric`` counted per bucket of their own value: bucket k holds values above
    the k-th edge and below the next: bucket = how many edges are <= the value (0: below the first edge)."""
    value = REGISTRY.metrics[metric].value_column
    if value is None:
        raise CompileError(f"the rows behind {metric} have no value of their own to bucket")
    listing, _ = compile_rows(REGISTRY, metric, filters, params.hours, limit=None, scope=params.scope)
    sql = (
        f'SELECT len(list_filter($edges, lambda e: e <= "{value}")) AS bucket, count(*) AS n FROM ({listing.sql}) '
        f'WHERE "{value}" IS NOT NULL GROUP BY ALL ORDER BY bucket'
    )
    query = replace(listing, sql=sql, params={**listing.params, "edges": [float(e) for e in edges]})
    return run_compiled(con, query, params)


def with_share(data: pl.DataFrame, column: str, *, within: str | None = None, name: str | None = None) -> pl.DataFrame:
    """Add ``name`` (default share_of_<column>): each row's ``column`` ÷ the total of its ``within`` group
    (None: of all rows); no share where the total is 0."""
    total = pl.col(column).sum().over(within) if within else pl.col(column).sum()
    return data.with_columns(
        pl.when(total > 0).then(pl.col(column) / total).otherwise(None).alias(name or f"share_of_{column}")
    )


def share_of_team(
    con: duckdb.DuckDBPyConnection, metric: str, filters: Filters, params: Params = Params()
) -> pl.DataFrame:
    """Per agent: ``metric`` and its share of the agent's whole team — the team total ignores the agent
    filter, so one selected agent's share stays their share of the team, not 100%."""
    per_agent = compute(con, [metric], by=("agent", "team"), filters=replace(filters, agents=()), params=params)
    shared = with_share(per_agent, metric, within="team", name="share_of_team")
    if filters.agents:
        shared = shared.filter(pl.col("agent").is_in(list(filters.agents)))
    return shared


def conversations_of_agent(
    con: duckdb.DuckDBPyConnection, agent: str, filters: Filters, limit: int = 25, params: Params = Params()
) -> pl.DataFrame:
    """The agent's most recent conversations with a human reply from them (newest first): started, line,
    masked contact, channel, messages, inbound, human replies, the agent's own replies, first replier."""
    listing, _ = compile_rows(
        REGISTRY,
        "human_replies",
        replace(filters, agents=(), teams=()),
        limit=None,
        where={"agent": agent},
        scope=params.scope,
    )
    sql = f"""
        SELECT c.started_local AS started, c.line_number AS line, c.contact_number, c.channel, c.messages,
               c.inbound, c.human_replies, r.replies AS replies_by_agent, coalesce(a.name, c.first_agent_id)
               AS first_agent, c.conversation_id
        FROM conversations c
        JOIN (SELECT conversation_id, count(*) AS replies FROM ({listing.sql}) GROUP BY ALL) r USING (conversation_id)
        LEFT JOIN agents a ON a.agent_id = c.first_agent_id
        ORDER BY c.started_at DESC LIMIT $limit"""
    data = frame(con, sql, {**listing.params, "limit": limit, **bindings(con, listing.needs, params)})
    return data.with_columns(pl.col("contact_number").map_elements(mask_number, return_dtype=pl.String))


def against_team_median(
    con: duckdb.DuckDBPyConnection,
    metrics: Sequence[str],
    filters: Filters,
    params: Params,
    by: str | None = None,
) -> tuple[pl.DataFrame, str | None]:
    """An agent's own figures (per ``by`` period, or over the whole window) beside their team's median agent:
    for each metric and period, the median over the team's agents of each agent's own value. The other agents'
    values are read here, server side, and only their median (and how many agents it is over, ``team_agents``)
    leaves: the result holds no other agent's id, name or value. Returns (frame, the agent's team)."""
    scope = params.scope
    if scope.role != "agent" or not scope.agent:
        raise CompileError("the team comparison is an agent's own view: it needs an agent's scope")
    row = one(con, "SELECT team FROM agents WHERE agent_id = $a", {"a": scope.agent})
    team = row[0] if row else None
    dims = (by,) if by else ()
    everyone = replace(filters, agents=(), teams=())  # the scope already holds the agent, the team scope the team
    mine = compute(con, list(metrics), by=dims, filters=everyone, params=params)
    mine = mine.select(*dims, *metrics, *(f"{m}_n" for m in metrics if f"{m}_n" in mine.columns))
    medians: list[pl.Expr] = [pl.col(m).median().alias(f"{m}_team_median") for m in metrics]
    if team is None:  # an agent without a team has nobody to compare with
        return mine.with_columns(
            *(pl.lit(None, dtype=pl.Float64).alias(f"{m}_team_median") for m in metrics),
            pl.lit(0, dtype=pl.UInt32).alias("team_agents"),
        ), None
    team_scope = Scope("lead", scope.person, teams=(team,))
    per_agent = compute(
        con, list(metrics), by=(*dims, "agent"), filters=everyone, params=replace(params, scope=team_scope)
    ).filter(pl.col("agent").is_not_null())
    if dims:
        summary = per_agent.group_by(*dims).agg(*medians, pl.col("agent").n_unique().alias("team_agents"))
        out = mine.join(summary, on=list(dims), how="left").sort(*dims)
    else:
        summary = per_agent.select(*medians, pl.col("agent").n_unique().alias("team_agents"))
        out = pl.concat([mine, summary], how="horizontal")
    return out.with_columns(pl.col("team_agents").fill_null(0)), team
