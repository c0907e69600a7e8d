"""Read-layer results computed once per published warehouse version, for the dashboard's first render.

A first render at 10M messages runs each page's default queries on a cold warehouse (seconds per page). When a
load publishes, a warmer process (``python -m pages.warm``) renders every page once headless and stores each
read-layer result it computed here; a dashboard session then finds its default view ready. The store lives
next to the warehouse, one folder per data version (``warehouse.data_version``: inode, mtime, size of the
published file), so a result of an older load can never be served for a newer one: its folder has another
name, and is removed when a newer version is warmed.

No Streamlit here: pages/common.py reads and (in the warmer only) writes through these functions.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from replyboard import detached, warehouse

WRITE_ENV = "REPLYBOARD_WARM_WRITE"  # set in the warmer process: results it computes are stored
OFF_ENV = "REPLYBOARD_NO_WARM"  # set (to anything but "" or "0"): no warmer is started after a load
MISS = object()
hits = 0  # results served from the store in this process (tests and the benchmark read it)
misses = 0  # results asked for and not found there


def disabled() -> bool:
    return os.environ.get(OFF_ENV, "") not in ("", "0")


def writing() -> bool:
    return os.environ.get(WRITE_ENV, "") not in ("", "0")


def folder(db: str | Path) -> Path:
    """The store of warehouse `db`: a hidden folder beside the file itself (through symlinks, like its lock)."""
    path = warehouse.real_path(Path(db))
    return path.parent / f".{path.name}.warm"


def _private(path: Path) -> Path:
    """Make folder `path` (and the store above it) readable by the owner only: results hold names and rows."""
    for folder_ in (path.parent, path) if path.parent.name.endswith(".warm") else (path,):
        folder_.mkdir(exist_ok=True, mode=0o700)
    return path


def _version_dir(db: str | Path, version: str) -> Path:
    return folder(db) / version


def key(name: str, args: tuple) -> str:
    """A result's file name: the function and its arguments. Every argument the dashboard caches on is a
    frozen dataclass, tuple or primitive, whose repr is the same in every process (no set orders)."""
    return hashlib.sha256(repr((name, args)).encode()).hexdigest()


def get(db: str | Path, version: str, name: str, args: tuple) -> object:
    """The stored result, or MISS."""
    global hits, misses
    try:
        with (_version_dir(db, version) / key(name, args)).open("rb") as fh:
            value = pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        misses += 1
        return MISS  # not warmed, being written, or written by another version of the code: compute it
    hits += 1
    return value


def put(db: str | Path, version: str, name: str, args: tuple, value: object) -> None:
    """Store a result atomically (a reader sees the whole file or none). Only for the published version: a
    version that was replaced meanwhile is not stored (its folder would never be read)."""
    if warehouse.data_version(db) != version:
        return
    target = _private(_version_dir(db, version))
    fd, tmp = tempfile.mkstemp(dir=target, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, target / key(name, args))
    except (pickle.PicklingError, TypeError, AttributeError):
        Path(tmp).unlink(missing_ok=True)  # a result that cannot be stored is computed by each session
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prune(db: str | Path, keep: str) -> None:
    """Remove the stores of every version but `keep` (their warehouse files are gone)."""
    base = folder(db)
    if not base.is_dir():
        return
    for entry in base.iterdir():
        if entry.is_dir() and entry.name != keep:
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def warming(db: str | Path) -> Iterator[bool]:
    """One warmer per warehouse: yields True to the process that holds the store's lock, False to another
    (the holder looks again for a newer version when it is done, so the newest one is always warmed)."""
    base = _private(folder(db))
    with (base / "lock").open("a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def start_warmer(db: str | Path) -> None:
    """Start warming the published warehouse in the background (a detached process; its output in the
    store's log). Nothing when warming is off or the store cannot be made (a read-only folder)."""
    if disabled():
        return
    try:
        log = (_private(folder(db)) / "warm.log").open("ab")
    except (OSError, warehouse.WarehouseError):
        return
    root = Path(__file__).resolve().parent.parent
    with log:
        # the warmer renders pages with Streamlit, which etl and replyboard never import
        detached.start(
            [sys.executable, "-m", "pages.warm", "--db", str(warehouse.real_path(Path(db)))], cwd=root, log=log
        )
