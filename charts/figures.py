"""Pure figure functions: (frame, *, options) -> go.Figure. No I/O, no Streamlit; easy to test.

A figure given a ``Drill`` carries, in each point's customdata (its last element), the query of the rows behind
that point (``metric=...&where=day=2026-09-01``): the dashboard opens them when the point is clicked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, cast
from urllib.parse import parse_qs, urlencode

import plotly.graph_objects as go
import polars as pl

from charts.theme import (
    DIRECTION_COLOURS,
    HEATMAP_SCALE,
    PALETTE,
    SCORE_BAND_COLOURS,
    TARGET_LINE,
    status_style,
)

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified", legend=dict(orientation="h", y=-0.2))
DAY_MS = 86_400_000
# The calendar step of each time dimension the read layer splits by (metrics.registry: day, week, month).
PERIOD_DAYS = {"day": 1, "week": 7, "month": 30}


@dataclass(frozen=True)
class TargetLine:
    """A target drawn on the chart it belongs to: a dashed line at ``value`` (in the chart's own unit, e.g.
    minutes on a minutes axis) labelled ``label`` ("target ≤ 120 min (settings)")."""

    value: float
    label: str


def _draw_target(fig: go.Figure, target: TargetLine | None, *, horizontal: bool = False, log: bool = False) -> None:
    if target is None:
        return
    line = dict(line_dash="dash", line_color=TARGET_LINE, line_width=1.5)
    label = dict(text=target.label, showarrow=False, font=dict(size=11, color=TARGET_LINE))
    if horizontal:
        fig.add_vline(x=target.value, **line)
        fig.add_annotation(x=target.value, y=1, yref="paper", xanchor="left", yanchor="bottom", **label)
    else:
        fig.add_hline(y=target.value, **line)
        # an annotation on a log axis is placed by the exponent (plotly), a shape by the value
        y = math.log10(target.value) if log and target.value > 0 else target.value
        fig.add_annotation(x=0, xref="paper", y=y, xanchor="left", yanchor="bottom", **label)


def _is_time(values: Sequence[Any]) -> bool:
    return bool(values) and all(isinstance(v, date) for v in values if v is not None)


def _time_axis(fig: go.Figure, xs: Sequence[Any], period: str | None, *, axis: str = "x") -> None:
    """Dates read as days, whatever the number of points: ticks at midnight labelled "Sep 20" (a single day no
    longer reads "23:59:59.9996"), the range one step wider than the data on each side, a tick per day or week
    while there are few."""
    days = [v for v in xs if isinstance(v, date)]
    if not days:
        return
    step = timedelta(days=PERIOD_DAYS.get(period or "day", 1))
    first, last = _midnight(min(days)), _midnight(max(days))
    span = (last - first) / step + 1  # periods shown
    settings: dict[str, Any] = dict(
        type="date",
        tickformat="%b %-d" if step.days < 28 else "%b %Y",
        hoverformat="%a %b %-d, %Y" if step.days == 1 else "%b %-d, %Y",
        range=[(first - step * 0.6).isoformat(), (last + step * 0.6).isoformat()],
    )
    if span <= 16:
        settings |= dict(dtick=step.days * DAY_MS if step.days < 28 else "M1", tick0=first.isoformat())
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(**settings)


def _midnight(day: date) -> datetime:
    """A day as the datetime plotly places it at (a date minus 0.6 days would stay the same date)."""
    return day if isinstance(day, datetime) else datetime(day.year, day.month, day.day)


def complete_periods(frame: pl.DataFrame, x: str, period: str | None) -> pl.DataFrame:
    """Every period between the first and the last, the missing ones as nulls, so a line breaks where there is no
    data instead of joining the days on either side (a weekend, a day nobody wrote in)."""
    if frame.is_empty() or period not in PERIOD_DAYS or not _is_time(frame[x].to_list()):
        return frame
    # a time column (checked above): its bounds are dates or datetimes
    first, last = cast(date, frame[x].min()), cast(date, frame[x].max())
    interval = {"day": "1d", "week": "1w", "month": "1mo"}[period]
    every = pl.DataFrame({x: pl.date_range(first, last, interval, eager=True)}).cast({x: frame.schema[x]})
    return every.join(frame, on=x, how="left", maintain_order="left")


def _integer_axis(fig: go.Figure, values: Sequence[Any], *, axis: str = "y") -> None:
    """Counts get whole-number ticks: a chart of 0-4 texts no longer reads 0, 0.5, 1, 1.5."""
    known = [v for v in values if v is not None]
    if not known or any(isinstance(v, float) and not v.is_integer() for v in known):
        return
    top = max(known)
    settings: dict[str, Any] = dict(tickformat=",d", rangemode="tozero")
    if top <= 8:
        settings |= dict(dtick=1, tick0=0)
    elif top <= 16:
        settings |= dict(dtick=2, tick0=0)
    (fig.update_yaxes if axis == "y" else fig.update_xaxes)(**settings)


def _bar_width(xs: Sequence[Any], period: str | None, traces: int = 1) -> float | None:
    """A bar on a date axis is as wide as its period (less a gap), not as wide as the axis' autorange."""
    if not _is_time(list(xs)):
        return None
    return PERIOD_DAYS.get(period or "day", 1) * DAY_MS * 0.8 / traces


@dataclass(frozen=True)
class Drill:
    """Which rows each point of a chart stands for: the rows page's query per point.

    ``metric``: one metric for every trace, or None when each trace's value column is the metric's name;
    ``groups``: (frame column, dimension) pairs read from the point's row; ``fixed``: (dimension, value) pairs every
    point shares (the one agent of a trend); ``extra``: other query parameters of the rows page (``target``)."""

    metric: str | None = None
    groups: tuple[tuple[str, str], ...] = ()
    fixed: tuple[tuple[str, object], ...] = ()
    extra: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(
        cls,
        metric: str | None = None,
        groups: Mapping[str, str] | None = None,
        fixed: Mapping[str, object] | None = None,
        **extra: object,
    ) -> Drill:
        return cls(metric, tuple((groups or {}).items()), tuple((fixed or {}).items()), tuple(extra.items()))

    def ref(self, metric: str | None, row: Mapping[str, Any], **extra: object) -> str:
        """The rows page's query for one point (``row``: its frame row, column -> value)."""
        name = self.metric or metric
        if not name:
            raise ValueError("a drill needs a metric")
        where = [(dim, row.get(column)) for column, dim in self.groups] + list(self.fixed)
        pairs: list[tuple[str, str]] = [("metric", name)]
        pairs += [("where", f"{dim}={_query_value(value)}") for dim, value in where]
        pairs += [(k, _query_value(v)) for k, v in (*self.extra, *extra.items()) if v is not None]
        return urlencode(pairs)

    def refs(self, frame: pl.DataFrame, metric: str | None = None, **extra: object) -> list[str]:
        return [self.ref(metric, row, **extra) for row in frame.iter_rows(named=True)]

    def grouped_by(self, **columns: str) -> Drill:
        """The same drill, also grouped by these frame columns (column=dimension): a chart's own axes."""
        return replace(self, groups=(*self.groups, *columns.items()))


def _query_value(value: object) -> str:
    if value is None:
        return ""  # the no-value group (no agent: inbound texts)
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


DRILL_META = "rows-drill"  # layout.meta of a figure whose points carry drill queries


def drill_query(ref: str) -> dict[str, str | list[str]]:
    """A point's drill query as the rows page's query parameters (``where`` repeats, the others are single)."""
    parsed = parse_qs(ref, keep_blank_values=True)
    return {k: (v if k == "where" else v[-1]) for k, v in parsed.items()}


def point_ref(point: Mapping[str, Any]) -> str | None:
    """The drill query a selected point carries (the last element of its customdata), if any."""
    data = point.get("customdata")
    if isinstance(data, list | tuple) and data:
        data = data[-1]
    return data if isinstance(data, str) and data.startswith("metric=") else None


def _with_refs(fig: go.Figure, drill: Drill | None) -> go.Figure:
    if drill is not None:
        fig.update_layout(meta=DRILL_META, clickmode="event+select")
    return fig


def _custom(*columns: Sequence[Any] | None) -> list[list[Any]] | None:
    """customdata rows from parallel columns (None columns left out); the drill refs go last."""
    present = [list(c) for c in columns if c is not None]
    return [list(t) for t in zip(*present, strict=True)] if present else None


def _cell_overlay(fig: go.Figure, xs: list, ys: list, refs: list[str], hover: list[str], *, size: int = 26) -> None:
    """Heatmaps cannot be clicked in Streamlit (streamlit#8760): an invisible square marker on each cell takes
    the click and the hover instead."""
    fig.add_scatter(
        x=xs,
        y=ys,
        mode="markers",
        marker=dict(symbol="square", size=size, opacity=0),
        customdata=[[h, r] for h, r in zip(hover, refs, strict=True)],
        hovertemplate="%{customdata[0]}<extra></extra>",
        showlegend=False,
    )


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(
        title=title,
        annotations=[dict(text="No data for these filters", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)],
        **_LAYOUT,
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _partial(frame: pl.DataFrame) -> list[bool]:
    """Per row: the period is only partly covered by the data or the dates (the read layer's ``partial``)."""
    return [bool(p) for p in frame["partial"].to_list()] if "partial" in frame.columns else [False] * frame.height


def volume_over_time(
    frame: pl.DataFrame, *, x: str = "day", title: str = "Texts per day", drill: Drill | None = None
) -> go.Figure:
    """Inbound and outbound counts per period (``x``: day, week or month): columns x, inbound_messages,
    outbound_messages and, when present, ``partial``: a period the data covers only in part is drawn faded and
    says so on hover."""
    if frame.is_empty():
        return _empty(title)
    fig = go.Figure()
    xs = frame[x].to_list()
    partial = _partial(frame)
    notes = [f" (partial {x}: not every day of it is in the data)" if p else "" for p in partial]
    columns = [(c, n) for c, n in (("inbound_messages", "inbound"), ("outbound_messages", "outbound")) if c in frame]
    width = _bar_width(xs, x, len(columns))
    for i, (col, name) in enumerate(columns):
        offset = None if width is None else (i - len(columns) / 2) * width
        fig.add_bar(
            x=xs,
            y=frame[col].to_list(),
            name=name,
            marker=dict(color=DIRECTION_COLOURS[name], opacity=[0.4 if p else 1.0 for p in partial]),
            width=width,
            offset=offset,
            customdata=_custom(notes, drill.refs(frame, col) if drill else None),
            hovertemplate=f"{name}: %{{y:,}}%{{customdata[0]}}<extra></extra>",
        )
    fig.update_layout(title=title, barmode="group", yaxis_title="texts", **_LAYOUT)
    _time_axis(fig, xs, x)
    _integer_axis(fig, [v for c, _ in columns for v in frame[c].to_list()])
    return _with_refs(fig, drill)


def lines_over_time(
    frame: pl.DataFrame,
    *,
    x: str,
    series: dict[str, str],
    title: str,
    y_title: str = "",
    percent: bool = False,
    log_y: bool = False,
    drill: Drill | None = None,
    show_n: bool = False,
    target: TargetLine | None = None,
    value_format: str | None = None,
) -> go.Figure:
    """One line per column in `series` ({column: label}); a `<column>_n` column, when present, is shown as
    each point's n on hover (and, with ``show_n``, written by each point). A period the data covers only in
    part (a ``partial`` column) and a value of fewer rows than min_n (``<column>_low_n``) get a hollow marker
    and say so on hover. `log_y` suits heavy-tailed durations (a median and a p90 hours apart). A time ``x``
    (day, week, month) gets every period, the empty ones as gaps in the line. ``target``: a dashed line where
    the target is; ``value_format``: the hover's d3 format of a value (default one decimal, or a percentage)."""
    if frame.is_empty() or all(frame[c].null_count() == frame.height for c in series):
        return _empty(title)
    frame = complete_periods(frame, x, x)
    fig = go.Figure()
    partial = _partial(frame)
    for i, (col, label) in enumerate(series.items()):
        n = frame[f"{col}_n"].to_list() if f"{col}_n" in frame.columns else None
        low = frame[f"{col}_low_n"].to_list() if f"{col}_low_n" in frame.columns else [False] * frame.height
        notes = [
            "".join((f"; partial {x}" if p else "", "; low n" if lo else ""))
            for p, lo in zip(partial, low, strict=True)
        ]
        hollow = [p or bool(lo) for p, lo in zip(partial, low, strict=True)]
        value = f"%{{y:{value_format or ('.1%' if percent else ',.1f')}}}"
        fig.add_scatter(
            x=frame[x].to_list(),
            y=frame[col].to_list(),
            name=label,
            mode="lines+markers+text" if show_n and n is not None else "lines+markers",
            line=dict(color=PALETTE[i % len(PALETTE)]),
            marker=dict(symbol=["circle-open" if h else "circle" for h in hollow], size=9),
            text=[f"n={v:,}" if v is not None else "" for v in n] if show_n and n is not None else None,
            textposition="top center",
            textfont=dict(size=10),
            connectgaps=False,
            customdata=_custom(n, notes, drill.refs(frame, col) if drill else None),
            hovertemplate=f"{label}: {value} (n = %{{customdata[0]:,}}%{{customdata[1]}})<extra></extra>"
            if n is not None
            else f"{label}: {value}%{{customdata[0]}}<extra></extra>",
        )
    values = [v for col in series for v in frame[col].to_list() if v is not None]
    log_y = log_y and bool(values) and min(values) > 0  # a zero (e.g. 0 business minutes) needs a linear axis
    fig.update_layout(title=title, yaxis_title=f"{y_title}, log scale" if log_y else y_title, **_LAYOUT)
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    if log_y:
        fig.update_yaxes(type="log", tickvals=_LOG_TICKS, ticktext=[f"{t:g}" for t in _LOG_TICKS])
        if target is not None and values:  # the target stays in view on a log axis too
            low, high = min(*values, target.value), max(*values, target.value)
            fig.update_yaxes(range=[math.log10(low) - 0.15, math.log10(high) + 0.15])
    _draw_target(fig, target, log=log_y)
    _time_axis(fig, frame[x].to_list(), x)
    return _with_refs(fig, drill)


_LOG_TICKS = [m * 10.0**k for k in range(-2, 7) for m in (1, 2, 5)]  # 0.01 ... 5,000,000: 1-2-5 steps


def heatmap(
    frame: pl.DataFrame,
    *,
    value: str = "per_week",
    title: str = "Inbound texts per week",
    drill: Drill | None = None,
) -> go.Figure:
    """Weekday x hour matrix: columns weekday (1-7), weekday_name, hour, value (and n, the count behind it).
    With a drill, each cell opens the rows of that weekday and hour (``Drill.of(metric, fixed=...)``)."""
    if frame.is_empty() or frame[value].sum() == 0:
        return _empty(title)
    names = frame.sort("weekday").unique("weekday", maintain_order=True)["weekday_name"].to_list()
    z = [frame.filter(pl.col("weekday") == d).sort("hour")[value].to_list() for d in range(1, 8)]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(24)),
            y=names,
            colorscale=HEATMAP_SCALE,
            hovertemplate="%{y} %{x}:00<br>%{z:.1f} per week<extra></extra>",
            hoverinfo="skip" if drill else None,
        )
    )
    if drill is not None:
        cells = frame.sort("weekday", "hour")
        hover = [
            f"{r['weekday_name']} {r['hour']}:00<br>{r[value]:.1f} per week"
            + (f" (n = {r['n']:,})" if "n" in r else "")
            + "<br>click: the rows behind it"
            for r in cells.iter_rows(named=True)
        ]
        refs = drill.grouped_by(weekday_name="weekday", hour="hour").refs(cells)
        _cell_overlay(fig, cells["hour"].to_list(), cells["weekday_name"].to_list(), refs, hover)
    fig.update_layout(title=title, xaxis_title="hour (team timezone)", **{**_LAYOUT, "hovermode": "closest"})
    fig.update_yaxes(autorange="reversed")
    return _with_refs(fig, drill)


def histogram(values: list[float], *, title: str, x_title: str, nbins: int = 40) -> go.Figure:
    if not values:
        return _empty(title)
    fig = go.Figure(go.Histogram(x=values, nbinsx=nbins, marker_color=PALETTE[0]))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis_title="count", **{**_LAYOUT, "hovermode": "closest"})
    fig.update_yaxes(tickformat=",d", rangemode="tozero")
    return fig


def bars(
    frame: pl.DataFrame,
    *,
    x: str,
    y: str,
    title: str,
    y_title: str = "",
    horizontal: bool = False,
    percent: bool = False,
    colour: str | Sequence[str] | None = None,
    drill: Drill | None = None,
    target: TargetLine | None = None,
) -> go.Figure:
    """One bar per row. With a drill, each bar opens its rows; a ``drill_extra`` column, when present, holds
    each bar's own extra query (e.g. ``target=15``). ``colour``: one colour, or one per row (a status each).
    A time ``x`` (day, week) gets bars a period wide on a date axis; counts get whole-number ticks."""
    if frame.is_empty():
        return _empty(title)
    xs, ys = frame[x].to_list(), frame[y].to_list()
    bar = go.Bar(x=ys, y=xs, orientation="h") if horizontal else go.Bar(x=xs, y=ys, width=_bar_width(xs, x))
    bar.marker.color = colour or PALETTE[0]
    if drill is not None:
        bar.customdata = _custom(_bar_refs(frame, drill, y))
    fig = go.Figure(bar)
    fig.update_layout(title=title, **{**_LAYOUT, "hovermode": "closest"})
    if horizontal:  # a bar's thickness, not the chart's, stays the same whatever the number of rows
        fig.update_layout(height=max(220, 110 + 28 * len(xs)))
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(title=y_title, **({"tickformat": ".0%"} if percent else {}))
    if not percent:
        _integer_axis(fig, ys, axis="x" if horizontal else "y")
    if not horizontal:
        _time_axis(fig, xs, x)
    _draw_target(fig, target, horizontal=horizontal)
    return _with_refs(fig, drill)


def _bar_refs(frame: pl.DataFrame, drill: Drill, metric: str) -> list[str]:
    """Each row's drill query; a row's own ``drill_metric`` / ``drill_extra`` (a query string) override."""
    out = []
    for row in frame.iter_rows(named=True):
        extra = {k: v[-1] for k, v in parse_qs(row.get("drill_extra") or "").items()}
        out.append(drill.ref(row.get("drill_metric") or metric, row, **extra))
    return out


# Reply-time buckets for a heavy-tailed distribution: (label, upper bound in seconds); the last is open-ended.
DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 5 min", 300),
    ("5-15 min", 900),
    ("15-30 min", 1800),
    ("30-60 min", 3600),
    ("1-2 h", 7200),
    ("2-4 h", 14400),
    ("4-8 h", 28800),
    ("8-24 h", 86400),
    ("1-2 d", 172800),
    ("2 d +", float("inf")),
)
DURATION_EDGES: tuple[float, ...] = tuple(upper for _, upper in DURATION_BUCKETS[:-1])


def duration_distribution(
    frame: pl.DataFrame,
    *,
    title: str,
    x_title: str = "reply time",
    drill: Drill | None = None,
    target_seconds: float | None = None,
    target_label: str = "",
) -> go.Figure:
    """Counts per reply-time bucket: columns bucket (index into DURATION_BUCKETS: how many edges are <= the
    duration) and n. Buckets widen with the wait, so the long tail stays readable; empty buckets show as 0.
    With a drill, a bar opens the rows whose value is in its bucket (``min`` <= seconds < ``max``).
    ``target_seconds``: a dashed line where the response target falls between the buckets."""
    if frame.is_empty() or frame["n"].sum() == 0:
        return _empty(title)
    counts = dict(zip(frame["bucket"].to_list(), frame["n"].to_list(), strict=True))
    labels = [label for label, _ in DURATION_BUCKETS]
    ys = [int(counts.get(i, 0)) for i in range(len(labels))]
    total = sum(ys)
    lows = (None, *DURATION_EDGES)
    highs = (*DURATION_EDGES, None)
    refs = [drill.ref(None, {}, min=lo, max=hi) for lo, hi in zip(lows, highs, strict=True)] if drill else None
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=ys,
            marker_color=PALETTE[0],
            customdata=_custom([y / total for y in ys], refs),
            text=[f"{y / total:.0%}" for y in ys],
            textposition="outside",
            hovertemplate="%{x}: %{y:,} (%{customdata[0]:.1%})<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{title} (n = {total:,})",
        xaxis_title=x_title,
        yaxis_title="inquiries",
        **{**_LAYOUT, "hovermode": "closest"},
    )
    _integer_axis(fig, ys)
    if target_seconds is not None:
        # the categorical axis puts bucket i at x = i: the target sits between the buckets around it, in proportion
        position = _bucket_position(target_seconds)
        fig.add_vline(
            x=position,
            line_dash="dash",
            line_color=TARGET_LINE,
            line_width=1.5,
            annotation_text=target_label,
            annotation_position="top right",
        )
    return _with_refs(fig, drill)


def _bucket_position(seconds: float) -> float:
    """Where a duration falls on the bucket axis (bucket i centred at i, its edges at i - 0.5 and i + 0.5)."""
    lower = 0.0
    for i, upper in enumerate(DURATION_EDGES):
        if seconds <= upper:
            return i - 0.5 + (seconds - lower) / (upper - lower)
        lower = upper
    return len(DURATION_EDGES) - 0.5


def matrix_heatmap(
    frame: pl.DataFrame,
    *,
    x: str,
    y: str,
    z: str,
    title: str,
    x_values: list | None = None,
    x_title: str = "",
    hover: str = "%{y}, %{x}: %{z:,}",
    drill: Drill | None = None,
) -> go.Figure:
    """Any two-key matrix (e.g. agent x hour): rows ordered as they first appear, missing cells 0. With a
    drill, each cell opens its rows (the groups read from that cell's frame row, or its row's and column's)."""
    if frame.is_empty() or frame[z].sum() == 0:
        return _empty(title)
    rows = frame[y].unique(maintain_order=True).to_list()
    cols = x_values if x_values is not None else sorted(frame[x].unique().to_list())
    cell = {(r, c): v for r, c, v in zip(frame[y].to_list(), frame[x].to_list(), frame[z].to_list(), strict=True)}
    zs = [[cell.get((r, c), 0) for c in cols] for r in rows]
    fig = go.Figure(
        go.Heatmap(
            z=zs,
            x=cols,
            y=rows,
            colorscale=HEATMAP_SCALE,
            hovertemplate=hover + "<extra></extra>",
            hoverinfo="skip" if drill else None,
        )
    )
    if drill is not None:
        if x not in {column for column, _ in drill.groups}:  # the x axis is a split too (its column names it)
            drill = drill.grouped_by(**{x: x})
        first: dict[Any, dict[str, Any]] = {}
        for row in frame.iter_rows(named=True):
            first.setdefault(row[y], row)
        pairs = [(r, c) for r in rows for c in cols]
        refs = [drill.ref(None, {**first[r], x: c}) for r, c in pairs]
        text = [
            hover.replace("%{y}", str(r)).replace("%{x}", str(c)).replace("%{z:,}", f"{cell.get((r, c), 0):,}")
            + "<br>click: the rows behind it"
            for r, c in pairs
        ]
        _cell_overlay(fig, [c for _, c in pairs], [r for r, _ in pairs], refs, text, size=20)
    fig.update_layout(
        title=title, xaxis_title=x_title, height=max(300, 60 + 28 * len(rows)), **{**_LAYOUT, "hovermode": "closest"}
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return _with_refs(fig, drill)


def stacked_bars(
    frame: pl.DataFrame,
    *,
    x: str,
    y: str,
    stack: str,
    title: str,
    y_title: str = "",
    horizontal: bool = False,
    percent: bool = False,
    drill: Drill | None = None,
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """One bar segment per value of `stack` (e.g. texts per day stacked by line, replies per team by agent).
    ``colours``: a colour per stack value (theme.team_colours: a team keeps its colour whatever is shown)."""
    if frame.is_empty():
        return _empty(title)
    fig = go.Figure()
    width = None if horizontal else _bar_width(frame[x].to_list(), x)
    for i, part in enumerate(frame[stack].unique(maintain_order=True).to_list()):
        rows = frame.filter(pl.col(stack) == part) if part is not None else frame.filter(pl.col(stack).is_null())
        xs, ys = rows[x].to_list(), rows[y].to_list()
        fig.add_bar(
            x=ys if horizontal else xs,
            y=xs if horizontal else ys,
            name=str(part),
            orientation="h" if horizontal else "v",
            marker_color=(colours or {}).get(str(part), PALETTE[i % len(PALETTE)]),
            width=width,
            customdata=_custom(drill.refs(rows, y) if drill else None),
        )
    fig.update_layout(title=title, barmode="stack", **_LAYOUT)
    fig.update_layout(legend_traceorder="normal")  # the legend in the frame's order (team 1, 2, ...)
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(title=y_title, **({"tickformat": ".0%"} if percent else {}))
    if not percent and not horizontal:  # the stack's height is the count the axis reads
        totals = frame.group_by(x).agg(pl.col(y).sum())[y].to_list()
        _integer_axis(fig, totals)
    if horizontal:  # rows read top-down in the frame's order
        categories = frame[x].unique(maintain_order=True).to_list()
        fig.update_layout(hovermode="closest", height=max(220, 110 + 28 * len(categories)))
        fig.update_yaxes(categoryorder="array", categoryarray=categories, autorange="reversed")
    else:
        _time_axis(fig, frame[x].to_list(), x)
    return _with_refs(fig, drill)


def score_distribution(
    frame: pl.DataFrame,
    *,
    low: int,
    high: int,
    bands: list[tuple[str, int, int]],
    title: str,
    drill: Drill | None = None,
) -> go.Figure:
    """Valid survey scores on their whole scale (columns score, responses), coloured by band.

    `bands` are (name, first score, last score), e.g. CSAT [("not satisfied", 1, 7), ("satisfied", 8, 9)] or
    NPS detractors 0-6, passives 7-8, promoters 9-10; a dashed line marks each band boundary.
    """
    if frame.is_empty() or frame["responses"].sum() == 0:
        return _empty(title)
    counts = dict(zip(frame["score"].to_list(), frame["responses"].to_list(), strict=True))
    total = sum(counts.values())
    fig = go.Figure()
    for name, first, last in bands:
        scores = list(range(max(first, low), min(last, high) + 1))
        ys = [int(counts.get(s, 0)) for s in scores]
        fig.add_bar(
            x=scores,
            y=ys,
            name=f"{name} ({sum(ys) / total:.0%})",
            marker_color=SCORE_BAND_COLOURS.get(name, PALETTE[0]),
            hovertemplate="score %{x}: %{y:,}<extra>" + name + "</extra>",
            customdata=_custom(
                [drill.grouped_by(score="score").ref(None, {"score": s}) for s in scores] if drill else None
            ),
        )
    for name, first, _ in bands[1:]:  # one boundary gets its name; several get short labels that fit
        fig.add_vline(
            x=first - 0.5,
            line_dash="dash",
            line_color="#57606a",
            annotation_text=f"{name} ≥ {first}" if len(bands) == 2 else f"≥ {first}",
            annotation_position="top left" if len(bands) == 2 else "top right",
        )
    fig.update_layout(
        title=f"{title} (n = {total:,})",
        xaxis_title="score",
        yaxis_title="replies",
        barmode="stack",
        **{**_LAYOUT, "hovermode": "closest"},
    )
    fig.update_xaxes(tickmode="linear", dtick=1, range=[low - 0.6, high + 0.6])
    _integer_axis(fig, [int(counts.get(score, 0)) for score in range(low, high + 1)])
    return _with_refs(fig, drill)


def okr_progress(progress: float | None, expected: float | None, status: str, *, title: str = "") -> go.Figure:
    """A bullet bar: progress 0-1 in its status colour (theme), a dashed marker where progress is expected by now,
    labelled inside the chart whichever end it is near."""
    fig = go.Figure(
        go.Bar(
            x=[progress or 0],
            y=[""],
            orientation="h",
            marker_color=status_style(status).colour,
            hovertemplate=f"progress %{{x:.0%}} ({status})<extra></extra>",
            width=0.5,
        )
    )
    if expected is not None:
        fig.add_vline(
            x=expected,
            line_dash="dash",
            line_color=TARGET_LINE,
            annotation_text=f"expected by now {expected:.0%}",
            # the label grows away from the marker towards the middle, so it is never cut at either end
            annotation_position="top left" if expected > 0.5 else "top right",
        )
    fig.update_layout(title=title, height=110, margin=dict(l=10, r=24, t=30, b=10), showlegend=False)
    fig.update_xaxes(range=[0, 1.005], tickformat=".0%", dtick=0.2)
    fig.update_yaxes(visible=False)
    return fig


def quick_chart(frame: pl.DataFrame, *, x: str, y: str, kind: str = "bar", colour: str | None = None) -> go.Figure:
    """Explore's quick chart: y against x as bars or lines, one series per value of ``colour`` (e.g. a weekday
    column), so rows sharing an x are side by side in their own colours, not piled into one bar."""
    title = f"{y} by {x}" + (f", per {colour}" if colour else "")
    if frame.is_empty():
        return _empty(title)
    groups = frame[colour].unique(maintain_order=True).to_list() if colour else [None]
    fig = go.Figure()
    for i, group in enumerate(groups[:_MAX_SERIES]):
        rows = frame if colour is None else frame.filter(pl.col(colour).eq_missing(group))
        colour_of = PALETTE[i % len(PALETTE)]
        name = str(group) if colour else y
        if kind == "bar":
            fig.add_bar(x=rows[x].to_list(), y=rows[y].to_list(), name=name, marker_color=colour_of)
        else:
            fig.add_scatter(
                x=rows[x].to_list(), y=rows[y].to_list(), name=name, mode="lines+markers", line=dict(color=colour_of)
            )
    fig.update_layout(
        title=title + (f" (first {_MAX_SERIES} of {len(groups)})" if len(groups) > _MAX_SERIES else ""),
        xaxis_title=x,
        yaxis_title=y,
        barmode="group",
        showlegend=colour is not None,
        # above the plot: long x labels are drawn slanted below it
        **{**_LAYOUT, "hovermode": "closest", "legend": dict(orientation="h", yanchor="bottom", y=1.02, x=0)},
    )
    return fig


_MAX_SERIES = 20  # a quick chart's legend stays readable


def kr_trend(
    weeks: list, values: list[float | None], *, target: float | None, status: str, percent: bool = False
) -> go.Figure:
    """A key result's weekly trend, small enough for an email (the digest's per-KR chart): the line in its
    status colour, the target dashed, the week ends along the bottom. ``weeks`` and ``values`` are the KR's
    history points."""
    from charts.theme import STATUS_COLOURS

    colour = STATUS_COLOURS.get(status, "#8c959f")
    fig = go.Figure(
        go.Scatter(
            x=weeks,
            y=values,
            mode="lines+markers",
            line=dict(color=colour, width=2.5),
            marker=dict(size=6, color=colour),
            connectgaps=False,
        )
    )
    known = [v for v in values if v is not None]
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color="#57606a", line_width=1)
        known.append(target)
    if known:  # a flat line still gets a visible band around it
        low, high = min(known), max(known)
        pad = (high - low) * 0.15 or (abs(high) * 0.05 or 0.05)
        fig.update_yaxes(range=[low - pad, high + pad])
    fig.update_layout(
        width=260,
        height=90,
        margin=dict(l=14, r=14, t=6, b=20),
        showlegend=False,
        paper_bgcolor="white",
        plot_bgcolor="white",
    )
    fig.update_xaxes(
        showgrid=False,
        zeroline=False,
        showline=False,
        tickvals=weeks,
        tickformat="%-d %b",
        tickfont=dict(size=9, color="#57606a"),
    )
    fig.update_yaxes(visible=False, tickformat=".0%" if percent else None)
    return fig
