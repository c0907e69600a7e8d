"""Reading OKR definitions: YAML with the line of every key and value, then validation in two phases.

Validation (:func:`load_definitions`)
-------------------------------------
Phase 1: YAML syntax (with the line of the problem), duplicate keys, and the Pydantic shape with unknown
keys rejected. Phase 2, on the same parsed data (so a file's shape errors and cross-reference errors are
reported together): the metric exists (closest names suggested), filter values occur in the warehouse
(when one is given; a dimension the warehouse has no values for is not checked), the filter dimension
applies to the metric, objective and key-result ids unique in the file, period ids unique across files,
start <= end, the target on the right side of a given baseline (gte, gt: target > baseline; lte, lt:
target < baseline), ratio targets within 0-1, check-in values matching ``progress_kind``.
Warnings (reported, the file still loads): a comparator against the metric's ``better`` direction (e.g.
``automated_share gte 0.3``: the registry says lower is better, but a team may want more automation on
purpose), and more than three key results on an objective (the guide: one to three).
Every problem carries the file, the path inside it (``objectives[0].key_results[1].metric``), the line
(from ``yaml.compose`` node marks) and what would be valid. A file with any error is left out; the
other files' periods are still returned.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeGuard

import duckdb
import yaml
from pydantic import BaseModel, ValidationError

from metrics.okr.progress import COMPARATORS, aims_up
from metrics.okr.spec import (
    CheckIn,
    KeyResultFilters,
    ManualKeyResult,
    MetricKeyResult,
    Objective,
    Period,
    RollingWindow,
)
from metrics.registry import METRICS, describe
from replyboard import data_range

MAX_KEY_RESULTS = 3  # the guide: "one to three key results"; more is a warning
_FILTER_DIMENSION = {"lines": "line", "channels": "channel", "teams": "team", "agents": "agent"}
# The model describing the mapping under each key (for listing its valid keys in a message).
_MODEL_AT: dict[str, type[BaseModel]] = {
    "": Period,
    "objectives": Objective,
    "filters": KeyResultFilters,
    "window": RollingWindow,
    "checkins": CheckIn,
}


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


def _number(value: object) -> TypeGuard[float]:
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
    raw_comparator, target, baseline = kr.get("comparator"), kr.get("target"), kr.get("baseline")
    comparator = raw_comparator if isinstance(raw_comparator, str) else ""  # the shape check reports a non-string
    known_comparator = comparator in COMPARATORS
    up = known_comparator and aims_up(comparator)
    opposite = {"gte": "lte", "gt": "lt", "lte": "gte", "lt": "gt"}.get(comparator, "")
    if known_comparator and _number(target) and _number(baseline):
        if up and not target > baseline:
            add(
                (*loc, "target"),
                f"target {target} is not above the baseline {baseline}: with comparator {comparator} the target must "
                f"be higher than the baseline (or use comparator {opposite})",
            )
        if not up and not target < baseline:
            add(
                (*loc, "target"),
                f"target {target} is not below the baseline {baseline}: with comparator {comparator} the target must "
                f"be lower than the baseline (or use comparator {opposite})",
            )
    if metric is not None:
        if metric.unit == "ratio":
            for key in ("target", "baseline"):
                value = kr.get(key)
                if _number(value) and not 0 <= value <= 1:
                    add((*loc, key), f"{name} is a ratio between 0 and 1; write 95% as 0.95, not {value}")
        if known_comparator and metric.better:
            wrong = (up and metric.better == "lower") or (not up and metric.better == "higher")
            if wrong:
                add(
                    (*loc, "comparator"),
                    f"{name} is better when {metric.better}, but comparator {comparator} asks for it to go "
                    f"{'up' if up else 'down'}; use {opposite} unless that is intended",
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
