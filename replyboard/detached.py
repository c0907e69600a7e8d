"""Start a process that outlives its caller: the load's background helpers (page warmer, spare copy, removal of a
replaced version). Standard library only: the spare copier imports it at start-up."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO


def start(args: Sequence[str], *, cwd: Path | None = None, log: IO[bytes] | None = None) -> None:
    """Run `args` detached: its own session (a Ctrl-C in the caller's terminal does not reach it), no input, its
    output to `log` or nowhere. Raises OSError when it cannot start."""
    out = log if log is not None else subprocess.DEVNULL
    subprocess.Popen(list(args), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
