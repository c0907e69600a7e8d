"""The dashboard open in 8 sessions while a 1M-message load runs: no errors, old data until the publish."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tests.helpers import ARTIFACTS, ROOT

SESSIONS = 8
MESSAGES = 1_000_000
_FRESHNESS = re.compile(r"· ([\d,]+) messages ·")


@pytest.fixture(autouse=True)
def _navigation_not_pages_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    # As in test_pages.py: AppTest re-creates the pages manager, which would fall back to the pages/ folder.
    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def _messages_shown(at: AppTest) -> int | None:
    for caption in at.sidebar.caption:
        found = _FRESHNESS.search(caption.value)
        if found:
            return int(found.group(1).replace(",", ""))
    return None


# One dashboard session in its own process (AppTest keeps one Streamlit runtime per process): it re-runs
# pages until the stop file appears, then once more, and prints what it saw as JSON.
_WORKER = r"""
import json, re, sys
from pathlib import Path
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

original = PagesManager.__init__
def init(self, *a, **k):
    original(self, *a, **k)
    PagesManager.uses_pages_directory = False
PagesManager.__init__ = init

n, stop = int(sys.argv[1]), Path(sys.argv[2])
pages = ["pages/overview.py", "pages/agents.py", "pages/response_times.py", "pages/busiest_times.py"]
pattern = re.compile(r"· ([\d,]+) messages ·")
seen, problems, i = [], [], 0
at = AppTest.from_file("app.py", default_timeout=120)
while True:
    finished = stop.exists()
    at.switch_page(pages[(n + i) % len(pages)])
    at.run()
    i += 1
    problems += [e.value for e in at.exception] + [e.value for e in at.error]
    shown = [int(m.group(1).replace(",", "")) for c in at.sidebar.caption for m in [pattern.search(c.value)] if m]
    seen.append(shown[0] if shown else None)
    if finished:
        break
print(json.dumps({"seen": seen, "problems": [str(p) for p in problems]}))
"""


@pytest.mark.slow
def test_eight_sessions_keep_working_while_a_million_messages_load(
    sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import json
    import os
    import time

    db = tmp_path / "w.duckdb"
    shutil.copyfile(sample_warehouse, db)
    data = tmp_path / "big"
    subprocess.run(
        [sys.executable, "-m", "sample_data.generate", "--messages", str(MESSAGES), "--seed", "5", "--out", str(data)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("REPLYBOARD_DB", str(db))
    first = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    first.run()
    old = _messages_shown(first)
    assert not first.exception and old

    stop = tmp_path / "stop"
    env = {**os.environ, "REPLYBOARD_DB": str(db), "PYTHONPATH": str(ROOT)}
    sessions = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(n), str(stop)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(SESSIONS)
    ]
    time.sleep(5)  # every session is up and rendering before the load starts
    load = subprocess.run(
        [sys.executable, "-m", "etl", "load", "--quiet", "--db", str(db), str(data / "messages.csv")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    stop.touch()
    results = []
    for proc in sessions:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert load.returncode == 0, load.stderr
    problems = [p for r in results for p in r["problems"]]
    seen = [v for r in results for v in r["seen"]]
    assert problems == []
    first.run()
    new = _messages_shown(first)  # what a session opened after the publish shows
    assert new != old and new >= MESSAGES  # (ids the sample already holds are rejected, the rest added)
    assert set(seen) <= {old, new}, f"a session saw a partial warehouse: {set(seen)}"
    assert all(r["seen"][-1] == new for r in results)  # every session's run after the publish shows new data
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "dashboard_under_load.txt").write_text(
        f"dashboard under load: {SESSIONS} sessions, {len(seen)} page runs during a {MESSAGES:,}-message load, "
        f"0 errors; {seen.count(old)} showed the old data, {seen.count(new)} the new, none partial\n"
    )
