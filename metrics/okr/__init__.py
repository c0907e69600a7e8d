"""OKRs: definitions in YAML, validated in two phases; live attainment, pacing and weekly history.

No Streamlit here: the dashboard's OKR page and ``python -m metrics okr`` both call this package.

* :mod:`metrics.okr.spec`: the definition format (Pydantic models) and the JSON schema generated from it;
* :mod:`metrics.okr.loader`: YAML with line positions, shape and cross-reference validation, problems;
* :mod:`metrics.okr.progress`: the arithmetic (progress, pacing, status, weighted means, check-ins);
* :mod:`metrics.okr.evaluate`: measuring key results on the warehouse, objectives, weekly history;
* :mod:`metrics.okr.cli`: ``python -m metrics okr | okr-check | okr-schema``.

The names below are the package's interface (``from metrics import okr``; ``okr.evaluate(...)``).
"""

from metrics.okr.evaluate import (
    HistoryPoint,
    KeyResultResult,
    ObjectiveResult,
    baseline_window,
    current_window,
    effective_as_of,
    evaluate,
    evaluate_key_result,
    measure,
    weekly_history,
    with_checkins,
)
from metrics.okr.loader import (
    MAX_KEY_RESULTS,
    DefinitionProblem,
    Known,
    definition_files,
    known_values,
    load_definitions,
    load_file,
)
from metrics.okr.progress import (
    AT_RISK_MARGIN,
    ON_TRACK_MARGIN,
    STATUSES,
    baseline_usable,
    checkin_progress,
    clamp01,
    expected_progress,
    key_result_progress,
    last_checkin,
    meets_target,
    pacing_status,
    pick_period,
    weighted_progress,
)
from metrics.okr.spec import (
    DEFINITIONS_DIR,
    MAX_WEIGHT,
    SCHEMA_PATH,
    CheckIn,
    KeyResult,
    KeyResultFilters,
    ManualKeyResult,
    MetricKeyResult,
    Objective,
    Period,
    RollingWindow,
    json_schema,
    schema_text,
    write_schema,
)

__all__ = [
    "AT_RISK_MARGIN",
    "DEFINITIONS_DIR",
    "MAX_KEY_RESULTS",
    "MAX_WEIGHT",
    "ON_TRACK_MARGIN",
    "SCHEMA_PATH",
    "STATUSES",
    "CheckIn",
    "DefinitionProblem",
    "HistoryPoint",
    "KeyResult",
    "KeyResultFilters",
    "KeyResultResult",
    "Known",
    "ManualKeyResult",
    "MetricKeyResult",
    "Objective",
    "ObjectiveResult",
    "Period",
    "RollingWindow",
    "baseline_usable",
    "baseline_window",
    "checkin_progress",
    "clamp01",
    "current_window",
    "definition_files",
    "effective_as_of",
    "evaluate",
    "evaluate_key_result",
    "expected_progress",
    "json_schema",
    "key_result_progress",
    "known_values",
    "last_checkin",
    "load_definitions",
    "load_file",
    "measure",
    "meets_target",
    "pacing_status",
    "pick_period",
    "schema_text",
    "weekly_history",
    "weighted_progress",
    "with_checkins",
    "write_schema",
]
