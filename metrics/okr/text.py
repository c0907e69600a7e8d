"""How a key result's figures are written, wherever they are shown (the OKR page, ``metrics okr``'s table, the
digests): replyboard.formats by the metric's unit; a manual key result is a share done, or done / not done."""

from __future__ import annotations

from metrics.registry import METRICS
from replyboard.formats import DASH, fmt_rate, fmt_target, fmt_value


def metric_unit(metric: str | None) -> str | None:
    return METRICS[metric].unit if metric in METRICS else None


def value_text(kind: str, metric: str | None, progress_kind: str | None, value: float | None) -> str:
    """A current value, baseline or target: '95.9%', '19 min', '7.23'; manual: '90.0%', 'done', 'not done'."""
    if value is None:
        return DASH
    if kind == "manual":
        if progress_kind == "done":
            return "done" if value >= 1 else "not done"
        return fmt_rate(value)
    return fmt_value(metric_unit(metric), value)


def target_text(kind: str, metric: str | None, progress_kind: str | None, comparator: str, target: float) -> str:
    """'≥ 95.0%', '≤ 2 h', '> 7.00'; manual: 'done' or '100%'."""
    if kind == "manual":
        return "done" if progress_kind == "done" else "100%"
    return fmt_target(metric_unit(metric), comparator, target)
