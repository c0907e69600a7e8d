"""What every page shares: the warehouse connection, the global filters, cached read-layer calls, rendering.

Pages are layout and calls: every number, row and list comes from the read layer (metrics.query, metrics.rows,
metrics.reads, metrics.health), cached here per data version; no SQL and no database driver in pages/.
Streamlit lives only here, in app.py and in the page scripts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics import health, reads
from metrics import rows as drill
from metrics.compiler import Filters
from metrics.params import Params
from metrics.query import compare, compute
from replyboard import warehouse
from replyboard.csv_safety import to_safe_csv_bytes
from replyboard.formats import fmt_duration, fmt_number, fmt_rate  # noqa: F401 - pages use them via common
from replyboard.phones import mask_number
from replyboard.sensitive import mask_sensitive
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
def _connection(path: str, version: str) -> Any:
    # One connection per published version; the version in the key makes a new load visible.
    return warehouse.connect_readonly(path)


def cursor() -> Any:
    """A cursor of the cached connection: connections are not thread-safe, cursors are cheap."""
    return _connection(str(db_path()), data_version()).cursor()


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _status(version: str) -> tuple[bool, int]:
    con = cursor()
    return health.has_warehouse(con), health.message_count(con)


def _status_now() -> tuple[bool, int]:
    if not db_path().exists():
        return False, 0
    try:
        return _status(data_version())
    except (warehouse.WarehouseError, OSError):
        return False, 0


def warehouse_problem() -> str | None:
    """Why the warehouse file cannot be read (not a DuckDB file, truncated, damaged), or None.

    A missing file is no problem here: the pages explain how to load data.
    """
    if not db_path().exists():
        return None
    try:
        _status(data_version())
    except warehouse.WarehouseError as exc:
        return str(exc)
    except Exception as exc:  # a damaged block read by the probe; anything else is a bug and shows
        reason = warehouse.storage_failure(exc)
        if reason is None:
            raise
        return f"{db_path()}: {reason}"
    return None


def show_warehouse_problem(problem: str) -> None:
    """The one message every page shows when the warehouse file cannot be read."""
    st.error(
        f"**The warehouse cannot be read.** {problem}\n\n"
        f"The dashboard reads `{db_path()}`: set `REPLYBOARD_DB` (or `make run DB=...`) to use another file.",
        icon=":material/error:",
    )


def show_storage_failure(exc: BaseException) -> bool:
    """Show a damaged block met while a page was drawing as that message; False when exc is not one."""
    reason = warehouse.storage_failure(exc)
    if reason is None:
        return False
    show_warehouse_problem(f"{db_path()}: {reason}")
    return True


def has_warehouse() -> bool:
    """A readable warehouse file exists (it may hold no messages yet: loads whose rows were all rejected)."""
    return _status_now()[0]


def has_data() -> bool:
    return _status_now()[1] > 0


# ---- read-layer calls, cached per data version ---------------------------------------------------------


@st.cache_data(ttl=CACHE_TTL, show_spinner=False)
def _pending_migrations(version: str) -> list[str]:
    return warehouse.pending_migrations(cursor())


def pending_migrations() -> list[str]:
    """Migrations this warehouse has not had yet (an older version wrote it; the next load applies them)."""
    return _pending_migrations(data_version())


def _cached(fn: Any) -> Any:
    return st.cache_data(ttl=CACHE_TTL, show_spinner=False)(fn)


@_cached
def _bounds(version: str) -> tuple[date | None, date | None]:
    return health.data_bounds(cursor())


def data_bounds() -> tuple[date | None, date | None]:
    """First and last local day with messages."""
    return _bounds(data_version())


@_cached
def _freshness(version: str) -> health.Freshness:
    return health.freshness(cursor())


def freshness() -> health.Freshness:
    return _freshness(data_version())


@_cached
def _options(version: str) -> health.FilterOptions:
    return health.filter_options(cursor())


def filter_options() -> health.FilterOptions:
    return _options(data_version())


def line_labels() -> dict[str, str]:
    """Each business line's name, or its masked number when it has none (numbers are shown masked)."""
    return filter_options().lines


@_cached
def _directory(version: str) -> pl.DataFrame:
    return health.agent_directory(cursor())


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
        people = _directory(data_version()).rename({"agent_id": agent})
        drop = [c for c in ("name", "team") if c in frame.columns]
        frame = frame.drop(drop).join(people, on=agent, how="left", coalesce=True)
        frame = frame.with_columns(pl.coalesce("name", agent).alias("name"))
        first = [agent, "name", "team"]
        frame = frame.select(*first, *[c for c in frame.columns if c not in first])
    return frame


def _where_key(where: Mapping[str, object] | None) -> tuple:
    return tuple(sorted((where or {}).items()))


@_cached
def _metrics(names: tuple[str, ...], by: tuple[str, ...], f: Filters, p: Params, where: tuple, version: str):
    return compute(cursor(), list(names), by=by, filters=f, params=p, where=dict(where) or None)


def metrics(
    names: list[str],
    by: str | tuple[str, ...] | None = None,
    *,
    f: Filters | None = None,
    p: Params | None = None,
    where: Mapping[str, object] | None = None,
) -> pl.DataFrame:
    """Metrics by registry name under the global filters (or the given ones), cached per data version."""
    dims = (by,) if isinstance(by, str) else tuple(by or ())
    return _metrics(tuple(names), dims, f or filters(), p or params(), _where_key(where), data_version())


@_cached
def _compare(names: tuple[str, ...], f: Filters, p: Params, version: str) -> dict:
    return compare(cursor(), list(names), f, p)


def metrics_with_previous(names: list[str]) -> dict:
    f = filters()
    if f.date_from is None or f.date_to is None:
        row = metrics(names).row(0, named=True)
        return {n: {"value": row[n], "n": row[f"{n}_n"], "previous": None, "previous_n": 0} for n in names}
    return _compare(tuple(names), f, params(), data_version())


@_cached
def _rows(
    name: str,
    f: Filters,
    p: Params,
    where: tuple,
    order: str,
    desc: bool,
    limit: int | None,
    offset: int,
    extra: tuple[str, ...],
    version: str,
) -> drill.Rows:
    return drill.rows(
        cursor(),
        name,
        filters=f,
        params=p,
        where=dict(where) or None,
        order=order,  # type: ignore[arg-type]
        descending=desc,
        limit=limit,
        offset=offset,
        extra_columns=extra,
    )


def rows(
    name: str,
    *,
    where: Mapping[str, object] | None = None,
    order: str = "time",
    descending: bool = False,
    limit: int | None = 100,
    offset: int = 0,
    extra: tuple[str, ...] = (),
    f: Filters | None = None,
) -> drill.Rows:
    """The rows behind a metric (contacts masked), under the global filters."""
    return _rows(
        name, f or filters(), params(), _where_key(where), order, descending, limit, offset, extra, data_version()
    )


@_cached
def _busiest(f: Filters, metric: str, version: str) -> pl.DataFrame:
    return reads.busiest_matrix(cursor(), f, metric)


def busiest(metric: str = "inbound_messages") -> pl.DataFrame:
    return _busiest(filters(), metric, data_version())


@_cached
def _histogram(metric: str, edges: tuple[float, ...], f: Filters, p: Params, version: str) -> pl.DataFrame:
    return reads.value_histogram(cursor(), metric, edges, filters=f, params=p)


def histogram(metric: str, edges: tuple[float, ...]) -> pl.DataFrame:
    return _histogram(metric, edges, filters(), params(), data_version())


@_cached
def _share_of_team(metric: str, f: Filters, p: Params, version: str) -> pl.DataFrame:
    return reads.share_of_team(cursor(), metric, f, p)


def share_of_team(metric: str) -> pl.DataFrame:
    return _share_of_team(metric, filters(), params(), data_version())


@_cached
def _agent_conversations(agent: str, f: Filters, version: str) -> pl.DataFrame:
    return reads.conversations_of_agent(cursor(), agent, f)


def agent_conversations(agent: str) -> pl.DataFrame:
    return _agent_conversations(agent, filters(), data_version())


@_cached
def _health(what: str, arg: Any, version: str) -> pl.DataFrame:
    con = cursor()
    if what == "runs":
        return health.runs(con)
    if what == "files":
        return health.files(con, arg)
    if what == "sources":
        return health.sources(con)
    if what == "reasons":
        return health.reject_reasons(con, arg)
    if what == "rejected":
        return health.rejected_rows(con, 1000, mask_region=arg)
    if what == "rejected_raw":
        return health.rejected_rows(con, None, with_raw=True)
    raise ValueError(what)


def health_read(what: str, arg: Any = None) -> pl.DataFrame:
    """One of the Data health page's reads: runs, files (of run arg), sources, reasons, rejected (arg: the region
    to mask phone numbers in reasons with, for a warehouse not migrated yet), rejected_raw."""
    return _health(what, arg, data_version())


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


def hours_label() -> str:
    return "business hours" if params().hours == "business" else "calendar hours"


def params(target_minutes: float | None = None) -> Params:
    """The reporting parameters: the settings' targets with the sidebar's hours switch."""
    return Params.from_settings(
        settings(), hours=st.session_state.get("hours") or "calendar", target_minutes=target_minutes
    )


# ---- rendering -------------------------------------------------------------------------------------


def show_figure(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def download_csv(frame: pl.DataFrame, name: str, label: str = "Download CSV", key: str | None = None) -> None:
    """Every table downloads as CSV; cells that look like formulas are neutralised."""
    st.download_button(
        label, data=to_safe_csv_bytes(frame), file_name=f"{name}.csv", mime="text/csv", key=key or f"dl-{name}"
    )


def table(frame: pl.DataFrame, name: str, **kwargs: Any) -> None:
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


def masked(frame: pl.DataFrame, texts: tuple[str, ...] = ()) -> pl.DataFrame:
    """Card numbers / SSNs in texts masked (all pages but Explore; the read layer masks phone numbers)."""
    return frame.with_columns(
        *(
            pl.col(c).map_elements(mask_sensitive, return_dtype=pl.String, skip_nulls=False)
            for c in texts
            if c in frame.columns
        ),
    )


def empty(message: str = "Nothing matches these filters. Widen the date range or clear a filter.") -> None:
    st.info(message)
