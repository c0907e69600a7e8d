"""Fault injection for the reliability tests: a load kills itself at a named point when asked.

Set REPLYBOARD_KILL_AT=<point> in a load's environment and it ends with SIGKILL when it reaches that
point, exactly as a crash or an OOM kill would. Unset (always, in normal use) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

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


def checkpoint(point: str) -> None:
    if os.environ.get("REPLYBOARD_KILL_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
