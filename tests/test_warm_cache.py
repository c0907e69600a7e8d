"""The warm store (replyboard.warm_cache, pages.warm): a load's default views are computed once by a real warmer
process, a new dashboard session reads them from the store and shows exactly what it would have computed, and no
result of one load is ever served for another.

Timings are benchmarks (benchmarks/run.py's page step), never asserted here.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from etl.load import run_load
from pages.catalog import PAGE_FILES
from replyboard import warehouse, warm_cache
from replyboard.settings import load_settings
from sample_data.generate import generate, write
from tests.helpers import ROOT

APP = str(ROOT / "app.py")


def _data(folder: Path, messages: int, seed: int) -> list[Path]:
    write(generate(messages, seed=seed, settings=load_settings()), folder)
    return [folder / f"{name}.csv" for name in ("messages", "surveys", "agents", "lines")]


def _more_texts(db: Path, path: Path) -> Path:
    """Five new inbound texts just before the warehouse's newest message: in the default window, new figures."""
    con = warehouse.connect_readonly(db)
    try:
        line, newest = con.execute(
            "SELECT line_number, created_at FROM messages ORDER BY created_at DESC LIMIT 1"
        ).fetchall()[0]
    finally:
        con.close()
    at = (newest - timedelta(minutes=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = [f"warm-{i},{at},inbound,{line},+1555300{i:04d},,false,Are you open?,sms,,received" for i in range(5)]
    header = "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,"
    path.write_text(header + "conversation_id,status\n" + "\n".join(rows) + "\n")
    return path


def _warm(db: Path) -> None:
    """The warmer a load starts, run to its end (a real process, as after a load)."""
    done = subprocess.run(
        [sys.executable, "-m", "pages.warm", "--db", str(db)], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warmed in" in done.stdout, done.stdout


def _overview(db: Path, monkeypatch: pytest.MonkeyPatch, page: str = "pages/overview.py") -> tuple[list[str], int]:
    """A new session's page (Streamlit's memory cache emptied): its figures and the store reads it made."""
    st.cache_data.clear()
    st.cache_resource.clear()
    monkeypatch.setattr(warm_cache, "hits", 0)
    monkeypatch.setattr(warm_cache, "misses", 0)
    monkeypatch.setenv("REPLYBOARD_DB", str(db))
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    figures = [f"{m.label}={m.value}" for m in at.metric] + [c.value for c in at.caption]
    return figures, warm_cache.hits


@pytest.mark.usefixtures("app_navigation")
def test_a_warmed_load_serves_its_figures_and_a_new_load_never_gets_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    first = _data(tmp_path / "a", 2000, seed=3)
    run_load(db, first, load_settings(), warm=False)
    version = warehouse.data_version(db)
    _warm(db)
    stored = [p for p in (warm_cache.folder(db) / version).iterdir() if not p.name.startswith(".")]
    assert len(stored) > 10, "every page's reads are stored"

    for page in PAGE_FILES:  # every page's first render finds all it reads in the store
        _overview(db, monkeypatch, page)
        assert warm_cache.hits > 0 or page in ("pages/conversation.py",), page
        assert warm_cache.misses == 0, page
    warmed, hits = _overview(db, monkeypatch)
    assert hits > 0, "the first render read the warmed results"
    # the same figures as a session that computes everything itself (the store moved away)
    (warm_cache.folder(db) / version).rename(tmp_path / "aside")
    computed, hits = _overview(db, monkeypatch)
    assert hits == 0
    assert warmed == computed and any("=" in f for f in warmed)
    (tmp_path / "aside").rename(warm_cache.folder(db) / version)

    # A second load publishes a new version: nothing warmed for the first is served, the figures are new.
    run_load(db, [_more_texts(db, tmp_path / "more.csv")], load_settings(), warm=False)
    assert warehouse.data_version(db) != version
    after, hits = _overview(db, monkeypatch)
    assert hits == 0, "a result of the previous load was served for the new one"
    assert after != warmed
    _warm(db)  # warming the new version removes the old one's results
    assert not (warm_cache.folder(db) / version).exists()
    assert _overview(db, monkeypatch)[0] == after


def test_put_stores_only_for_the_published_version(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    run_load(db, _data(tmp_path / "a", 300, seed=5), load_settings(), warm=False)
    version = warehouse.data_version(db)
    warm_cache.put(db, "an-older-version", "f", (1,), "stale")
    assert warm_cache.get(db, "an-older-version", "f", (1,)) is warm_cache.MISS
    warm_cache.put(db, version, "f", (1,), {"value": 2})
    assert warm_cache.get(db, version, "f", (1,)) == {"value": 2}
    assert warm_cache.get(db, version, "f", (2,)) is warm_cache.MISS  # other arguments, another result
    assert (warm_cache.folder(db).stat().st_mode & 0o077) == 0, "the store is the owner's only"


def test_one_warmer_at_a_time(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    run_load(db, _data(tmp_path / "a", 300, seed=6), load_settings(), warm=False)
    with warm_cache.warming(db) as mine:
        assert mine
        with warm_cache.warming(db) as other:
            assert not other


def test_a_load_starts_the_warmer_unless_told_not_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Path] = []
    monkeypatch.setattr(subprocess, "Popen", lambda args, **kw: started.append(args))
    files = _data(tmp_path / "a", 300, seed=7)
    monkeypatch.delenv(warm_cache.OFF_ENV)
    run_load(tmp_path / "w.duckdb", files, load_settings())
    assert started and started[0][1:3] == ["-m", "pages.warm"]
    monkeypatch.setenv(warm_cache.OFF_ENV, "1")
    run_load(tmp_path / "w.duckdb", files, load_settings())
    run_load(tmp_path / "v.duckdb", files, load_settings(), warm=False)
    assert len(started) == 1
