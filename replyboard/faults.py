"""Fault injection for the reliability tests: a load kills itself, or stalls, at a named point when asked.

Set REPLYBOARD_KILL_AT=<point> in a load's environment and it ends with SIGKILL when it reaches that
point, exactly as a crash or an OOM kill would. Set REPLYBOARD_STALL_AT=<point> and the first time it
reaches that point it stops making progress (it sleeps, as a parser stuck on hostile input would spin), so
the tests can show the load's time budget abandoning the step (etl.watchdog). Unset (always, in normal use)
each costs one dict lookup.
"""

from __future__ import annotations

import os
import signal
import time

POINTS = (
    "after_copy",
    "after_stage",
    "after_validate",
    "after_merge",
    "after_derive_messages",
    "after_derive",
    "after_record",
    "after_checkpoint",
    "after_close",
    "before_rename",
)
# Points only an API sync reaches (python -m etl sync): a fetched page is on disk, the run not yet loaded.
SYNC_POINTS = ("sync_after_page",)


_stalled: set[str] = set()


def checkpoint(point: str) -> None:
    if os.environ.get("REPLYBOARD_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("REPLYBOARD_STALL_AT") == point and point not in _stalled:
        _stalled.add(point)
        while True:  # until the watchdog interrupts it
            time.sleep(3600)
