"""The app-state store: annotations with history and undo, check-ins, audit; several writers at once lose nothing."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from replyboard.appstate import Action, AppState, AppStateError, Target, state_path


def test_state_lives_beside_the_warehouse(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    assert (
        state_path(tmp_path / "data" / "replyboard.duckdb") == (tmp_path / "data" / "replyboard.state.sqlite").resolve()
    )
    (tmp_path / "real.duckdb").write_bytes(b"")
    (tmp_path / "link.duckdb").symlink_to(tmp_path / "real.duckdb")
    assert (
        state_path(tmp_path / "link.duckdb") == state_path(tmp_path / "real.duckdb") == tmp_path / "real.state.sqlite"
    )
    monkeypatch.setenv("REPLYBOARD_STATE", str(tmp_path / "elsewhere.sqlite"))
    assert state_path("x.duckdb") == tmp_path / "elsewhere.sqlite"


def test_annotate_replace_undo_and_history(tmp_path: Path) -> None:
    store = AppState(tmp_path / "s.sqlite")
    assert store.revision() == 0 and store.annotations() == []
    first = store.annotate(Target.SURVEY_REPLY, "r1", Action.RESCORED, author="lee", score=7, note="said 'seven'")
    second = store.annotate("survey_reply", "r1", "rescored", author="kim", score=8)  # replaces the first
    active = store.annotations()
    assert [(a.id, a.score, a.author) for a in active] == [(second, 8, "kim")]
    history = store.annotations(include_undone=True)
    assert [(a.id, a.active, a.undone_by) for a in history] == [(second, True, None), (first, False, "kim")]
    assert store.undo(second, author="lee") is True and store.undo(second, author="lee") is False
    assert store.annotations() == []
    assert store.revision() == 3  # three writes
    actions = [a for _, _, a, _ in store.audit_log()]
    assert actions == ["undo", "annotate", "annotate"]


@pytest.mark.parametrize(
    ("target", "action", "score", "message"),
    [
        ("block", "rescored", 5, "applies to a survey_reply"),
        ("survey_reply", "rescored", None, "needs a score"),
        ("block", "no_reply_needed", 3, "only a re-score takes one"),
        ("planet", "handled", None, "not a valid Target"),
    ],
)
def test_bad_annotations_are_refused(tmp_path: Path, target: str, action: str, score: int | None, message: str) -> None:
    store = AppState(tmp_path / "s.sqlite")
    with pytest.raises(AppStateError, match=message):
        store.annotate(target, "x", action, author="lee", score=score)
    assert store.annotations(include_undone=True) == []


def test_checkins_and_reopening_keep_everything(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    AppState(path).add_checkin("2026-09", "kr-a", date(2026, 9, 10), 0.4, author="lee", confidence=0.7, note="ok")
    again = AppState(path)  # migrations are applied once
    again.add_checkin("2026-09", "kr-a", date(2026, 9, 17), 0.6, author="lee")
    assert [(c.day, c.value) for c in again.checkins("2026-09")] == [(date(2026, 9, 10), 0.4), (date(2026, 9, 17), 0.6)]
    with pytest.raises(AppStateError):
        again.add_checkin("2026-09", "kr-a", date(2026, 9, 18), 1.5, author="lee")
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 1


def test_a_damaged_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(AppStateError, match="cannot open the app-state store"):
        AppState(path)


def _writer(path: str, who: int, n: int) -> None:
    store = AppState(path)
    for i in range(n):
        store.annotate("block", f"b{who}-{i}", "no_reply_needed", author=f"w{who}", note=str(i))
        if i % 5 == 0:
            store.add_checkin("p", f"kr{who}", date(2026, 9, 1), i / n, author=f"w{who}")


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    """Six processes annotate at the same time (as several dashboard sessions and the CLI would)."""
    path = tmp_path / "s.sqlite"
    AppState(path)
    writers, per_writer = 6, 40
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, per_writer)) for w in range(writers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)  # generous: the suite runs beside other heavy tests on two cores
        assert p.exitcode == 0, f"writer exited with {p.exitcode} (None: still running)"
    store = AppState(path)
    annotations = store.annotations()
    assert len(annotations) == writers * per_writer
    assert len({a.target_id for a in annotations}) == writers * per_writer
    assert len(store.checkins("p")) == writers * (per_writer // 5)
    assert store.revision() == writers * per_writer + writers * (per_writer // 5)
