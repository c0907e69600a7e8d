"""What a digest says, before any channel writes it: figures, objectives and key results, tables, charts, links.

One ``Digest`` is rendered four ways (email HTML, plain text, Slack blocks, webhook JSON), so every channel
carries the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import plotly.graph_objects as go
import polars as pl

REPORT_TITLES = {"okr": "OKR digest", "yesterday": "Yesterday", "team": "Team report"}


@dataclass(frozen=True)
class Figure:
    """One headline figure in the window against the same-length window before."""

    metric: str
    label: str
    value: float | None
    previous: float | None
    n: int
    previous_n: int
    text: str  # the value as people read it
    delta: str | None  # "+1.2 pts", "-3 min"
    tone: str  # good | bad | neutral (by the metric's better direction)
    link: str


@dataclass(frozen=True)
class KeyResultLine:
    id: str
    title: str
    type: str  # metric | manual
    metric: str | None
    status: str
    previous_status: str | None  # at the last digest's day (None: the key result was not defined then)
    current: float | None
    target: float
    comparator: str
    progress: float | None
    expected: float
    n: int
    current_text: str
    target_text: str
    weeks: list[date]
    values: list[float | None]
    weekly_text: list[str]  # the values written as current_text is
    chart: str | None  # the chart's id (file stem, content id) when it has a trend to draw
    link: str

    @property
    def changed(self) -> bool:
        return self.previous_status is not None and self.previous_status != self.status


@dataclass(frozen=True)
class ObjectiveLine:
    id: str
    title: str
    owner: str | None
    status: str
    progress: float | None
    expected: float
    key_results: list[KeyResultLine]


@dataclass(frozen=True)
class Table:
    """A table shown in the body and attached as CSV (``name``.csv): ``shown`` holds text cells for people,
    ``data`` the raw values for spreadsheets."""

    name: str
    title: str
    shown: pl.DataFrame
    data: pl.DataFrame


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    figure: go.Figure
    width: int
    height: int


@dataclass
class Digest:
    subscription: str
    report: str  # okr | yesterday | team
    title: str  # the subject line
    intro: str  # one line under the title: the window, the period, the data's end
    as_of: date
    window: tuple[date, date]
    previous_window: tuple[date, date]
    previous_as_of: date | None  # the day the last digest of this cadence covered up to
    data_through: date | None
    headline: list[Figure]
    okr_period: str | None = None
    okr_note: str | None = None  # e.g. "day 20 of 30, expected progress 67%"
    objectives: list[ObjectiveLine] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the reader should know (definition problems...)
    empty: bool = False  # nothing happened in the window (skip_if_empty)

    @property
    def changes(self) -> list[str]:
        """ "csat-above-7 went from on track to at risk", one per key result whose status moved."""
        return [
            f"{kr.id} went from {kr.previous_status} to {kr.status}"
            for o in self.objectives
            for kr in o.key_results
            if kr.changed
        ]

    @property
    def key_results(self) -> list[KeyResultLine]:
        return [kr for o in self.objectives for kr in o.key_results]

    def summary(self) -> dict[str, Any]:
        """What a send records about itself (the store's digest_sends.summary)."""
        return {
            "title": self.title,
            "as_of": self.as_of.isoformat(),
            "statuses": {kr.id: kr.status for kr in self.key_results},
            "changes": self.changes,
            "charts": len(self.charts),
            "tables": [t.name for t in self.tables],
            "empty": self.empty,
        }

    def as_json(self) -> dict[str, Any]:
        """The generic webhook's payload: the same figures, raw."""
        return {
            "type": "replyboard.digest",
            "subscription": self.subscription,
            "report": self.report,
            "title": self.title,
            "as_of": self.as_of.isoformat(),
            "window": {"from": self.window[0].isoformat(), "to": self.window[1].isoformat()},
            "previous_window": {"from": self.previous_window[0].isoformat(), "to": self.previous_window[1].isoformat()},
            "data_through": self.data_through.isoformat() if self.data_through else None,
            "empty": self.empty,
            "headline": [
                {
                    "metric": f.metric,
                    "label": f.label,
                    "value": f.value,
                    "previous": f.previous,
                    "n": f.n,
                    "previous_n": f.previous_n,
                    "text": f.text,
                    "delta": f.delta,
                    "link": f.link,
                }
                for f in self.headline
            ],
            "okr": None
            if self.okr_period is None
            else {
                "period": self.okr_period,
                "changes": self.changes,
                "objectives": [
                    {
                        "id": o.id,
                        "title": o.title,
                        "status": o.status,
                        "progress": o.progress,
                        "expected_progress": o.expected,
                        "key_results": [
                            {
                                "id": kr.id,
                                "title": kr.title,
                                "metric": kr.metric,
                                "status": kr.status,
                                "previous_status": kr.previous_status,
                                "current": kr.current,
                                "target": kr.target,
                                "comparator": kr.comparator,
                                "progress": kr.progress,
                                "expected_progress": kr.expected,
                                "n": kr.n,
                                "history": [
                                    {"week_end": w.isoformat(), "value": v}
                                    for w, v in zip(kr.weeks, kr.values, strict=True)
                                ],
                                "link": kr.link,
                            }
                            for kr in o.key_results
                        ],
                    }
                    for o in self.objectives
                ],
            },
            "tables": {t.name: t.data.to_dicts() for t in self.tables},
            "links": self.links,
            "notes": self.notes,
        }
