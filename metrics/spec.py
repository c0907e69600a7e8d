"""The metric spec: facts, dimensions, segments, measures and typed metrics, as frozen Pydantic models.

Shaped like dbt MetricFlow's semantic models: a **fact** is a materialised table (or a query over one) with a
local time column ``t``, named columns and the dimensions it can be split by; a **segment** is a named
condition over a fact's columns (``human_reply``, ``valid_csat``); a **measure** aggregates one column (or
counts rows) of a fact inside a condition; a **metric** is a typed combination of measures (simple, ratio,
percentile, NPS, entity share) with a unit and a direction. Conditions are data, not SQL: every value in them
is bound as a parameter by metrics.compiler, so no value is ever formatted into SQL. ``validate`` checks the
whole registry at once and returns every problem (unknown measure, dimension not on the fact, ...), as
dbt-semantic-interfaces does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from enum import Enum
from typing import Annotated, Literal, cast

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["count", "seconds", "ratio", "score", "nps"]
RATE_OR_SCORE_UNITS = ("ratio", "score", "nps")  # figures a handful of rows can swing: flagged below min_n
Better = Literal["higher", "lower"] | None
Scalar = bool | int | float | str


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- operands and conditions ---------------------------------------------------------------------------


class Col(Frozen):
    """Another column of the same fact row (``replied_at <= deadline_at``)."""

    kind: Literal["col"] = "col"
    name: str


class Param(Frozen):
    """A query parameter supplied at run time (``$as_of``, ``$target_seconds``...)."""

    kind: Literal["param"] = "param"
    name: str


class Const(Frozen):
    """A fixed value of the definition (bound as a parameter like any other value)."""

    kind: Literal["const"] = "const"
    value: Scalar


Operand = Annotated[Col | Param | Const, Field(discriminator="kind")]
Op = Literal["=", "<>", "<", "<=", ">", ">="]


class Compare(Frozen):
    kind: Literal["cmp"] = "cmp"
    column: str
    op: Op
    right: Operand


class IsIn(Frozen):
    kind: Literal["in"] = "in"
    column: str
    values: tuple[Scalar, ...]


class IsNull(Frozen):
    kind: Literal["null"] = "null"
    column: str
    negate: bool = False


class IsTrue(Frozen):
    kind: Literal["true"] = "true"
    column: str


class Segment(Frozen):
    """A reference to a named segment (resolved against the fact's segments when compiled)."""

    kind: Literal["segment"] = "segment"
    name: str


class AllOf(Frozen):
    kind: Literal["and"] = "and"
    items: tuple[Condition, ...]


class AnyOf(Frozen):
    kind: Literal["or"] = "or"
    items: tuple[Condition, ...]


class Negate(Frozen):
    kind: Literal["not"] = "not"
    item: Condition


Condition = Annotated[Compare | IsIn | IsNull | IsTrue | Segment | AllOf | AnyOf | Negate, Field(discriminator="kind")]
for _model in (AllOf, AnyOf, Negate):
    _model.model_rebuild()


def _value(v: object) -> Scalar:
    # an enum (the warehouse contract's codes) by its value; the model's field validates what it is
    return cast(Scalar, v.value if isinstance(v, Enum) else v)


def _operand(v: object) -> Col | Param | Const:
    return v if isinstance(v, Col | Param | Const) else Const(value=_value(v))


def eq(column: str, value: object) -> Compare:
    return Compare(column=column, op="=", right=_operand(value))


def cmp(column: str, op: Op, value: object) -> Compare:
    return Compare(column=column, op=op, right=_operand(value))


def one_of(column: str, *values: object) -> IsIn:
    return IsIn(column=column, values=tuple(_value(v) for v in values))


def is_null(column: str) -> IsNull:
    return IsNull(column=column)


def not_null(column: str) -> IsNull:
    return IsNull(column=column, negate=True)


def is_true(column: str) -> IsTrue:
    return IsTrue(column=column)


def seg(name: str) -> Segment:
    return Segment(name=name)


def all_of(*items: Condition) -> AllOf:
    return AllOf(items=items)


def any_of(*items: Condition) -> AnyOf:
    return AnyOf(items=items)


def negate(item: Condition) -> Negate:
    return Negate(item=item)


def walk(condition: Condition) -> Iterator[Condition]:
    """Every node of a condition tree, the root first."""
    yield condition
    if isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from walk(item)
    elif isinstance(condition, Negate):
        yield from walk(condition.item)


# ---- facts and dimensions ------------------------------------------------------------------------------


class Column(Frozen):
    """A named column of a fact: a SQL expression over its source (and joins), written in this package.

    ``business_sql``: the expression under ``hours=business`` (durations in business seconds). ``join``: the
    alias of the join it reads, included in a query only when such a column is used.
    """

    name: str
    sql: str
    business_sql: str | None = None
    join: str | None = None
    description: str = ""


class Join(Frozen):
    alias: str
    sql: str  # the whole JOIN clause, e.g. "LEFT JOIN agents a ON a.agent_id = b.reply_agent_id"


class Fact(Frozen):
    """Rows of one materialised table. ``source``: a FROM item (may be a subquery with $parameters)."""

    name: str
    source: str
    anchor: str  # what t is, for the docs
    row: str  # what one row is, for the docs and drill-downs ("inquiry block")
    rows: str  # the plural ("inquiry blocks")
    columns: tuple[Column, ...]
    joins: tuple[Join, ...] = ()
    dimensions: tuple[str, ...]
    segments: Mapping[str, Condition] = Field(default_factory=dict)
    row_id: str  # the column that identifies a row (drill-downs)
    row_columns: tuple[str, ...]  # what a drill-down lists for each row, in order

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


class Dimension(Frozen):
    """A way to split a metric: a SQL expression over fact columns (``reads``), e.g. CAST(t AS DATE).

    ``period``: for a split into calendar periods (day, week, month), the period's length; its value is the
    period's first day, so the read layer can tell a period the data covers only in part."""

    name: str
    sql: str
    reads: tuple[str, ...]
    label: str
    time: bool = False
    period: Literal["day", "week", "month"] | None = None


# ---- measures and metrics ------------------------------------------------------------------------------

Aggregation = Literal["count", "count_distinct", "sum", "mean"]


class Measure(Frozen):
    """An aggregate over one fact's rows that satisfy ``where``: count rows, or aggregate ``column``."""

    name: str
    fact: str
    agg: Aggregation
    column: str | None = None
    where: Condition | None = None


class MetricBase(Frozen):
    name: str
    unit: Unit
    better: Better
    description: str
    value_column: str | None = None  # the row's own value in a drill-down (reply seconds, score...)


class SimpleMetric(MetricBase):
    """One measure; ``n`` is the number of rows behind it (a measure counting them)."""

    type: Literal["simple"] = "simple"
    measure: str
    n: str


class RatioMetric(MetricBase):
    """numerator ÷ denominator, both measures of the same fact (sums divided, never a mean of ratios)."""

    type: Literal["ratio"] = "ratio"
    numerator: str
    denominator: str


class PercentileMetric(MetricBase):
    """A percentile (linear interpolation, DuckDB quantile_cont) of ``column`` over rows in ``where``."""

    type: Literal["percentile"] = "percentile"
    fact: str
    column: str
    percentile: float = Field(gt=0, lt=1)
    where: Condition | None = None


class NpsMetric(MetricBase):
    """% of ``where`` rows with ``column`` >= promoters_from − % with ``column`` <= detractors_to (−100..100)."""

    type: Literal["nps"] = "nps"
    fact: str
    column: str
    where: Condition
    promoters_from: int = 9
    detractors_to: int = 6


class EntityShareMetric(MetricBase):
    """Entities (``entity`` column values) with at least ``min_rows`` rows in the window ÷ entities with one
    or more: a second aggregation stage over the filtered fact (repeat customers)."""

    type: Literal["entity_share"] = "entity_share"
    fact: str
    entity: str
    min_rows: int = Field(2, ge=1)


Metric = Annotated[
    SimpleMetric | RatioMetric | PercentileMetric | NpsMetric | EntityShareMetric, Field(discriminator="type")
]


class Registry(Frozen):
    facts: Mapping[str, Fact]
    dimensions: Mapping[str, Dimension]
    measures: Mapping[str, Measure]
    metrics: Mapping[str, Metric]
    params: Mapping[str, str]  # every run-time parameter name -> what it is

    def fact_of(self, metric: Metric) -> Fact:
        return self.facts[metric_fact(self, metric)]

    def dimensions_of(self, metric: Metric) -> tuple[str, ...]:
        return self.fact_of(metric).dimensions

    def aggregation(self, metric: Metric) -> str:
        """The README's word for how a metric aggregates."""
        if isinstance(metric, SimpleMetric):
            agg = self.measures[metric.measure].agg
            return "count distinct" if agg == "count_distinct" else agg
        if isinstance(metric, PercentileMetric):
            return {0.5: "median", 0.9: "p90"}.get(metric.percentile, f"p{round(metric.percentile * 100)}")
        return {"ratio": "ratio", "nps": "nps", "entity_share": "ratio"}[metric.type]


def metric_fact(registry: Registry, metric: Metric) -> str:
    if isinstance(metric, SimpleMetric):
        return registry.measures[metric.measure].fact
    if isinstance(metric, RatioMetric):
        return registry.measures[metric.denominator].fact
    return metric.fact


# ---- validation ------------------------------------------------------------------------------------------

_PARAM_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def sql_params(sql: str) -> set[str]:
    return set(_PARAM_RE.findall(sql))


def _condition_problems(where: str, cond: Condition, fact: Fact, params: Mapping[str, str]) -> Iterable[str]:
    for node in walk(cond):
        columns: list[str] = []
        if isinstance(node, Compare | IsIn | IsNull | IsTrue):
            columns.append(node.column)
        if isinstance(node, Compare) and isinstance(node.right, Col):
            columns.append(node.right.name)
        if isinstance(node, Compare) and isinstance(node.right, Param) and node.right.name not in params:
            yield f"{where}: unknown parameter ${node.right.name}"
        if isinstance(node, Segment) and node.name not in fact.segments:
            yield f"{where}: unknown segment {node.name!r} on fact {fact.name}"
        for c in columns:
            if c not in fact.column_names:
                yield f"{where}: column {c!r} is not on fact {fact.name}"


def validate(registry: Registry) -> list[str]:
    """Every problem of the registry at once (empty when it is consistent)."""
    problems: list[str] = []
    fact: Fact | None  # each section below rebinds these: a fact looked up may be missing
    cond: Condition | None
    for name, fact in registry.facts.items():
        where = f"fact {name}"
        if fact.name != name:
            problems.append(f"{where}: declared under another name ({fact.name})")
        names = fact.column_names
        if len(set(names)) != len(names):
            problems.append(f"{where}: duplicate column names")
        if "t" not in names:
            problems.append(f"{where}: no time column t")
        aliases = {j.alias for j in fact.joins}
        for c in fact.columns:
            if c.join and c.join not in aliases:
                problems.append(f"{where}: column {c.name} reads join {c.join!r}, which the fact does not declare")
        texts = [fact.source, *(c.sql for c in fact.columns), *(c.business_sql or "" for c in fact.columns)]
        for p in sorted(set().union(*(sql_params(t) for t in texts)) - set(registry.params)):
            problems.append(f"{where}: unknown parameter ${p} in its SQL")
        for d in fact.dimensions:
            dim = registry.dimensions.get(d)
            if dim is None:
                problems.append(f"{where}: unknown dimension {d!r}")
                continue
            problems += [f"{where}: dimension {d} reads {c!r}, not a column" for c in dim.reads if c not in names]
        for column in (fact.row_id, *fact.row_columns):
            if column not in names:
                problems.append(f"{where}: drill-down column {column!r} is not a column")
        for s, cond in fact.segments.items():
            problems += _condition_problems(f"{where} segment {s}", cond, fact, registry.params)
    for name, m in registry.measures.items():
        where = f"measure {name}"
        fact = registry.facts.get(m.fact)
        if fact is None:
            problems.append(f"{where}: unknown fact {m.fact!r}")
            continue
        if (m.agg == "count") != (m.column is None):
            problems.append(f"{where}: {m.agg} needs {'no column' if m.agg == 'count' else 'a column'}")
        if m.column is not None and m.column not in fact.column_names:
            problems.append(f"{where}: column {m.column!r} is not on fact {fact.name}")
        if m.where is not None:
            problems += _condition_problems(where, m.where, fact, registry.params)
    for name, metric in registry.metrics.items():
        where = f"metric {name}"
        if metric.name != name:
            problems.append(f"{where}: declared under another name ({metric.name})")
        refs = {
            "simple": lambda m: [m.measure, m.n],
            "ratio": lambda m: [m.numerator, m.denominator],
        }.get(metric.type, lambda m: [])(metric)
        missing = [r for r in refs if r not in registry.measures]
        problems += [f"{where}: unknown measure {r!r}" for r in missing]
        if missing:
            continue
        facts = {registry.measures[r].fact for r in refs} or {getattr(metric, "fact", "")}
        if len(facts) > 1:
            problems.append(f"{where}: its measures are on different facts ({', '.join(sorted(facts))})")
            continue
        fact = registry.facts.get(next(iter(facts)))
        if fact is None:
            problems.append(f"{where}: unknown fact {next(iter(facts))!r}")
            continue
        columns = [c for c in (getattr(metric, "column", None), getattr(metric, "entity", None)) if c]
        columns += [metric.value_column] if metric.value_column else []
        problems += [f"{where}: column {c!r} is not on fact {fact.name}" for c in columns if c not in fact.column_names]
        cond = getattr(metric, "where", None)
        if cond is not None:
            problems += _condition_problems(where, cond, fact, registry.params)
    return problems
