"""The OKR definition format: Pydantic models (phase 1 of validation: shape) and the JSON schema from them.

Definitions (``okr_definitions/*.yaml``, one period per file)
--------------------------------------------------------------
::

    period: 2026-sep-oct          # id (a slug)
    start: 2026-09-01             # inclusive, team timezone
    end: 2026-10-31               # inclusive
    owner: Head of Support
    objectives:
      - id: well-supported        # slug, unique in the file
        title: A customer texting our business ... feels well-supported
        owner: Support lead
        key_results:
          - id: same-day-replies  # slug, unique in the file (across objectives too)
            title: All incoming texts answered within the same business day
            metric: same_business_day_response_rate   # a name from metrics.registry.METRICS
            comparator: gte       # gte (current >= target is met) | gt (>) | lte (<=) | lt (<)
            target: 0.95          # in the metric's own unit: ratios 0-1, durations in seconds
            baseline: 0.90        # optional; else computed (see metrics.okr.evaluate)
            unit: share           # optional, a display label only
            weight: 1             # > 0, default 1
            hours: business       # calendar (default) | business
            window: period        # "period" (default: period start to date) | {rolling_days: 30}
            filters: {lines: ["+16465550100"], channels: [sms], teams: [Care], agents: [ag_01]}
          - id: training-resource
            type: manual          # the discriminator: metric (default, may be left out) | manual
            title: Develop a resource training agents to support customers over text
            progress_kind: fraction   # fraction (check-in values 0-1) | done (true/false)
            checkins:
              - {date: 2026-09-15, value: 0.4, confidence: 0.8, note: outline reviewed}

``okr_definitions/schema.json`` is generated from the models below (editors validate YAML with it: the
shipped files start with a ``yaml-language-server`` comment). Regenerate it after changing a model with
``python -m metrics okr-schema`` (``--check`` exits 1 when it is stale); tests/test_okr.py fails when the
committed file differs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag

from metrics.registry import METRICS

DEFINITIONS_DIR = Path(__file__).resolve().parents[2] / "okr_definitions"
SCHEMA_PATH = DEFINITIONS_DIR / "schema.json"

MAX_WEIGHT = 1000  # a relative importance (1-10, or percentages); 1e308 twice would sum to inf, the mean to NaN
_SLUG = r"^[a-z0-9][a-z0-9_-]*$"


class _Strict(BaseModel):
    # allow_inf_nan=False: a target, baseline or weight of .inf or .nan has no progress to compute
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Slug = Annotated[str, Field(pattern=_SLUG, description="lower-case letters, digits, - and _ (a slug)")]


class KeyResultFilters(_Strict):
    """Restrict the metric to some lines (E.164, quoted in YAML), channels, teams or agents."""

    lines: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)


class RollingWindow(_Strict):
    rolling_days: int = Field(gt=0, le=366, description="the N days ending at the as-of date")


def _window_tag(value: Any) -> str:
    return "rolling" if isinstance(value, Mapping | RollingWindow) else "period"


Window = Annotated[
    Annotated[Literal["period"], Tag("period")] | Annotated[RollingWindow, Tag("rolling")],
    Discriminator(_window_tag),
]


class MetricKeyResult(_Strict):
    """A key result measured by a registry metric."""

    type: Literal["metric"] = Field("metric", description="metric (the default) | manual")
    id: Slug
    title: str
    owner: str | None = None
    metric: str = Field(
        description="a metric name from `python -m metrics list`",
        json_schema_extra={"enum": list(METRICS)},  # for editors; the loader explains unknown names itself
    )
    comparator: Literal["gte", "gt", "lte", "lt"] = Field(
        description="gte: met when current >= target; gt: current > target; lte: current <= target; lt: current < target"
    )
    target: float = Field(description="in the metric's unit: ratios 0-1, durations in seconds")
    baseline: float | None = Field(None, description="default: the metric over the same-length window before")
    unit: str | None = Field(None, description="a display label only")
    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT)
    filters: KeyResultFilters | None = None
    hours: Literal["calendar", "business"] = "calendar"
    window: Window = "period"


def _checkin_value_tag(value: Any) -> str:
    return "boolean" if isinstance(value, bool) else "number"


CheckinValue = Annotated[
    Annotated[bool, Tag("boolean")] | Annotated[float, Tag("number")],
    Discriminator(_checkin_value_tag),
]


class CheckIn(_Strict):
    date: date
    value: CheckinValue = Field(description="0-1 for progress_kind fraction; true/false for done")
    confidence: float | None = Field(None, ge=0, le=1)
    note: str | None = None


class ManualKeyResult(_Strict):
    """A key result whose progress a person records with dated check-ins."""

    type: Literal["manual"]
    id: Slug
    title: str
    owner: str | None = None
    weight: float = Field(1.0, gt=0, le=MAX_WEIGHT)
    progress_kind: Literal["fraction", "done"] = "fraction"
    checkins: list[CheckIn] = Field(default_factory=list)


def _kr_tag(value: Any) -> str | None:
    kind = value.get("type", "metric") if isinstance(value, Mapping) else getattr(value, "type", None)
    return kind if isinstance(kind, str) else None


KeyResult = Annotated[
    Annotated[MetricKeyResult, Tag("metric")] | Annotated[ManualKeyResult, Tag("manual")],
    Discriminator(
        _kr_tag, custom_error_type="key_result_type", custom_error_message="type must be metric (default) or manual"
    ),
]


class Objective(_Strict):
    id: Slug
    title: str
    owner: str | None = None
    key_results: list[KeyResult] = Field(min_length=1)


class Period(_Strict):
    """One OKR period: a file in okr_definitions/."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        title="Replyboard OKR period",
        json_schema_extra={"$id": "replyboard-okr"},
    )

    period: Slug = Field(description="the period id, e.g. 2026-q4")
    start: date
    end: date
    owner: str | None = None
    objectives: list[Objective] = Field(min_length=1)
    _source: str = PrivateAttr("")

    @property
    def source(self) -> str:
        """The file this period was read from ('' when built in code)."""
        return self._source

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def json_schema() -> dict:
    schema = Period.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """The committed okr_definitions/schema.json must equal this (tests/test_okr.py checks)."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path = SCHEMA_PATH) -> bool:
    """Write the schema; True when the file changed."""
    text = schema_text()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
