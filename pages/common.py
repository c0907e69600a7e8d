"""What every page shares: the warehouse connection, the global filters, cached metric queries, rendering.

Pages stay thin: they ask these helpers for data by metric name and draw it with pure figure
functions from replyboard.figures. Streamlit lives only here, in app.py and in the page scripts.
"""

from __future__ import annotations

import os
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics.query import Filters, Options, busiest_matrix, compare, compute
from replyboard import warehouse
from replyboard.csv_safety import to_safe_csv_bytes
from replyboard.phones import mask_number
from replyboard.sensitive import mask_mentions, mask_sensitive
from replyboard.settings import Settings, load_settings

CACHE_TTL = 600  # seconds; a new load changes the data version, which refreshes sooner


def db_path() -> Path:
    return Path(os.environ.get("REPLYBOARD_DB", str(warehouse.DEFAULT_DB)))


@st.cache_resource(show_spinner=False)
def _settings(path: str | None) -> Settings:
    return load_settings(path)


def settings() -> Settings:
    return _settings(os.environ.get("REPLYBOARD_SETTINGS"))


def data_version() -> str:
    return warehouse.data_version(db_path())


@st.cache_resource(show_spinner=False, max_entries=2)
def _connection(path: str, version: str) -> duckdb.DuckDBPyConnection:
    # One connection per published version; the version in the key makes a new load visible.
    return warehouse.connect_readonly(path)


def has_warehouse() -> bool:
    """A readable warehouse file exists (it may hold no messages yet: loads whose rows were all rejected)."""
    if not db_path().exists():
        return False
    try:
        _cached_scalar("SELECT count(*) FROM etl_runs", data_version())
    except (warehouse.WarehouseError, duckdb.Error):
        return False
    return True


def has_data() -> bool:
    path = db_path()
    if not path.exists():
        return False
    try:
        return bool(_cached_scalar("SELECT count(*) FROM messages", data_version()))
    except (warehouse.WarehouseError, duckdb.Error):
        return False


def cursor() -> duckdb.DuckDBPyConnection:
    """A cursor of the cached connection: DuckDB connections are not thread-safe, cursors are cheap."""
    return _connection(str(db_path()), data_version()).cursor()


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _cached_scalar(sql: str, version: str) -> object:
    row = warehouse.one(cursor(), sql)
    return row[0] if row else None


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def query(sql: str, params: tuple = (), version: str = "") -> pl.DataFrame:
    """A read-only query's rows (cached per data version). Parameters are bound, never formatted in."""
    return warehouse.frame(cursor(), sql, list(params) if params else None)


def sql(sql_text: str, *params: object) -> pl.DataFrame:
    return query(sql_text, tuple(params), data_version())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _pending_migrations(version: str) -> list[str]:
    return warehouse.pending_migrations(cursor())


def pending_migrations() -> list[str]:
    """Migrations this version has that the warehouse has not had: it was written by an older Replyboard, so
    it may still hold what newer loads never store (card numbers in clear, unmasked reasons)."""
    return _pending_migrations(data_version())


def data_bounds() -> tuple[date | None, date | None]:
    """First and last local day with messages."""
    frame = sql(
        "SELECT CAST(min(created_local) AS DATE) AS first, CAST(max(created_local) AS DATE) AS last FROM messages"
    )
    if frame.is_empty():
        return None, None
    return frame["first"][0], frame["last"][0]


def line_labels() -> dict[str, str]:
    """Each business line's name, or its masked number when it has none (numbers are shown masked)."""
    frame = sql("SELECT line_number, name FROM lines")
    return {n: name or mask_number(n) for n, name in frame.iter_rows()}


def named(frame: pl.DataFrame, *, line: str = "line", agent: str = "agent") -> pl.DataFrame:
    """Readable group keys: the `line` column becomes the line's name (or masked number) and each `agent`
    gets its name and team next to it. Columns a frame lacks are left alone."""
    if line in frame.columns:
        labels = line_labels()
        frame = frame.with_columns(
            pl.col(line).map_elements(
                lambda n: labels.get(n) or mask_number(n), return_dtype=pl.String, skip_nulls=False
            )
        )
    if agent in frame.columns:
        agents = sql("SELECT agent_id, name, team FROM agents").rename({"agent_id": agent})
        frame = frame.join(agents, on=agent, how="left", coalesce=True).with_columns(
            pl.coalesce("name", agent).alias("name")
        )
        first = [agent, "name", "team"]
        frame = frame.select(*first, *[c for c in frame.columns if c not in first])
    return frame


def trend_period() -> str:
    """'week' for windows over two months (or no window), else 'day': trends stay readable."""
    f = filters()
    if f.date_from and f.date_to and (f.date_to - f.date_from).days <= 62:
        return "day"
    return "week"


# ---- global filters (widgets live in app.py; their values in session_state and the URL) -------------

FILTER_KEYS = ("dates", "line", "channel", "team", "agent", "hours")


def filters() -> Filters:
    state = st.session_state
    dates = state.get("dates") or ()
    start, end = (*dates, None, None)[:2] if isinstance(dates, list | tuple) else (dates, dates)
    return Filters(
        date_from=start,
        date_to=end or start,
        lines=tuple(state.get("line") or ()),
        channels=tuple(state.get("channel") or ()),
        teams=tuple(state.get("team") or ()),
        agents=tuple(state.get("agent") or ()),
    )


def filter_sql(
    anchor: str | None,
    *,
    line: str | None = "line_number",
    channel: str | None = "channel",
    agent: str | None = "agent_id",
    f: Filters | None = None,
) -> tuple[str, list]:
    """The global filters as a WHERE condition over a raw table, and its bound parameters.

    Column arguments are names written in the page's code (never user input); every filter value is a
    `?` parameter. Dates are inclusive local days on `anchor` (a naive team-timezone timestamp column);
    teams filter on `agent`'s team, as the metric registry does. Pass None for a column the table lacks.
    Use: `where, params = filter_sql("m.created_local", line="m.line_number", ...)`, then
    `sql(f"SELECT ... WHERE {where}", *params)`.
    """
    f = f or filters()
    clauses: list[str] = []
    params: list = []
    if anchor and f.date_from:
        clauses.append(f"{anchor} >= ?")
        params.append(datetime.combine(f.date_from, time()))
    if anchor and f.date_to:
        clauses.append(f"{anchor} < ?")
        params.append(datetime.combine(f.date_to + timedelta(days=1), time()))
    for column, values in ((line, f.lines), (channel, f.channels), (agent, f.agents)):
        if column and values:
            clauses.append(f"list_contains(?, {column})")
            params.append(list(values))
    if agent and f.teams:
        clauses.append(f"{agent} IN (SELECT agent_id FROM agents WHERE list_contains(?, team))")
        params.append(list(f.teams))
    return " AND ".join(clauses) or "true", params


def seconds_column() -> str:
    """The inquiry_blocks duration column for the calendar / business hours switch."""
    return "business_seconds" if options().hours == "business" else "calendar_seconds"


def hours_label() -> str:
    return "business hours" if options().hours == "business" else "calendar hours"


def options(target_minutes: float | None = None) -> Options:
    s = settings()
    return Options(
        hours=st.session_state.get("hours") or "calendar",
        target_minutes=target_minutes if target_minutes is not None else s.response_target_minutes,
        satisfied_at_least=s.csat.satisfied_at_least,
        typing_allowance_seconds=s.typing_allowance_seconds,
    )


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _metrics(names: tuple[str, ...], by: str | None, f: Filters, o: Options, version: str) -> pl.DataFrame:
    return compute(cursor(), list(names), by=by, filters=f, options=o)


def metrics(
    names: list[str], by: str | None = None, *, f: Filters | None = None, o: Options | None = None
) -> pl.DataFrame:
    """Metrics by registry name under the global filters (or the given ones), cached per data version."""
    return _metrics(tuple(names), by, f or filters(), o or options(), data_version())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _compare(names: tuple[str, ...], f: Filters, o: Options, version: str) -> dict:
    return compare(cursor(), list(names), f, o)


def metrics_with_previous(names: list[str]) -> dict:
    f = filters()
    if f.date_from is None or f.date_to is None:
        row = metrics(names).row(0, named=True)
        return {n: {"value": row[n], "n": row[f"{n}_n"], "previous": None, "previous_n": 0} for n in names}
    return _compare(tuple(names), f, options(), data_version())


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _busiest(f: Filters, measure: str, version: str) -> pl.DataFrame:
    return busiest_matrix(cursor(), f, measure)


def busiest(measure: str = "inbound_messages") -> pl.DataFrame:
    return _busiest(filters(), measure, data_version())


# ---- rendering -------------------------------------------------------------------------------------


def show_figure(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def download_csv(frame: pl.DataFrame, name: str, label: str = "Download CSV", key: str | None = None) -> None:
    """Every table downloads as CSV; cells that look like formulas are neutralised."""
    st.download_button(
        label, data=to_safe_csv_bytes(frame), file_name=f"{name}.csv", mime="text/csv", key=key or f"dl-{name}"
    )


def table(frame: pl.DataFrame, name: str, **kwargs) -> None:
    """A table with its CSV download underneath; up to 25 rows show without scrolling."""
    if 10 < frame.height <= 25:
        kwargs.setdefault("height", 35 * (frame.height + 1) + 3)
    st.dataframe(frame, hide_index=True, **kwargs)
    download_csv(frame, name)


def require_data() -> bool:
    """Show how to load data when the warehouse is empty; pages return early when this is False."""
    if has_data():
        return True
    st.info(
        "No messages in the warehouse yet. Load your exports, then reload this page:\n\n"
        f"```\npython -m etl load --db {db_path()} path/to/messages.csv\n```\n"
        "Canonical CSVs, OpenPhone/Quo and Twilio exports, webhook payloads and SMS Backup & Restore XML "
        "are recognised automatically (see the README). `make run` loads the sample data."
    )
    return False


def masked(
    frame: pl.DataFrame,
    numbers: tuple[str, ...] = ("contact_number",),
    texts: tuple[str, ...] = (),
    mentions: tuple[str, ...] = (),
) -> pl.DataFrame:
    """Phone numbers to their last four digits and card numbers / SSNs in texts masked (all pages but Explore).

    mentions: free-text columns that may quote phone numbers too (rejected rows' reasons).
    """
    region = settings().default_region
    return frame.with_columns(
        *(
            pl.col(c).map_elements(mask_number, return_dtype=pl.String, skip_nulls=False)
            for c in numbers
            if c in frame.columns
        ),
        *(
            pl.col(c).map_elements(mask_sensitive, return_dtype=pl.String, skip_nulls=False)
            for c in texts
            if c in frame.columns
        ),
        *(
            pl.col(c).map_elements(lambda text: mask_mentions(text, region), return_dtype=pl.String, skip_nulls=False)
            for c in mentions
            if c in frame.columns
        ),
    )


def empty(message: str = "Nothing matches these filters. Widen the date range or clear a filter.") -> None:
    st.info(message)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def fmt_rate(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_number(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"
