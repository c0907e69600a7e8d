"""From the metric spec to SQL: one query per fact batch, every value a bound parameter.

A compiled query reads one fact: an inner SELECT exposes the fact's columns a query needs (joining agents
only when a team is needed), the outer SELECT filters, groups by the requested dimensions and aggregates every
metric of the batch with its n. Metrics of the same fact share one scan; an entity share (repeat customers)
needs its own two-stage query. Parameters: the named run-time ones (``$as_of``, ``$target_seconds``...) and the
definitions' own constants and the filter values (``$p1``, ``$p2``... in order of appearance).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Literal

from metrics.scope import EVERYTHING, Scope
from metrics.spec import (
    AllOf,
    AnyOf,
    Col,
    Compare,
    Condition,
    EntityShareMetric,
    Fact,
    IsIn,
    IsNull,
    IsTrue,
    Measure,
    Metric,
    Negate,
    NpsMetric,
    Param,
    PercentileMetric,
    RatioMetric,
    Registry,
    Segment,
    SimpleMetric,
    metric_fact,
    sql_params,
    walk,
)

Hours = Literal["calendar", "business"]
NULL_GROUP = None  # a group value meaning "no value" (no agent, no team)


class CompileError(ValueError):
    """A request the spec cannot answer (unknown metric or dimension, a split a fact does not have)."""


@dataclass(frozen=True)
class Filters:
    """Dates are inclusive, in the team timezone, applied to each metric's time anchor (the fact's t)."""

    date_from: date | None = None
    date_to: date | None = None
    lines: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def previous(self) -> Filters:
        """The same-length window just before this one (for deltas and OKR baselines)."""
        if self.date_from is None or self.date_to is None:
            raise CompileError("a previous period needs both a start and an end date")
        length = (self.date_to - self.date_from).days + 1
        return Filters(
            self.date_from - timedelta(days=length),
            self.date_from - timedelta(days=1),
            self.lines,
            self.channels,
            self.agents,
            self.teams,
        )


# Each list filter and the fact column it applies to.
FILTER_COLUMNS = (("lines", "line_number"), ("channels", "channel"), ("agents", "agent_id"), ("teams", "team"))


@dataclass(frozen=True)
class CompiledQuery:
    fact: str
    metrics: tuple[str, ...]
    dimensions: tuple[str, ...]
    sql: str
    params: dict[str, object]  # constants and filter values, bound
    needs: frozenset[str]  # named run-time parameters the caller must bind


@dataclass
class _Binder:
    params: dict[str, object] = field(default_factory=dict)

    def value(self, v: object) -> str:
        name = f"p{len(self.params) + 1}"
        self.params[name] = v.value if isinstance(v, Enum) else v
        return f"${name}"

    def named(self, name: str) -> str:
        return f"${name}"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def condition_sql(cond: Condition, fact: Fact, b: _Binder) -> str:
    """A condition over the fact's named columns as SQL; values bound through ``b``."""
    if isinstance(cond, Compare):
        right = cond.right
        if isinstance(right, Col):
            rhs = _q(right.name)
        elif isinstance(right, Param):
            rhs = b.named(right.name)
        else:
            rhs = b.value(right.value)
        return f"{_q(cond.column)} {cond.op} {rhs}"
    if isinstance(cond, IsIn):
        return f"{_q(cond.column)} IN ({', '.join(b.value(v) for v in cond.values)})"
    if isinstance(cond, IsNull):
        return f"{_q(cond.column)} IS {'NOT ' if cond.negate else ''}NULL"
    if isinstance(cond, IsTrue):
        return _q(cond.column)
    if isinstance(cond, Segment):
        return condition_sql(fact.segments[cond.name], fact, b)
    if isinstance(cond, AllOf | AnyOf):
        joiner = " AND " if isinstance(cond, AllOf) else " OR "
        return "(" + joiner.join(condition_sql(item, fact, b) for item in cond.items) + ")"
    if isinstance(cond, Negate):
        return f"NOT ({condition_sql(cond.item, fact, b)})"
    raise TypeError(f"not a condition: {cond!r}")


def condition_columns(cond: Condition | None, fact: Fact) -> set[str]:
    if cond is None:
        return set()
    out: set[str] = set()
    for node in walk(cond):
        if isinstance(node, Compare | IsIn | IsNull | IsTrue):
            out.add(node.column)
        if isinstance(node, Compare) and isinstance(node.right, Col):
            out.add(node.right.name)
        if isinstance(node, Segment):
            out |= condition_columns(fact.segments[node.name], fact)
    return out


def _filter(agg: str, where: Condition | None, fact: Fact, b: _Binder) -> str:
    return f"{agg} FILTER (WHERE {condition_sql(where, fact, b)})" if where is not None else agg


def measure_sql(m: Measure, fact: Fact, b: _Binder, *, hoisted: bool = False) -> str:
    """The measure's aggregate; ``hoisted``: its condition is the query's WHERE already (no FILTER)."""
    column = _q(m.column) if m.column else ""
    agg = {
        "count": "count(*)",
        "count_distinct": f"count(DISTINCT {column})",
        "sum": f"sum({column})",
        "mean": f"avg({column})",
    }[m.agg]
    return agg if hoisted else _filter(agg, m.where, fact, b)


def metric_sql(registry: Registry, metric: Metric, fact: Fact, b: _Binder, *, hoisted: bool = False) -> tuple[str, str]:
    """(value, n) aggregate expressions of a metric over its fact's rows (``hoisted``: see hoisted_where)."""
    if isinstance(metric, SimpleMetric):
        return (
            measure_sql(registry.measures[metric.measure], fact, b, hoisted=hoisted),
            measure_sql(registry.measures[metric.n], fact, b, hoisted=hoisted),
        )
    if isinstance(metric, RatioMetric):
        num = measure_sql(registry.measures[metric.numerator], fact, b)
        den = measure_sql(registry.measures[metric.denominator], fact, b)
        return f"CAST({num} AS DOUBLE) / nullif({den}, 0)", measure_sql(registry.measures[metric.denominator], fact, b)
    if isinstance(metric, PercentileMetric):
        value = _filter(f"quantile_cont({_q(metric.column)}, {b.value(metric.percentile)})", metric.where, fact, b)
        return value, _filter("count(*)", metric.where, fact, b)
    if isinstance(metric, NpsMetric):
        col = _q(metric.column)
        where = condition_sql(metric.where, fact, b)
        promoters = f"count(*) FILTER (WHERE {where} AND {col} >= {b.value(metric.promoters_from)})"
        detractors = f"count(*) FILTER (WHERE {where} AND {col} <= {b.value(metric.detractors_to)})"
        n = f"count(*) FILTER (WHERE {where})"
        return f"100.0 * ({promoters} - {detractors}) / nullif({n}, 0)", n
    raise CompileError(f"{metric.name}: compiled separately")  # entity shares: see compile_batch


def metric_columns(registry: Registry, metric: Metric, fact: Fact) -> set[str]:
    """The fact columns a metric reads."""
    measures = {"simple": ("measure", "n"), "ratio": ("numerator", "denominator")}.get(metric.type, ())
    cols: set[str] = set()
    for attr in measures:
        m = registry.measures[getattr(metric, attr)]
        cols |= {m.column} if m.column else set()
        cols |= condition_columns(m.where, fact)
    for attr in ("column", "entity"):
        if getattr(metric, attr, None):
            cols.add(getattr(metric, attr))
    cols |= condition_columns(getattr(metric, "where", None), fact)
    return cols


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time())


def scope_sql(scope: Scope, b: _Binder) -> tuple[str | None, set[str]]:
    """The rows a person may read, as a condition over the fact's owner columns (None: every row)."""
    if scope.unrestricted:
        return None, set()
    if scope.role == "agent":
        return (f"agent_id = {b.value(scope.agent)}" if scope.agent else "false"), {"agent_id"}
    parts = []
    if scope.lines:
        parts.append(f"list_contains({b.value(list(scope.lines))}, line_number)")
    if scope.teams:
        parts.append(f"list_contains({b.value(list(scope.teams))}, team)")
    return ("(" + " OR ".join(parts) + ")" if parts else "false"), {"line_number", "team"}


def filter_sql(
    filters: Filters,
    fact: Fact,
    b: _Binder,
    where: Mapping[str, object] | None,
    registry: Registry,
    scope: Scope = EVERYTHING,
) -> tuple[str, set[str]]:
    """The WHERE clause of the person's scope, the global filters and the group values (``where``:
    dimension -> value)."""
    clauses: list[str] = []
    cols: set[str] = set()
    allowed, scope_cols = scope_sql(scope, b)
    if allowed is not None:
        clauses.append(allowed)
        cols |= scope_cols
    if filters.date_from:
        clauses.append(f"t >= {b.value(_local_midnight(filters.date_from))}")
        cols.add("t")
    if filters.date_to:
        clauses.append(f"t < {b.value(_local_midnight(filters.date_to + timedelta(days=1)))}")
        cols.add("t")
    for attr, column in FILTER_COLUMNS:
        values = getattr(filters, attr)
        if values:
            clauses.append(f"list_contains({b.value(list(values))}, {column})")
            cols.add(column)
    for dim_name, value in (where or {}).items():
        dim = registry.dimensions[dim_name]
        cols |= set(dim.reads)
        clauses.append(f"({dim.sql}) IS NULL" if value is NULL_GROUP else f"({dim.sql}) = {b.value(value)}")
    return " AND ".join(clauses) or "true", cols


def inner_select(fact: Fact, columns: Iterable[str], hours: Hours) -> str:
    """The fact's rows with the named columns (and the joins they need)."""
    wanted = [c for c in fact.columns if c.name in set(columns)]
    select = ", ".join(
        f"{(c.business_sql if hours == 'business' and c.business_sql else c.sql)} AS {_q(c.name)}" for c in wanted
    )
    joins = {c.join for c in wanted if c.join}
    join_sql = " ".join(j.sql for j in fact.joins if j.alias in joins)
    return f"SELECT {select or '1 AS one'} FROM {fact.source}{' ' + join_sql if join_sql else ''}"


def check_request(registry: Registry, names: Sequence[str], by: Sequence[str]) -> None:
    unknown = [n for n in names if n not in registry.metrics]
    if unknown:
        raise CompileError(
            f"unknown metric{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"valid: {', '.join(registry.metrics)}"
        )
    for dim in by:
        if dim not in registry.dimensions:
            raise CompileError(f"unknown dimension {dim!r}; valid: {', '.join(registry.dimensions)}")
    if len(set(by)) != len(by):
        raise CompileError(f"a dimension is repeated in --by {' --by '.join(by)}")
    for dim in by:
        cannot = [n for n in names if dim not in registry.dimensions_of(registry.metrics[n])]
        if cannot:
            valid = registry.dimensions_of(registry.metrics[cannot[0]])
            raise CompileError(f"{', '.join(cannot)} cannot be split by {dim}; valid: {', '.join(valid)}")


def hoisted_where(registry: Registry, metrics: Sequence[Metric]) -> Condition | None:
    """The one condition every measure of these simple metrics counts under, or None.

    An ungrouped query with such a condition filters in WHERE instead of FILTER: a count(DISTINCT) under a
    FILTER reads every row of the fact into its distinct aggregate (conversations_handled over 100M messages:
    7.6 s; with the condition in WHERE 2.8 s). Grouped queries keep FILTER, which keeps a group that has no
    such rows as a 0 instead of dropping it."""
    simple = [m for m in metrics if isinstance(m, SimpleMetric)]
    if not simple or len(simple) != len(metrics):
        return None
    conditions = [registry.measures[name].where for m in simple for name in (m.measure, m.n)]
    first = conditions[0]
    return first if first is not None and all(c == first for c in conditions) else None


def _alone(registry: Registry, metric: Metric) -> bool:
    """A count of distinct values gets its own ungrouped query, so its condition can be hoisted."""
    return isinstance(metric, SimpleMetric) and registry.measures[metric.measure].agg == "count_distinct"


def batches(registry: Registry, names: Sequence[str], by: Sequence[str] = ()) -> list[tuple[str, list[Metric]]]:
    """Metrics grouped so that each group is one query: by fact; each entity share on its own, and (ungrouped)
    each count of distinct values."""
    groups: dict[str, list[Metric]] = {}
    for name in dict.fromkeys(names):
        metric = registry.metrics[name]
        fact = metric_fact(registry, metric)
        alone = isinstance(metric, EntityShareMetric) or (not by and _alone(registry, metric))
        key = f"{fact}/{name}" if alone else fact
        groups.setdefault(key, []).append(metric)
    return [(key.split("/")[0], metrics) for key, metrics in groups.items()]


def compile_batch(
    registry: Registry,
    fact_name: str,
    metrics: Sequence[Metric],
    by: Sequence[str] = (),
    filters: Filters = Filters(),
    hours: Hours = "calendar",
    where: Mapping[str, object] | None = None,
    scope: Scope = EVERYTHING,
) -> CompiledQuery:
    fact = registry.facts[fact_name]
    b = _Binder()
    dims = [registry.dimensions[d] for d in by]
    dim_cols = {c for d in dims for c in d.reads}
    metric_cols = set().union(*(metric_columns(registry, m, fact) for m in metrics))
    # values first, then filters: parameter numbers follow the SQL's reading order
    entity = metrics[0] if isinstance(metrics[0], EntityShareMetric) else None
    hoist = None if dims or entity is not None else hoisted_where(registry, metrics)
    if entity is None:
        aggregates = [metric_sql(registry, m, fact, b, hoisted=hoist is not None) for m in metrics]
    where_sql, filter_cols = filter_sql(filters, fact, b, where, registry, scope)
    if hoist is not None:
        where_sql = f"{where_sql} AND {condition_sql(hoist, fact, b)}"
    inner = inner_select(fact, dim_cols | metric_cols | filter_cols, hours)
    keys = ", ".join(f"{d.sql} AS {_q(d.name)}" for d in dims)
    group = " GROUP BY ALL" if dims else ""
    if entity is not None:
        assert isinstance(entity, EntityShareMetric)
        outer_keys = "".join(f"{_q(d.name)}, " for d in dims)
        counted = b.value(entity.min_rows)
        sql = (
            f"SELECT {outer_keys}CAST(count(*) FILTER (WHERE rows >= {counted}) AS DOUBLE) / nullif(count(*), 0) "
            f"AS {_q(entity.name)}, count(*) AS {_q(entity.name + '_n')}\n"
            f"FROM (SELECT {keys + ', ' if keys else ''}{_q(entity.entity)}, count(*) AS rows\n"
            f"      FROM ({inner}) AS f\n      WHERE {where_sql}\n      GROUP BY ALL)" + group
        )
    else:
        cols = ",\n       ".join(
            f"{value} AS {_q(m.name)}, {n} AS {_q(m.name + '_n')}"
            for m, (value, n) in zip(metrics, aggregates, strict=True)
        )
        sql = f"SELECT {keys + ',' + chr(10) + '       ' if keys else ''}{cols}\nFROM ({inner}) AS f\nWHERE {where_sql}{group}"
    return CompiledQuery(
        fact=fact_name,
        metrics=tuple(m.name for m in metrics),
        dimensions=tuple(by),
        sql=sql,
        params=b.params,
        needs=frozenset(sql_params(sql) - set(b.params)),
    )


def compile_metrics(
    registry: Registry,
    names: Sequence[str],
    by: Sequence[str] = (),
    filters: Filters = Filters(),
    hours: Hours = "calendar",
    where: Mapping[str, object] | None = None,
    scope: Scope = EVERYTHING,
) -> list[CompiledQuery]:
    """Every query needed for ``names`` split by ``by`` (checked first: a clear CompileError otherwise)."""
    check_request(registry, names, by)
    if where:
        check_request(registry, names, tuple(where))
    return [
        compile_batch(registry, fact, ms, by, filters, hours, where, scope) for fact, ms in batches(registry, names, by)
    ]


# ---- drill-downs: the rows behind a number ---------------------------------------------------------------


def population(registry: Registry, metric: Metric) -> tuple[Condition | None, Condition | None]:
    """(rows behind the metric, the subset its numerator counts) as conditions over its fact."""
    if isinstance(metric, SimpleMetric):
        m = registry.measures[metric.measure]
        return registry.measures[metric.n].where if m.agg == "count_distinct" else m.where, None
    if isinstance(metric, RatioMetric):
        return registry.measures[metric.denominator].where, registry.measures[metric.numerator].where
    if isinstance(metric, PercentileMetric | NpsMetric):
        return metric.where, None
    return None, None


RowOrder = Literal["time", "value"]


def compile_rows(
    registry: Registry,
    name: str,
    filters: Filters = Filters(),
    hours: Hours = "calendar",
    where: Mapping[str, object] | None = None,
    *,
    order: RowOrder = "time",
    descending: bool = False,
    limit: int | None = 100,
    offset: int = 0,
    extra_columns: Sequence[str] = (),
    value_range: tuple[float | None, float | None] = (None, None),
    scope: Scope = EVERYTHING,
) -> tuple[CompiledQuery, CompiledQuery]:
    """(the rows, their count) behind metric ``name`` for the filters and one group (``where``), within the
    person's scope.

    ``value_range`` (low, high): only rows whose own value is >= low and < high (a histogram bucket's rows)."""
    check_request(registry, [name], tuple(where or {}))
    metric = registry.metrics[name]
    fact = registry.facts[metric_fact(registry, metric)]
    if value_range != (None, None) and (isinstance(metric, EntityShareMetric) or not metric.value_column):
        raise CompileError(f"the rows behind {name} have no value of their own to bound")
    unknown = [c for c in extra_columns if c not in fact.column_names]
    if unknown:
        raise CompileError(f"{', '.join(unknown)}: not columns of the {fact.row} rows")
    b = _Binder()
    rows_where, counted = population(registry, metric)
    select_cols = list(dict.fromkeys([*fact.row_columns, *extra_columns]))
    if isinstance(metric, EntityShareMetric):
        where_sql, filter_cols = filter_sql(filters, fact, b, where, registry, scope)
        inner = inner_select(fact, {metric.entity, "t", *filter_cols}, hours)
        ent = _q(metric.entity)
        body = (
            f"SELECT {ent}, count(*) AS rows, min(t) AS first_t, max(t) AS last_t, "
            f"count(*) >= {b.value(metric.min_rows)} AS counted\nFROM ({inner}) AS f\nWHERE {where_sql}\nGROUP BY ALL"
        )
        order_sql = f"{'rows' if order == 'value' else 'first_t'} {'DESC' if descending else 'ASC'}, {ent}"
    else:
        pop = condition_sql(rows_where, fact, b) if rows_where is not None else "true"
        extra = ""
        if counted is not None:
            extra += f", coalesce({condition_sql(counted, fact, b)}, false) AS counted"
        if isinstance(metric, NpsMetric):
            col = _q(metric.column)
            extra += (
                f", CASE WHEN {col} >= {b.value(metric.promoters_from)} THEN 'promoter' WHEN {col} <= "
                f"{b.value(metric.detractors_to)} THEN 'detractor' ELSE 'passive' END AS band"
            )
        shown = metric.value_column if metric.value_column not in select_cols else None
        value = f", {_q(shown)}" if shown else ""
        where_sql, filter_cols = filter_sql(filters, fact, b, where, registry, scope)
        needed = set(select_cols) | condition_columns(rows_where, fact) | condition_columns(counted, fact)
        needed |= {metric.value_column} if metric.value_column else set()
        column = getattr(metric, "column", None)  # the metric's own column (percentile, NPS), if it has one
        needed |= {column} if column is not None else set()
        inner = inner_select(fact, needed | filter_cols, hours)
        cols = ", ".join(_q(c) for c in select_cols)
        low, high = value_range
        bounds = "".join(
            f" AND {_q(metric.value_column or '')} {op} {b.value(float(v))}"
            for op, v in ((">=", low), ("<", high))
            if v is not None
        )
        body = f"SELECT {cols}{value}{extra}\nFROM ({inner}) AS f\nWHERE {where_sql} AND {pop}{bounds}"
        key = metric.value_column if order == "value" and metric.value_column else "t"
        order_sql = f"{_q(key)} {'DESC' if descending else 'ASC'} NULLS LAST, {_q(fact.row_id)}"
    needs = frozenset(sql_params(body) - set(b.params))
    groups = tuple(where or {})
    count = CompiledQuery(fact.name, (name,), groups, f"SELECT count(*) AS rows FROM ({body})", dict(b.params), needs)
    page = f" LIMIT {b.value(int(limit))} OFFSET {b.value(int(offset))}" if limit is not None else ""
    listing = CompiledQuery(fact.name, (name,), groups, f"{body}\nORDER BY {order_sql}{page}", dict(b.params), needs)
    return listing, count


def compile_in_scope(
    registry: Registry, fact_name: str, column: str, values: Sequence[object], scope: Scope
) -> CompiledQuery:
    """Which of ``values`` (of a fact's ``column``) have rows the person may read: one row each, column
    ``value`` (a value out of their scope, or not in the fact, is absent)."""
    fact = registry.facts[fact_name]
    b = _Binder()
    allowed, cols = scope_sql(scope, b)
    inner = inner_select(fact, {column, *cols}, "calendar")
    sql = (
        f"SELECT DISTINCT {_q(column)} AS value FROM ({inner}) AS f "
        f"WHERE list_contains({b.value(list(values))}, {_q(column)}) AND {allowed or 'true'}"
    )
    return CompiledQuery(fact_name, (), (), sql, b.params, frozenset(sql_params(sql) - set(b.params)))
