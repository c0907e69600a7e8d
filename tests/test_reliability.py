"""Reliability of the warehouse under crashes, full disks, read-only folders, damaged files, two loads at
once and readers during a load (issue 8, "Under load" and "Faults").

Every load that the contract is about runs as a real process (``python -m etl load``) so it can be killed,
starved of disk or run as another user; the figures go to tests/artifacts/reliability.txt.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import resource
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest

from etl.load import LoadReport, run_load
from replyboard import spare_copy, warehouse
from replyboard.faults import POINTS
from replyboard.settings import Settings, load_settings
from tests.helpers import ROOT

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FIGURES: dict[str, tuple[str, str]] = {}
DAMAGED: list[str] = []
DAMAGED_READS: list[int] = []
DASHBOARD_DAMAGE: list[int] = []
FINGERPRINT_TABLES = (
    "messages",
    "conversations",
    "inquiry_blocks",
    "survey_responses",
    "agents",
    "lines",
    "rejected_rows",
    "meta",
)
SETTINGS_YAML = """\
timezone: America/New_York
business_hours:
  monday: ["09:00-17:00"]
  tuesday: ["09:00-17:00"]
  wednesday: ["09:00-17:00"]
  thursday: ["09:00-17:00"]
  friday: ["09:00-17:00"]
"""
TIMEOUT = 300


# ----------------------------------------------------------------------------------------------- helpers


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(db: Path) -> dict[str, tuple[int, int]]:
    """Counts and order-independent content hashes of every canonical table (run ids left out)."""
    con = warehouse.connect_readonly(db)
    try:
        out = {}
        for table in FINGERPRINT_TABLES:
            cols = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall() if c[0] != "run_id"]
            select = ", ".join(f'"{c}"' for c in cols)
            count, total = con.execute(
                f"SELECT count(*), coalesce(sum(hash(x)), 0) FROM (SELECT {select} FROM {table}) x"
            ).fetchall()[0]
            out[table] = (int(count), int(total))
        out["etl_runs"] = (con.execute("SELECT count(*) FROM etl_runs").fetchall()[0][0], 0)
        return out
    finally:
        con.close()


def counts(db: Path) -> tuple[int, int, int]:
    con = warehouse.connect_readonly(db)
    try:
        return con.execute(COUNTS_SQL).fetchall()[0]
    finally:
        con.close()


COUNTS_SQL = (
    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM conversations), "
    "(SELECT count(*) FROM inquiry_blocks)"
)


def totals(report: LoadReport | dict) -> dict[str, int]:
    keys = ("rows_read", "rows_loaded", "rows_updated", "rows_rejected", "rows_duplicate")
    if isinstance(report, dict):
        return {k: report[k] for k in keys}
    return {k: report.total(k) for k in keys}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name or p.name.endswith(".wal"))


def etl_cmd(db: Path, *paths: Path, settings: Path, extra: tuple[str, ...] = ()) -> list[str]:
    return [
        sys.executable,
        "-m",
        "etl",
        "load",
        "--quiet",
        "--json",
        "--db",
        str(db),
        "--settings",
        str(settings),
        *extra,
        *map(str, paths),
    ]


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT, **kw)


def assert_clear_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, the last stderr line one 'error: ...' line containing every needle."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "Traceback" not in err, err[-2000:]
    last = err.splitlines()[-1]
    assert last.startswith("error: "), err
    for needle in needles:
        assert needle in last, (needle, last)
    return last


def _synthetic_messages(out: Path, n: int, seed: int) -> None:
    """A plain generator for when sample_data is not available: threads of inquiries, replies, automation."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["+16465550100", "+16465550101", "+16465550102"]
    rows = [
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,"
        "conversation_id,status"
    ]
    t = 1_785_000_000 + seed * 1000
    i = 0
    while i < n:
        line, contact = rng.choice(lines), f"+1201555{rng.randrange(10_000):04d}"
        for _ in range(rng.randint(1, 6)):
            if i >= n:
                break
            t += rng.randint(20, 4000)
            inbound = rng.random() < 0.55
            agent = "" if inbound or rng.random() < 0.2 else f"ag_{rng.randint(1, 12):02d}"
            when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            body = rng.choice(["where is my ride?", "Thanks!", "On it, checking now", "STOP", "8", "ok \U0001f44d"])
            rows.append(
                f"m{seed}_{i:07d},{when},{'inbound' if inbound else 'outbound'},{line},{contact},{agent},"
                f"{'true' if not inbound and not agent else 'false'},{body},sms,,"
                f"{'received' if inbound else 'delivered'}"
            )
            i += 1
    (out / "messages.csv").write_text("\n".join(rows) + "\n")


def _own_ids(out: Path, seed: int) -> None:
    """Prefix a generated set's ids with its seed: every set numbers them from 1, and a second set's ids
    would collide with the first's (rejected, not loaded: see test_hostile_input's collision tests)."""
    for name, column in (("messages.csv", "message_id"), ("surveys.csv", "response_id")):
        path = out / name
        if path.exists():
            frame = pl.read_csv(path, infer_schema=False)
            frame.with_columns((pl.lit(f"s{seed}-") + pl.col(column)).alias(column)).write_csv(path)


def generate_sets(specs: list[tuple[Path, int, int]]) -> str:
    """Write message sets (out, messages, seed) with sample_data.generate, in parallel; own loop as fallback."""

    def one(spec: tuple[Path, int, int]) -> bool:
        out, n, seed = spec
        proc = run(
            [sys.executable, "-m", "sample_data.generate", "--messages", str(n), "--seed", str(seed), "--out", str(out)]
        )
        if proc.returncode == 0 and (out / "messages.csv").exists():
            _own_ids(out, seed)
            return True
        _synthetic_messages(out, n, seed)
        return False

    with ThreadPoolExecutor(max_workers=3) as pool:
        used = list(pool.map(one, specs))
    return "sample_data.generate" if all(used) else "a synthetic loop (sample_data.generate unavailable)"


@dataclass
class Corpus:
    root: Path
    settings_file: Path
    settings: Settings
    old: Path  # folder loaded into the base warehouse
    new: Path  # folder a test load adds
    other: Path  # a second new folder (the concurrent-load test)
    base: Path  # warehouse holding `old`
    before: dict
    after: dict  # fingerprint of base + new, loaded cleanly
    clean_totals: dict[str, int]
    generator: str

    def copy_base(self, folder: Path, name: str = "w.duckdb") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / name
        shutil.copyfile(self.base, db)
        return db


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("reliability")
    settings_file = root / "settings.yaml"
    settings_file.write_text(SETTINGS_YAML)
    settings = load_settings(settings_file)
    old, new, other = root / "old", root / "new", root / "other"
    generator = generate_sets([(old, 2000, 11), (new, 1000, 12), (other, 1000, 13)])
    base = root / "base" / "w.duckdb"
    run_load(base, sorted(old.glob("*.csv")), settings)
    clean = root / "clean" / "w.duckdb"
    clean.parent.mkdir()
    shutil.copyfile(base, clean)
    report = run_load(clean, sorted(new.glob("*.csv")), settings)
    before, after = fingerprint(base), fingerprint(clean)
    assert before != after and after["messages"][0] > 0
    return Corpus(root, settings_file, settings, old, new, other, base, before, after, totals(report), generator)


def figure(key: str, short: str, detail: str = "") -> None:
    """Record a figure: `short` goes on the summary line (the one the terminal summary prints)."""
    FIGURES[key] = (short, detail)


@pytest.fixture(scope="module", autouse=True)
def figures_file():
    yield
    lines = ["reliability: " + "; ".join(short for short, _ in FIGURES.values())]
    lines += [f"- {short}{f': {detail}' if detail else ''}" for short, detail in FIGURES.values()]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "reliability.txt").write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------- kills


def test_sigkill_at_every_point_leaves_old_or_new_and_a_rerun_finishes_clean(corpus: Corpus):
    assert len(POINTS) >= 10 and len(set(POINTS)) == len(POINTS)
    work = corpus.root / "kills"
    new_files = sorted(corpus.new.glob("*.csv"))

    def kill_at(point: str) -> tuple[str, Path, subprocess.CompletedProcess]:
        db = corpus.copy_base(work / point)
        env = {**os.environ, "REPLYBOARD_KILL_AT": point}
        return point, db, run(etl_cmd(db, *new_files, settings=corpus.settings_file), env=env)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(kill_at, POINTS))

    survived, problems, outcomes = 0, [], {}
    for point, db, proc in results:
        try:
            assert proc.returncode == -signal.SIGKILL, f"not killed (rc {proc.returncode}): {proc.stderr[-500:]}"
            seen = fingerprint(db)  # a reader can open what the killed load left
            assert seen in (corpus.before, corpus.after), "partial warehouse"
            outcomes[point] = "old" if seen == corpus.before else "new"
            # A killed load that had spilled to disk also leaves DuckDB's spill folder next to its copy.
            spill = db.with_name(f"{db.name}.tmp-999999.tmp")
            spill.mkdir()
            (spill / "duckdb_temp_storage-0.tmp").write_bytes(b"\0" * 4096)
            report = run_load(db, new_files, corpus.settings)
            assert totals(report) == corpus.clean_totals
            assert fingerprint(db) == corpus.after
            assert leftovers(db.parent) == []
            survived += 1
        except AssertionError as exc:
            problems.append(f"{point}: {exc}")
    figure(
        "kills",
        f"kill points survived: {survived}/{len(POINTS)}",
        f"data from {corpus.generator}; state after the kill: " + ", ".join(f"{p}={o}" for p, o in outcomes.items()),
    )
    assert problems == []


# ----------------------------------------------------------------------------------------------- full disk


def _rlimit(limit: int):
    def pre() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return pre


@contextlib.contextmanager
def tmpfs(folder: Path, size: int):
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_full_disk_is_a_clear_error_and_the_warehouse_is_untouched(corpus: Corpus):
    size = corpus.base.stat().st_size
    new_files = sorted(corpus.new.glob("*.csv"))
    tried = []

    def check(label: str, db: Path, proc: subprocess.CompletedProcess, digest: str) -> None:
        assert_clear_error(proc, "disk full", "unchanged")
        assert sha(db) == digest, label
        assert leftovers(db.parent) == [], label
        tried.append(label)

    # Writes fail with EFBIG past a per-process file size limit: while copying, and later inside DuckDB.
    for label, limit in (("rlimit: copy fails", 64 * 1024), ("rlimit: DuckDB write fails", size + 64 * 1024)):
        db = corpus.copy_base(corpus.root / "fsize" / label.split(": ")[1].replace(" ", "_"))
        digest = sha(db)
        proc = run(etl_cmd(db, *new_files, settings=corpus.settings_file), preexec_fn=_rlimit(limit))
        check(label, db, proc, digest)

    # A real ENOSPC on a small tmpfs, where mounting one is allowed.
    skipped = ""
    for label, room in (("tmpfs: copy fails", size + 64 * 1024), ("tmpfs: DuckDB write fails", 2 * size + 256 * 1024)):
        with tmpfs(corpus.root / "tmpfs" / str(room), room) as mnt:
            if mnt is None:
                skipped = " (tmpfs not mountable here: EFBIG only)"
                break
            db = mnt / "w.duckdb"
            shutil.copyfile(corpus.base, db)
            digest = sha(db)
            check(label, db, run(etl_cmd(db, *new_files, settings=corpus.settings_file)), digest)
    figure("full disk", f"full disk: {len(tried)} cases refused, warehouse intact", "; ".join(tried) + skipped)


def test_out_of_memory_is_a_clear_error_and_the_warehouse_is_untouched(corpus: Corpus):
    """A warehouse whose key indexes outgrow REPLYBOARD_MEMORY_LIMIT (30M messages at the 2GB default): one error
    line naming the setting, exit 2, nothing published; the same load with the default then succeeds."""
    db = corpus.copy_base(corpus.root / "memory")
    digest = sha(db)
    new_files = sorted(corpus.new.glob("*.csv"))
    env = {**os.environ, "REPLYBOARD_MEMORY_LIMIT": "8MB"}
    proc = run(etl_cmd(db, *new_files, settings=corpus.settings_file), env=env)
    assert_clear_error(proc, "out of memory", "REPLYBOARD_MEMORY_LIMIT=8MB", "unchanged")
    assert sha(db) == digest and leftovers(db.parent) == []
    assert run(etl_cmd(db, *new_files, settings=corpus.settings_file)).returncode == 0  # the control


# ----------------------------------------------------------------------------------------------- read-only folder


def _unprivileged_python(scratch: Path) -> tuple[list[str], dict] | None:
    """A command prefix and kwargs that run Python as uid/gid 65534 able to import the project, or None."""
    purelib = sysconfig.get_paths()["purelib"]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch),
        "LANG": "C.UTF-8",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{purelib}",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        sys.executable,
        os.path.realpath(sys.executable),
        shutil.which(f"python{version}"),
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ]
    for python in dict.fromkeys(c for c in candidates if c and os.path.exists(c)):
        try:
            probe = subprocess.run(
                [
                    python,
                    "-c",
                    "import sys, duckdb, polars, pydantic, yaml, etl.load; "
                    f"sys.exit(sys.version_info[:2] != {tuple(sys.version_info[:2])})",
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                user=65534,
                group=65534,
                extra_groups=[],
                timeout=120,
            )
        except OSError:  # not executable by that user
            continue
        if probe.returncode == 0:
            return [python], {"env": env, "user": 65534, "group": 65534, "extra_groups": []}
    return None


def test_read_only_target_folder_is_a_clear_error_and_the_warehouse_is_untouched(corpus: Corpus):
    # As root, permission bits do not stop the load: run it as nobody (uid 65534) in a folder it may read.
    scratch = Path(tempfile.mkdtemp(prefix="rb-readonly-"))
    try:
        scratch.chmod(0o755)
        data = scratch / "messages.csv"
        shutil.copyfile(corpus.new / "messages.csv", data)
        settings_file = scratch / "settings.yaml"
        shutil.copyfile(corpus.settings_file, settings_file)
        readonly = scratch / "readonly"
        db = corpus.copy_base(readonly)
        for p in (data, settings_file, db):
            p.chmod(0o644)
        readonly.chmod(0o555)
        if os.geteuid() == 0:
            found = _unprivileged_python(scratch)
            if found is None:
                pytest.skip(
                    "running as root and no Python interpreter of this version is executable by uid 65534 "
                    "(the venv's interpreter lives under a private home): cannot drop privileges"
                )
            prefix, kw = found
            how = "as uid 65534"
        else:
            prefix, kw, how = [sys.executable], {}, "as the current user"
        digest = sha(db)
        cmd = [*prefix, "-m", "etl", "load", "--quiet", "--db", str(db), "--settings", str(settings_file), str(data)]
        proc = run(cmd, **kw)
        assert_clear_error(proc, "not writable", "not changed")
        assert sha(db) == digest
        assert sorted(p.name for p in readonly.iterdir()) == ["w.duckdb"]

        # A writable folder whose lock file belongs to someone else (a load run earlier by another user).
        shared = scratch / "shared"
        db2 = corpus.copy_base(shared)
        (shared / "w.duckdb.lock").touch()
        for p in (db2, shared / "w.duckdb.lock"):
            p.chmod(0o644)
        shared.chmod(0o777 | stat.S_ISVTX)
        digest2 = sha(db2)
        proc = run(
            [*prefix, "-m", "etl", "load", "--quiet", "--db", str(db2), "--settings", str(settings_file), str(data)],
            **kw,
        )
        if os.geteuid() == 0:  # the lock file is root's: nobody cannot open it for writing
            assert_clear_error(proc, "lock", "not changed")
            assert sha(db2) == digest2
        figure("read-only", "read-only folder: refused, warehouse intact", f"load run {how}")
    finally:
        for folder in (scratch / "readonly", scratch / "shared"):
            with contextlib.suppress(FileNotFoundError):
                folder.chmod(0o755)
        shutil.rmtree(scratch, ignore_errors=True)


# ----------------------------------------------------------------------------------------------- damaged files


def _used_block_offset(db: Path) -> int:
    """The byte offset of a data block of messages.body near the middle of the file."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        blocks = sorted(
            {
                b
                for (b,) in con.execute(
                    "SELECT block_id FROM pragma_storage_info('messages') WHERE column_name = 'body' "
                    "AND segment_type = 'VARCHAR' AND block_id >= 0"
                ).fetchall()
            }
        )
        (block_size,) = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0]
    finally:
        con.close()
    assert blocks, "no persistent blocks for messages.body"
    header = 3 * 4096  # DuckDB's main header and two database headers precede block 0
    size = db.stat().st_size
    return min((header + b * block_size for b in blocks), key=lambda off: abs(off - size // 2))


def _damage(db: Path, how: str) -> None:
    rng = random.Random(how)
    garbage = bytes(rng.randrange(256) for _ in range(4096))
    if how == "garbage in a data block mid-file":
        offset = _used_block_offset(db)
        with db.open("r+b") as fh:
            fh.seek(offset + 1024)
            fh.write(garbage)
    elif how == "garbage over the database headers":
        with db.open("r+b") as fh:
            fh.seek(4096)
            fh.write(garbage * 2)
    else:  # truncated
        os.truncate(db, db.stat().st_size // 2)


@pytest.mark.parametrize(
    "how", ["garbage in a data block mid-file", "garbage over the database headers", "truncated to half"]
)
def test_damaged_warehouse_is_refused_by_load_and_readers_and_never_overwritten(corpus: Corpus, how: str):
    db = corpus.copy_base(corpus.root / "damaged" / how.replace(" ", "_"))
    _damage(db, how)
    digest = sha(db)

    # A reader either refuses to open it or fails on the damaged block with a message that says so.
    with pytest.raises((warehouse.WarehouseError, duckdb.Error)) as caught:
        con = warehouse.connect_readonly(db)
        try:
            for table in FINGERPRINT_TABLES:
                con.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").fetchall()
        finally:
            con.close()
    message = str(caught.value)
    assert any(word in message for word in ("Corrupt", "corrupt", "damaged", "read", "open")), message
    assert sha(db) == digest

    proc = run(etl_cmd(db, *sorted(corpus.new.glob("*.csv")), settings=corpus.settings_file))
    assert_clear_error(proc, "unchanged")
    assert sha(db) == digest
    assert leftovers(db.parent) == []
    DAMAGED.append(how)
    figure("damaged", f"damaged warehouses refused: {len(DAMAGED)}", "; ".join(DAMAGED))


def test_free_blocks_past_the_end_of_an_intact_file_are_not_truncation(tmp_path: Path):
    """DuckDB counts free blocks at the end of the file that the file no longer holds; only a cut into the
    blocks in use is damage (the first version of the check refused a synced warehouse for this)."""
    db = tmp_path / "free_tail.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE kept AS SELECT range AS x FROM range(1000)")
    con.execute("CHECKPOINT")
    con.execute("CREATE TABLE dropped AS SELECT range AS x, repeat('y', 50) AS s FROM range(300000)")
    con.execute("CHECKPOINT")
    con.execute("DROP TABLE dropped")
    con.execute("CHECKPOINT")
    con.close()
    con = warehouse.connect_readonly(db)
    try:
        total, free, size = con.execute(
            "SELECT total_blocks, free_blocks, block_size FROM pragma_database_size()"
        ).fetchall()[0]
        assert free > 0 and db.stat().st_size < 3 * 4096 + total * size  # the case: free blocks past the end
        assert con.execute("SELECT count(*) FROM kept").fetchall() == [(1000,)]
    finally:
        con.close()
    os.truncate(db, db.stat().st_size - size)  # a cut into a block in use
    with pytest.raises(warehouse.WarehouseError, match="damaged"):
        warehouse.connect_readonly(db).close()


READER_COMMANDS = [
    ("report", "--metric", "inbound_messages", "--metric", "first_response_time_median", "--by", "agent"),
    ("okr",),
    ("okr-check",),
    ("sql", "SELECT count(*), sum(length(body)) FROM messages"),  # reads the block the damage hits
]
DAMAGE = ["garbage in a data block mid-file", "garbage over the database headers", "truncated to half", "random bytes"]


def _damaged_copy(corpus: Corpus, how: str, folder: str) -> Path:
    db = corpus.copy_base(corpus.root / folder / how.replace(" ", "_"))
    if how == "random bytes":
        db.write_bytes(random.Random(7).randbytes(64 * 1024))
    else:
        _damage(db, how)
    return db


def _metrics_cli(*args: str) -> tuple[int, str, str]:
    from metrics.__main__ import main as metrics_main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = metrics_main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("how", DAMAGE)
def test_damaged_warehouse_is_one_clear_error_for_every_reading_command(corpus: Corpus, how: str):
    db = _damaged_copy(corpus, how, "damaged-readers")
    digest = sha(db)
    refused = 0
    for command in READER_COMMANDS:
        code, out, err = _metrics_cli(command[0], "--db", str(db), *command[1:])
        assert "Traceback" not in err, err
        if code == 0:  # only a query that never reads the damaged block may succeed
            assert how == "garbage in a data block mid-file" and command[0] != "sql", (command, out)
            continue
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {db}: "), (command, err)
        assert "not a DuckDB warehouse" in lines[0] if how == "random bytes" else "damaged" in lines[0], lines[0]
        assert ("restore it from a backup" in lines[0]) != (how == "random bytes"), lines[0]
        refused += 1
    assert sha(db) == digest
    proc = run([sys.executable, "-m", "metrics", "report", "--db", str(db), "--metric", "csat_mean"])
    assert "Traceback" not in proc.stderr and proc.returncode in (0, 2), proc.stderr  # the real process too
    DAMAGED_READS.append(refused)
    figure("damaged reads", f"damaged warehouses through report/okr/okr-check/sql: {sum(DAMAGED_READS)} clear errors")


@pytest.mark.parametrize("how", ["truncated to half", "random bytes", "garbage in a data block mid-file"])
def test_every_dashboard_page_shows_one_clear_error_for_a_damaged_warehouse(
    sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_navigation: None, how: str
):
    from streamlit.testing.v1 import AppTest

    from pages.catalog import PAGE_FILES

    db = tmp_path / "damaged.duckdb"
    shutil.copyfile(sample_warehouse, db)  # a real warehouse: the demo set
    if how == "random bytes":
        db.write_bytes(random.Random(9).randbytes(64 * 1024))
    else:
        _damage(db, how)
    monkeypatch.setenv("REPLYBOARD_DB", str(db))
    shown = 0
    for page in PAGE_FILES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at = at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        if how == "garbage in a data block mid-file" and not errors:
            continue  # this page never reads the damaged block
        assert len(errors) == 1, (page, errors)
        assert str(db) in errors[0] and "REPLYBOARD_DB" in errors[0], errors[0]
        assert ("not a DuckDB warehouse" if how == "random bytes" else "restore it from a backup") in errors[0]
        shown += 1
    if how != "garbage in a data block mid-file":
        assert shown == len(PAGE_FILES)
    DASHBOARD_DAMAGE.append(shown)
    figure(
        "damaged pages", f"dashboard pages on damaged warehouses: {sum(DASHBOARD_DAMAGE)} clear errors, 0 tracebacks"
    )


# ----------------------------------------------------------------------------------------------- names


def test_a_symlinked_db_stays_a_symlink_and_shares_its_targets_lock(corpus: Corpus):
    work = corpus.root / "symlink"
    target = corpus.copy_base(work / "real")
    (work / "links").mkdir()
    link = work / "links" / "w.duckdb"
    link.symlink_to(os.path.relpath(target, link.parent))
    new_files = sorted(corpus.new.glob("*.csv"))
    with warehouse.writer(target):  # a load through the target holds the lock: the link's load must see it
        proc = run(etl_cmd(link, *new_files, settings=corpus.settings_file, extra=("--no-wait",)))
    assert_clear_error(proc, str(link), "another load is running")
    proc = run(etl_cmd(link, *new_files, settings=corpus.settings_file))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert fingerprint(target) == corpus.after  # the target holds the load
    assert sorted(p.name for p in link.parent.iterdir()) == ["w.duckdb"]  # nothing beside the link
    assert leftovers(target.parent) == []
    con = warehouse.connect_readonly(link)  # a reader through the link reads the target
    try:
        assert con.execute(COUNTS_SQL).fetchall()[0] == counts(target)
    finally:
        con.close()
    assert sorted(p.name for p in link.parent.iterdir()) == ["w.duckdb"]  # version aliases sit by the target

    dangling = work / "links" / "new.duckdb"  # a link to a file that does not exist yet: created there
    dangling.symlink_to(work / "real" / "later" / "new.duckdb")
    proc = run(etl_cmd(dangling, *new_files, settings=corpus.settings_file))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert dangling.is_symlink() and (work / "real" / "later" / "new.duckdb").is_file()
    figure("names", "symlinked --db kept, one lock for two names; glob names touch no other warehouse")


OTHER_NAME = {"[ab].duckdb": "a.duckdb", "*.duckdb": "a.duckdb", "w?.duckdb": "wa.duckdb"}


@pytest.mark.parametrize("name", sorted(OTHER_NAME))
def test_glob_characters_in_a_warehouse_name_never_touch_another_warehouses_files(corpus: Corpus, name: str):
    folder = corpus.root / "glob" / str(sorted(OTHER_NAME).index(name))
    other = corpus.copy_base(folder, OTHER_NAME[name])
    busy = [folder / f"{other.name}.tmp-424242", folder / f"{other.name}.tmp-424242.wal"]  # a load under way
    for path in busy:
        path.write_bytes(b"in progress")
    warehouse.connect_readonly(other).close()  # leaves the other's version alias
    aliases = sorted((folder / f".{other.name}.versions").iterdir())
    assert aliases
    own_stale = folder / f"{name}.tmp-999999"  # left by a killed load of this warehouse: removed
    own_stale.write_bytes(b"stale")
    db = corpus.copy_base(folder, name)
    proc = run(etl_cmd(db, *sorted(corpus.new.glob("*.csv")), settings=corpus.settings_file))
    assert proc.returncode == 0, proc.stderr[-2000:]
    warehouse.connect_readonly(db).close()  # its own aliases: the other's stay
    assert all(p.read_bytes() == b"in progress" for p in busy)
    assert sorted((folder / f".{other.name}.versions").iterdir()) == aliases
    assert not own_stale.exists()
    assert fingerprint(db) == corpus.after and fingerprint(other) == corpus.before


# ----------------------------------------------------------------------------------------------- two loads


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_two_loads_at_once_serialise_and_no_wait_refuses(corpus: Corpus):
    work = corpus.root / "two"
    db = corpus.copy_base(work)
    files = {"new": sorted(corpus.new.glob("*.csv")), "other": sorted(corpus.other.glob("*.csv"))}
    expected = {}
    for first, second in (("new", "other"), ("other", "new")):
        seq = corpus.copy_base(work / f"seq-{first}", "seq.duckdb")
        run_load(seq, files[first], corpus.settings)
        run_load(seq, files[second], corpus.settings)
        expected[first] = fingerprint(seq)
    assert expected["new"]["messages"][0] == expected["other"]["messages"][0]

    procs: dict[str, subprocess.Popen] = {}
    logs = {name: work / f"{name}.err" for name in files}
    errs = {name: logs[name].open("w") for name in files}  # the children's stderr, closed once they are done
    stopped = None
    try:
        for name, paths in files.items():  # both started at once
            procs[name] = subprocess.Popen(
                etl_cmd(db, *paths, settings=corpus.settings_file),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=errs[name],
                text=True,
            )
        tmp_of = {name: db.with_name(f"{db.name}.tmp-{p.pid}") for name, p in procs.items()}
        _wait_for(lambda: any(t.exists() for t in tmp_of.values()), "one load to take the lock")
        holder = next(name for name, t in tmp_of.items() if t.exists())
        waiter = next(name for name in files if name != holder)
        # Freeze the holder so the other one certainly reaches the lock while it is held.
        os.kill(procs[holder].pid, signal.SIGSTOP)
        stopped = procs[holder]
        _wait_for(lambda: "waiting" in logs[waiter].read_text(), "the second load to wait for the lock")
        refused = run(etl_cmd(db, *files[waiter], settings=corpus.settings_file, extra=("--no-wait",)))
        assert_clear_error(refused, "another load is running")
        os.kill(procs[holder].pid, signal.SIGCONT)
        stopped = None
        outs = {name: p.communicate(timeout=TIMEOUT)[0] for name, p in procs.items()}
    finally:
        if stopped is not None:
            os.kill(stopped.pid, signal.SIGCONT)
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        for err in errs.values():
            err.close()
    for name, p in procs.items():
        assert p.returncode == 0, logs[name].read_text()[-2000:]
        report = json.loads(outs[name])
        assert report["rows_read"] == report["rows_loaded"] + report["rows_rejected"] + report["rows_duplicate"]
    assert "waiting" not in logs[holder].read_text()
    assert fingerprint(db) == expected[holder]
    assert leftovers(work) == []
    figure(
        "two loads",
        "two loads at once: serialised, --no-wait refused",
        "one waited for the lock; the result equals the two loads run one after the other",
    )


def test_a_replaced_large_version_is_freed_after_the_publish_not_during_it(corpus: Corpus, monkeypatch):
    # Freeing a replaced file's blocks takes ext4 0.25 s per 1.2 GB; the publish keeps a second name for it and a
    # detached process removes that. If the process never runs, the next load removes the file.
    monkeypatch.setattr(warehouse, "REMOVE_IN_BACKGROUND_BYTES", 0)  # the corpus' warehouse counts as large
    db = corpus.copy_base(corpus.root / "retired")
    handed: list[Path] = []
    monkeypatch.setattr(warehouse, "_remove_in_background", handed.append)
    old = db.stat().st_ino
    run_load(db, sorted(corpus.new.glob("*.csv")), corpus.settings)
    (retired,) = handed
    assert retired.stat().st_ino == old and db.stat().st_ino != old  # kept by its second name until removed
    assert leftovers(db.parent) == [retired.name]
    assert fingerprint(db) == corpus.after

    monkeypatch.undo()
    monkeypatch.setattr(warehouse, "REMOVE_IN_BACKGROUND_BYTES", 0)
    report = run_load(db, sorted(corpus.new.glob("*.csv")), corpus.settings)  # removes the one left, hands its own off
    assert not report.errors and report.total("rows_loaded") == 0
    for _ in range(100):
        if not leftovers(db.parent):
            break
        time.sleep(0.1)
    assert leftovers(db.parent) == []


def _data(fp: dict) -> dict:
    return {table: value for table, value in fp.items() if table != "etl_runs"}


def _wait_for_spare(db: Path) -> Path:
    spare, record = spare_copy.spare_path(db), db.with_name(f".{db.name}.spare.json")
    for _ in range(300):  # the copier is a detached process
        if record.exists():
            return spare
        time.sleep(0.1)
    raise AssertionError("no spare copy after 30 s")


def test_the_next_load_writes_in_the_spare_copy_made_after_a_publish(corpus: Corpus, monkeypatch):
    # Copying the published file and flushing the copy is most of a small load on a large warehouse; a
    # background copier makes that copy after each publish, and the next load takes it.
    monkeypatch.setattr(spare_copy, "SPARE_BYTES", 0)  # the corpus' warehouse counts as large
    monkeypatch.delenv(spare_copy.OFF_ENV, raising=False)
    db = corpus.copy_base(corpus.root / "spare")
    run_load(db, sorted(corpus.old.glob("*.csv")), corpus.settings)  # a publish: its copier starts
    spare = _wait_for_spare(db)
    assert spare.read_bytes() == db.read_bytes()
    made = spare.stat().st_ino
    run_load(db, sorted(corpus.new.glob("*.csv")), corpus.settings)
    assert db.stat().st_ino == made, "the load wrote in the spare, not in a copy of its own"
    assert _data(fingerprint(db)) == _data(corpus.after)  # one load more in etl_runs, the same data

    # a spare of an older version is never used: it is removed and the load copies the file
    spare = _wait_for_spare(db)  # of the version just published
    record = db.with_name(f".{db.name}.spare.json")
    aside = corpus.root / "spare-aside"
    aside.mkdir()
    os.replace(spare, aside / spare.name)
    os.replace(record, aside / record.name)
    monkeypatch.setenv(spare_copy.OFF_ENV, "1")
    run_load(db, sorted(corpus.other.glob("*.csv")), corpus.settings)  # a newer version, no spare for it
    os.replace(aside / spare.name, spare)
    os.replace(aside / record.name, record)
    before = fingerprint(db)
    run_load(db, sorted(corpus.new.glob("*.csv")), corpus.settings)  # nothing new: the data stay as they are
    # (an inode number proves nothing here: the refused spare's is free again for the load's own copy)
    assert _data(fingerprint(db)) == _data(before), "the load wrote in the older version's spare"
    assert not spare.exists() and not record.exists() and leftovers(db.parent) == []


def test_a_spare_swapped_after_its_check_is_not_taken(tmp_path: Path, monkeypatch):
    # A late copier of an older version may rename its copy over the spare between take's check and its move:
    # the file moved must be the one the record names.
    path = tmp_path / "w.duckdb"
    path.write_bytes(b"published version")
    assert spare_copy.make(path)
    older = tmp_path / "older"
    older.write_bytes(b"an older version")
    real_replace = os.replace
    calls: list[object] = []

    def late_copier_first(src, dst):
        if not calls:
            real_replace(older, spare_copy.spare_path(path))
        calls.append(src)
        real_replace(src, dst)

    monkeypatch.setattr(spare_copy.os, "replace", late_copier_first)
    into = tmp_path / "w.duckdb.tmp-1"
    assert not spare_copy.take(path, into)
    assert not into.exists() and not spare_copy.spare_path(path).exists()
    monkeypatch.undo()
    assert spare_copy.make(path) and spare_copy.take(path, into) and into.read_bytes() == b"published version"
    # a spare is refused when the file it copies was written since, and when the spare was
    assert spare_copy.make(path)
    path.write_bytes(b"published version, written in place")
    assert not spare_copy.take(path, into)
    assert spare_copy.make(path)
    spare_copy.spare_path(path).write_bytes(b"tampered")
    assert not spare_copy.take(path, into)


# ----------------------------------------------------------------------------------------------- readers


def test_readers_opening_connections_while_versions_are_published_never_fail(corpus: Corpus):
    # Each new version gets its own hard-link alias and the old ones are removed: a reader that linked the
    # old version just before another reader removed it must retry, not fail ("database does not exist").
    db = corpus.copy_base(corpus.root / "race")
    sources = [sorted(corpus.new.glob("*.csv")), sorted(corpus.other.glob("*.csv"))]
    done = threading.Event()
    errors: list[str] = []
    opened = [0] * 8

    def reader(n: int) -> None:
        while not done.is_set():
            try:
                con = warehouse.connect_readonly(db)
                try:
                    con.execute("SELECT count(*) FROM messages").fetchall()
                finally:
                    con.close()
                opened[n] += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.002)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        for i in range(6):  # six versions published back to back
            run_load(db, sources[i % 2], corpus.settings)
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == [], sorted(set(errors))[:5]
    figure("publish race", f"publish race: {sum(opened)} connections opened across 6 publishes, 0 errors")


def test_eight_readers_during_a_large_load_see_old_or_new_and_never_fail(corpus: Corpus):
    big = corpus.root / "big"
    used = generate_sets([(big, 200_000, 3)])
    db = corpus.copy_base(corpus.root / "readers")
    old = counts(db)
    done = threading.Event()
    seen: list[tuple[int, int, int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def reader(n: int) -> None:
        queries = 0
        con = None
        try:
            while not done.is_set() or queries < 3:
                if con is None or queries % 4 == n % 4:  # mostly a fresh connection, sometimes a held one
                    if con is not None:
                        con.close()
                    con = warehouse.connect_readonly(db)
                row = con.execute(COUNTS_SQL).fetchall()[0]
                with lock:
                    seen.append(row)
                queries += 1
                time.sleep(0.05)
        except Exception as exc:  # every error is a failure of the contract
            with lock:
                errors.append(f"reader {n}: {type(exc).__name__}: {exc}")
        finally:
            if con is not None:
                con.close()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    try:
        started = time.perf_counter()
        proc = run(etl_cmd(db, big / "messages.csv", settings=corpus.settings_file))
        seconds = time.perf_counter() - started
        time.sleep(0.3)  # let every reader query the published version too
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    new = counts(db)
    assert (
        new != old
        and new[0] == old[0] + json.loads(proc.stdout)["rows_loaded"] - json.loads(proc.stdout)["rows_updated"]
    )
    assert errors == []
    assert set(seen) <= {old, new}, {row for row in seen if row not in (old, new)}
    n_old, n_new = seen.count(old), seen.count(new)
    assert n_old > 0 and n_new > 0
    figure(
        "readers",
        f"readers: 8 sessions, {len(seen)} queries, {len(errors)} errors",
        f"during a {new[0] - old[0]:,}-message load of {seconds:.0f} s (data from {used}): "
        f"{n_old} queries saw the old version, {n_new} the new, none partial",
    )
