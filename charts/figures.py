"""Pure figure functions: (frame, *, options) -> go.Figure. No I/O, no Streamlit; easy to test."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from charts.theme import DIRECTION_COLOURS, HEATMAP_SCALE, PALETTE, SCORE_BAND_COLOURS

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified", legend=dict(orientation="h", y=-0.2))


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


def volume_over_time(frame: pl.DataFrame, *, x: str = "day", title: str = "Texts per day") -> go.Figure:
    """Inbound and outbound counts per period: columns x, inbound_messages, outbound_messages."""
    if frame.is_empty():
        return _empty(title)
    fig = go.Figure()
    for col, name in (("inbound_messages", "inbound"), ("outbound_messages", "outbound")):
        if col in frame.columns:
            fig.add_bar(x=frame[x].to_list(), y=frame[col].to_list(), name=name, marker_color=DIRECTION_COLOURS[name])
    fig.update_layout(title=title, barmode="group", yaxis_title="texts", **_LAYOUT)
    return fig


def lines_over_time(
    frame: pl.DataFrame,
    *,
    x: str,
    series: dict[str, str],
    title: str,
    y_title: str = "",
    percent: bool = False,
    log_y: bool = False,
) -> go.Figure:
    """One line per column in `series` ({column: label}); a `<column>_n` column, when present, is shown as
    each point's n on hover. `log_y` suits heavy-tailed durations (a median and a p90 hours apart)."""
    if frame.is_empty():
        return _empty(title)
    fig = go.Figure()
    for i, (col, label) in enumerate(series.items()):
        n = frame[f"{col}_n"].to_list() if f"{col}_n" in frame.columns else None
        fig.add_scatter(
            x=frame[x].to_list(),
            y=frame[col].to_list(),
            name=label,
            mode="lines+markers",
            line=dict(color=PALETTE[i % len(PALETTE)]),
            customdata=n,
            hovertemplate=None
            if n is None
            else f"{label}: %{{y{':.1%' if percent else ':,.1f'}}} (n = %{{customdata:,}})<extra></extra>",
        )
    values = [v for col in series for v in frame[col].to_list() if v is not None]
    log_y = log_y and bool(values) and min(values) > 0  # a zero (e.g. 0 business minutes) needs a linear axis
    fig.update_layout(title=title, yaxis_title=f"{y_title}, log scale" if log_y else y_title, **_LAYOUT)
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.05])
    if log_y:
        fig.update_yaxes(type="log", tickvals=_LOG_TICKS, ticktext=[f"{t:g}" for t in _LOG_TICKS])
    return fig


_LOG_TICKS = [m * 10.0**k for k in range(-2, 7) for m in (1, 2, 5)]  # 0.01 ... 5,000,000: 1-2-5 steps


def heatmap(frame: pl.DataFrame, *, value: str = "per_week", title: str = "Inbound texts per week") -> go.Figure:
    """Weekday x hour matrix: columns weekday (1-7), weekday_name, hour, value."""
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
        )
    )
    fig.update_layout(title=title, xaxis_title="hour (team timezone)", **{**_LAYOUT, "hovermode": "closest"})
    fig.update_yaxes(autorange="reversed")
    return fig


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
) -> go.Figure:
    if frame.is_empty():
        return _empty(title)
    xs, ys = frame[x].to_list(), frame[y].to_list()
    bar = go.Bar(x=ys, y=xs, orientation="h") if horizontal else go.Bar(x=xs, y=ys)
    bar.marker.color = colour or PALETTE[0]
    fig = go.Figure(bar)
    fig.update_layout(title=title, **{**_LAYOUT, "hovermode": "closest"})
    if horizontal:  # a bar's thickness, not the chart's, stays the same whatever the number of rows
        fig.update_layout(height=max(220, 110 + 28 * len(xs)))
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(title=y_title, **({"tickformat": ".0%"} if percent else {}))
    return fig


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


def duration_distribution(frame: pl.DataFrame, *, title: str, x_title: str = "reply time") -> go.Figure:
    """Counts per reply-time bucket: columns bucket (index into DURATION_BUCKETS: how many edges are <= the
    duration) and n. Buckets widen with the wait, so the long tail stays readable; empty buckets show as 0."""
    if frame.is_empty() or frame["n"].sum() == 0:
        return _empty(title)
    counts = dict(zip(frame["bucket"].to_list(), frame["n"].to_list(), strict=True))
    labels = [label for label, _ in DURATION_BUCKETS]
    ys = [int(counts.get(i, 0)) for i in range(len(labels))]
    total = sum(ys)
    fig = go.Figure(
        go.Bar(
            x=labels,
            y=ys,
            marker_color=PALETTE[0],
            customdata=[y / total for y in ys],
            text=[f"{y / total:.0%}" for y in ys],
            textposition="outside",
            hovertemplate="%{x}: %{y:,} (%{customdata:.1%})<extra></extra>",
        )
    )
    fig.update_layout(
        title=f"{title} (n = {total:,})",
        xaxis_title=x_title,
        yaxis_title="inquiries",
        **{**_LAYOUT, "hovermode": "closest"},
    )
    return fig


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
) -> go.Figure:
    """Any two-key matrix (e.g. agent x hour): rows ordered as they first appear, missing cells 0."""
    if frame.is_empty() or frame[z].sum() == 0:
        return _empty(title)
    rows = frame[y].unique(maintain_order=True).to_list()
    cols = x_values if x_values is not None else sorted(frame[x].unique().to_list())
    cell = {(r, c): v for r, c, v in zip(frame[y].to_list(), frame[x].to_list(), frame[z].to_list(), strict=True)}
    zs = [[cell.get((r, c), 0) for c in cols] for r in rows]
    fig = go.Figure(go.Heatmap(z=zs, x=cols, y=rows, colorscale=HEATMAP_SCALE, hovertemplate=hover + "<extra></extra>"))
    fig.update_layout(
        title=title, xaxis_title=x_title, height=max(300, 60 + 28 * len(rows)), **{**_LAYOUT, "hovermode": "closest"}
    )
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


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
        )
    fig.update_layout(title=title, barmode="stack", **_LAYOUT)
    axis = fig.update_xaxes if horizontal else fig.update_yaxes
    axis(title=y_title, **({"tickformat": ".0%"} if percent else {}))
    if horizontal:  # rows read top-down in the frame's order
        rows = frame[x].unique(maintain_order=True).to_list()
        fig.update_layout(hovermode="closest", height=max(220, 110 + 28 * len(rows)))
        fig.update_yaxes(categoryorder="array", categoryarray=rows, autorange="reversed")
    return fig


def score_distribution(
    frame: pl.DataFrame, *, low: int, high: int, bands: list[tuple[str, int, int]], title: str
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
    return fig


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
