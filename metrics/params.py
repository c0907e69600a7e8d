"""The reporting parameters of a query: read from the settings once, here, and passed to the read layer.

Derivation settings (business hours, survey prompts, scales...) shape the facts at load time and are never
read at query time except through the warehouse's record of them (metrics.derived.derived_settings); reporting
settings (targets, thresholds, the typing allowance, min_n) only change how facts are aggregated or flagged, so
changing them needs no reload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from metrics.annotations import NO_OVERLAY, Overlay
from metrics.scope import EVERYTHING, Scope

if TYPE_CHECKING:
    from replyboard.settings import Settings

Hours = Literal["calendar", "business"]


class ParamsError(ValueError):
    """A reporting parameter that cannot be used (an infinite target, a negative allowance...)."""


@dataclass(frozen=True)
class Params:
    """Hashable (a frozen dataclass of primitives), so the dashboard can cache on it."""

    hours: Hours = "calendar"
    target_minutes: float = 120.0
    satisfied_at_least: int = 8
    typing_allowance_seconds: int = 120
    min_n: int = 5  # a rate or score of fewer rows than this is flagged (<metric>_low_n)
    overlay: Overlay = field(default=NO_OVERLAY)  # leads' annotations (metrics.annotations)
    scope: Scope = field(default=EVERYTHING)  # who is asking: rows outside it never leave (metrics.scope)

    def __post_init__(self) -> None:
        if self.hours not in ("calendar", "business"):
            raise ParamsError(f"hours must be calendar or business, not {self.hours!r}")
        if not (isinstance(self.target_minutes, int | float) and math.isfinite(self.target_minutes)):
            raise ParamsError(f"the response target must be a finite number of minutes, not {self.target_minutes}")
        if not 0 < self.target_minutes <= 525_600:
            raise ParamsError(f"the response target must be above 0 and at most a year, not {self.target_minutes:g}")
        if self.typing_allowance_seconds < 0:
            raise ParamsError("typing_allowance_seconds cannot be negative")
        if self.min_n < 1:
            raise ParamsError(f"min_n must be at least 1, not {self.min_n}")

    @property
    def target_seconds(self) -> float:
        return float(self.target_minutes) * 60

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        hours: Hours = "calendar",
        target_minutes: float | None = None,
        overlay: Overlay = NO_OVERLAY,
        scope: Scope = EVERYTHING,
    ) -> Params:
        """The one place reporting settings become query parameters."""
        return cls(
            hours=hours,
            target_minutes=target_minutes if target_minutes is not None else settings.response_target_minutes,
            satisfied_at_least=settings.csat.satisfied_at_least,
            typing_allowance_seconds=settings.typing_allowance_seconds,
            min_n=settings.min_n,
            overlay=overlay,
            scope=scope,
        )
