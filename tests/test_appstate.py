"""The app-state store: annotations with history and undo, check-ins, audit; several writers at once lose nothing."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from replyboard.appstate import _MIGRATIONS, Action, AppState, AppStateError, Target, state_path


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
    assert con.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(_MIGRATIONS)


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


# ---- digest sends and alert episodes (issue 17) ------------------------------------------------------------------


def test_a_digest_period_is_claimed_once_and_a_failure_can_be_retried(tmp_path: Path) -> None:
    store = AppState(tmp_path / "s.sqlite")
    first = store.claim_send("monday", "2026-09-20", channel="email", recipients=["a@example.com"])
    assert first is not None
    assert store.claim_send("monday", "2026-09-20", channel="email", recipients=["a@example.com"]) is None
    store.finish_send(first, "failed", attempts=3, error="connection refused")
    second = store.claim_send("monday", "2026-09-20", channel="email", recipients=["a@example.com"])
    assert second is not None and second != first
    store.finish_send(second, "sent", attempts=1, summary={"title": "OKR digest"})
    assert store.claim_send("monday", "2026-09-20", channel="email", recipients=[]) is None
    assert store.claim_send("monday", "2026-09-27", channel="email", recipients=[]) is not None  # the next period
    assert store.claim_send("monday", "2026-09-20", channel="email", recipients=[], scheduled=False)  # a one-off
    delivered = store.delivered("monday", "2026-09-20")
    assert delivered is not None and delivered.id == second and delivered.summary == {"title": "OKR digest"}
    assert [s.status for s in store.sends("monday")] == ["sending", "sending", "sent", "failed"]
    assert store.revision() == 0  # sends are not annotations: the read layer's caches stay valid
    with pytest.raises(AppStateError, match="ends sent, failed or skipped"):
        store.finish_send(first, "sending", attempts=0)


def test_a_claim_left_by_a_run_that_died_is_taken_over(tmp_path: Path) -> None:
    store = AppState(tmp_path / "s.sqlite")
    t0 = datetime(2026, 9, 21, 12, 0, tzinfo=UTC)
    dead = store.claim_send("monday", "2026-09-20", channel="email", recipients=[], now=t0)
    assert (
        store.claim_send("monday", "2026-09-20", channel="email", recipients=[], now=t0 + timedelta(minutes=5)) is None
    )
    again = store.claim_send("monday", "2026-09-20", channel="email", recipients=[], now=t0 + timedelta(minutes=16))
    assert again is not None
    [newer, older] = store.sends()
    assert (newer.id, newer.status) == (again, "sending")
    assert (older.id, older.status) == (dead, "failed") and "stopped before it finished" in (older.error or "")


def _claimer(path: str, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    results.put(AppState(path).claim_send("monday", "2026-09-20", channel="email", recipients=[]))


def test_concurrent_runs_claim_a_period_once(tmp_path: Path) -> None:
    """Four runs at once (cron overlapping etl serve): exactly one gets to send."""
    path = tmp_path / "s.sqlite"
    AppState(path)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(str(path), results)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    claims = [results.get(timeout=10) for _ in procs]
    assert sum(c is not None for c in claims) == 1


def test_an_episode_opens_once_and_records_its_notices(tmp_path: Path) -> None:
    store = AppState(tmp_path / "s.sqlite")
    first = store.open_episode("waiting", "", {"title": "2 customers waiting"})
    assert first is not None and store.open_episode("waiting", "", {"title": "3 customers waiting"}) is None
    assert store.open_episode("waiting", "line-2", {}) is not None  # another scope: its own episode
    store.record_notice(first, "fired", delivered=False, attempts=3, error="refused")
    store.record_notice(first, "fired", delivered=True, attempts=1, error=None)
    assert store.close_episode(first, {"title": "nobody waiting"}) is True
    assert store.close_episode(first, {}) is False
    [episode] = [e for e in store.episodes("waiting") if e.id == first]
    assert (episode.fired, episode.fired_attempts, episode.resolved) == ("sent", 4, "pending")
    assert episode.opened_detail == {"title": "2 customers waiting"} and episode.closed_detail == {
        "title": "nobody waiting"
    }
    assert [e.scope for e in store.episodes("waiting", only_open=True)] == ["line-2"]
    assert store.open_episode("waiting", "", {}) is not None  # a new episode once the first is over
    with pytest.raises(AppStateError):
        store.record_notice(first, "opened", delivered=True, attempts=1, error=None)
