"""A spare copy of the published warehouse, made in the background after a publish, for the next load to write in.

Every load writes in a private copy of the warehouse and renames it over the published file when it is done
(warehouse.writer), so readers never see a half-written version. Copying the file and flushing the copy to disk
is most of what a small load costs on a large warehouse (10M messages: 0.3 s to copy 1.2 GB, 0.3-0.8 s to flush
it). A detached process (``python -m replyboard.spare_copy WAREHOUSE``) makes that copy after each publish, while
nobody waits; the next load takes it if it is a copy of the file still published, else copies as before.

The spare is ``.<name>.spare`` beside the warehouse and its record ``.<name>.spare.json``: the published file's
stamp (inode, size, mtime) it copies and its own. A spare whose record does not match both is never used and is
removed by the next load. Only warehouses of at least SPARE_BYTES get one, and only while the disk keeps room for
one more copy besides it; ``REPLYBOARD_NO_SPARE=1`` turns it off.

Only the standard library (and two modules of ours that import no more) is imported: the copier starts in a
fresh interpreter and should start fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path

from replyboard import detached
from replyboard.load_lock import process_alive

OFF_ENV = "REPLYBOARD_NO_SPARE"
SPARE_BYTES = 64 << 20  # below this a copy costs a load a few milliseconds
_FREE_MARGIN = 1.1  # the disk must keep room for a load's own copy (and a bit) besides the spare


def disabled() -> bool:
    return os.environ.get(OFF_ENV, "") not in ("", "0")


def spare_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.spare")


def _record_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.spare.json")


def _partial_prefix(path: Path) -> str:
    return f".{path.name}.spare-"  # + the copier's pid, until it is complete


def stamp(st: os.stat_result) -> str:
    """What a file looked like (the form warehouse's publish record uses): a write changes its mtime."""
    return f"{st.st_ino} {st.st_size} {st.st_mtime_ns}"


def take(path: Path, into: Path) -> bool:
    """Move the spare to `into` if it is a complete copy of the file now published at `path`; else remove it (and
    any partial copy whose copier is gone). False: the caller copies the file itself."""
    spare, record = spare_path(path), _record_path(path)
    usable = False
    try:
        recorded = json.loads(record.read_text())
        usable = recorded == {"of": stamp(path.stat()), "spare": stamp(spare.stat())}
        if usable:
            os.replace(spare, into)
            # the file moved must be the one recorded: a late copier of an older version may have renamed its
            # copy over the spare since the check
            usable = stamp(into.stat()) == recorded["spare"]
    except (OSError, ValueError):
        usable = False
    record.unlink(missing_ok=True)
    if not usable:
        into.unlink(missing_ok=True)
        spare.unlink(missing_ok=True)
    _remove_abandoned(path)
    return usable


def _remove_abandoned(path: Path) -> None:
    prefix = _partial_prefix(path)
    for partial in path.parent.iterdir():  # names compared, never globbed
        pid = partial.name[len(prefix) :] if partial.name.startswith(prefix) else ""
        if pid.isdigit() and not process_alive(int(pid)):
            partial.unlink(missing_ok=True)


def wanted(path: Path) -> bool:
    """Whether a spare is worth its disk: a large warehouse, room for it and a load's copy, not turned off."""
    if disabled():
        return False
    try:
        size = path.stat().st_size
        free = shutil.disk_usage(path.parent).free
    except OSError:
        return False
    return size >= SPARE_BYTES and free >= (1 + _FREE_MARGIN) * size


def start(path: Path) -> None:
    """Start the copier for the file just published at `path` (a detached process; nothing if not wanted)."""
    if not wanted(path):
        return
    with contextlib.suppress(OSError):  # no spare: the next load copies the file itself
        detached.start(
            [sys.executable, "-m", "replyboard.spare_copy", str(path)], cwd=Path(__file__).resolve().parent.parent
        )


def make(path: Path) -> bool:
    """Copy the published file to its spare, flushed to disk, and record what it copies. False when the file
    changed while it was copied (a newer publish: that one's copier makes the spare) or the copy failed."""
    partial = path.with_name(f"{_partial_prefix(path)}{os.getpid()}")
    try:
        before = stamp(path.stat())
        shutil.copyfile(path, partial)
        with partial.open("rb+") as fh:
            os.fsync(fh.fileno())
        copied = stamp(path.stat())
        if before != copied:  # replaced, or written in place, while it was copied
            return False
        os.replace(partial, spare_path(path))
        record = _record_path(path)
        record_partial = partial.with_name(partial.name + ".json")
        record_partial.write_text(json.dumps({"of": copied, "spare": stamp(spare_path(path).stat())}))
        os.replace(record_partial, record)
        return True
    except OSError:
        return False
    finally:
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".json").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(0 if make(Path(sys.argv[1])) else 1)
