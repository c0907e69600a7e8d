"""The lock that serialises loads of one warehouse, and what it says about its holder.

An flock on ``<warehouse>.lock``: the kernel releases it when the holder exits, however it dies, so a dead
load never blocks the next one. The holder also writes who it is into the file (pid, host, when it took the
lock, what it is doing and when it last made progress), so a load that has to wait can say whom it waits
for, since when, and whether that load still moves. A live holder cannot stall for long: every step of a
load runs under a time budget (etl.watchdog), and a waiting load that sees no progress for longer than that
says the holder may be stuck and how to stop it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

POLL_SECONDS = 0.2
REPORT_EVERY_SECONDS = 60.0
_held: list[LoadLock] = []  # locks this process holds, for heartbeat()


class LockBusy(Exception):
    """Another load holds the lock and the caller asked not to wait; the message names the holder."""


def heartbeat(doing: str | None = None) -> None:
    """Record progress (and, when given, what the load is doing now) in every lock this process holds."""
    for lock in _held:
        lock.record(doing)


class LoadLock:
    def __init__(self, path: Path, *, wait: bool, stuck_after: float | None = None, out: IO[str] | None = None):
        self.path = path
        self.wait = wait
        self.stuck_after = stuck_after  # seconds without progress after which a holder looks stuck
        self.out = out
        self.fh: IO[str] | None = None
        self.since = ""
        self.doing = "starting"

    def __enter__(self) -> LoadLock:
        self.fh = self.path.open("a+")  # OSError: the caller says why it cannot open the file
        try:
            self._acquire()
        except BaseException:
            self.fh.close()
            raise
        self.since = _now()
        self.record("starting")
        _held.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.fh is not None
        with contextlib.suppress(ValueError):
            _held.remove(self)
        with contextlib.suppress(OSError):
            self.fh.truncate(0)  # the file no longer names this process
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()

    def _acquire(self) -> None:
        assert self.fh is not None
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if not self.wait:
            raise LockBusy(f"another load is running ({self.holder()}); try again when it ends")
        self._say(f"Another load is running on this warehouse ({self.holder()}); waiting for it to finish...")
        last_report = time.monotonic()
        while True:
            time.sleep(POLL_SECONDS)
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() - last_report >= REPORT_EVERY_SECONDS:
                last_report = time.monotonic()
                self._say(f"Still waiting for the other load ({self.holder()})...")

    def record(self, doing: str | None = None) -> None:
        """Write this holder's record: who, since when, doing what, last progress now."""
        if self.fh is None:
            return
        self.doing = doing or self.doing
        text = json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": self.since,
                "doing": self.doing,
                "progress_at": _now(),
                "progress_epoch": time.time(),
            }
        )
        with contextlib.suppress(OSError):  # the record is a courtesy to waiting loads, never a reason to fail
            self.fh.seek(0)
            self.fh.truncate(0)
            self.fh.write(text + "\n")
            self.fh.flush()

    def holder(self) -> str:
        """The holder as a waiting load describes it: pid, host, since when, doing what, last progress."""
        info = _read_record(self.path)
        if info is None:
            return "holder not recorded yet"
        pid, host = info.get("pid"), info.get("host")
        parts = [f"pid {pid}" + (f" on {host}" if host and host != socket.gethostname() else "")]
        if info.get("since"):
            parts.append(f"since {info['since']}")
        if info.get("doing"):
            parts.append(f"now {info['doing']}")
        idle = time.time() - float(info.get("progress_epoch") or time.time())
        parts.append(f"last progress {_duration(idle)} ago")
        text = ", ".join(parts)
        if host == socket.gethostname() and isinstance(pid, int) and not process_alive(pid):
            text += f"; pid {pid} is no longer running, but a process it started still holds the lock"
        elif self.stuck_after and idle > self.stuck_after:
            text += (
                f"; no progress for longer than its time budget per step ({_duration(self.stuck_after)}): "
                f"it may be stuck; if so, stop it with: kill {pid}"
            )
        return text

    def _say(self, message: str) -> None:
        print(message, file=self.out or sys.stderr, flush=True)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        with path.open("r") as fh:
            value = json.loads(fh.read(4096) or "null")
    except (OSError, ValueError):
        return None  # being written this instant, or written by an older version
    return value if isinstance(value, dict) else None


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    seconds = max(seconds, 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
