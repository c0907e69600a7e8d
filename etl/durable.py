"""Files that survive a crash the moment the call returns: temp file, fsync, atomic rename, fsync of the folder.

Used for fetched API pages (etl.sync) and for accepted webhook events (etl.receive), which must be on disk
before the sender is told 2xx.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> Path:
    """Write `data` to `path` atomically and durably; an existing file of that name is replaced whole."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")  # dot-prefixed: loads skip it
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path
