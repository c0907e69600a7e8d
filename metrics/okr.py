"""OKRs: definitions in YAML, validated in two phases; live attainment, pacing and weekly history.

No Streamlit here: the dashboard's OKR page and ``python -m metrics okr`` both call this module.

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
            comparator: gte       # gte (current >= target is met) | lte (current <= target)
            target: 0.95          # in the metric's own unit: ratios 0-1, durations in seconds
            baseline: 0.90        # optional; else computed (see below)
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
committed file differs. ``python -m metrics okr-check [--db DB]`` validates definitions without evaluating.

Validation (:func:`load_definitions`)
-------------------------------------
Phase 1: YAML syntax (with the line of the problem), duplicate keys, and the Pydantic shape with unknown
keys rejected. Phase 2, on the same parsed data (so a file's shape errors and cross-reference errors are
reported together): the metric exists (closest names suggested), filter values occur in the warehouse
(when one is given; a dimension the warehouse has no values for is not checked), the filter dimension
applies to the metric, objective and key-result ids unique in the file, period ids unique across files,
start <= end, the target on the right side of a given baseline (gte: target > baseline; lte: target <
baseline), ratio targets within 0-1, check-in values matching ``progress_kind``.
Warnings (reported, the file still loads): a comparator against the metric's ``better`` direction (e.g.
``automated_share gte 0.3``: the registry says lower is better, but a team may want more automation on
purpose), and more than three key results on an objective (the guide: one to three).
Every problem carries the file, the path inside it (``objectives[0].key_results[1].metric``), the line
(from ``yaml.compose`` node marks) and what would be valid. A file with any error is left out; the
other files' periods are still returned.

Attainment (:func:`evaluate`)
-----------------------------
* ``as_of`` defaults to today in the team timezone and is capped at the period end. Before the start the
  period is "not started" (current None; the baseline is still shown).
* Current value: the metric (``metrics.query.compute``) over the window with the KR's filters and hours:
  the period to date ``[start, as_of]``, or the ``rolling_days`` days ending at ``as_of``. Values are the
  warehouse's view of that window: a reply that arrived after ``as_of`` to a message inside it counts.
* Baseline: the given one, else the metric over the same-length window just before the period start
  (the whole period's length for ``window: period``, ``rolling_days`` for a rolling window), fixed for the
  whole period. For window-length-sensitive metrics (counts, repeat_customer_rate) give a baseline or use a
  rolling window: a period-to-date count is not comparable with a whole previous period.
* Progress = clamp((current - baseline) / (target - baseline), 0, 1). Pass/fail (progress 1 when the
  target is met, else 0) when there is no baseline (none given, no data before the period) and when a
  computed baseline already meets the target (the KR is then "keep it there").
* Expected progress = days elapsed at ``as_of`` (inclusive) / days in the period.
* Status: "on track" when the target is met or progress >= expected - ON_TRACK_MARGIN; "at risk" when
  progress >= expected - AT_RISK_MARGIN; else "off track". "no data" when the window has no data (n == 0;
  for count and sum metrics, whose value is 0 when nothing happened: no message at all in the window).
  Grade = progress rounded to 2 decimals (0.7 is the usual "good" final grade).
* Manual KR: progress = value of the last check-in dated on or before ``as_of`` (done: 1 or 0); no
  check-in yet -> "no data". Pacing as above.
* Objective progress = weighted mean of its KRs' progress, KRs with no data left out (they are listed
  with status "no data"; ``measured`` counts the KRs that entered the mean); status as for a KR (met when
  the mean reaches 1).

History (:func:`weekly_history`): one point per week since the period started (week ends start+6,
start+13, ... and a last point at ``as_of`` when that is mid-week), each the KR's current value as it
would have been computed at that date: cumulative from the period start ``[start, week_end]`` for
``window: period``, the rolling days ending ``week_end`` for a rolling window, the check-in in effect
for a manual KR. The last point equals the current value, so a sparkline ends where the card's figure is.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple

import duckdb
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
)

from metrics.annotations import NO_OVERLAY, Overlay
from metrics.health import message_count
from metrics.params import Params
from metrics.query import Filters, compute, zero_when_empty
from metrics.query import as_of as data_end
from metrics.registry import METRICS, describe
from replyboard import data_range
from replyboard.settings import Settings

DEFINITIONS_DIR = Path(__file__).resolve().parent.parent / "okr_definitions"
SCHEMA_PATH = DEFINITIONS_DIR / "schema.json"

ON_TRACK_MARGIN = 0.1  # on track: progress >= expected - 0.1 (or the target is met)
AT_RISK_MARGIN = 0.3  # at risk: progress >= expected - 0.3; below that: off track
_EPS = 1e-9  # so that 0.45 vs 0.55 - 0.1 compares as equal
MAX_KEY_RESULTS = 3  # the guide: "one to three key results"; more is a warning
MAX_WEIGHT = 1000  # a relative importance (1-10, or percentages); 1e308 twice would sum to inf, the mean to NaN
STATUSES = ("on track", "at risk", "off track", "no data", "not started")
# Metric aggregations whose value is 0 (not missing) when nothing happened in the window.
_FILTER_DIMENSION = {"lines": "line", "channels": "channel", "teams": "team", "agents": "agent"}
_SLUG = r"^[a-z0-9][a-z0-9_-]*$"


# --------------------------------------------------------------------------------------------------------------
# Models (phase 1: shape)


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
    comparator: Literal["gte", "lte"] = Field(description="gte: met when current >= target; lte: current <= target")
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


_MODEL_AT = {
    "": Period,
    "objectives": Objective,
    "filters": KeyResultFilters,
    "window": RollingWindow,
    "checkins": CheckIn,
}


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


# --------------------------------------------------------------------------------------------------------------
# Problems and YAML positions


@dataclass(frozen=True)
class DefinitionProblem:
    file: str
    path: str  # inside the file, e.g. objectives[0].key_results[1].metric ('' for the whole file)
    line: int | None
    message: str
    severity: str = "error"  # error (the file is left out) | warning (reported; the file still loads)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        msg = f"warning: {self.message}" if self.severity == "warning" else self.message
        return f"{where}: {self.path}: {msg}" if self.path else f"{where}: {msg}"


Loc = tuple[str | int, ...]


def path_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Positions:
    """Line numbers (1-based) of every key and value in a YAML document, by path."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[Loc, int] = {}
        self.key_lines: dict[Loc, int] = {}
        self.duplicates: list[tuple[Loc, int, int]] = []  # path, line, first line
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, loc: Loc) -> None:
        self.lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                child = (*loc, key)
                if child in self.key_lines:
                    self.duplicates.append((child, key_node.start_mark.line + 1, self.key_lines[child]))
                self.key_lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._walk(item, (*loc, i))

    def line(self, loc: Loc, key: bool = False) -> int | None:
        """The line of loc, else of its nearest ancestor that exists (a missing key: its mapping)."""
        if key and loc in self.key_lines:
            return self.key_lines[loc]
        for cut in range(len(loc), -1, -1):
            if loc[:cut] in self.lines:
                return self.lines[loc[:cut]]
        return None


def _closest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}? " if match else ""


def _clean_loc(loc: Loc) -> Loc:
    """Drop the union tags Pydantic puts into error locations (metric/manual, period/rolling, boolean/number)."""
    out: list[str | int] = []
    parts = list(loc)
    i = 0
    while i < len(parts):
        part = parts[i]
        out.append(part)
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        if (
            (isinstance(part, int) and len(out) >= 2 and out[-2] == "key_results" and nxt in ("metric", "manual"))
            or (part == "window" and nxt in ("period", "rolling"))
            or (part == "value" and nxt in ("boolean", "number"))
        ):
            i += 1  # skip the tag
        i += 1
    return tuple(out)


def _model_for(loc: Loc, data: Any) -> type[BaseModel] | None:
    """The model describing the mapping at loc (for listing its valid keys)."""
    if not loc:
        return Period
    names = [p for p in loc if isinstance(p, str)]
    last = names[-1] if names else ""
    if last == "key_results" and isinstance(loc[-1], int):
        node = _get(data, loc)
        return ManualKeyResult if isinstance(node, Mapping) and node.get("type") == "manual" else MetricKeyResult
    if isinstance(loc[-1], int):
        return _MODEL_AT.get(last)
    return _MODEL_AT.get(str(loc[-1]))


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _shape_problems(file: str, data: Any, exc: ValidationError, pos: _Positions) -> list[DefinitionProblem]:
    problems: list[DefinitionProblem] = []
    seen: set[tuple[Loc, str]] = set()
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]))
        kind = err["type"]
        msg = err["msg"]
        line = pos.line(loc, key=kind == "extra_forbidden")
        if kind == "extra_forbidden":
            model = _model_for(loc[:-1], data)
            valid = sorted(model.model_fields) if model else []
            msg = f"unknown key {loc[-1]!r}; {_closest(str(loc[-1]), valid)}valid keys here: {', '.join(valid)}"
        elif kind == "missing":
            msg = f"required key {loc[-1]!r} is missing"
        elif kind == "string_pattern_mismatch":
            msg = f"{err['input']!r} is not a slug: use lower-case letters, digits, - and _ (e.g. same-day-replies)"
        elif kind == "key_result_type" and not isinstance(_get(data, loc), Mapping):
            msg = f"{_get(data, loc)!r} is not a key result: give a mapping with id, title and metric (or type: manual)"
        elif kind == "key_result_type":
            msg = f"type {_get(data, (*loc, 'type'))!r} is not a key-result type; valid: metric (default), manual"
            line = pos.line((*loc, "type"))
        elif kind == "too_short" and loc and loc[-1] in ("objectives", "key_results"):
            msg = (
                "a period needs at least one objective"
                if loc[-1] == "objectives"
                else "an objective needs at least one key result (the guide: one to three)"
            )
        elif kind == "string_type" and "filters" in loc and isinstance(err["input"], int):
            msg = f'{err["input"]} is read by YAML as a number; quote it: "+{err["input"]}"'
        elif loc and loc[-1] == "window":
            msg = f'{err["input"]!r} is not a window; use "period" or a mapping like {{rolling_days: 30}}'
        elif loc and loc[-1] == "value" and "checkins" in loc:
            msg = f"{msg}; a check-in value is a number 0-1 (progress_kind fraction) or true/false (done)"
        elif kind not in ("missing", "extra_forbidden") and isinstance(err.get("input"), str | int | float):
            msg = f"{msg} (got {err['input']!r})"
        if (loc, msg) in seen:
            continue
        seen.add((loc, msg))
        problems.append(DefinitionProblem(file, path_text(loc), line, msg))
    return problems


# --------------------------------------------------------------------------------------------------------------
# Phase 2: cross-references, on the parsed data (so shape errors elsewhere do not hide them)

Known = Mapping[str, Iterable[str]]


def known_values(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Values present in the warehouse for each filter: lines, channels, teams, agents."""

    def col(sql: str) -> set[str]:
        return {str(r[0]) for r in con.execute(sql).fetchall() if r[0] is not None}

    return {
        "lines": col("SELECT line_number FROM lines UNION SELECT DISTINCT line_number FROM messages"),
        "channels": col("SELECT DISTINCT channel FROM messages"),
        "teams": col("SELECT DISTINCT team FROM agents"),
        "agents": col("SELECT agent_id FROM agents UNION SELECT DISTINCT agent_id FROM messages"),
    }


def _number(value: Any) -> bool:
    """A finite number (the shape check reports .inf and .nan; comparing them here would add noise)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cross_problems(file: str, data: Any, pos: _Positions, known: Known | None) -> list[DefinitionProblem]:
    problems: list[DefinitionProblem] = []

    def add(loc: Loc, message: str, severity: str = "error", key: bool = False) -> None:
        problems.append(DefinitionProblem(file, path_text(loc), pos.line(loc, key=key), message, severity))

    if not isinstance(data, Mapping):
        return problems
    start, end = data.get("start"), data.get("end")
    for key, day in (("start", start), ("end", end)):
        problem = data_range.problem(day, "the date") if isinstance(day, date) else None
        if problem:  # 9999-12-31 passes as a date but no window or baseline can be computed around it
            add((key,), problem)
    if isinstance(start, date) and isinstance(end, date) and start > end:
        add(("end",), f"end {end} is before start {start}; the period runs from start to end inclusive")
    objectives = data.get("objectives")
    if not isinstance(objectives, list):
        return problems
    objective_ids: dict[str, Loc] = {}
    kr_ids: dict[str, Loc] = {}
    for i, obj in enumerate(objectives):
        if not isinstance(obj, Mapping):
            continue
        oloc: Loc = ("objectives", i)
        _unique(obj.get("id"), (*oloc, "id"), objective_ids, "objective", pos, add)
        krs = obj.get("key_results")
        if not isinstance(krs, list):
            continue
        if len(krs) > MAX_KEY_RESULTS:
            add((*oloc, "key_results"), f"{len(krs)} key results; the guide advises one to three", "warning")
        for j, kr in enumerate(krs):
            if not isinstance(kr, Mapping):
                continue
            kloc: Loc = (*oloc, "key_results", j)
            _unique(kr.get("id"), (*kloc, "id"), kr_ids, "key result", pos, add)
            if kr.get("type", "metric") == "manual":
                _check_manual(kr, kloc, add)
            elif kr.get("type", "metric") == "metric":
                _check_metric(kr, kloc, known, add)
    return problems


def _unique(value: Any, loc: Loc, seen: dict[str, Loc], what: str, pos: _Positions, add: Any) -> None:
    if not isinstance(value, str):
        return
    if value in seen:
        add(loc, f"{what} id {value!r} is already used at line {pos.line(seen[value])}; ids must be unique in a file")
    else:
        seen[value] = loc


def _check_metric(kr: Mapping, loc: Loc, known: Known | None, add: Any) -> None:
    name = kr.get("metric")
    metric = METRICS.get(name) if isinstance(name, str) else None
    if isinstance(name, str) and metric is None:
        add(
            (*loc, "metric"),
            f"unknown metric {name!r}; {_closest(name, METRICS)}valid metrics: {', '.join(METRICS)}",
        )
    comparator, target, baseline = kr.get("comparator"), kr.get("target"), kr.get("baseline")
    if comparator in ("gte", "lte") and _number(target) and _number(baseline):
        if comparator == "gte" and not target > baseline:
            add(
                (*loc, "target"),
                f"target {target} is not above the baseline {baseline}: with comparator gte the target must be "
                "higher than the baseline (or use comparator lte)",
            )
        if comparator == "lte" and not target < baseline:
            add(
                (*loc, "target"),
                f"target {target} is not below the baseline {baseline}: with comparator lte the target must be "
                "lower than the baseline (or use comparator gte)",
            )
    if metric is not None:
        if metric.unit == "ratio":
            for key in ("target", "baseline"):
                value = kr.get(key)
                if _number(value) and not 0 <= value <= 1:
                    add((*loc, key), f"{name} is a ratio between 0 and 1; write 95% as 0.95, not {value}")
        if comparator in ("gte", "lte") and metric.better:
            wrong = (comparator == "gte" and metric.better == "lower") or (
                comparator == "lte" and metric.better == "higher"
            )
            if wrong:
                add(
                    (*loc, "comparator"),
                    f"{name} is better when {metric.better}, but comparator {comparator} asks for it to go "
                    f"{'up' if comparator == 'gte' else 'down'}; use {'lte' if comparator == 'gte' else 'gte'} "
                    "unless that is intended",
                    "warning",
                )
    filters = kr.get("filters")
    if isinstance(filters, Mapping):
        for key, values in filters.items():
            if key not in _FILTER_DIMENSION or not isinstance(values, list):
                continue
            if metric is not None and _FILTER_DIMENSION[key] not in describe(metric.name).dimensions:
                add((*loc, "filters", key), f"{name} cannot be filtered by {_FILTER_DIMENSION[key]}")
                continue
            valid = set(known.get(key, ())) if known is not None else set()
            if not valid:
                continue  # no warehouse, or it holds no values for this dimension yet
            for k, value in enumerate(values):
                if isinstance(value, str) and value not in valid:
                    add(
                        (*loc, "filters", key, k),
                        f"{key[:-1]} {value!r} is not in the warehouse; {_closest(value, valid)}"
                        f"known {key}: {', '.join(sorted(valid))}",
                    )


def _check_manual(kr: Mapping, loc: Loc, add: Any) -> None:
    kind = kr.get("progress_kind", "fraction")
    checkins = kr.get("checkins")
    if kind not in ("fraction", "done") or not isinstance(checkins, list):
        return
    for k, checkin in enumerate(checkins):
        if not isinstance(checkin, Mapping) or "value" not in checkin:
            continue
        value = checkin["value"]
        vloc = (*loc, "checkins", k, "value")
        if kind == "fraction" and isinstance(value, bool):
            add(vloc, f"{value} is a done/not-done value; with progress_kind fraction give a number 0-1")
        elif kind == "fraction" and _number(value) and not 0 <= value <= 1:
            add(vloc, f"{value} is outside 0-1; a fraction check-in is the share done (0.4 = 40%)")
        elif kind == "done" and not isinstance(value, bool):
            add(vloc, f"{value!r} is not true/false; with progress_kind done a check-in value is true or false")


# --------------------------------------------------------------------------------------------------------------
# Loading


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves an impossible date (2026-13-01) as text, for the model to explain."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def definition_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and not p.name.startswith("."))
    return [path]


def load_definitions(
    path: str | Path, known: Known | duckdb.DuckDBPyConnection | None = None
) -> tuple[list[Period], list[DefinitionProblem]]:
    """Every valid period in a file or a folder of *.yaml files, and every problem in every file.

    known: the filter values to accept ({"lines": [...], "channels": [...], "teams": [...], "agents": [...]}),
    or a warehouse connection to read them from; None skips that check. Files with errors are left out;
    warnings do not keep a file out.
    """
    if isinstance(known, duckdb.DuckDBPyConnection):
        known = known_values(known)
    periods: list[Period] = []
    problems: list[DefinitionProblem] = []
    path = Path(path)
    if not path.exists():
        return [], [DefinitionProblem(str(path), "", None, "no such file or folder")]
    seen_periods: dict[str, str] = {}
    for file in definition_files(path):
        period, file_problems, pos = _load_file(file, known)
        if period is not None and period.period in seen_periods:
            file_problems.append(
                DefinitionProblem(
                    str(file),
                    "period",
                    pos.line(("period",)),
                    f"period {period.period!r} is already defined in {seen_periods[period.period]}; "
                    "period ids must be unique",
                )
            )
            period = None
        problems.extend(file_problems)
        if period is not None and not any(p.severity == "error" for p in file_problems):
            seen_periods[period.period] = str(file)
            periods.append(period)
    return periods, problems


def load_file(file: str | Path, known: Known | None = None) -> tuple[Period | None, list[DefinitionProblem]]:
    """One definitions file: its period (None when it has errors) and its problems."""
    period, problems, _ = _load_file(Path(file), known)
    return period, problems


def _load_file(file: Path, known: Known | None) -> tuple[Period | None, list[DefinitionProblem], _Positions]:
    name = str(file)
    none = _Positions(None)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [DefinitionProblem(name, "", None, f"cannot read the file ({exc})")], none
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: no arbitrary objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        detail = " ".join(str(x) for x in (getattr(exc, "context", None), getattr(exc, "problem", None)) if x)
        line = mark.line + 1 if mark else None
        return None, [DefinitionProblem(name, "", line, f"not valid YAML: {detail or exc}")], none
    except RecursionError:
        return None, [DefinitionProblem(name, "", None, "not valid YAML: nested too deeply")], none
    try:
        pos = _Positions(root)
    except RecursionError:  # a self-referencing alias (a: &x [*x])
        return None, [DefinitionProblem(name, "", None, "not valid YAML: an alias refers to itself")], none
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        message = f"expected a mapping with period, start, end and objectives; got {got}"
        return None, [DefinitionProblem(name, "", pos.line(()), message)], pos
    problems = [
        DefinitionProblem(
            name,
            path_text(loc),
            line,
            f"duplicate key {loc[-1]!r} (first at line {first}); YAML keeps only the last, so remove one",
        )
        for loc, line, first in pos.duplicates
    ]
    period: Period | None = None
    try:
        period = Period.model_validate(data)
    except ValidationError as exc:
        problems.extend(_shape_problems(name, data, exc, pos))
    problems.extend(_cross_problems(name, data, pos, known))
    problems.sort(key=lambda p: (p.line or 0, p.path))
    if period is not None:
        period._source = name
    if any(p.severity == "error" for p in problems):
        period = None
    return period, problems, pos


# --------------------------------------------------------------------------------------------------------------
# Attainment: pure arithmetic (numbers in, numbers out)


def clamp01(x: float) -> float:
    return max(0.0, min(1.0, x))


def meets_target(current: float, comparator: str, target: float) -> bool:
    return current >= target if comparator == "gte" else current <= target


def baseline_usable(baseline: float | None, comparator: str, target: float) -> bool:
    """A baseline short of the target, in the comparator's direction (else the KR is pass/fail)."""
    if baseline is None:
        return False
    return target > baseline if comparator == "gte" else target < baseline


def key_result_progress(current: float, baseline: float | None, target: float, comparator: str) -> tuple[float, str]:
    """(progress 0-1, scoring): linear from baseline to target, or pass/fail when no usable baseline."""
    if not baseline_usable(baseline, comparator, target):
        return (1.0 if meets_target(current, comparator, target) else 0.0), "pass_fail"
    assert baseline is not None
    return clamp01((current - baseline) / (target - baseline)), "linear"


def expected_progress(start: date, end: date, as_of: date) -> float:
    """Share of the period elapsed at as_of, counting as_of's day (0 before the start, 1 from the end on)."""
    total = (end - start).days + 1
    elapsed = (min(as_of, end) - start).days + 1
    return clamp01(elapsed / total)


def pacing_status(progress: float | None, expected: float, met: bool = False) -> str:
    if progress is None:
        return "no data"
    if met or progress >= expected - ON_TRACK_MARGIN - _EPS:
        return "on track"
    if progress >= expected - AT_RISK_MARGIN - _EPS:
        return "at risk"
    return "off track"


def weighted_progress(items: Iterable[tuple[float | None, float]]) -> float | None:
    """Weighted mean of (progress, weight) pairs, pairs without progress left out; None if none is left."""
    pairs = [(p, w) for p, w in items if p is not None]
    total = sum(w for _, w in pairs)
    return sum(p * w for p, w in pairs) / total if total else None


def last_checkin(checkins: Iterable[CheckIn], as_of: date) -> CheckIn | None:
    """The latest check-in dated on or before as_of (the later one in the file on a tie)."""
    best = None
    for c in checkins:
        if c.date <= as_of and (best is None or c.date >= best.date):
            best = c
    return best


def checkin_progress(checkin: CheckIn | None, progress_kind: str) -> float | None:
    if checkin is None:
        return None
    if progress_kind == "done":
        return 1.0 if checkin.value is True else 0.0
    return clamp01(float(checkin.value))


def pick_period(periods: list[Period], day: date) -> Period | None:
    """The period to show on a given day: the one running then, else the latest already started, else the
    first to come."""
    running = [p for p in periods if p.start <= day <= p.end]
    if running:
        return min(running, key=lambda p: p.days)  # a month inside a quarter: the shorter, more specific one
    started = [p for p in periods if p.start <= day]
    if started:
        return max(started, key=lambda p: p.end)
    return min(periods, key=lambda p: p.start, default=None)


def effective_as_of(period: Period, as_of: date | None, settings: Settings) -> date:
    """as_of, default today in the team timezone, capped at the period end."""
    day = as_of or datetime.now(settings.zone).date()
    return min(day, period.end)


# --------------------------------------------------------------------------------------------------------------
# Attainment: results


class HistoryPoint(NamedTuple):
    week_end: date
    value: float | None
    n: int


@dataclass(frozen=True)
class KeyResultResult:
    id: str
    title: str
    type: str  # metric | manual
    metric: str | None  # None for manual
    comparator: str  # gte | lte (manual: gte)
    target: float  # manual: 1.0
    baseline: float | None  # manual: 0.0
    baseline_source: str | None  # given | computed | None (pass/fail: no baseline could be had)
    scoring: str  # linear | pass_fail
    current: float | None  # manual: the last check-in's progress
    n: int  # rows behind current (manual: check-ins so far)
    progress: float | None
    expected_progress: float
    status: str  # one of STATUSES
    grade: float | None
    met: bool
    weight: float
    unit: str | None
    owner: str | None
    hours: str | None
    window: str  # period | rolling N days | checkins
    window_start: date | None
    window_end: date | None
    filters: dict[str, list[str]] = field(default_factory=dict)
    checkins: list[dict] = field(default_factory=list)  # manual: every check-in, oldest first
    confidence: float | None = None  # manual: of the last check-in
    note: str | None = None  # manual: of the last check-in
    history: list[HistoryPoint] = field(default_factory=list)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["history"] = [{"week_end": h.week_end, "value": h.value, "n": h.n} for h in self.history]
        return _jsonable(out)


@dataclass(frozen=True)
class ObjectiveResult:
    id: str
    title: str
    owner: str | None
    period: str
    period_start: date
    period_end: date
    as_of: date
    data_through: date | None  # the newest message's day (team timezone)
    progress: float | None
    expected_progress: float
    status: str
    grade: float | None
    measured: int  # key results in the weighted mean (the others have no data)
    key_results: list[KeyResultResult]

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k != "key_results"}
        out["key_results"] = [kr.as_dict() for kr in self.key_results]
        return _jsonable(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


# --------------------------------------------------------------------------------------------------------------
# Attainment: measuring


def params_for(settings: Settings, hours: str, overlay: Overlay = NO_OVERLAY) -> Params:
    return Params.from_settings(settings, hours=hours, overlay=overlay)  # type: ignore[arg-type]


def _filters(kr: MetricKeyResult, date_from: date, date_to: date) -> Filters:
    f = kr.filters or KeyResultFilters()
    return Filters(
        date_from=date_from,
        date_to=date_to,
        lines=tuple(f.lines),
        channels=tuple(f.channels),
        agents=tuple(f.agents),
        teams=tuple(f.teams),
    )


def current_window(period: Period, kr: MetricKeyResult, as_of: date) -> tuple[date, date]:
    if isinstance(kr.window, RollingWindow):
        return as_of - timedelta(days=kr.window.rolling_days - 1), as_of
    return period.start, as_of


def baseline_window(period: Period, kr: MetricKeyResult) -> tuple[date, date]:
    days = kr.window.rolling_days if isinstance(kr.window, RollingWindow) else period.days
    return period.start - timedelta(days=days), period.start - timedelta(days=1)


def measure(
    con: duckdb.DuckDBPyConnection,
    kr: MetricKeyResult,
    settings: Settings,
    date_from: date,
    date_to: date,
    overlay: Overlay = NO_OVERLAY,
) -> tuple[float | None, int]:
    """(value, n) of the KR's metric over [date_from, date_to]; value None when the window has no data."""
    row = compute(
        con, [kr.metric], filters=_filters(kr, date_from, date_to), params=params_for(settings, kr.hours, overlay)
    ).row(0, named=True)
    value, n = row[kr.metric], int(row[f"{kr.metric}_n"] or 0)
    if zero_when_empty(kr.metric):
        return (float(value or 0) if _has_messages(con, date_from, date_to) else None), n
    return (None if value is None or n == 0 else float(value)), n


def _has_messages(con: duckdb.DuckDBPyConnection, date_from: date, date_to: date) -> bool:
    return message_count(con, date_from, date_to) > 0


def _week_ends(period: Period, as_of: date) -> Iterator[date]:
    if as_of < period.start:
        return
    day = period.start + timedelta(days=6)
    while day < as_of:
        yield day
        day += timedelta(days=7)
    yield as_of


def weekly_history(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    kr: MetricKeyResult | ManualKeyResult,
    settings: Settings,
    as_of: date | None = None,
    overlay: Overlay = NO_OVERLAY,
) -> list[HistoryPoint]:
    """(week_end, value, n) per week since the period started, each the KR's value as of that day.

    window period: cumulative [start, week_end]; rolling: the rolling days ending week_end; manual: the
    check-in in effect (value = its progress, n = check-ins so far). The last point is as_of itself.
    """
    day = effective_as_of(period, as_of, settings)
    points = []
    for week_end in _week_ends(period, day):
        if isinstance(kr, ManualKeyResult):
            checkin = last_checkin(kr.checkins, week_end)
            n = sum(1 for c in kr.checkins if c.date <= week_end)
            points.append(HistoryPoint(week_end, checkin_progress(checkin, kr.progress_kind), n))
        else:
            value, n = measure(con, kr, settings, *current_window(period, kr, week_end), overlay)
            points.append(HistoryPoint(week_end, value, n))
    return points


def _filters_dict(kr: MetricKeyResult) -> dict[str, list[str]]:
    return {k: v for k, v in (kr.filters or KeyResultFilters()).model_dump().items() if v}


def evaluate_key_result(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    kr: MetricKeyResult | ManualKeyResult,
    settings: Settings,
    as_of: date,
    *,
    with_history: bool = False,
    overlay: Overlay = NO_OVERLAY,
) -> KeyResultResult:
    """One KR at as_of (already capped at the period end by the caller)."""
    expected = expected_progress(period.start, period.end, as_of)
    started = as_of >= period.start
    history = weekly_history(con, period, kr, settings, as_of, overlay) if with_history and started else []
    if isinstance(kr, ManualKeyResult):
        checkin = last_checkin(kr.checkins, as_of) if started else None
        progress = checkin_progress(checkin, kr.progress_kind)
        met = progress is not None and progress >= 1
        return KeyResultResult(
            id=kr.id,
            title=kr.title,
            type="manual",
            metric=None,
            comparator="gte",
            target=1.0,
            baseline=0.0,
            baseline_source=None,
            scoring="pass_fail" if kr.progress_kind == "done" else "linear",
            current=progress,
            n=sum(1 for c in kr.checkins if c.date <= as_of) if started else 0,
            progress=progress,
            expected_progress=expected,
            status=pacing_status(progress, expected, met) if started else "not started",
            grade=None if progress is None else round(progress, 2),
            met=met,
            weight=kr.weight,
            unit=kr.progress_kind,
            owner=kr.owner,
            hours=None,
            window="checkins",
            window_start=None,
            window_end=as_of if started else None,
            checkins=[_jsonable(c.model_dump()) for c in sorted(kr.checkins, key=lambda c: c.date)],
            confidence=checkin.confidence if checkin else None,
            note=checkin.note if checkin else None,
            history=history,
        )
    baseline, source = kr.baseline, "given" if kr.baseline is not None else None
    if baseline is None:
        baseline, _ = measure(con, kr, settings, *baseline_window(period, kr), overlay)
        source = "computed" if baseline is not None else None
    window = "period" if kr.window == "period" else f"rolling {kr.window.rolling_days} days"
    current, n = None, 0
    w_from, w_to = current_window(period, kr, as_of)
    if started:
        current, n = measure(con, kr, settings, w_from, w_to, overlay)
    progress: float | None = None
    scoring = "linear" if baseline_usable(baseline, kr.comparator, kr.target) else "pass_fail"
    met = False
    if current is not None:
        progress, scoring = key_result_progress(current, baseline, kr.target, kr.comparator)
        met = meets_target(current, kr.comparator, kr.target)
    return KeyResultResult(
        id=kr.id,
        title=kr.title,
        type="metric",
        metric=kr.metric,
        comparator=kr.comparator,
        target=kr.target,
        baseline=baseline,
        baseline_source=source,
        scoring=scoring,
        current=current,
        n=n,
        progress=progress,
        expected_progress=expected,
        status=pacing_status(progress, expected, met) if started else "not started",
        grade=None if progress is None else round(progress, 2),
        met=met,
        weight=kr.weight,
        unit=kr.unit or METRICS[kr.metric].unit,
        owner=kr.owner,
        hours=kr.hours,
        window=window,
        window_start=w_from if started else None,
        window_end=w_to if started else None,
        filters=_filters_dict(kr),
        history=history,
    )


def with_checkins(period: Period, extra: Mapping[str, Iterable[tuple[date, float, float | None, str]]]) -> Period:
    """The period with check-ins recorded on the dashboard (the app-state store) added to its manual key
    results' YAML check-ins: {key_result_id: [(day, progress 0-1, confidence, note)]}. A "done" key result
    counts a progress of 1 as done."""
    objectives = []
    for obj in period.objectives:
        krs = []
        for kr in obj.key_results:
            added = list(extra.get(kr.id, ())) if isinstance(kr, ManualKeyResult) else []
            if added:
                checkins = [
                    CheckIn(
                        date=day,
                        value=(value >= 1) if kr.progress_kind == "done" else value,
                        confidence=confidence,
                        note=note or None,
                    )
                    for day, value, confidence, note in added
                ]
                kr = kr.model_copy(update={"checkins": [*kr.checkins, *checkins]})
            krs.append(kr)
        objectives.append(obj.model_copy(update={"key_results": krs}))
    return period.model_copy(update={"objectives": objectives})


def evaluate(
    con: duckdb.DuckDBPyConnection,
    period: Period,
    settings: Settings,
    as_of: date | None = None,
    *,
    with_history: bool = False,
    overlay: Overlay = NO_OVERLAY,
) -> list[ObjectiveResult]:
    """Every objective of the period at as_of (default today in the team timezone, capped at the end)."""
    day = effective_as_of(period, as_of, settings)
    end = data_end(con)
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    data_through = end.astimezone(settings.zone).date() if end is not None else None
    expected = expected_progress(period.start, period.end, day)
    started = day >= period.start
    results = []
    for obj in period.objectives:
        krs = [
            evaluate_key_result(con, period, kr, settings, day, with_history=with_history, overlay=overlay)
            for kr in obj.key_results
        ]
        progress = weighted_progress((kr.progress, kr.weight) for kr in krs) if started else None
        results.append(
            ObjectiveResult(
                id=obj.id,
                title=obj.title,
                owner=obj.owner,
                period=period.period,
                period_start=period.start,
                period_end=period.end,
                as_of=day,
                data_through=data_through,
                progress=progress,
                expected_progress=expected,
                status=pacing_status(progress, expected, progress is not None and progress >= 1)
                if started
                else "not started",
                grade=None if progress is None else round(progress, 2),
                measured=sum(1 for kr in krs if kr.progress is not None),
                key_results=krs,
            )
        )
    return results
