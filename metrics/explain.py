"""`python -m metrics explain NAME`: how a number is computed — its definition and the SQL that runs."""

from __future__ import annotations

import json
from collections.abc import Sequence

from metrics.compiler import Filters, Hours, compile_metrics, population
from metrics.registry import CATALOG, REGISTRY
from metrics.spec import (
    AllOf,
    AnyOf,
    Col,
    Compare,
    Condition,
    Const,
    EntityShareMetric,
    Fact,
    IsIn,
    IsNull,
    IsTrue,
    Negate,
    NpsMetric,
    Param,
    PercentileMetric,
    RatioMetric,
    Segment,
    SimpleMetric,
)


def _literal(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def condition_text(cond: Condition | None, fact: Fact) -> str:
    """A condition as a person reads it (segments by name, values inline: for display, never executed)."""
    if cond is None:
        return "every row"
    if isinstance(cond, Compare):
        right = cond.right
        rhs = (
            right.name
            if isinstance(right, Col)
            else f"${right.name}"
            if isinstance(right, Param)
            else (_literal(right.value) if isinstance(right, Const) else "?")
        )
        return f"{cond.column} {cond.op} {rhs}"
    if isinstance(cond, IsIn):
        return f"{cond.column} IN ({', '.join(_literal(v) for v in cond.values)})"
    if isinstance(cond, IsNull):
        return f"{cond.column} IS {'NOT ' if cond.negate else ''}NULL"
    if isinstance(cond, IsTrue):
        return cond.column
    if isinstance(cond, Segment):
        return f"[{cond.name}: {condition_text(fact.segments[cond.name], fact)}]"
    if isinstance(cond, AllOf | AnyOf):
        joiner = " AND " if isinstance(cond, AllOf) else " OR "
        return "(" + joiner.join(condition_text(i, fact) for i in cond.items) + ")"
    if isinstance(cond, Negate):
        return f"NOT {condition_text(cond.item, fact)}"
    return repr(cond)


def _measure_text(name: str, fact: Fact) -> str:
    m = REGISTRY.measures[name]
    what = "count of rows" if m.agg == "count" else f"{m.agg.replace('_', ' ')} of {m.column}"
    return f"{name} = {what} where {condition_text(m.where, fact)}"


def definition(name: str) -> list[str]:
    info = CATALOG[name]
    metric = REGISTRY.metrics[name]
    fact = REGISTRY.facts[info.fact]
    lines = [
        f"{name}: {info.description}",
        f"  type {metric.type}, unit {info.unit}, aggregation {info.aggregation}, better {info.better or '–'}",
        f"  fact {fact.name} (one row per {fact.row}; source {' '.join(fact.source.split())})",
        f"  time anchor: {fact.anchor} (dates filter on t, in the team timezone)",
        f"  split by: {', '.join(fact.dimensions)}",
    ]
    if isinstance(metric, SimpleMetric):
        lines += [f"  value: {_measure_text(metric.measure, fact)}", f"  n: {_measure_text(metric.n, fact)}"]
    elif isinstance(metric, RatioMetric):
        lines += [
            f"  numerator: {_measure_text(metric.numerator, fact)}",
            f"  denominator (= n): {_measure_text(metric.denominator, fact)}",
        ]
    elif isinstance(metric, PercentileMetric):
        lines += [
            f"  value: percentile {metric.percentile:g} (linear interpolation) of {metric.column} "
            f"where {condition_text(metric.where, fact)}",
            "  n: rows in that condition",
        ]
    elif isinstance(metric, NpsMetric):
        lines.append(
            f"  value: 100 × (rows with {metric.column} >= {metric.promoters_from} − rows with {metric.column} <= "
            f"{metric.detractors_to}) ÷ n, n = rows where {condition_text(metric.where, fact)}"
        )
    elif isinstance(metric, EntityShareMetric):
        lines.append(
            f"  value: {metric.entity} values with {metric.min_rows}+ rows in the window ÷ {metric.entity} values "
            "with 1+ rows (n)"
        )
    rows_where, _ = population(REGISTRY, metric)
    behind = f"{fact.row}s where {condition_text(rows_where, fact)}"
    lines.append(
        f"  rows behind it (python -m metrics rows): {behind if not isinstance(metric, EntityShareMetric) else metric.entity + ' values'}"
    )
    # who a row belongs to: what the agent and team filters, dimensions and a person's scope select on
    for c in fact.columns:
        if c.name in ("agent_id", "team") and c.description:
            lines.append(f"  {'agent' if c.name == 'agent_id' else 'team'} ({c.sql}): {c.description}")
    seconds = [c for c in fact.columns if c.business_sql]
    for c in seconds:
        lines.append(f"  {c.name}: {c.sql} (calendar) or {c.business_sql} (--hours business)")
    return lines


def explain(name: str, by: Sequence[str] = (), hours: Hours = "calendar", fmt: str = "text") -> str:
    queries = compile_metrics(REGISTRY, [name], tuple(by), Filters(), hours)
    if fmt == "json":
        info = CATALOG[name]
        return json.dumps(
            {
                "metric": name,
                "definition": definition(name),
                "unit": info.unit,
                "aggregation": info.aggregation,
                "fact": info.fact,
                "dimensions": list(info.dimensions),
                "queries": [
                    {
                        "sql": q.sql,
                        "params": {k: str(v) for k, v in q.params.items()},
                        "run_time_params": sorted(q.needs),
                    }
                    for q in queries
                ],
            },
            indent=2,
        )
    out = definition(name)
    for q in queries:
        out += ["", "SQL:", q.sql, "", "bound parameters:"]
        out += [f"  ${k} = {v!r}" for k, v in q.params.items()]
        out += [f"  ${k}: {REGISTRY.params[k]}" for k in sorted(q.needs)]
    return "\n".join(out)
