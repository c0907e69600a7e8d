"""The DuckDB warehouse file: opening it, migrating it, and publishing a new version atomically.

A DuckDB file takes one writing process or many reading ones, never both. So a load never writes
the published file: it copies it to a private temporary file next to it, loads and derives there,
checkpoints, and renames the copy over the original (an atomic rename on POSIX). Readers that had
the old file open keep reading it; new readers see the complete new one; a load that fails or is
killed leaves only a temporary file behind, removed by the next load. A lock file serialises loads.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import os
import shutil
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path

import duckdb
import polars as pl

from replyboard import detached, spare_copy
from replyboard.contract import codes_in
from replyboard.faults import checkpoint
from replyboard.files import NotARegularFile, open_regular
from replyboard.load_lock import LoadLock, LockBusy

DEFAULT_DB = Path("data/replyboard.duckdb")
# DuckDB storage files carry this magic at byte offset 8.
_DUCKDB_MAGIC = b"DUCK"
MEMORY_LIMIT = os.environ.get("REPLYBOARD_MEMORY_LIMIT", "2GB")
# What a stored message's content_hash covers: etl.merge compares it to tell a re-sent duplicate from a
# changed row; a migration that rewrites bodies recomputes it with the same expression.
MESSAGE_CONTENT_HASH_SQL = (
    "hash(created_at, direction, line_number, contact_number, agent_id, is_automated, body, channel, "
    "source_conversation_id, status, assigned_agent_id)"
)


class WarehouseError(Exception):
    """The warehouse cannot be used as asked; the message says why and what to do."""


def _with_codes(sql: str, params: list | dict | None) -> list | dict | None:
    """params plus the warehouse codes ($kind_human_reply, $origin_file...) the statement names."""
    codes = codes_in(sql)
    if not codes:
        return params
    if isinstance(params, list):
        raise TypeError("a statement that names codes ($kind_...) takes named parameters, not a list")
    return {**codes, **(params or {})}


def run(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> None:
    """Execute one statement, with the codes it names bound (DuckDB binds parameters one statement at a time)."""
    params = _with_codes(sql, params)
    con.execute(sql, params) if params is not None else con.execute(sql)


def one(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> tuple | None:
    """The first row of a query, or None. DuckDB 2 wants every result drained before the next statement."""
    params = _with_codes(sql, params)
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0] if rows else None


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> tuple:
    """The row of a query that always returns one (an aggregate, nextval): no row is a bug, said as such."""
    row = one(con, sql, params)
    if row is None:
        raise WarehouseError(f"expected one row, got none: {sql.strip()[:80]}")
    return row


def is_empty(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether `table` holds no row (read without counting them all)."""
    return bool(one_row(con, f"SELECT count(*) = 0 FROM (SELECT 1 FROM {table} LIMIT 1)")[0])


def drop_temp(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Drop each of these temp tables or views that exists (DROP TABLE refuses a view and the reverse)."""
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary").fetchall()}
    for name in names:
        con.execute(f"DROP {'VIEW' if name in views else 'TABLE'} IF EXISTS {name}")


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: list | dict | None = None) -> pl.DataFrame:
    """A query's result as a Polars frame (DuckDB 2: only relations from con.sql have .pl())."""
    params = _with_codes(sql, params)
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


def temp_table(con: duckdb.DuckDBPyConnection, name: str, data: pl.DataFrame) -> None:
    """Materialise a Polars frame as temp table `name` (explicit registration, no scan of caller variables)."""
    view = f"_rb_src_{name}"
    con.register(view, data.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {view}")
    finally:
        con.unregister(view)


def check_is_warehouse(path: Path) -> None:
    """Refuse a file that is not a DuckDB database, before anything can overwrite it."""
    try:
        with open_regular(path) as fh:
            head = fh.read(16)
    except NotARegularFile as exc:
        raise WarehouseError(f"{path}: {exc.strerror}; pass --db with a Replyboard warehouse file") from None
    except OSError as exc:
        raise WarehouseError(f"{path}: cannot read the warehouse ({exc.strerror})") from None
    if len(head) < 12 or head[8:12] != _DUCKDB_MAGIC:
        raise WarehouseError(
            f"{path}: not a DuckDB warehouse (refusing to touch it). Pass --db with a new or existing "
            "Replyboard warehouse file."
        )


Migration = str | Callable[[duckdb.DuckDBPyConnection], None]


def _python_step(path: Path, version: int) -> tuple[Callable[[duckdb.DuckDBPyConnection], None], bool]:
    """The `upgrade(con)` of a Python migration (a change SQL alone cannot make, e.g. Python's Luhn check) and
    its REWRITE_FILE: True when it replaces stored text that must not stay readable in the file's free blocks."""
    spec = importlib.util.spec_from_file_location(f"replyboard.migrations.m{version:03d}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.upgrade, bool(getattr(module, "REWRITE_FILE", False))


@functools.cache
def _migrations() -> list[tuple[int, str, Migration, bool]]:
    """Numbered files in replyboard/migrations: NNN_name.sql (statements) or NNN_name.py (an upgrade(con)),
    each with whether the writer rewrites the file after it (only a Python migration that says REWRITE_FILE)."""
    folder = resources.files("replyboard") / "migrations"
    found: list[tuple[int, str, Migration, bool]] = []
    for entry in folder.iterdir():
        name = entry.name
        if not name[:3].isdigit():
            continue
        if name.endswith(".sql"):
            found.append((int(name[:3]), name, entry.read_text(encoding="utf-8"), False))
        elif name.endswith(".py"):
            found.append((int(name[:3]), name, *_python_step(Path(str(entry)), int(name[:3]))))
    return sorted(found, key=lambda m: m[0])


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply each pending migration once, in its own transaction, and record it; returns the names applied."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())"
    )
    done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    applied = []
    for version, name, step, _ in _migrations():
        if version in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            if isinstance(step, str):
                con.execute(step)
            else:
                step(con)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def pending_migrations(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The migrations this version has that the warehouse has not had yet (a read-only check)."""
    try:
        done = {row[0] for row in con.execute("SELECT version FROM schema_migrations").fetchall()}
    except duckdb.CatalogException:
        done = set()
    return [name for version, name, _, _ in _migrations() if version not in done]


def rewrites_file(applied: list[str]) -> bool:
    """Whether one of these applied migrations replaced stored text the file must not keep in free blocks."""
    return any(rewrite for _, name, _, rewrite in _migrations() if name in applied)


def upgrade(path: str | Path, *, wait: bool = True) -> list[str]:
    """Apply pending migrations to a published warehouse, atomically like a load; returns what was applied."""
    path = Path(path)
    con = connect_readonly(path)
    try:
        pending = pending_migrations(con)
    finally:
        con.close()
    if pending:
        with writer(path, wait=wait):
            pass
    return pending


def _rewritten(con: duckdb.DuckDBPyConnection, tmp: Path) -> duckdb.DuckDBPyConnection:
    """Copy the database into a fresh file, replace `tmp` with it and return a connection to it.

    DuckDB reuses the blocks an UPDATE frees but never clears them, so text a migration replaced (a card
    number in clear) would stay readable in the file's bytes; a copy holds only the live data.
    """
    con.execute("CHECKPOINT")
    con.close()
    fresh = tmp.with_name(tmp.name + "-rewrite")
    fresh.unlink(missing_ok=True)
    copier = duckdb.connect()
    try:
        configure(copier)
        copier.execute(f"ATTACH {sql_string(tmp)} AS rb_old (READ_ONLY)")
        copier.execute(f"ATTACH {sql_string(fresh)} AS rb_new")
        copier.execute("COPY FROM DATABASE rb_old TO rb_new")
        copier.execute("DETACH rb_new")
        copier.execute("DETACH rb_old")
    finally:
        copier.close()
    os.replace(fresh, tmp)
    con = duckdb.connect(str(tmp))
    configure(con)
    return con


def sql_string(text: str | Path) -> str:
    """A text (or a path) as a SQL string literal, for statements that keep no bound parameters."""
    return "'" + str(text).replace("'", "''") + "'"


def configure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")


def _version_alias(path: Path) -> Path:
    """A hard link naming the current version of the file uniquely.

    DuckDB shares one database instance per file path within a process, so a reader opened after a
    load published would otherwise get the old version back while any old connection is open. A
    per-version name gives each published version its own instance; old names are removed (open
    connections keep their file until they close).
    """
    try:
        path = real_path(path)  # aliases sit next to the file itself, whatever symlink named it
    except WarehouseError:
        return path
    folder = path.parent / f".{path.name}.versions"
    for _ in range(3):
        st = path.stat()
        alias = folder / f"{st.st_ino}-{st.st_mtime_ns}.duckdb"
        try:
            folder.mkdir(exist_ok=True)
            if not alias.exists():
                os.link(path, alias)
        except FileExistsError:
            pass
        except OSError:
            return path  # read-only folder or no hard links: share the instance, still correct data at start
        try:
            current = alias.stat().st_ino == st.st_ino
        except FileNotFoundError:
            continue  # another reader removed it on seeing a newer version: look again
        if current:
            # only a reader whose version is still the published one removes the others: one that read the
            # path just before a publish would otherwise remove the newer version's alias under its readers
            if path.stat().st_ino == st.st_ino:
                for other in folder.iterdir():  # names compared, never globbed
                    if other.name.endswith(".duckdb") and other != alias:
                        _remove(other)  # often the old version's last name: its blocks are freed now
            return alias
        alias.unlink(missing_ok=True)  # the file was replaced between stat and link: try again
    return path


def real_path(path: Path) -> Path:
    """The file a --db names, through any symlinks: a load replaces the target and keeps the link, and
    two names for one file (a link and its target, relative and absolute) share one lock."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise WarehouseError(f"{path}: cannot follow this path ({exc})") from None


def connect_readonly(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse (the dashboard and the metric CLI)."""
    path = Path(path)
    if not path.exists():
        raise WarehouseError(
            f"{path}: no warehouse here yet. Load some data first: python -m etl load --db {path} FILE..."
        )
    check_is_warehouse(path)
    attempts = 10
    for attempt in range(attempts):
        alias = _version_alias(path)
        try:
            # the size of the file this connection opens (path may be republished, the alias removed, later)
            size = alias.stat().st_size
            con = duckdb.connect(str(alias), read_only=True)
            break
        except FileNotFoundError:
            if attempt < attempts - 1:
                continue  # another reader removed this alias when it saw a newer version: take that one
            raise WarehouseError(f"{path}: the warehouse kept changing while it was opened; try again") from None
        except duckdb.Error as exc:
            # another reader removed this alias when it saw a newer version (and may have linked it again since,
            # so its absence now is not the only sign): take the newest
            vanished = not alias.exists() or "does not exist" in str(exc)
            if alias != path and vanished and attempt < attempts - 1:
                time.sleep(0.001 * attempt)
                continue
            reason = storage_failure(exc)
            raise WarehouseError(
                f"{path}: {reason}" if reason else f"{path}: cannot open the warehouse: {exc}"
            ) from None
    try:
        _check_complete(con, path, size)
    except WarehouseError:
        con.close()
        raise
    configure(con)
    return con


def data_version(path: str | Path) -> str:
    """Changes whenever a load publishes a new file (the rename gives a new inode)."""
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        return "missing"
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


@contextlib.contextmanager
def _locked(lock_path: Path, wait: bool, stuck_after: float | None, shown: Path) -> Iterator[None]:
    """Take the warehouse's load lock; ``shown`` is the name the user gave, for messages."""
    try:
        with LoadLock(lock_path, wait=wait, stuck_after=stuck_after):
            yield
    except LockBusy as exc:
        raise WarehouseError(f"{shown}: {exc}") from None
    except OSError as exc:
        if exc.filename != str(lock_path):
            raise
        # e.g. a lock file left by another user's load
        raise WarehouseError(
            f"{lock_path}: cannot open the lock file ({exc.strerror}); the warehouse was not changed"
        ) from None


# A replaced version at least this large is unlinked by a detached process after the publish: freeing a file's
# blocks takes ext4 0.25 s per 1.2 GB, which no load needs to wait for. Smaller ones go at once.
REMOVE_IN_BACKGROUND_BYTES = 64 << 20


def _second_name(path: Path, name: Path) -> Path | None:
    """A second name for the published file if it is large, made before the rename replaces it, so the rename
    does not free its blocks (_remove_in_background does). None for no file, a small one, or a file system
    without hard links: the rename then frees it."""
    try:
        if path.stat().st_size < REMOVE_IN_BACKGROUND_BYTES:
            return None
        os.link(path, name)
    except OSError:
        return None
    return name


def _remove(path: Path) -> None:
    """Unlink a file, in the background if it is large (REMOVE_IN_BACKGROUND_BYTES)."""
    try:
        large = path.stat().st_size >= REMOVE_IN_BACKGROUND_BYTES
    except OSError:
        return
    if large:
        _remove_in_background(path)
    else:
        path.unlink(missing_ok=True)


def _remove_in_background(path: Path) -> None:
    """Unlink a replaced version in a detached process. Its name is one of the warehouse's temporaries, so if
    the process never runs the next load removes it."""
    try:
        detached.start(["rm", "-f", str(path)])
    except OSError:
        path.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


DAMAGED_ADVICE = (
    "restore it from a backup, or rebuild it by loading your exports into a new file "
    "(python -m etl load --db NEW.duckdb FILE...)"
)
_DAMAGE_SIGNS = ("Corrupt database file", "Data Corruption", "Could not read enough bytes")


def damaged(path: str | Path, detail: str) -> str:
    """The one message every command and the dashboard give for a damaged warehouse file."""
    return f"{path}: the warehouse file is damaged ({detail}); {DAMAGED_ADVICE}"


def storage_failure(exc: BaseException) -> str | None:
    """What went wrong with the file under a DuckDB error, or None when the error is not about storage.

    A full disk surfaces from DuckDB as an IOException or, during a checkpoint, a FatalException; a damaged
    file as a plain Error or a FatalException naming the corrupt block, a truncated one as an IOException
    reading past its end.
    """
    if not isinstance(exc, duckdb.Error):
        return None
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    if any(s in text for s in ("No space left on device", "File too large", "Disk quota exceeded")):
        return f"disk full ({first})"
    if isinstance(exc, duckdb.OutOfMemoryException) or "could not allocate block" in text:
        # the tables' key indexes must fit in memory (a 30M-message warehouse needs more than the 2GB default)
        return (
            f"out of memory: DuckDB needs more than REPLYBOARD_MEMORY_LIMIT={MEMORY_LIMIT} here ({first}); set "
            "REPLYBOARD_MEMORY_LIMIT in the environment to more (e.g. 8GB, below the machine's free memory)"
        )
    damage = damage_in(text)
    if damage:
        return damage
    if isinstance(exc, duckdb.IOException | duckdb.FatalException):
        return f"could not read or write the warehouse ({first})"
    return None


def damage_in(text: str) -> str | None:
    """The damaged-file sentence when DuckDB's error text says the file is damaged or cut short, else None
    (for errors that arrive as text, from the sandbox's child process)."""
    if not any(s in text for s in _DAMAGE_SIGNS):
        return None
    first = text.strip().splitlines()[0]
    return f"the warehouse file is damaged ({first}); {DAMAGED_ADVICE}"


_HEADER_BYTES = 3 * 4096  # DuckDB's main header and two database headers precede block 0


def _check_complete(con: duckdb.DuckDBPyConnection, path: Path, size: int) -> None:
    """Refuse a file too short to hold the blocks its header says are in use (cut short by a copy or a full
    disk). DuckDB opens such a file and fails only on the first query that reads a missing block; checking
    here gives every reader one clear message instead (a smaller cut is caught by storage_failure when read).

    Used blocks, not total_blocks: free blocks at the end may lie past the end of an intact file.
    """
    try:
        total, free, block_size = con.execute(
            "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size()"
        ).fetchall()[0]
    except duckdb.Error as exc:
        raise WarehouseError(damaged(path, str(exc).splitlines()[0])) from None
    expected = _HEADER_BYTES + (int(total) - int(free)) * int(block_size)
    if size < expected:
        raise WarehouseError(damaged(path, f"truncated: {size:,} bytes of {expected:,}"))


def _verify_readable(con: duckdb.DuckDBPyConnection) -> None:
    """Read every column of every table once, so a damaged block fails the load here.

    DuckDB checks a block's checksum only when it reads the block; without this a load that never touches
    the damaged block would succeed and publish the damage again as a new version.
    """
    tables = con.execute(
        "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database()"
    ).fetchall()
    for schema, table in tables:
        con.execute(f'SELECT count(*), sum(hash(t)) FROM "{schema}"."{table}" t').fetchall()


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".published")


def _stamp(path: Path) -> str:
    """What a published file looked like: any later write through the file system changes its mtime."""
    return spare_copy.stamp(path.stat())


def stamp_as_published(path: Path) -> None:
    """Record `path` as a load would when it publishes it: for a byte-for-byte copy of a published warehouse (the
    benchmarks' fresh copy per run), which the next load then trusts as intact instead of reading in full."""
    _stamp_path(path).write_text(_stamp(path))


def _unchanged_since_publish(path: Path) -> bool:
    try:
        return _stamp_path(path).read_text().strip() == _stamp(path)
    except OSError:
        return False


def _stale_temporaries(folder: Path, name: str) -> list[Path]:
    """This warehouse's temporary files, by exact name prefix: a glob of `[ab].duckdb.tmp-*` would match
    `a.duckdb.tmp-*`, another warehouse's load in progress."""
    prefix = name + ".tmp-"
    return [p for p in folder.iterdir() if p.name.startswith(prefix)]


@contextlib.contextmanager
def writer(
    path: str | Path, *, wait: bool = True, stuck_after: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open a private copy of the warehouse for writing; publish it atomically if the block succeeds.

    A path that is a symlink stays one: the copy, the temporary files, the lock and the rename all happen
    next to its target (a rename over the link itself would replace the link with a plain file). Loads take
    turns (replyboard.load_lock); a waiting one says which load it waits for and, past `stuck_after` seconds
    without progress, that the holder may be stuck.
    """
    given = Path(path)
    path = real_path(given)
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(f"{folder}: cannot create the warehouse folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise WarehouseError(f"{folder}: folder is not writable; the warehouse was not changed")
    if path.exists():
        check_is_warehouse(path)
    lock_path = path.with_name(path.name + ".lock")
    with _locked(lock_path, wait, stuck_after, given):
        for stale in _stale_temporaries(folder, path.name):  # left by a load that was killed
            if stale.is_dir():  # DuckDB's spill folder (<file>.tmp) of a load that spilled to disk
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        con = None
        retired: Path | None = None  # the replaced version's second name, until its removal has started
        try:
            intact = True
            if path.exists():
                # A warehouse untouched since its publish recorded it is intact; anything else (written to
                # since, or no record) is read in full first, so damage fails here rather than being republished.
                intact = _unchanged_since_publish(path)
                if not (intact and spare_copy.take(path, tmp)):
                    shutil.copyfile(path, tmp)
            checkpoint("after_copy")
            con = duckdb.connect(str(tmp))
            configure(con)
            if not intact:
                _verify_readable(con)
            if rewrites_file(migrate(con)) and path.exists():
                con = _rewritten(con, tmp)  # nothing a migration replaced survives in the published file
            yield con
            con.execute("CHECKPOINT")
            checkpoint("after_checkpoint")
            con.close()
            con = None
            checkpoint("after_close")
            with tmp.open("rb+") as fh:
                os.fsync(fh.fileno())
            stamp_tmp = _stamp_path(tmp)
            stamp_tmp.write_text(_stamp(tmp))  # the rename keeps inode, size and mtime
            checkpoint("before_rename")
            retired = _second_name(path, tmp.with_name(tmp.name + "-retired"))
            os.replace(tmp, path)
            # a crash between the two renames leaves a stale record: the next load then verifies in full
            os.replace(stamp_tmp, _stamp_path(path))
            _fsync_dir(folder)
            if retired is not None:
                _remove_in_background(retired)
                retired = None
            spare_copy.start(path)  # the next load's copy, made while nobody waits
        except OSError as exc:
            if exc.errno in DISK_FULL:
                raise WarehouseError(
                    f"{folder}: disk full ({exc.strerror}); the load was abandoned, the warehouse is unchanged"
                ) from None
            raise WarehouseError(f"{path}: could not write the warehouse ({exc}); it is unchanged") from None
        except duckdb.Error as exc:
            reason = storage_failure(exc)
            if reason is None:
                raise  # a bug in the load itself: let it show
            raise WarehouseError(f"{path}: {reason}; the load was abandoned, the warehouse is unchanged") from None
        finally:
            if con is not None:
                with contextlib.suppress(Exception):
                    con.close()
            rewrite = tmp.with_name(tmp.name + "-rewrite")
            for leftover in (
                tmp,
                tmp.with_name(tmp.name + ".wal"),
                _stamp_path(tmp),
                rewrite,
                rewrite.with_name(rewrite.name + ".wal"),
                *([retired] if retired else []),  # the publish failed: the old version is still the published one
            ):
                leftover.unlink(missing_ok=True)
