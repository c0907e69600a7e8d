"""Pure figure functions: (frame, *, options) -> go.Figure. No I/O, no Streamlit; easy to test.

A figure given a ``Drill`` carries, in each point's customdata (its last element), the query of the rows behind
that point (``metric=...&where=day=2026-09-01``): the dashboard opens them when the point is clicked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import plotly.graph_objects as go
import polars as pl

from charts.theme import DIRECTION_COLOURS, HEATMAP_SCALE, PALETTE, SCORE_BAND_COLOURS

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified", legend=dict(orientation="h", y=-0.2))


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
    """Inbound and outbound counts per period: columns x, inbound_messages, outbound_messages and, when present,
    ``partial``: a period the data covers only in part is drawn faded and says so on hover."""
    if frame.is_empty():
        return _empty(title)
    fig = go.Figure()
    partial = _partial(frame)
    notes = [f" (partial {x}: not every day of it is in the data)" if p else "" for p in partial]
    for col, name in (("inbound_messages", "inbound"), ("outbound_messages", "outbound")):
        if col in frame.columns:
            fig.add_bar(
                x=frame[x].to_list(),
                y=frame[col].to_list(),
                name=name,
                marker=dict(color=DIRECTION_COLOURS[name], opacity=[0.4 if p else 1.0 for p in partial]),
                customdata=_custom(notes, drill.refs(frame, col) if drill else None),
                hovertemplate=f"{name}: %{{y:,}}%{{customdata[0]}}<extra></extra>",
            )
    fig.update_layout(title=title, barmode="group", yaxis_title="texts", **_LAYOUT)
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
) -> go.Figure:
    """One line per column in `series` ({column: label}); a `<column>_n` column, when present, is shown as
    each point's n on hover (and, with ``show_n``, written by each point). A period the data covers only in
    part (a ``partial`` column) and a value of fewer rows than min_n (``<column>_low_n``) get a hollow marker
    and say so on hover. `log_y` suits heavy-tailed durations (a median and a p90 hours apart)."""
    if frame.is_empty():
        return _empty(title)
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
        value = f"%{{y{':.1%' if percent else ':,.1f'}}}"
        fig.add_scatter(
            x=frame[x].to_list(),
            y=frame[col].to_list(),
            name=label,
            mode="lines+markers+text" if show_n and n is not None else "lines+markers",
            line=dict(color=PALETTE[i % len(PALETTE)]),
            marker=dict(symbol=["circle-open" if h else "circle" for h in hollow], size=9),
            text=[f"n={v:,}" for v in n] if show_n and n is not None else None,
            textposition="top center",
            textfont=dict(size=10),
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
    colour: str | None = None,
    drill: Drill | None = None,
) -> go.Figure:
    """One bar per row. With a drill, each bar opens its rows; a ``drill_extra`` column, when present, holds
    each bar's own extra query (e.g. ``target=15``)."""
    if frame.is_empty():
        return _empty(title)
    xs, ys = frame[x].to_list(), frame[y].to_list()
    bar = go.Bar(x=ys, y=xs, orientation="h") if horizontal else go.Bar(x=xs, y=ys)
    bar.marker.color = colour or PALETTE[0]
    if drill is not None:
        bar.customdata = _custom(_bar_refs(frame, drill, y))
    fig = go.Figure(bar)
    fig.update_layout(title=title, **{**_LAYOUT, "hovermode": "closest"})
    if horizontal:  # a bar's thickness, not the chart's, stays the same whatever the number of rows
        fig.update_layout(height=max(220, 110 + 28 * len(xs)))
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(title=y_title, **({"tickformat": ".0%"} if percent else {}))
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
    frame: pl.DataFrame, *, title: str, x_title: str = "reply time", drill: Drill | None = None
) -> go.Figure:
    """Counts per reply-time bucket: columns bucket (index into DURATION_BUCKETS: how many edges are <= the
    duration) and n. Buckets widen with the wait, so the long tail stays readable; empty buckets show as 0.
    With a drill, a bar opens the rows whose value is in its bucket (``min`` <= seconds < ``max``)."""
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
    return _with_refs(fig, drill)


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
        first = {}
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
) -> go.Figure:
    """One bar segment per value of `stack` (e.g. texts per day stacked by line, replies per team by agent)."""
    if frame.is_empty():
        return _empty(title)
    fig = go.Figure()
    for i, part in enumerate(frame[stack].unique(maintain_order=True).to_list()):
        rows = frame.filter(pl.col(stack) == part) if part is not None else frame.filter(pl.col(stack).is_null())
        xs, ys = rows[x].to_list(), rows[y].to_list()
        fig.add_bar(
            x=ys if horizontal else xs,
            y=xs if horizontal else ys,
            name=str(part),
            orientation="h" if horizontal else "v",
            marker_color=PALETTE[i % len(PALETTE)],
            customdata=_custom(drill.refs(rows, y) if drill else None),
        )
    fig.update_layout(title=title, barmode="stack", **_LAYOUT)
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(title=y_title, **({"tickformat": ".0%"} if percent else {}))
    if horizontal:  # rows read top-down in the frame's order
        rows = frame[x].unique(maintain_order=True).to_list()
        fig.update_layout(hovermode="closest", height=max(220, 110 + 28 * len(rows)))
        fig.update_yaxes(categoryorder="array", categoryarray=rows, autorange="reversed")
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
    return _with_refs(fig, drill)


def okr_progress(progress: float | None, expected: float | None, status: str, *, title: str = "") -> go.Figure:
    """A bullet bar: progress 0-1 coloured by status, with a marker where progress is expected by now."""
    from charts.theme import STATUS_COLOURS

    fig = go.Figure(
        go.Bar(
            x=[progress or 0],
            y=[""],
            orientation="h",
            marker_color=STATUS_COLOURS.get(status, "#8c959f"),
            hovertemplate="progress %{x:.0%}<extra></extra>",
            width=0.5,
        )
    )
    if expected is not None:
        fig.add_vline(
            x=expected,
            line_dash="dash",
            line_color="#24292f",
            annotation_text=f"expected by now {expected:.0%}",
            annotation_position="top",
        )
    fig.update_layout(title=title, height=110, margin=dict(l=10, r=10, t=30, b=10), showlegend=False)
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(visible=False)
    return fig


def quick_chart(frame: pl.DataFrame, *, x: str, y: str, kind: str = "bar") -> go.Figure:
    """Explore's quick chart: y against x as bars or a line."""
    title = f"{y} by {x}"
    if frame.is_empty():
        return _empty(title)
    trace = (
        go.Bar(x=frame[x].to_list(), y=frame[y].to_list(), marker_color=PALETTE[0])
        if kind == "bar"
        else go.Scatter(x=frame[x].to_list(), y=frame[y].to_list(), mode="lines+markers", line=dict(color=PALETTE[0]))
    )
    fig = go.Figure(trace)
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, **{**_LAYOUT, "hovermode": "closest"})
    return fig


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
