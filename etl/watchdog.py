"""Time budgets for the steps of a load, so a step that stalls is abandoned instead of holding the lock.

A step (reading, validating and merging one file; the derivation) runs inside ``time_limit(seconds, what,
con)``. When the budget runs out:
- in the main thread, one SIGALRM from the kernel interrupts Python code, a regular expression match
  (CPython's matcher checks for signals; it holds the GIL, so no thread of ours could run meanwhile), a
  blocking read, or a DuckDB query (DuckDB checks for signals too, though not always promptly);
- a watcher thread interrupts DuckDB with ``con.interrupt()`` (DuckDB runs queries without the GIL), and
  repeats every second while the block runs on: DuckDB again, a fresh SIGALRM for the main thread, and
  off the main thread (Python delivers signals only there) the timeout raised in the loading thread.
Whatever error the interruption turns into (DuckDB reports it as its own), the block leaves with StepTimeout
naming the step; a block that caught the interruption and finished anyway leaves with it too, since its
result cannot be trusted. StepTimeout is a BaseException, so ``except Exception`` inside a step does not
swallow it.

The budget per file comes from the environment (like REPLYBOARD_MEMORY_LIMIT), so an operator can change it
for a scheduled load without touching the team's settings: REPLYBOARD_FILE_TIMEOUT seconds, default 600;
0 turns the limit off.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import signal
import threading
import time
from typing import Any, Literal

from replyboard.settings import SettingsError

ENV = "REPLYBOARD_FILE_TIMEOUT"
DEFAULT_SECONDS = 600.0
_REPEAT_SECONDS = 1.0
_ALARM_FIRST = 0.05
_MAX_REPEATS = 300


class StepTimeout(BaseException):
    """A step of a load ran out of its time budget. A BaseException, like KeyboardInterrupt, so that code
    inside the step that catches Exception does not swallow it."""

    def __init__(self, what: str = "the step", seconds: float = 0.0) -> None:
        super().__init__(what, seconds)
        self.what = what
        self.seconds = seconds

    def __str__(self) -> str:
        return (
            f"{self.what}: stopped after {self.seconds:g} s without finishing (the time budget per file, "
            f"{ENV}); nothing from it was loaded"
        )


class BudgetError(SettingsError):
    """The budget in the environment is not a number of seconds."""


def file_budget() -> float | None:
    """Seconds one file may take, from REPLYBOARD_FILE_TIMEOUT; None when the limit is off."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise BudgetError(f"{ENV}={raw!r} is not a number of seconds (0 turns the limit off)") from None
    if math.isnan(seconds) or seconds < 0:
        raise BudgetError(f"{ENV}={raw!r} must be a number of seconds >= 0 (0 turns the limit off)")
    return None if seconds == 0 or math.isinf(seconds) else seconds


def time_limit(seconds: float | None, what: str, con: Any = None) -> TimeLimit:
    """``with time_limit(seconds, what, con):`` runs the block within `seconds` (None: no limit), or raises
    StepTimeout(what, seconds). `con` is the DuckDB connection the block uses, interrupted when the budget
    ends. Limits nest in the main thread: an inner limit never extends an outer one, and the outer one is
    re-armed when the inner ends."""
    return TimeLimit(StepTimeout(what, seconds or 0.0), con, enabled=seconds is not None)


class TimeLimit:
    """A context manager class, not a generator: its __exit__ must run first, even while an alarm is due."""

    def __init__(self, timeout: StepTimeout, con: Any, *, enabled: bool = True) -> None:
        self.timeout = timeout
        self.con = con
        self.enabled = enabled
        self.fired = threading.Event()
        self.done = threading.Event()
        self.target = threading.get_ident()
        self.main = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> TimeLimit:
        if self.enabled:
            self.watcher = threading.Thread(target=self._watch, name="load-watchdog", daemon=True)
            self.watcher.start()
            if self.main:
                try:
                    self._arm_alarm()
                except BaseException:  # a tiny budget may end before __enter__ does: no __exit__ then
                    self.__exit__(None, None, None)
                    raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> Literal[False]:
        if not self.enabled:
            return False
        try:
            self.done.set()  # first: from here on the alarm handler and the watcher do nothing
        finally:  # even when the alarm lands on the line above, the watcher stops and the alarm is disarmed
            self.done.set()
            if self.main:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.watcher.join()
            if self.main:
                self._disarm_alarm()
            elif self.fired.is_set():  # an exception sent as the block ended must not surface later
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target), None)
        if not self.fired.is_set() or (kind is not None and issubclass(kind, StepTimeout | GeneratorExit)):
            return False
        raise StepTimeout(self.timeout.what, self.timeout.seconds) from None

    # the watcher thread: DuckDB, and what a single alarm did not end
    def _watch(self) -> None:
        # in the main thread the kernel's alarm goes first; interrupting DuckDB at the same instant would
        # race it and end the block while the alarm is still on its way
        wait = self.timeout.seconds + (_ALARM_FIRST if self.main else 0.0)
        for _ in range(_MAX_REPEATS):  # bounded, should __exit__ ever not run (Ctrl-C at its first line)
            if self.done.wait(wait):
                return
            self.fired.set()
            if self.con is not None:
                with contextlib.suppress(Exception):
                    self.con.interrupt()
            if self.done.wait(_REPEAT_SECONDS):
                return
            if self.main:  # e.g. a block that caught the first alarm and went on waiting
                signal.pthread_kill(self.target, signal.SIGALRM)
            else:  # Python code that DuckDB's interruption did not end
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.target), ctypes.py_object(_Unnamed))
            wait = 0

    # SIGALRM in the main thread: Python code, regular expressions, blocking reads. One alarm from the
    # kernel (it arrives even while the main thread holds the GIL); repeats come from the watcher, which
    # checks that the block is still running first, so no alarm is left over to interrupt the next step.
    def _arm_alarm(self) -> None:
        now = time.monotonic()
        self.deadline = now + self.timeout.seconds
        self.outer_handler = signal.getsignal(signal.SIGALRM)
        outer_delay, _ = signal.setitimer(signal.ITIMER_REAL, 0)
        self.outer_deadline = now + outer_delay if outer_delay else None
        signal.signal(signal.SIGALRM, self._on_alarm)
        first = self.timeout.seconds if self.outer_deadline is None else min(self.timeout.seconds, outer_delay)
        signal.setitimer(signal.ITIMER_REAL, first)

    def _on_alarm(self, signum: int, frame: Any) -> None:
        if self.done.is_set():
            return
        now = time.monotonic() + 0.005  # the kernel's timer and the monotonic clock may differ by a hair
        if self.outer_deadline is not None and now >= self.outer_deadline and callable(self.outer_handler):
            self.outer_handler(signum, frame)  # the outer limit ends first: it raises its own timeout
        if now >= self.deadline:
            self.fired.set()
            # Python runs a pending handler when a function is entered: raising at the start of __exit__
            # would skip it (the watcher would run on, the alarm stay armed). The block has ended then
            # anyway, and __exit__ reports the timeout.
            if not _exiting(frame):
                raise StepTimeout(self.timeout.what, self.timeout.seconds)

    def _disarm_alarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        # An alarm already on its way may still arrive: with the default action it would kill the process,
        # so it is ignored unless an outer handler wants it.
        outer = self.outer_handler
        signal.signal(signal.SIGALRM, outer if callable(outer) or outer == signal.SIG_IGN else signal.SIG_IGN)
        if self.outer_deadline is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self.outer_deadline - time.monotonic(), 0.001))


def _exiting(frame: Any) -> bool:
    """Whether the code a signal interrupted is a TimeLimit's __exit__ (or something it called)."""
    for _ in range(20):
        if frame is None:
            return False
        if frame.f_code is TimeLimit.__exit__.__code__:
            return True
        frame = frame.f_back
    return False


class _Unnamed(BaseException):
    """What the watcher raises in a loading thread (it cannot pass arguments); TimeLimit names it."""
