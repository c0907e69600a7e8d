"""Helpers shared by the tests: paths and the fixed team settings golden figures are worked out with.

Tests import these from here (conftest.py holds only pytest fixtures and hooks).
"""

from __future__ import annotations

from pathlib import Path

from replyboard.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE = ROOT / "sample_data" / "demo"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def team_settings(**overrides: object) -> Settings:
    """The settings golden figures are worked out with (independent of the repo's settings.yaml)."""
    base: dict[str, object] = dict(
        timezone="America/New_York",
        business_hours={
            d: ["09:00-12:00", "13:00-17:00"] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")
        },
        holidays=[],
    )
    base.update(overrides)
    return Settings.model_validate(base)
