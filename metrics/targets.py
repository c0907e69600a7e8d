"""The targets the dashboard draws on the charts and KPI cards they belong to, from where the team set them:

* the settings' ``response_target_minutes`` (the response-time target: reply and first-response times, and the
  threshold of ``response_within_target_rate``);
* the OKR definitions: each metric key result of the period covering the day in view, measured on the whole team
  (no filters) is that metric's target (same-day 95%, CSAT above 7, repeat customers 20%...).

Nothing here is hard-coded: change a setting or a YAML file and the marks move.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from metrics.okr.progress import pick_period
from metrics.okr.spec import MetricKeyResult, Period
from metrics.registry import METRICS
from replyboard.formats import fmt_target
from replyboard.settings import Settings

# The metrics the response-time target of the settings applies to: the typical reply (a p90 is the tail, which
# response_within_target_rate judges against the same target).
RESPONSE_TIME_METRICS = ("first_response_time_median", "reply_time_median")


@dataclass(frozen=True)
class Target:
    metric: str
    comparator: str  # gte | gt | lte | lt
    value: float  # in the metric's unit (seconds, a share 0-1, a score)
    source: str  # where it was set: "settings" or "OKR 2026-09"
    hours: str | None = None  # the hours a duration target is counted in (None: either)
    window: str = "period"  # the OKR's window ("rolling 30 days") or the page's ("period")

    def met(self, value: float | None) -> bool | None:
        """Whether a value meets the target (None without a value)."""
        if value is None:
            return None
        return {
            "gte": value >= self.value,
            "gt": value > self.value,
            "lte": value <= self.value,
            "lt": value < self.value,
        }[self.comparator]

    @property
    def short(self) -> str:
        """'target ≥ 95.0%'."""
        return f"target {fmt_target(METRICS[self.metric].unit, self.comparator, self.value)}"

    @property
    def text(self) -> str:
        """'target ≥ 95.0% (OKR 2026-09)', 'target ≥ 20.0% (OKR 2026-09, rolling 30 days)'."""
        window = f", {self.window}" if self.window != "period" else ""
        return f"{self.short} ({self.source}{window})"

    def verdict(self, value: float | None) -> str:
        """'target ≥ 95.0% · met', '... · missed', '... · no data'."""
        met = self.met(value)
        return f"{self.short} · {'no data' if met is None else 'met' if met else 'missed'}"

    def applies(self, hours: str) -> bool:
        """A duration target counted in business hours is no mark on a chart in calendar hours (and back)."""
        return self.hours is None or self.hours == hours


def targets(settings: Settings, periods: Iterable[Period], day: date | None) -> dict[str, Target]:
    """Each metric's target: the OKR period covering ``day`` (the end of the window in view) first, the settings'
    response target for response times without an OKR."""
    found: dict[str, Target] = {
        metric: Target(metric, "lte", settings.response_target_minutes * 60, "settings")
        for metric in RESPONSE_TIME_METRICS
    }
    period = pick_period(list(periods), day) if day is not None else None
    if period is None:
        return found
    for objective in period.objectives:
        for kr in objective.key_results:
            if not isinstance(kr, MetricKeyResult) or kr.metric not in METRICS or _filtered(kr):
                continue
            window = "period" if kr.window == "period" else f"rolling {kr.window.rolling_days} days"
            duration = METRICS[kr.metric].unit == "seconds"
            found[kr.metric] = Target(
                kr.metric, kr.comparator, kr.target, f"OKR {period.period}", kr.hours if duration else None, window
            )
    return found


def _filtered(kr: MetricKeyResult) -> bool:
    f = kr.filters
    return f is not None and bool(f.lines or f.channels or f.teams or f.agents)
