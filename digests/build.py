"""A digest from the warehouse, read through the same calls as the pages: ``metrics.query.compare`` for the
headline (the Overview's cards), ``okr.evaluate`` with the store's check-ins and the leads' annotations for the
OKRs (the OKR page), ``metrics.query.compute`` for the per-line and per-agent tables.

Reports:
- ``okr``: every objective and key result of the period running on the as-of day (current value, target,
  progress against the expected pacing, status and its change since the last digest, a weekly trend chart), and
  the week's headline figures against the week before;
- ``yesterday``: the as-of day's headline figures against the day before, per line, and texts per hour;
- ``team``: the week of a team (filters teams/agents): headline figures and one row per agent.

The window ends on the as-of day: the last complete day before the digest is sent (digests.schedule).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from charts import figures, theme
from digests import links
from digests.model import REPORT_TITLES, Chart, Digest, Figure, KeyResultLine, ObjectiveLine, Table
from metrics import health, okr
from metrics.annotations import Overlay, checkins_for, overlay_for
from metrics.compiler import Filters
from metrics.headline import HEADLINE, delta_text, tone, value_text
from metrics.okr import text as okr_text
from metrics.params import Params
from metrics.query import compare, compute, flags_low_n
from metrics.registry import METRICS
from metrics.scope import EVERYTHING, Scope
from replyboard.formats import DASH, fmt_number
from replyboard.settings import DigestSubscription, Settings

WEEK = 7
WINDOW_PAGE = {"okr": "overview", "yesterday": "overview", "team": "agents"}  # the page showing a report's window
LINE_METRICS = (
    "inbound_messages",
    "human_replies",
    "first_response_time_median",
    "same_business_day_response_rate",
    "unanswered_inquiries",
)
AGENT_METRICS = (
    "human_replies",
    "conversations_handled",
    "first_response_time_median",
    "reply_time_median",
    "same_business_day_response_rate",
    "csat_mean",
)
# A team's figures: what the team owns (README "Ownership": its agents' conversations and its lines' unowned ones).
TEAM_HEADLINE: tuple[tuple[str, str], ...] = (
    ("human_replies", "Replies"),
    ("conversations_handled", "Conversations handled"),
    ("active_texting_seconds", "Time texting"),
    ("first_response_time_median", "First response (median)"),
    ("first_response_time_p90", "First response (p90)"),
    ("same_business_day_response_rate", "Answered same business day"),
    ("follow_up_within_2h_rate", "Follow-ups within 2 h"),
    ("csat_mean", "CSAT (mean)"),
    ("csat_satisfied_rate", "CSAT satisfied"),
)
COLUMN_LABELS = {
    "inbound_messages": "texts in",
    "human_replies": "replies",
    "conversations_handled": "conv.",
    "first_response_time_median": "first reply",
    "reply_time_median": "reply time",
    "same_business_day_response_rate": "same day",
    "unanswered_inquiries": "unanswered",
    "csat_mean": "CSAT",
}


def window_for(report: str, as_of: date) -> tuple[date, date]:
    days = 1 if report == "yesterday" else WEEK
    return as_of - timedelta(days=days - 1), as_of


def span_text(first: date, last: date) -> str:
    """ "14–20 Sep 2026", "28 Sep – 4 Oct 2026", "Sun 20 Sep 2026" for one day."""
    if first == last:
        return f"{last:%a} {last.day} {last:%b %Y}"
    if (first.year, first.month) == (last.year, last.month):
        return f"{first.day}–{last.day} {last:%b %Y}"
    if first.year == last.year:
        return f"{first.day} {first:%b} – {last.day} {last:%b %Y}"
    return f"{first.day} {first:%b %Y} – {last.day} {last:%b %Y}"


def build(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    settings: Settings,
    subscription: DigestSubscription,
    as_of: date,
    *,
    previous_as_of: date | None = None,
    definitions: Path = okr.DEFINITIONS_DIR,
    scope: Scope = EVERYTHING,
) -> Digest:
    """The digest of ``subscription`` for the window ending ``as_of``; ``previous_as_of`` is the day the last
    digest of its cadence covered (the status changes are counted from it). ``scope``: the recipients' (access
    file): every figure, table and key result is measured inside it, as the dashboard does for them."""
    overlay = overlay_for(db)
    params = Params.from_settings(settings, hours=subscription.hours, overlay=overlay, scope=scope)
    directory = health.agent_directory(con)
    labels = links.Labels(health.line_labels(con), dict(zip(directory["agent_id"], directory["name"], strict=True)))
    window = window_for(subscription.report, as_of)
    f = subscription.filters
    filters = Filters(window[0], window[1], lines=tuple(f.lines), agents=tuple(f.agents), teams=tuple(f.teams))
    base = settings.dashboard_url

    def view(page: str, extra: dict | None = None, at: tuple[date, date] | None = window) -> str:
        query = links.view(at, labels, lines=f.lines, teams=f.teams, agents=f.agents, hours=subscription.hours)
        return links.page(base, page, {**query, **(extra or {})})

    figures_of = TEAM_HEADLINE if subscription.report == "team" else HEADLINE
    headline = _headline(con, figures_of, filters, params, view(WINDOW_PAGE[subscription.report]))
    previous = filters.previous()
    scope_text = _scope_text(subscription, labels)
    digest = Digest(
        subscription=subscription.name,
        report=subscription.report,
        title=f"{REPORT_TITLES[subscription.report]}{scope_text}: {span_text(*window)}",
        intro="",
        as_of=as_of,
        window=window,
        previous_window=(previous.date_from or window[0], previous.date_to or window[1]),
        previous_as_of=previous_as_of,
        data_through=health.data_bounds(con)[1],
        headline=headline,
        links={"window": view(WINDOW_PAGE[subscription.report])},
        empty=sum(fig.n for fig in headline) == 0,
    )
    digest.tables.append(_headline_table(headline))
    if subscription.report == "okr":
        _add_okrs(digest, con, db, settings, as_of, previous_as_of, definitions, overlay, labels, scope)
    elif subscription.report == "yesterday":
        _add_lines(digest, con, filters, params, labels, view("response-times"))
    else:
        _add_agents(digest, con, filters, params, labels, view("agents"))
    digest.links.setdefault("dashboard", digest.links["window"])  # the OKR digest opens the OKR page instead
    digest.intro = _intro(digest)
    return digest


def _scope_text(subscription: DigestSubscription, labels: links.Labels) -> str:
    f = subscription.filters
    parts = [*f.teams, *(labels.agents.get(a, a) for a in f.agents), *(labels.lines.get(n, n) for n in f.lines)]
    return f" ({', '.join(parts)})" if parts else ""


def _intro(digest: Digest) -> str:
    first, last = digest.window
    days = "the day" if first == last else "the week"
    before = span_text(*digest.previous_window)
    through = f"data through {digest.data_through.isoformat()}" if digest.data_through else "no data loaded yet"
    return f"{span_text(first, last)}: {days} against {before}; {through}."


# ---- headline --------------------------------------------------------------------------------------------------


def _headline(
    con: duckdb.DuckDBPyConnection,
    names: Sequence[tuple[str, str]],
    filters: Filters,
    params: Params,
    link: str,
) -> list[Figure]:
    values = compare(con, [m for m, _ in names], filters, params)
    out = []
    for metric, label in names:
        v = values[metric]
        out.append(
            Figure(
                metric=metric,
                label=label,
                value=v["value"],
                previous=v["previous"],
                n=int(v["n"] or 0),
                previous_n=int(v["previous_n"] or 0),
                text=value_text(metric, v["value"]) + (" (low n)" if _low_n(metric, v["n"], params) else ""),
                delta=delta_text(metric, v["value"], v["previous"]),
                tone=tone(metric, v["value"], v["previous"]),
                link=link,
            )
        )
    return out


def _headline_table(headline: Sequence[Figure]) -> Table:
    data = pl.DataFrame(
        {
            "metric": [f.metric for f in headline],
            "label": [f.label for f in headline],
            "value": [f.value for f in headline],
            "n": [f.n for f in headline],
            "previous": [f.previous for f in headline],
            "previous_n": [f.previous_n for f in headline],
        },
        schema={
            "metric": pl.String,
            "label": pl.String,
            "value": pl.Float64,
            "n": pl.Int64,
            "previous": pl.Float64,
            "previous_n": pl.Int64,
        },
    )
    shown = pl.DataFrame(
        {
            "figure": [f.label for f in headline],
            "value": [f.text for f in headline],
            "change": [f.delta or DASH for f in headline],
            "n": [fmt_number(f.n) for f in headline],
        }
    )
    return Table("headline", "Headline figures", shown, data)


# ---- OKRs ------------------------------------------------------------------------------------------------------


def kr_value_text(kr: okr.KeyResultResult, value: float | None) -> str:
    """As the OKR page writes it (metrics.okr.text)."""
    return okr_text.value_text(kr.type, kr.metric, kr.unit, value)


def kr_target_text(kr: okr.KeyResultResult) -> str:
    return okr_text.target_text(kr.type, kr.metric, kr.unit, kr.comparator, kr.target)


def _percent(kr: okr.KeyResultResult) -> bool:
    return kr.type == "manual" or (kr.metric in METRICS and METRICS[kr.metric].unit == "ratio")


def _add_okrs(
    digest: Digest,
    con: duckdb.DuckDBPyConnection,
    db: Path,
    settings: Settings,
    as_of: date,
    previous_as_of: date | None,
    definitions: Path,
    overlay: Overlay,
    labels: links.Labels,
    scope: Scope = EVERYTHING,
) -> None:
    base = settings.dashboard_url
    periods, problems = okr.load_definitions(definitions, con)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        digest.notes.append(
            f"{len(errors)} problem{'s' if len(errors) > 1 else ''} in the OKR definitions left "
            "files out: run python -m metrics okr-check"
        )
    period = okr.pick_period(periods, as_of)
    if period is None:
        digest.notes.append(f"No OKR definitions in {definitions.name}/: add a period to see its key results here.")
        return
    with_store = okr.with_checkins(period, checkins_for(db, period.period))
    objectives = okr.evaluate(con, with_store, settings, as_of, with_history=True, overlay=overlay, scope=scope)
    before: dict[str, str] = {}
    if previous_as_of is not None:
        for obj in okr.evaluate(con, with_store, settings, previous_as_of, overlay=overlay, scope=scope):
            before.update({kr.id: kr.status for kr in obj.key_results})
    okr_link = links.page(base, "okrs", {"okr_period": period.period})
    digest.okr_period = period.period
    digest.links["okrs"] = digest.links["dashboard"] = okr_link
    first = objectives[0]
    day = (min(first.as_of, period.end) - period.start).days + 1
    elapsed = f"day {day} of {period.days}" if day >= 1 else "not started yet"
    digest.okr_note = (
        f"Period {period.period} ({span_text(period.start, period.end)}), {elapsed}: "
        f"{first.expected_progress:.0%} of the way expected by now."
    )
    for obj in objectives:
        lines = []
        for kr in obj.key_results:
            weeks = [h.week_end for h in kr.history]
            values = [h.value for h in kr.history]
            chart = f"kr-{kr.id}" if any(v is not None for v in values) else None
            if chart:
                digest.charts.append(
                    Chart(
                        chart,
                        f"{kr.title}: weekly trend",
                        figures.kr_trend(weeks, values, target=kr.target, status=kr.status, percent=_percent(kr)),
                        260,
                        90,
                    )
                )
            link = okr_link
            if kr.type == "metric" and kr.window_start and kr.window_end:
                query = links.key_result_view((kr.window_start, kr.window_end), kr.filters, kr.hours, labels)
                link = links.page(base, "rows", {"metric": kr.metric, **query})
            lines.append(
                KeyResultLine(
                    id=kr.id,
                    title=kr.title,
                    type=kr.type,
                    metric=kr.metric,
                    status=kr.status,
                    previous_status=before.get(kr.id) if previous_as_of is not None else None,
                    current=kr.current,
                    target=kr.target,
                    comparator=kr.comparator,
                    progress=kr.progress,
                    expected=kr.expected_progress,
                    n=kr.n,
                    current_text=kr_value_text(kr, kr.current) + (" (low n)" if kr.low_n else ""),
                    target_text=kr_target_text(kr),
                    weeks=weeks,
                    values=values,
                    weekly_text=[kr_value_text(kr, v) for v in values],
                    chart=chart,
                    link=link,
                )
            )
        digest.objectives.append(
            ObjectiveLine(obj.id, obj.title, obj.owner, obj.status, obj.progress, obj.expected_progress, lines)
        )
    digest.tables.insert(0, _key_results_table(digest))


def _key_results_table(digest: Digest) -> Table:
    rows = [
        {
            "objective": o.id,
            "key_result": kr.id,
            "title": kr.title,
            "status": kr.status,
            "previous_status": kr.previous_status,
            "current": kr.current,
            "comparator": kr.comparator,
            "target": kr.target,
            "progress": kr.progress,
            "expected_progress": kr.expected,
            "n": kr.n,
        }
        for o in digest.objectives
        for kr in o.key_results
    ]
    schema = {
        "objective": pl.String,
        "key_result": pl.String,
        "title": pl.String,
        "status": pl.String,
        "previous_status": pl.String,
        "current": pl.Float64,
        "comparator": pl.String,
        "target": pl.Float64,
        "progress": pl.Float64,
        "expected_progress": pl.Float64,
        "n": pl.Int64,
    }
    data = pl.DataFrame(rows, schema=schema)
    shown = pl.DataFrame(
        {
            "key result": [kr.title for kr in digest.key_results],
            "status": [kr.status for kr in digest.key_results],
            "current": [kr.current_text for kr in digest.key_results],
            "target": [kr.target_text for kr in digest.key_results],
        },
        schema={"key result": pl.String, "status": pl.String, "current": pl.String, "target": pl.String},
    )
    return Table("key-results", "Key results", shown, data)


# ---- per line (yesterday) and per agent (team) -----------------------------------------------------------------


def _shown(frame: pl.DataFrame, first: dict[str, list[str]], metrics: Sequence[str]) -> pl.DataFrame:
    """Text cells: the leading label columns, then each metric written by its unit (a rate or score of fewer
    rows than min_n marked "(low n)", as on the pages)."""
    columns: dict[str, list[str]] = dict(first)
    for m in metrics:
        low = frame[f"{m}_low_n"].to_list() if f"{m}_low_n" in frame.columns else [False] * frame.height
        columns[COLUMN_LABELS[m]] = [
            value_text(m, v) + (" (low n)" if flag and v is not None else "")
            for v, flag in zip(frame[m].to_list(), low, strict=True)
        ]
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


def _low_n(metric: str, n: float | None, params: Params) -> bool:
    """A rate or score made from fewer rows than min_n (and at least one: no value is just no value)."""
    return flags_low_n(metric) and n is not None and 0 < int(n) < params.min_n


def _add_lines(
    digest: Digest,
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    params: Params,
    labels: links.Labels,
    link: str,
) -> None:
    per_line = compute(con, list(LINE_METRICS), by="line", filters=filters, params=params)
    names = [labels.lines.get(n, n) for n in per_line["line"].to_list()]
    data = per_line.with_columns(pl.Series("line_name", names, dtype=pl.String)).select(
        "line_name", *(c for c in per_line.columns if c != "line")
    )
    digest.tables.append(Table("lines", "Per line", _shown(per_line, {"line": names}, LINE_METRICS), data))
    by_hour = compute(con, ["inbound_messages", "outbound_messages"], by="hour", filters=filters, params=params)
    fig = figures.volume_over_time(by_hour, x="hour", title="Texts per hour (team timezone)")
    fig.update_layout(width=600, height=240, paper_bgcolor="white", plot_bgcolor="white")
    fig.update_xaxes(dtick=2)
    digest.charts.append(Chart("texts-per-hour", "Texts per hour", fig, 600, 240))
    digest.links["lines"] = link


def _add_agents(
    digest: Digest,
    con: duckdb.DuckDBPyConnection,
    filters: Filters,
    params: Params,
    labels: links.Labels,
    link: str,
) -> None:
    per_agent = compute(con, list(AGENT_METRICS), by="agent", filters=filters, params=params)
    # what no agent owns is a row of its own (README "Ownership"): the rows add up to the team's figures
    names = [labels.agents.get(a, a) if a is not None else theme.UNASSIGNED for a in per_agent["agent"].to_list()]
    data = per_agent.with_columns(pl.Series("name", names, dtype=pl.String)).select(
        "agent", "name", *(c for c in per_agent.columns if c != "agent")
    )
    digest.tables.append(Table("agents", "Per agent", _shown(per_agent, {"agent": names}, AGENT_METRICS), data))
    replies = pl.DataFrame({"agent": names, "replies": per_agent["human_replies"].to_list()}).filter(
        per_agent["agent"].is_not_null()
    )
    fig = figures.bars(replies.reverse(), x="agent", y="replies", title="Replies per agent", horizontal=True)
    fig.update_layout(width=600, paper_bgcolor="white", plot_bgcolor="white")
    digest.charts.append(Chart("replies-per-agent", "Replies per agent", fig, 600, int(fig.layout.height or 300)))
    digest.links["agents"] = link
