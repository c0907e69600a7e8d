"""Shared fixtures: fixed team settings, hand-made warehouses, and the sample warehouse (built once)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from etl.load import run_load
from replyboard import warm_cache
from replyboard.settings import Settings
from tests.helpers import ARTIFACTS, SAMPLE, team_settings

# No per-example time limit for Hypothesis: on a shared 2-core machine a 200 ms deadline fails tests whose code
# is correct (speed targets never live in timed tests). Tests that set their own settings still may.
hypothesis_settings.register_profile("replyboard", deadline=None)
hypothesis_settings.load_profile("replyboard")
# No background warmer after the tests' loads (a process per load would outlive its test and compete for the two
# cores); tests/test_warm_cache.py runs the warmer itself. Children of the tests inherit this.
os.environ[warm_cache.OFF_ENV] = "1"


@pytest.fixture
def settings() -> Settings:
    return team_settings()


@pytest.fixture
def load(tmp_path: Path, settings: Settings):
    """load(*paths, db=None) -> (db_path, report): loads into a warehouse under tmp_path."""

    def _load(*paths: Path, db: Path | None = None, settings_: Settings | None = None, **kw):
        db = db or tmp_path / "w.duckdb"
        report = run_load(db, [Path(p) for p in paths], settings_ or settings, **kw)
        return db, report

    return _load


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample data loaded once with the shipped settings (what `make run` shows)."""
    if not SAMPLE.exists():
        pytest.skip("sample_data/demo is missing: run python -m sample_data.generate (see README)")
    from replyboard.settings import load_settings

    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    run_load(db, sorted(SAMPLE.glob("*.csv")), load_settings())
    return db


@pytest.fixture
def sample_copy(sample_warehouse: Path, tmp_path: Path) -> Path:
    """A private copy of the sample warehouse a test may modify."""
    target = tmp_path / "sample.duckdb"
    shutil.copyfile(sample_warehouse, target)
    return target


@pytest.fixture
def app_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run app.py on every AppTest run, as the server does (see tests/test_pages.py for why)."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def pytest_configure(config: pytest.Config) -> None:
    # Only the controlling process clears last run's figures (xdist workers have `workerinput`).
    if not hasattr(config, "workerinput"):
        ARTIFACTS.mkdir(exist_ok=True)
        for old in ARTIFACTS.glob("*.txt"):
            old.unlink()


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the figures the reliability, sandbox and browser suites record (issue 8 asks for them)."""
    files = sorted(ARTIFACTS.glob("*.txt")) if ARTIFACTS.exists() else []
    if not files:
        return
    terminalreporter.section("figures")
    for path in files:
        lines = path.read_text().splitlines()
        if lines:
            terminalreporter.write_line(lines[0])
