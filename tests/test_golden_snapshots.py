"""`metrics report` and `metrics okr` JSON on the demo data equal the snapshots taken before the read-layer
rewrite (tests/golden_cases.py says how they were made and when they may change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden_cases import GOLDEN, OKR_CASES, report_cases, run_okr, run_report

REPORT = json.loads((GOLDEN / "report_demo.json").read_text())
OKR = json.loads((GOLDEN / "okr_demo.json").read_text())


def test_every_case_has_a_snapshot() -> None:
    assert set(REPORT) == set(report_cases())
    assert set(OKR) == set(OKR_CASES)


@pytest.mark.parametrize("case", sorted(report_cases()))
def test_report_matches_snapshot(sample_warehouse: Path, case: str) -> None:
    assert run_report(sample_warehouse, report_cases()[case]) == REPORT[case]


@pytest.mark.parametrize("case", sorted(OKR_CASES))
def test_okr_matches_snapshot(sample_warehouse: Path, case: str) -> None:
    assert run_okr(sample_warehouse, OKR_CASES[case]) == OKR[case]
