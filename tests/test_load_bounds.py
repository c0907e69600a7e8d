"""A load is bounded (issue 11, "Hangs that hold the load lock"): a step that stalls is abandoned with a clear
error naming the file, the other files still load, the warehouse lock is never held by a process that makes
no progress, and a load that has to wait says whom it waits for, since when, and whether that load moves.

The stalls are real: a catastrophic regular expression under Python's re, a DuckDB query, a read from a FIFO
nobody writes to, and REPLYBOARD_STALL_AT (replyboard/faults.py) parking a real `python -m etl load` process.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from etl import load as etl_load
from etl.load import run_load
from etl.watchdog import ENV, BudgetError, StepTimeout, file_budget, time_limit
from replyboard import warehouse
from replyboard.load_lock import LoadLock, LockBusy
from tests.helpers import FIXTURES, ROOT, team_settings

HEADER = "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body"
SLOW_QUERY = "SELECT count(*) FROM range(100000000000) t WHERE hash(t.range) % 7 = 1"  # minutes of work
BUDGET = 0.5
BOUND = 30.0  # seconds within which an interrupted step must have ended (it takes ~BUDGET)


def _messages(path: Path, prefix: str, contact: str) -> Path:
    path.write_text(
        f"{HEADER}\n{prefix}1,2026-10-19T14:00:00Z,inbound,+16465550100,{contact},,false,hello\n"
        f"{prefix}2,2026-10-19T14:05:00Z,outbound,+16465550100,{contact},ag_01,false,hi there\n"
    )
    return path


def _stalls(step) -> float:
    """Seconds until time_limit(BUDGET) ended `step` with StepTimeout (fails if it ended any other way)."""
    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught, time_limit(BUDGET, "the step"):
        step()
    assert caught.value.what == "the step" and "stopped after 0.5 s" in str(caught.value)
    return time.monotonic() - started


# ----------------------------------------------------------------------------------------------- the watchdog


def test_time_limit_ends_each_way_a_step_can_stall(tmp_path: Path):
    con = duckdb.connect()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    stalls = {
        "a catastrophic regex under Python's re": lambda: re.match(r"^(a+)+$", "a" * 40 + "b"),
        "a DuckDB query": lambda: con.execute(SLOW_QUERY).fetchall(),
        "opening a FIFO nobody writes to": lambda: open(fifo, "rb"),  # noqa: SIM115
        "a Python loop": lambda: sum(1 for _ in iter(int, 1)),
        "a sleep": lambda: time.sleep(3600),
    }
    for what, step in stalls.items():
        with time_limit(BOUND, f"the bound on {what}"):
            if what == "a DuckDB query":
                started = time.monotonic()
                with pytest.raises(StepTimeout), time_limit(BUDGET, "the step", con):
                    step()
                took = time.monotonic() - started
            else:
                took = _stalls(step)
        assert took < BOUND, what
    assert con.execute("SELECT 42").fetchall() == [(42,)]  # the connection is still usable


def test_a_step_that_finishes_in_time_is_left_alone():
    with time_limit(5, "quick"):
        total = sum(range(1000))
    assert total == 499500
    time.sleep(0.1)  # no alarm is left over to interrupt what comes next


def test_time_limits_nest_and_the_outer_one_is_kept():
    with pytest.raises(StepTimeout) as outer, time_limit(1, "outer"), time_limit(60, "inner"):
        time.sleep(10)  # the inner limit never extends the outer one
    assert outer.value.what == "outer"
    started = time.monotonic()
    with pytest.raises(StepTimeout) as late, time_limit(2, "outer"):
        with pytest.raises(StepTimeout) as inner, time_limit(0.3, "inner"):
            time.sleep(10)
        assert inner.value.what == "inner"
        time.sleep(10)  # the outer limit, re-armed, still ends this
    assert late.value.what == "outer" and time.monotonic() - started < 5


def test_catching_the_interruption_does_not_let_a_step_run_on():
    def swallows() -> None:
        for _ in range(3):
            with contextlib.suppress(BaseException):  # what a careless step might do
                time.sleep(3600)

    with time_limit(BOUND, "the bound"):
        _stalls(swallows)


def test_time_limit_off_the_main_thread():
    outcome: dict[str, object] = {}

    def worker() -> None:
        con = duckdb.connect()
        for what, step in (
            ("duckdb", lambda: con.execute(SLOW_QUERY).fetchall()),
            ("python", lambda: sum(1 for _ in iter(int, 1))),
        ):
            started = time.monotonic()
            try:
                with time_limit(BUDGET, what, con):
                    step()
            except StepTimeout as exc:
                outcome[what] = (exc.what, time.monotonic() - started)
        time.sleep(1.5)  # nothing raised later, after the step
        outcome["after"] = "clean"

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(BOUND)
    assert not thread.is_alive()
    assert outcome["after"] == "clean"
    for what in ("duckdb", "python"):
        name, took = outcome[what]
        assert name == what and took < BOUND


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 600.0), ("", 600.0), ("2.5", 2.5), ("0", None), ("inf", None), (" 30 ", 30.0)]
)
def test_the_budget_comes_from_the_environment(monkeypatch, raw, expected):
    if raw is None:
        monkeypatch.delenv(ENV, raising=False)
    else:
        monkeypatch.setenv(ENV, raw)
    assert file_budget() == expected


@pytest.mark.parametrize("raw", ["abc", "-1", "nan", "10s"])
def test_a_bad_budget_is_a_clear_error(tmp_path: Path, monkeypatch, raw):
    monkeypatch.setenv(ENV, raw)
    with pytest.raises(BudgetError, match=ENV):
        file_budget()
    proc = _etl(tmp_path / "w.duckdb", _messages(tmp_path / "a.csv", "a", "+12015550123"), env={ENV: raw})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and f"error: {ENV}={raw!r}" in proc.stderr


# ----------------------------------------------------------------------------------------------- whole loads


def _etl(db: Path, *paths: Path, env: dict[str, str] | None = None, extra: tuple[str, ...] = ()):
    return subprocess.run(
        [sys.executable, "-m", "etl", "load", "--json", "--db", str(db), *extra, *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _stored_ids(db: Path) -> list[str]:
    con = warehouse.connect_readonly(db)
    try:
        return [r[0] for r in con.execute("SELECT message_id FROM messages ORDER BY 1").fetchall()]
    finally:
        con.close()


def test_a_stalled_file_is_abandoned_and_the_others_load(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    stalled = _messages(tmp_path / "stalled.csv", "s", "+12015550123")
    good = _messages(tmp_path / "good.csv", "g", "+12015550124")
    started = time.monotonic()
    proc = _etl(db, stalled, good, env={ENV: "2", "REPLYBOARD_STALL_AT": "after_stage"})
    took = time.monotonic() - started
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: {stalled}: stopped after 2 s without finishing (the time budget per file, {ENV}); "
        "nothing from it was loaded"
    ]
    report = json.loads(proc.stdout)
    assert [(f["rows_read"], f["rows_loaded"]) for f in report["files"]] == [(0, 0), (2, 2)]
    assert _stored_ids(db) == ["g1", "g2"]  # nothing of the stalled file, all of the good one
    assert took < 120
    # the lock went with the process: a load that refuses to wait gets it at once
    again = _etl(db, stalled, extra=("--no-wait",))
    assert again.returncode == 0, again.stderr
    assert _stored_ids(db) == ["g1", "g2", "s1", "s2"]


def _wait_for_record(lock: Path, what: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(lock.read_text() or "null")
            if isinstance(record, dict) and what in record.get("doing", ""):
                return record
        time.sleep(0.05)
    raise AssertionError(f"the lock never said {what!r}")


def test_a_waiting_load_names_the_holder_and_gets_the_lock_when_the_stall_is_cut(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    stalled = _messages(tmp_path / "stalled.csv", "s", "+12015550123")
    waiting = _messages(tmp_path / "waiting.csv", "w", "+12015550124")
    budget = 20  # long enough for two more loads to start while it holds the lock on a busy machine
    holder = subprocess.Popen(
        [sys.executable, "-m", "etl", "load", "--quiet", "--db", str(db), str(stalled)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, ENV: str(budget), "REPLYBOARD_STALL_AT": "after_stage"},
    )
    waiter = None
    try:
        record = _wait_for_record(db.with_name(db.name + ".lock"), "stalled.csv")
        assert record["pid"] == holder.pid
        waiter = subprocess.Popen(  # blocks until the holder's budget cuts its stall
            [sys.executable, "-m", "etl", "load", "--json", "--db", str(db), str(waiting)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        refused = _etl(db, waiting, extra=("--no-wait",))
        assert holder.poll() is None, "the holder ended before the other loads could see it"
        assert refused.returncode == 2
        assert re.fullmatch(
            rf"error: {re.escape(str(db))}: another load is running \(pid {holder.pid}, since \S+, "
            r"now reading \[1/1\] stalled\.csv, last progress \d+ s ago\); try again when it ends\n",
            refused.stderr,
        ), refused.stderr
        _, waited_err = waiter.communicate(timeout=300)
        _, holder_err = holder.communicate(timeout=300)
    finally:
        for proc in (holder, waiter):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert waiter.returncode == 0, waited_err
    assert re.match(
        rf"Another load is running on this warehouse \(pid {holder.pid}, since \S+, now reading \[1/1\] "
        r"stalled\.csv, last progress \d+ s ago\); waiting for it to finish\.\.\.",
        waited_err,
    ), waited_err
    assert holder.returncode == 2 and f"{stalled}: stopped after {budget} s" in holder_err
    assert _stored_ids(db) == ["w1", "w2"]


def _hold_lock(lock: Path, *, leave_child: bool = False) -> subprocess.Popen:
    """Another process that takes the lock and then makes no progress (or exits, leaving a child that
    inherited the lock's descriptor)."""
    script = (
        "import os, subprocess, sys, time\n"
        "from pathlib import Path\n"
        "from replyboard.load_lock import LoadLock\n"
        f"lock = LoadLock(Path({str(lock)!r}), wait=False).__enter__()\n"
        "lock.record('reading [1/1] big.csv')\n"
        + (
            "child = subprocess.Popen(['sleep', '300'], pass_fds=[lock.fh.fileno()])\n"
            "print(child.pid, flush=True)\nos._exit(0)\n"
            if leave_child
            else "print(os.getpid(), flush=True)\ntime.sleep(300)\n"
        )
    )
    return subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)


def test_a_holder_without_progress_is_called_stuck_with_how_to_stop_it(tmp_path: Path):
    lock = tmp_path / "w.duckdb.lock"
    holder = _hold_lock(lock)
    try:
        pid = int(holder.stdout.readline())
        time.sleep(1.2)
        with pytest.raises(LockBusy) as busy, LoadLock(lock, wait=False, stuck_after=0.5):
            pass
        text = str(busy.value)
        assert re.search(rf"pid {pid}, since \S+, now reading \[1/1\] big\.csv, last progress \d+ s ago;", text), text
        assert text.endswith(f"it may be stuck; if so, stop it with: kill {pid}); try again when it ends")
        with pytest.raises(LockBusy) as patient, LoadLock(lock, wait=False, stuck_after=600):
            pass
        assert "stuck" not in str(patient.value)
    finally:
        holder.kill()
        holder.wait()
    with LoadLock(lock, wait=False):  # the kernel released the killed holder's lock
        pass


def test_a_lock_kept_by_a_dead_holders_child_says_so(tmp_path: Path):
    lock = tmp_path / "w.duckdb.lock"
    holder = _hold_lock(lock, leave_child=True)
    child = int(holder.stdout.readline())
    holder.wait(timeout=60)
    try:
        dead = rf"pid {holder.pid} is no longer running, but a process it started"
        with pytest.raises(LockBusy, match=dead), LoadLock(lock, wait=False):
            pass
    finally:
        os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)


def test_ctrl_c_during_a_file_ends_the_load_not_just_the_file(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    stalled = _messages(tmp_path / "stalled.csv", "s", "+12015550123")
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", "load", "--quiet", "--db", str(db), str(stalled), str(stalled)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "REPLYBOARD_STALL_AT": "after_stage"},
    )
    try:
        _wait_for_record(db.with_name(db.name + ".lock"), "stalled.csv")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err.strip() == "interrupted: the warehouse was not changed", err
    assert not db.exists()


# ----------------------------------------------------------------------------------------------- any error


def test_an_unexpected_error_in_one_file_rolls_it_back_and_the_others_load(tmp_path: Path, monkeypatch):
    """The safety net under the root fixes: whatever a reader raises, that file's rows (messages, calls,
    rejects, its etl_files row) are rolled back and it becomes one error naming the file and the exception's
    type; the files before and after it load."""
    first = _messages(tmp_path / "first.csv", "f", "+12015550123")
    webhooks = FIXTURES / "openphone_webhooks_handmade.jsonl"  # messages, a call and broken lines
    last = _messages(tmp_path / "last.csv", "l", "+12015550124")
    real = etl_load._store_rejects

    def fails_for_the_webhooks(con, run_id, path, kind, rejects, *args):
        if path == webhooks:  # after its messages and its call were merged
            raise ZeroDivisionError("a bug in a reader")
        real(con, run_id, path, kind, rejects, *args)

    monkeypatch.setattr(etl_load, "_store_rejects", fails_for_the_webhooks)
    db = tmp_path / "w.duckdb"
    report = run_load(db, [first, webhooks, last], team_settings())
    assert report.errors == [
        f"{webhooks}: could not be read (ZeroDivisionError: a bug in a reader); nothing from it was loaded"
    ]
    assert [(f.rows_read, f.rows_loaded) for f in report.files] == [(2, 2), (0, 0), (2, 2)]
    con = warehouse.connect_readonly(db)
    try:
        assert con.execute("SELECT DISTINCT source FROM messages").fetchall() == [("messages",)]
        assert con.execute("SELECT count(*) FROM calls").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM rejected_rows").fetchall() == [(0,)]
        assert sorted(Path(p).name for (p,) in con.execute("SELECT path FROM etl_files").fetchall()) == [
            "first.csv",
            "last.csv",
        ]
    finally:
        con.close()
    monkeypatch.setattr(etl_load, "_store_rejects", real)
    again = run_load(db, [webhooks], team_settings())  # the same file, once the bug is gone, loads whole
    assert again.errors == [] and again.files[0].rows_loaded > 0
