"""Health and freshness reads: loads, files, rejected rows, the data's bounds and the filter lists.

Everything the dashboard's frame (sidebar, freshness line, Data health page) reads that is not a metric.
Phone numbers leave here masked, except in ``rejected_rows(with_raw=True)``, the one raw export (its page says
so); card numbers and SSNs are never stored in clear, so they never leave at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb
import polars as pl

from metrics.params import Params
from metrics.query import compute, data_bounds  # noqa: F401 - data_bounds: pages and OKRs read it from here
from metrics.scope import EVERYTHING, Scope
from replyboard.phones import mask_number, mask_phone_numbers
from replyboard.warehouse import frame, one

_BROKEN = (duckdb.Error, OSError)


def has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    try:
        row = one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table])
    except _BROKEN:
        return False
    return bool(row and row[0])


def has_warehouse(con: duckdb.DuckDBPyConnection) -> bool:
    """The file is a Replyboard warehouse (it may hold no messages yet: loads whose rows were all rejected)."""
    return has_table(con, "etl_runs") and has_table(con, "messages")


def message_count(con: duckdb.DuckDBPyConnection, date_from: date | None = None, date_to: date | None = None) -> int:
    """Messages in the warehouse, or between two local days (inclusive)."""
    if not has_warehouse(con):
        return 0
    lo = datetime.combine(date_from, time()) if date_from else datetime(1, 1, 1)
    hi = datetime.combine(date_to + timedelta(days=1), time()) if date_to else datetime(9999, 12, 31)
    row = one(
        con, "SELECT count(*) FROM messages WHERE created_local >= $lo AND created_local < $hi", {"lo": lo, "hi": hi}
    )
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Freshness:
    last_load: datetime | None  # UTC
    messages: int
    first_day: date | None
    last_day: date | None
    newest_message: datetime | None  # UTC


def freshness(con: duckdb.DuckDBPyConnection) -> Freshness:
    row = one(
        con,
        "SELECT (SELECT max(finished_at) FROM etl_runs), count(*), CAST(min(created_local) AS DATE), "
        "CAST(max(created_local) AS DATE), max(created_at) FROM messages",
    )
    assert row is not None
    return Freshness(row[0], int(row[1]), row[2], row[3], row[4])


def line_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Each business line's name, or its masked number when it has none (numbers are shown masked)."""
    return {n: name or mask_number(n) for n, name in con.execute("SELECT line_number, name FROM lines").fetchall()}


def agent_directory(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """agent_id, name (the id when unnamed), team."""
    return frame(con, "SELECT agent_id, coalesce(name, agent_id) AS name, team FROM agents ORDER BY name")


@dataclass(frozen=True)
class FilterOptions:
    """What the sidebar's filters can choose from: value -> label, in display order."""

    lines: dict[str, str]
    channels: list[str]
    teams: list[str]
    agents: dict[str, str]


def filter_options(con: duckdb.DuckDBPyConnection, scope: Scope = EVERYTHING) -> FilterOptions:
    """The sidebar's choices; a restricted person sees only the lines, channels, teams and agents their scope
    holds rows for (an agent: only themselves)."""
    options = _all_options(con)
    if scope.unrestricted:
        return options
    seen = compute(
        con,
        ["inbound_messages", "outbound_messages"],
        by=("line", "channel", "team", "agent"),
        params=Params(scope=scope),
    )
    lines = set(seen["line"].drop_nulls()) | (set(scope.lines) if scope.role == "lead" else set())
    teams = set(seen["team"].drop_nulls()) | (set(scope.teams) if scope.role == "lead" else set())
    agents = {scope.agent} if scope.role == "agent" else set(seen["agent"].drop_nulls())
    return FilterOptions(
        {k: v for k, v in options.lines.items() if k in lines},
        [c for c in options.channels if c in set(seen["channel"].drop_nulls())],
        [t for t in options.teams if t in teams],
        {k: v for k, v in options.agents.items() if k in agents},
    )


def _all_options(con: duckdb.DuckDBPyConnection) -> FilterOptions:
    lines = dict(sorted(line_labels(con).items(), key=lambda item: item[1]))
    channels = [
        r[0]
        for r in con.execute("SELECT DISTINCT channel FROM messages WHERE channel IS NOT NULL ORDER BY 1").fetchall()
    ]
    teams = [r[0] for r in con.execute("SELECT DISTINCT team FROM agents WHERE team IS NOT NULL ORDER BY 1").fetchall()]
    directory = agent_directory(con)
    agents = dict(zip(directory["agent_id"].to_list(), directory["name"].to_list(), strict=True))
    return FilterOptions(lines, channels, teams, agents)


def runs(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every load, newest first, with its duration in seconds."""
    return frame(
        con,
        "SELECT run_id, started_at, finished_at, status, rows_read, rows_loaded, rows_updated, rows_duplicate, "
        "rows_rejected, epoch(finished_at) - epoch(started_at) AS seconds FROM etl_runs ORDER BY run_id DESC",
    )


def files(con: duckdb.DuckDBPyConnection, run_id: int | None = None) -> pl.DataFrame:
    """The files of one run (None: of every run), newest run first."""
    return frame(
        con,
        "SELECT run_id, path, kind, rows_read, rows_loaded, rows_updated, rows_duplicate, rows_rejected, first_at, "
        "last_at FROM etl_files WHERE $run IS NULL OR run_id = $run ORDER BY run_id DESC, path",
        {"run": run_id},
    )


def sources(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per kind of file: loads, when last loaded, rows, and the first / last message time it held (UTC)."""
    return frame(
        con,
        "SELECT f.kind AS source, count(DISTINCT f.run_id) AS loads, max(r.finished_at) AS last_load, "
        "sum(f.rows_read) AS rows_read, sum(f.rows_loaded) AS rows_loaded, sum(f.rows_rejected) AS rows_rejected, "
        "min(f.first_at) AS first_message_at, max(f.last_at) AS last_message_at "
        "FROM etl_files f LEFT JOIN etl_runs r USING (run_id) GROUP BY ALL ORDER BY last_load DESC",
    )


def _masked_reasons(data: pl.DataFrame, region: str | None) -> pl.DataFrame:
    """Loads store reasons with phone numbers masked; a warehouse written before that is masked here
    (region: the settings' default_region) until it is migrated."""
    if region is None or "reason" not in data.columns:
        return data
    return data.with_columns(
        pl.col("reason").map_elements(lambda t: mask_phone_numbers(t, region), return_dtype=pl.String)
    )


def reject_reasons(con: duckdb.DuckDBPyConnection, mask_region: str | None = None) -> pl.DataFrame:
    """Rejected rows counted by reason and kind of file."""
    data = frame(con, "SELECT reason, kind, run_id, path FROM rejected_rows")
    if data.is_empty():
        return pl.DataFrame(
            schema={"reason": pl.String, "kind": pl.String, "rows": pl.UInt32, "files": pl.UInt32, "last_run": pl.Int32}
        )
    return (
        _masked_reasons(data, mask_region)
        .group_by("reason", "kind")
        .agg(pl.len().alias("rows"), pl.col("path").n_unique().alias("files"), pl.col("run_id").max().alias("last_run"))
        .sort(["rows", "reason"], descending=[True, False])
    )


def rejected_rows(
    con: duckdb.DuckDBPyConnection, limit: int | None = 1000, *, with_raw: bool = False, mask_region: str | None = None
) -> pl.DataFrame:
    """Which line of which file and why, newest run first. ``with_raw``: the raw text too, unmasked phone
    numbers included (the one raw export; card numbers and SSNs are stored redacted)."""
    raw = ", raw" if with_raw else ""
    data = frame(
        con,
        f"SELECT run_id, path, kind, line, reason{raw} FROM rejected_rows ORDER BY run_id DESC, path, line "
        + ("LIMIT $limit" if limit is not None else ""),
        {"limit": limit} if limit is not None else None,
    )
    return data if with_raw else _masked_reasons(data, mask_region)
