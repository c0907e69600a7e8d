"""What every page shares: the warehouse connection, the global filters, cached read-layer calls, rendering.

Pages are layout and calls: every number, row and list comes from the read layer (metrics.query, metrics.rows,
metrics.reads, metrics.health), cached here per data version; no SQL and no database driver in pages/.
Streamlit lives only here, in app.py and in the page scripts.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from charts import theme
from charts.figures import DRILL_META, Drill, TargetLine, drill_query, point_ref
from metrics import conversation, health, okr, reads, view_query
from metrics import rows as drill
from metrics import targets as metric_targets
from metrics.annotations import NO_OVERLAY, Overlay, check_target, overlay_from
from metrics.compiler import Filters
from metrics.headline import streamlit_delta_colour
from metrics.output import column_units, csv_bytes
from metrics.params import Params
from metrics.query import compare, compute, flags_low_n
from metrics.registry import CATALOG, METRICS
from metrics.scope import Role, Scope
from pages import signin
from replyboard import formats, warehouse, warm_cache
from replyboard.appstate import Action, Annotation, AppState, AppStateError, CheckinRecord, Target, state_path
from replyboard.formats import fmt_change, fmt_days, fmt_value
from replyboard.formats import fmt_count as fmt_count  # pages write figures through common (one formatting module)
from replyboard.formats import fmt_day as fmt_day
from replyboard.formats import fmt_duration as fmt_duration
from replyboard.formats import fmt_number as fmt_number
from replyboard.formats import fmt_rate as fmt_rate
from replyboard.formats import fmt_score as fmt_score
from replyboard.phones import mask_number
from replyboard.sensitive import mask_sensitive
from replyboard.settings import Settings, load_settings

ROWS_PAGE = "pages/rows.py"
CONVERSATION_PAGE = "pages/conversation.py"
QUEUES_PAGE = "pages/queues.py"

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


def cached(fn: Any) -> Any:
    """st.cache_data per data version, read through the warm store (replyboard.warm_cache): a result the warmer
    computed when the load published is served from it on the first render. ``fn`` takes a ``version``
    argument (the data version), so no result of one load is ever served for another."""
    version_at = list(inspect.signature(fn).parameters).index("version")
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def read_through(*args: Any) -> Any:
        version = args[version_at]
        found = warm_cache.get(db_path(), version, name, args)
        if found is not warm_cache.MISS:
            return found
        value = fn(*args)
        if warm_cache.writing():  # the warmer (pages.warm) only: a dashboard session reads the store
            warm_cache.put(db_path(), version, name, args, value)
        return value

    return st.cache_data(ttl=CACHE_TTL, show_spinner=False)(read_through)


@cached
def _bounds(version: str) -> tuple[date | None, date | None]:
    return health.data_bounds(cursor())


def data_bounds() -> tuple[date | None, date | None]:
    """First and last local day with messages."""
    return _bounds(data_version())


@cached
def _freshness(version: str) -> health.Freshness:
    return health.freshness(cursor())


def freshness() -> health.Freshness:
    return _freshness(data_version())


@cached
def _options(version: str, scope: Scope) -> health.FilterOptions:
    return health.filter_options(cursor(), scope)


def filter_options() -> health.FilterOptions:
    """The sidebar's choices: only the lines, teams and agents the person's scope holds."""
    return _options(data_version(), scope())


def line_labels() -> dict[str, str]:
    """Each business line's name, or its masked number when it has none (numbers are shown masked)."""
    return filter_options().lines


@cached
def _directory(version: str) -> pl.DataFrame:
    return health.agent_directory(cursor())


def named(frame: pl.DataFrame, *, line: str = "line", agent: str = "agent") -> pl.DataFrame:
    """Readable group keys: the `line` column becomes the line's name (or masked number) and each `agent`
    gets its name and team next to it. Columns a frame lacks are left alone."""
    return named_with(frame, line_labels(), _directory(data_version()), line=line, agent=agent)


def named_with(
    frame: pl.DataFrame, labels: Mapping[str, str], directory: pl.DataFrame, *, line: str = "line", agent: str = "agent"
) -> pl.DataFrame:
    """named() with the line labels and agent directory given (a download built off the script thread)."""
    if line in frame.columns:
        frame = frame.with_columns(
            pl.col(line).map_elements(
                lambda n: labels.get(n) or mask_number(n), return_dtype=pl.String, skip_nulls=False
            )
        )
    if agent in frame.columns:
        people = directory.rename({"agent_id": agent})
        drop = [c for c in ("name", "team") if c in frame.columns]
        frame = frame.drop(drop).join(people, on=agent, how="left", coalesce=True, maintain_order="left")
        # a null agent is the rows nobody owns: a group of their own, never dropped (README "Ownership")
        frame = frame.with_columns(
            pl.when(pl.col(agent).is_null())
            .then(pl.lit(theme.UNASSIGNED))
            .otherwise(pl.coalesce("name", agent))
            .alias("name")
        )
        first = [agent, "name", "team"]
        frame = frame.select(*first, *[c for c in frame.columns if c not in first])
    return frame


def _where_key(where: Mapping[str, object] | None) -> tuple:
    return tuple(sorted((where or {}).items()))


@cached
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


@cached
def _compare(names: tuple[str, ...], f: Filters, p: Params, version: str) -> dict:
    return compare(cursor(), list(names), f, p)


def metrics_with_previous(names: list[str]) -> dict:
    f = filters()
    if f.date_from is None or f.date_to is None:
        row = metrics(names).row(0, named=True)
        return {n: {"value": row[n], "n": row[f"{n}_n"], "previous": None, "previous_n": 0} for n in names}
    return _compare(tuple(names), f, params(), data_version())


@cached
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
    value_range: tuple[float | None, float | None],
    version: str,
) -> drill.Rows:
    return drill.rows(
        cursor(),
        name,
        filters=f,
        params=p,
        where=dict(where) or None,
        order=order,  # type: ignore[arg-type]  # the rows page's URL: anything but "value" sorts by time
        descending=desc,
        limit=limit,
        offset=offset,
        extra_columns=extra,
        value_range=value_range,
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
    p: Params | None = None,
    value_range: tuple[float | None, float | None] = (None, None),
) -> drill.Rows:
    """The rows behind a metric (contacts masked), under the global filters."""
    return _rows(
        name,
        f or filters(),
        p or params(),
        _where_key(where),
        order,
        descending,
        limit,
        offset,
        extra,
        value_range,
        data_version(),
    )


def download_rows(label: str, name: str, *, key: str, help: str | None = None, **query: Any) -> None:
    """A button that downloads every row behind a number (up to drill.MAX_PAGE) as CSV, built on click (durations
    in minutes, with the unit in the header)."""
    build = rows_frame(name, **query)
    st.download_button(
        label,
        data=exported(f"rows_{name}.csv", lambda: csv_bytes(build()), metric=name, where=query.get("where")),
        file_name=f"rows_{name}.csv",
        mime="text/csv",
        key=key,
        icon=":material/download:",
        help=help,
    )


def rows_frame(
    name: str,
    *,
    where: Mapping[str, object] | None,
    order: str,
    descending: bool,
    f: Filters,
    p: Params,
    value_range: tuple[float | None, float | None],
    extra: tuple[str, ...],
    shape: Callable[[pl.DataFrame], pl.DataFrame],
    first: Sequence[str] = (),
) -> Callable[[], pl.DataFrame]:
    """Every row behind a number (up to drill.MAX_PAGE), built when a download is clicked: the callable runs off
    the script thread, so it gets its own cursor and the names it needs now."""
    con = cursor()
    labels, directory, zone = line_labels(), _directory(data_version()), settings().timezone

    def build() -> pl.DataFrame:
        found = drill.rows(
            con,
            name,
            filters=f,
            params=p,
            where=where or None,
            order=order,  # type: ignore[arg-type]  # the rows page's URL: anything but "value" sorts by time
            descending=descending,
            limit=drill.MAX_PAGE,
            extra_columns=extra,
            value_range=value_range,
        )
        return readable(named_with(shape(found.frame), labels, directory), first, zone=zone)

    return build


@cached
def _busiest(f: Filters, metric: str, p: Params, version: str) -> pl.DataFrame:
    return reads.busiest_matrix(cursor(), f, metric, p)


def busiest(metric: str = "inbound_messages") -> pl.DataFrame:
    return _busiest(filters(), metric, params(), data_version())


@cached
def _histogram(metric: str, edges: tuple[float, ...], f: Filters, p: Params, version: str) -> pl.DataFrame:
    return reads.value_histogram(cursor(), metric, edges, filters=f, params=p)


def histogram(metric: str, edges: tuple[float, ...]) -> pl.DataFrame:
    return _histogram(metric, edges, filters(), params(), data_version())


@cached
def _share_of_team(metric: str, f: Filters, p: Params, version: str) -> pl.DataFrame:
    return reads.share_of_team(cursor(), metric, f, p)


def share_of_team(metric: str) -> pl.DataFrame:
    return _share_of_team(metric, filters(), params(), data_version())


@cached
def _agent_conversations(agent: str, f: Filters, p: Params, version: str) -> pl.DataFrame:
    return reads.conversations_of_agent(cursor(), agent, f, params=p)


def agent_conversations(agent: str) -> pl.DataFrame:
    return _agent_conversations(agent, filters(), params(), data_version())


@cached
def _against_team(names: tuple[str, ...], f: Filters, p: Params, by: str | None, version: str):
    return reads.against_team_median(cursor(), list(names), f, p, by)


def against_team(names: list[str], by: str | None = None) -> tuple[pl.DataFrame, str | None]:
    """The signed-in agent's figures beside their team's median agent (only the median leaves the read layer)."""
    return _against_team(tuple(names), filters(), params(), by, data_version())


@cached
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


def _definitions_stamp() -> tuple:
    return tuple((p.name, p.stat().st_mtime_ns) for p in okr.definition_files(okr.DEFINITIONS_DIR))


@cached
def _targets(stamp: tuple, day: date | None, version: str) -> dict[str, metric_targets.Target]:
    periods, _ = okr.load_definitions(okr.DEFINITIONS_DIR)  # a file with errors is left out (OKRs page says why)
    return metric_targets.targets(settings(), periods, day)


def target_for(metric: str) -> metric_targets.Target | None:
    """The metric's target (the settings' response target, the OKR of the window's last day), if it has one that
    fits the hours in view."""
    day = filters().date_to or data_bounds()[1]
    found = _targets(_definitions_stamp(), day, data_version()).get(metric)
    return found if found is not None and found.applies(params().hours) else None


def target_line(metric: str, divisor: float = 1.0) -> TargetLine | None:
    """The metric's target as a chart's dashed line, in the chart's unit (``divisor``: 60 on a minutes axis)."""
    found = target_for(metric)
    return None if found is None else TargetLine(found.value / divisor, found.text)


def data_banner() -> None:
    """Every page says how recent its data is: "data through" the newest message's day, and a warning when that
    message is older than the settings' stale_after_hours (a sync or an export that stopped)."""
    f = freshness()
    if f.newest_message is None or f.last_day is None:
        return
    newest = f.newest_message if f.newest_message.tzinfo else f.newest_message.replace(tzinfo=UTC)
    age_hours = (datetime.now(UTC) - newest).total_seconds() / 3600
    local = newest.astimezone(settings().zone)
    through = f"Data through **{fmt_day(f.last_day)}** (newest message {local:%H:%M} team time)"
    if age_hours > settings().stale_after_hours:
        st.warning(
            f"**This data is {formats.fmt_age(age_hours)} old.** {through}; nothing newer has been loaded, so every "
            "figure stops there. Load newer exports (`python -m etl load`) or check the sync (Data health).",
            icon=":material/schedule:",
        )
    else:
        st.caption(f"{through} · last load {fmt_day(f.last_load)} {f.last_load:%H:%M} UTC" if f.last_load else through)


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


def min_n() -> int:
    """Below this many rows a rate or score is flagged "low n" (settings min_n)."""
    return params().min_n


def low_n(value: str, n: int | None) -> str:
    """A tile's value, marked when fewer than min_n rows make it ("100% (low n)")."""
    return f"{value} (low n)" if n is not None and 0 < n < min_n() else value


def low_n_help(n: int | None) -> str:
    """What a tile's help says about its n when it is below min_n (else nothing)."""
    return (
        f" Fewer than {min_n()} (settings min_n): too few to read much into." if n is not None and n < min_n() else ""
    )


def with_low_n(frame: pl.DataFrame, labels: Mapping[str, str]) -> pl.DataFrame:
    """Add a "low n" column naming the figures of each row made from fewer than min_n rows ({metric: label};
    the read layer's <metric>_low_n flags), so the table and its CSV say which figures to read with care."""
    flags = [(f"{m}_low_n", label) for m, label in labels.items() if f"{m}_low_n" in frame.columns]
    if not flags:
        return frame
    marks = [pl.when(pl.col(flag)).then(pl.lit(label)) for flag, label in flags]
    return frame.with_columns(pl.concat_str(marks, separator=", ", ignore_nulls=True).alias("low n"))


def params(target_minutes: float | None = None) -> Params:
    """The reporting parameters: the settings' targets with the sidebar's hours switch, the leads' annotations
    (the warehouse's app-state store), so every figure on every page counts them, and the signed-in person's
    scope, so no row outside it leaves the read layer."""
    return Params.from_settings(
        settings(),
        hours=st.session_state.get("hours") or "calendar",
        target_minutes=target_minutes,
        overlay=overlay(),
        scope=scope(),
    )


# ---- who is asking (pages/signin.py): every read carries their scope ----------------------------------


def person() -> signin.Person:
    """The person this session belongs to. A session nobody may use never reaches a page (app.py shows the
    refusal), and a page reached anyway stops here before reading anything."""
    found = signin.resolve(settings().access_file)
    if isinstance(found, signin.Refusal):
        signin.show_refusal(found)
        st.stop()
    return found


def scope() -> Scope:
    return person().scope


def author() -> str:
    """Who annotates, exports or queries: the signed-in person's email; without sign-in the OS user."""
    return person().email


def require_role(*roles: Role) -> None:
    """Stop a page the person's role may not open (a direct URL to it included) with a refusal, before any read."""
    who = person()
    if who.scope.role not in roles:
        st.title("Not available")
        st.error(
            f"This page is for {' and '.join(f'{r}s' for r in roles)}; you are signed in as {who.email} "
            f"({who.scope.role}).",
            icon=":material/block:",
        )
        st.stop()


def may_annotate() -> bool:
    return scope().may_annotate


def audit(action: str, **detail: object) -> None:
    """An entry in the store's audit log (who, when, what): sign-ins, exports, Explore queries."""
    store().record(author(), action, **detail)


def record_sign_in(who: signin.Person) -> None:
    """Audit a sign-in once per session (a rerun is not a new sign-in)."""
    if who.via == "local" or st.session_state.get(signin.SIGNED_IN_KEY) == who.email:
        return
    store().record(who.email, "sign_in", via=who.via, role=who.scope.role)
    st.session_state[signin.SIGNED_IN_KEY] = who.email


def record_refusal(refusal: signin.Refusal, email: str | None) -> None:
    key = f"{signin.SIGNED_IN_KEY}-refused"
    if refusal.sign_in or st.session_state.get(key) == (email, refusal.title):
        return
    store().record(email or "unknown", "sign_in_refused", reason=refusal.message)
    st.session_state[key] = (email, refusal.title)


def exported(name: str, make: Callable[[], bytes], **detail: object) -> Callable[[], bytes]:
    """A download's data, built when its button is clicked and audited then (who, which file, how many rows).
    The callable runs off the script thread, so who and the store are taken now."""
    who, log = author(), store()

    def build() -> bytes:
        data = make()
        log.record(who, "export", file=name, **detail)  # no audit entry, no file: an error fails the download
        return data

    return build


# ---- the app-state store: annotations and check-ins (replyboard.appstate) ---------------------------


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(path: str) -> AppState:
    return AppState(path)


def store() -> AppState:
    """The store beside the warehouse (created on the first write)."""
    return _store(str(state_path(db_path())))


def store_revision() -> int:
    """Changes with every write from any session or the CLI: the cache key of what is derived from the store."""
    if not state_path(db_path()).exists():
        return -1
    try:
        return store().revision()
    except AppStateError:
        return -1


def store_key() -> tuple[str, int, int]:
    """Which store, which file (a store deleted and made again restarts its revisions) and its revision."""
    path = state_path(db_path())
    revision = store_revision()
    return str(path), path.stat().st_ino if revision >= 0 else 0, revision


@st.cache_data(ttl=CACHE_TTL, show_spinner=False, max_entries=16)
def _overlay(key: tuple[str, int, int]) -> Overlay:
    path, _, revision = key
    if revision < 0:
        return NO_OVERLAY
    try:
        return overlay_from(AppState(path))
    except AppStateError:
        return NO_OVERLAY


def overlay() -> Overlay:
    """The active annotations, read again whenever the store's revision moves (a new annotation in any session
    shows on the next rerun everywhere)."""
    return _overlay(store_key())


def _may_change(target: Target, target_id: str) -> None:
    """Only roles that may annotate, and only about what their scope holds (AppStateError otherwise)."""
    if not may_annotate():
        raise AppStateError(f"a{'n' if scope().role[0] in 'aeiou' else ''} {scope().role} may not annotate")
    if not scope().unrestricted and target_id not in conversation.conversations_of(
        cursor(), target, [target_id], scope()
    ):
        raise AppStateError(f"no {target} {target_id!r} in your scope")


def annotate(target: Target, target_id: str, action: Action, *, note: str = "", score: int | None = None) -> int:
    """Record an annotation after checking the warehouse holds what it is about, within the person's scope
    (AppStateError otherwise); the person's email is its author."""
    check_target(cursor(), target, target_id, score)
    _may_change(target, target_id)
    return store().annotate(target, target_id, action, author=author(), note=note.strip(), score=score)


def undo(annotation_id: int) -> bool:
    found = next((a for a in store().annotations(include_undone=True) if a.id == annotation_id), None)
    if found is None:
        return False
    _may_change(found.target, found.target_id)
    return store().undo(annotation_id, author=author())


def annotation_history(target: Target | None = None, *, ids: Sequence[str] | None = None) -> list[Annotation]:
    """Annotations with their history (undone ones too), newest first; only those about ``ids`` when given, and
    only about what the person's scope holds (a lead never reads another team's notes); none for agents."""
    if store_revision() < 0 or not may_annotate():
        return []
    found = [
        a for a in store().annotations(include_undone=True, target=target) if ids is None or a.target_id in set(ids)
    ]
    if scope().unrestricted:
        return found
    allowed: set[str] = set()
    for kind in {a.target for a in found}:
        allowed |= {f"{kind}:{i}" for i in conversations_of(kind, [a.target_id for a in found if a.target is kind])}
    return [a for a in found if f"{a.target}:{a.target_id}" in allowed]


def add_checkin(period: str, key_result: str, day: date, value: float, *, confidence: float | None, note: str) -> int:
    if not may_annotate():
        raise AppStateError(f"a{'n' if scope().role[0] in 'aeiou' else ''} {scope().role} may not check in")
    return store().add_checkin(period, key_result, day, value, author=author(), confidence=confidence, note=note)


def checkins(period: str) -> list[CheckinRecord]:
    return store().checkins(period) if store_revision() >= 0 else []


@cached
def _transcript(conversation_id: str, o: Overlay, s: Scope, version: str) -> conversation.Transcript:
    return conversation.transcript(cursor(), conversation_id, o, s)


def transcript(conversation_id: str) -> conversation.Transcript:
    """One conversation with the annotations applied (ConversationNotFound when there is none, or it is outside
    the person's scope: the same answer)."""
    return _transcript(conversation_id, overlay(), scope(), data_version())


@cached
def _conversations_of(target: Target, ids: tuple[str, ...], s: Scope, version: str) -> dict[str, str]:
    return conversation.conversations_of(cursor(), target, list(ids), s)


def conversations_of(target: Target, ids: Sequence[str]) -> dict[str, str]:
    """target id -> its conversation, for annotations' links to the viewer (only conversations in scope)."""
    return _conversations_of(target, tuple(sorted(set(ids))), scope(), data_version()) if ids else {}


# ---- drill-downs: every number opens the rows behind it ----------------------------------------------


def rows_query(metric: str, where: Mapping[str, object] | None = None, **extra: object) -> dict[str, str | list[str]]:
    """The rows page's query parameters for a metric, one group and extras (target, all_agents...)."""
    return drill_query(Drill.of(metric, fixed=where or {}).ref(None, {}, **extra))


def line_number_of(label: str) -> str:
    """A line's number from the label a drill carries (its name or masked number; numbers pass through)."""
    for number, name in line_labels().items():
        if label in (name, mask_number(number)):
            return number
    return label


def open_rows(query: Mapping[str, str | list[str]]) -> None:
    st.switch_page(ROWS_PAGE, query_params=dict(query))


def open_conversation(conversation_id: str) -> None:
    st.switch_page(CONVERSATION_PAGE, query_params={"id": conversation_id})


def view_labels() -> view_query.Labels:
    """How the sidebar names lines and agents, for links that set it."""
    options = filter_options()
    return view_query.Labels(options.lines, options.agents)


def rows_link(metric: str, n: int | None, where: Mapping[str, object] | None = None, **extra: object) -> None:
    """The small "n = 1,234 · see rows" link under a figure."""
    label = f"n = {n:,} · see rows" if n is not None else "see rows"
    st.page_link(ROWS_PAGE, label=label, icon=":material/table_rows:", query_params=rows_query(metric, where, **extra))


def kpi(
    container: Any,
    label: str,
    value: str,
    metric: str,
    n: int | None,
    *,
    where: Mapping[str, object] | None = None,
    help: str | None = None,
    extra: Mapping[str, object] | None = None,
    target: metric_targets.Target | None = None,
    raw: float | None = None,
    **metric_args: Any,
) -> None:
    """A KPI card (st.metric, its label never cut) with the link to the rows behind it underneath; with a target,
    a badge saying whether ``raw`` (the card's number) meets it, in its status colour; a rate or score made from
    fewer than min_n rows says "(low n)"."""
    flagged = metric in METRICS and flags_low_n(metric)
    with container:
        help = (help or f"n = {n or 0:,}. Metric: `{metric}`.") + (low_n_help(n) if flagged else "")
        if target is not None:
            help += f" The {target.text}."
        st.metric(label, low_n(value, n) if flagged else value, help=help, width="stretch", **metric_args)
        if target is not None:
            st.markdown(theme.status_badge(theme.target_status(target.met(raw)), target.verdict(raw)))
        rows_link(metric, n, where, **(extra or {}))


def kpi_metric(
    container: Any,
    metric: str,
    label: str,
    figures: Mapping[str, Any],
    *,
    previous: Mapping[str, Any] | None = None,
    compared_with: str | None = None,
    target: metric_targets.Target | None = None,
    where: Mapping[str, object] | None = None,
) -> None:
    """A metric's KPI card: its value written by its unit, its change against ``previous`` (the window named by
    ``compared_with``: "vs Sep 1-30"), coloured by whether the change is better (the registry's ``better``), a
    change that rounds to nothing grey and without an arrow; its target badge; its rows link."""
    value, n = figures.get(metric), figures.get(f"{metric}_n")
    unit = METRICS[metric].unit
    args: dict[str, Any] = {}
    help_text = f"n = {n or 0:,}. Metric: `{metric}`."
    if previous is not None:
        change = fmt_change(unit, value, previous.get(metric))
        help_text = f"n = {n or 0:,} ({compared_with or 'previous window'}: n = {previous.get(f'{metric}_n') or 0:,}). "
        help_text += f"Metric: `{metric}`."
        if change is not None:
            args = dict(delta=change.text, delta_description=compared_with, delta_color=streamlit_delta_colour(metric))
            if change.zero:
                args |= dict(delta_color="off", delta_arrow="off")
    kpi(
        container,
        label,
        fmt_value(unit, value),
        metric,
        n,
        where=where,
        help=help_text,
        target=target,
        raw=value,
        **args,
    )


def previous_window_label() -> str | None:
    """'vs Aug 21 - Sep 19': the window the deltas compare with (the same length, just before the sidebar's)."""
    f = filters()
    if f.date_from is None or f.date_to is None:
        return None
    before = f.previous()
    assert before.date_from is not None and before.date_to is not None
    return f"vs {fmt_days(before.date_from, before.date_to)}"


def show_figure(fig: go.Figure, key: str | None = None) -> None:
    """A chart; when its points carry drill queries (figures.Drill), a click opens the rows behind the point."""
    config = {"displaylogo": False}
    if fig.layout.meta != DRILL_META:
        st.plotly_chart(fig, width="stretch", key=key, config=config)
        return
    event = st.plotly_chart(fig, width="stretch", key=key, config=config, on_select="rerun", selection_mode="points")
    for point in _selected(event, "points"):
        ref = point_ref(point)
        if ref:
            open_rows(drill_query(ref))


def _selected(event: object, what: str) -> list[Any]:
    """What a chart's or table's selection event holds (points, cells, rows); nothing when there is no event (an
    element drawn without on_select returns itself, not an event)."""
    if not isinstance(event, Mapping):
        return []
    return list(event.get("selection", {}).get(what, []))


@dataclass(frozen=True)
class Col:
    """How a table shows one column: its label, its unit (seconds, wait, ratio, score, nps, count, time, day, text,
    progress), a width ("small", "medium", "large" or pixels), pinned to the left while the rest scrolls, a tooltip.

    ``seconds``: figures of one kind (medians per agent) take one unit for the whole column by their typical size
    (replyboard.formats.column_scale) and still sort as numbers; ``wait``: single waits, heavy-tailed (40 s next
    to 28 days), each written in its own unit (fmt_duration) in a list already in order. Shares are percentages
    with one decimal: every table writes figures the same way."""

    label: str
    unit: str = "text"
    width: str | int | None = None
    pinned: bool = False
    help: str | None = None


def view(frame: pl.DataFrame, columns: Mapping[str, Col]) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The frame as a table shows it and its column_config: ``columns``' columns converted and, through
    ``column_order``, the only ones shown, in that order (the others stay in the data: drill-downs read them)."""
    config: dict[str, Any] = {}
    exprs = []
    for name, col in columns.items():
        if name not in frame.columns:
            continue
        common: dict[str, Any] = dict(label=col.label, width=col.width, pinned=col.pinned or None, help=col.help)
        expr = pl.col(name)
        if col.unit == "wait":
            expr = expr.map_elements(fmt_duration, return_dtype=pl.String)
            config[name] = st.column_config.TextColumn(alignment="right", **common)
        elif col.unit == "seconds":
            scale = formats.column_scale(frame[name].to_list())
            expr = expr.cast(pl.Float64) / scale.divisor
            config[name] = st.column_config.NumberColumn(format=f"%.{scale.decimals}f {scale.suffix}", **common)
        elif col.unit in ("ratio", "progress"):
            expr = expr.cast(pl.Float64) * 100
            if col.unit == "progress":
                config[name] = st.column_config.ProgressColumn(
                    format="%.0f%%", min_value=0, max_value=100, color=theme.PALETTE[0], **common
                )
            else:
                config[name] = st.column_config.NumberColumn(format="%.1f%%", **common)
        elif col.unit == "score":
            config[name] = st.column_config.NumberColumn(format="%.2f", **common)
        elif col.unit == "nps":
            config[name] = st.column_config.NumberColumn(format="%.0f", **common)
        elif col.unit == "count":
            config[name] = st.column_config.NumberColumn(format="localized", **common)
        elif col.unit == "time":
            config[name] = st.column_config.DatetimeColumn(format=TIME_FORMAT, **common)
        elif col.unit == "day":
            config[name] = st.column_config.DateColumn(format="MMM D, YYYY", **common)
        else:
            config[name] = st.column_config.Column(**common)
        exprs.append(expr)
    return frame.with_columns(exprs), config


def _csv_units(frame: pl.DataFrame, columns: Mapping[str, Col] | None) -> dict[str, str]:
    """Each column's unit for its CSV: the read layer's (metrics, their n, durations), a table's own when given."""
    kinds = {"wait": "seconds", "seconds": "seconds", "ratio": "ratio", "score": "score"}
    own = {name: kinds[col.unit] for name, col in (columns or {}).items() if col.unit in kinds}
    return column_units(frame.columns) | own


def _table_height(frame: pl.DataFrame, kwargs: dict[str, Any]) -> None:
    if 10 < frame.height <= 25:  # up to 25 rows show without scrolling
        kwargs.setdefault("height", 35 * (frame.height + 1) + 3)


def _shown(frame: pl.DataFrame, columns: Mapping[str, Col] | None, kwargs: dict[str, Any]) -> pl.DataFrame:
    """The frame a table draws, with its column_config merged into kwargs (a page's own entries win)."""
    kwargs.setdefault("placeholder", formats.DASH)  # a missing value reads "–", never "None"
    if columns is None:
        return frame
    shown, config = view(frame, columns)
    kwargs["column_config"] = config | dict(kwargs.get("column_config") or {})
    kwargs.setdefault("column_order", [c for c in columns if c in frame.columns])
    return shown


def drill_table(
    frame: pl.DataFrame,
    name: str,
    *,
    key: str,
    groups: Mapping[str, str],
    metrics: Mapping[str, str],
    default: str,
    fixed: Mapping[str, object] | None = None,
    columns: Mapping[str, Col] | None = None,
    **kwargs: Any,
) -> None:
    """A table whose cells open the rows behind them: a cell of a metric column (``metrics``: column -> metric)
    opens that metric's rows, any other cell the ``default`` metric's, for the row's groups (``groups``: column
    -> dimension) under the same filters. A row's own ``drill_metric`` and ``drill_extra`` (a query string such as
    ``target=15``) columns, when present, win; they are not shown. ``columns``: what is shown and how (Col);
    the CSV holds every column, numbers with their unit in the header."""
    _table_height(frame, kwargs)
    hidden = ("drill_metric", "drill_extra")
    shown = _shown(frame, columns, kwargs)
    kwargs.setdefault("column_order", [c for c in shown.columns if c not in hidden])
    event = st.dataframe(shown, hide_index=True, key=key, on_select="rerun", selection_mode="single-cell", **kwargs)
    st.caption("Click a cell to see the rows behind it.")
    download_csv(frame.drop([c for c in hidden if c in frame.columns]), name, columns=columns)
    for row_index, column in _selected(event, "cells"):
        row = frame.row(int(row_index), named=True)
        where = {dim: row.get(col) for col, dim in groups.items()} | dict(fixed or {})
        extra = {k: v[-1] for k, v in parse_qs(row.get("drill_extra") or "").items()}
        open_rows(rows_query(row.get("drill_metric") or metrics.get(column, default), where, **extra))


def conversation_table(
    frame: pl.DataFrame,
    name: str,
    *,
    key: str,
    ids: Sequence[str] | None,
    columns: Mapping[str, Col] | None = None,
    **kwargs: Any,
) -> None:
    """A table of rows that each belong to a conversation (``ids``, in the frame's order): selecting a row opens it
    in the viewer. Downloads as CSV."""
    _table_height(frame, kwargs)
    selectable = ids is not None and any(ids)
    event = st.dataframe(
        _shown(frame, columns, kwargs),
        hide_index=True,
        key=key,
        on_select="rerun" if selectable else "ignore",
        selection_mode="single-row",
        **kwargs,
    )
    if selectable:
        st.caption("Select a row to read its conversation.")
    download_csv(frame, name, key=f"dl-{key}", columns=columns)
    for row_index in _selected(event, "rows") if selectable else []:
        chosen = ids[int(row_index)] if ids is not None and int(row_index) < len(ids) else None
        if chosen:
            open_conversation(chosen)


ID_COLUMNS = ("block_id", "message_id", "response_id", "conversation_id", "agent")


def readable(frame: pl.DataFrame, first: Sequence[str] = (), *, zone: str | None = None) -> pl.DataFrame:
    """Rows as a lead reads them: times in the team timezone, ``first`` columns first, ids last, and the agent
    columns dropped when no row has one (unanswered blocks)."""
    zone = zone or settings().timezone
    frame = frame.with_columns(
        pl.col(c).dt.convert_time_zone(zone).dt.replace_time_zone(None)
        for c, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None
    )
    if "agent" in frame.columns and frame["agent"].null_count() == frame.height:
        frame = frame.drop([c for c in ("agent", "name", "team") if c in frame.columns])
    head = [c for c in dict.fromkeys(first) if c in frame.columns]
    tail = [c for c in ID_COLUMNS if c in frame.columns and c not in head]
    return frame.select(*head, *[c for c in frame.columns if c not in head and c not in tail], *tail)


TIME_FORMAT = "YYYY-MM-DD HH:mm"


def time_columns(**labels: str) -> dict[str, Any]:
    """column_config entries for local times (column=label)."""
    return {c: st.column_config.DatetimeColumn(label, format=TIME_FORMAT) for c, label in labels.items()}


def describe(metric: str) -> str:
    return CATALOG[metric].description


def fmt_metric(metric: str, value: float | None) -> str:
    """A metric's value as a person reads it, by its unit (replyboard.formats)."""
    return fmt_value(METRICS[metric].unit, value)


def without_agent_filters() -> Filters:
    """The global filters with agent and team cleared: unanswered blocks have no replier to filter on."""
    return replace(filters(), agents=(), teams=())


def download_csv(
    frame: pl.DataFrame,
    name: str,
    label: str = "Download CSV",
    key: str | None = None,
    columns: Mapping[str, Col] | None = None,
) -> None:
    """Every table downloads as CSV: numbers with their unit in the header (durations in minutes, shares in
    percent), rounded; ``columns``' own units too; cells that look like formulas neutralised; built on click
    and audited."""
    st.download_button(
        label,
        data=exported(f"{name}.csv", lambda: csv_bytes(frame, _csv_units(frame, columns)), rows=frame.height),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key or f"dl-{name}",
        icon=":material/download:",
        on_click="ignore",
    )


def table(frame: pl.DataFrame, name: str, *, columns: Mapping[str, Col] | None = None, **kwargs: Any) -> None:
    """A table with its CSV download underneath; up to 25 rows show without scrolling."""
    _table_height(frame, kwargs)
    st.dataframe(_shown(frame, columns, kwargs), hide_index=True, **kwargs)
    download_csv(frame, name, columns=columns)


def require_data() -> bool:
    """Show how to load data when the warehouse is empty; pages return early when this is False."""
    if has_data():
        return True
    st.info(
        "No messages in the warehouse yet. Load your exports, then reload this page:\n\n"
        f"```\npython -m etl load --db {db_path()} path/to/messages.csv\n```\n"
        "Canonical CSVs, OpenPhone/Quo and Twilio exports, webhook payloads and SMS Backup & Restore XML "
        "are recognised automatically (see the README). `make run` (without `DB=`) serves the demo, in its own "
        "file `data/demo.duckdb`."
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
