"""The scale curve (issue 19): one point per size, kept in benchmarks/curve.json and drawn in RESULTS.md.

`python -m benchmarks.run --points 3000000,30000000,100000000` measures those points only: sizes up to 10M
come from the sample generator; 30M and 100M are 3x and 10x repeats of the 10M set with new ids (each copy
its own message and response ids and its own contacts, the same agents, lines and days: the same calendar
ten times as busy, which is what a larger team on the same lines sends). A point records the ETL against
DuckDB's floor in the same run, the load's peak resident set and peak disk, the warehouse's size, every
registry metric warm and the pages' first render and filter change.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from replyboard import warehouse

ROOT = Path(__file__).resolve().parent.parent
CURVE = ROOT / "benchmarks" / "curve.json"
GENERATED_UP_TO = 10_000_000  # larger points repeat the 10M set
# Above this, a point is loaded as one load per copy (a backfill of several exports): one file of 100M messages
# needs more disk for DuckDB's spill than this machine has (benchmarks/NOTES.md, "100M").
ONE_FILE_UP_TO = 30_000_000


def memory_limit_for(size: int) -> str:
    """DuckDB's memory for a point: the 2GB default up to 10M messages, then 2GB per 10M up to 12GB (the key
    indexes must fit in memory: 30M failed at 2GB; the machine has 24GB)."""
    if size <= GENERATED_UP_TO:
        return warehouse.MEMORY_LIMIT
    return f"{min(12, 2 * -(-size // GENERATED_UP_TO))}GB"


@contextmanager
def memory_limit(limit: str) -> Iterator[None]:
    """REPLYBOARD_MEMORY_LIMIT for this process's connections and every child it starts."""
    before_env, before = os.environ.get("REPLYBOARD_MEMORY_LIMIT"), warehouse.MEMORY_LIMIT
    os.environ["REPLYBOARD_MEMORY_LIMIT"], warehouse.MEMORY_LIMIT = limit, limit
    try:
        yield
    finally:
        warehouse.MEMORY_LIMIT = before
        if before_env is None:
            del os.environ["REPLYBOARD_MEMORY_LIMIT"]
        else:
            os.environ["REPLYBOARD_MEMORY_LIMIT"] = before_env


@dataclass
class Point:
    size: int
    rows_loaded: int
    etl_s: float
    floor_s: float
    rss_bytes: int
    warehouse_bytes: int
    metrics_sum_s: float
    metrics_max_s: float
    slowest_metric: str
    peak_disk_bytes: int | None = None
    pages_first_max_s: float | None = None
    pages_change_max_s: float | None = None
    slowest_page: str = ""
    source: str = "generator"
    memory_limit: str = "2GB"
    reads_measured_at: str = ""  # when the metrics and pages were measured again (--reads-only), if they were
    measured_at: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    load_average: tuple[float, float, float] = field(default_factory=os.getloadavg)

    @property
    def ratio(self) -> float:
        return self.etl_s / self.floor_s


def repeat_set(base: Path, times: int, out: Path, split: bool = False) -> Path:
    """``times`` copies of the data set in ``base``, written to ``out``: copy 0 as it is, copy k with ids
    suffixed ``r<k>`` and its contacts' area codes moved to codes no other copy uses, so no two copies share a
    message, a response or a customer. Agents and lines are the same files. ``split``: each copy in its own
    messages-<k>.csv and surveys-<k>.csv (one load each, see load_batches), else all in messages.csv."""
    marker = out / ".done"
    if marker.exists():
        return out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    codes = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT substr(contact_number, 3, 3) FROM read_csv(?, all_varchar=true) ORDER BY 1",
            [str(base / "messages.csv")],
        ).fetchall()
    ]
    free = [str(c) for c in range(220, 1000) if str(c) not in codes]
    if len(free) < len(codes) * (times - 1):
        raise ValueError(f"{len(codes)} area codes x {times} copies do not fit in the free ones")
    # copy k maps the i-th area code of the set to free[(k - 1) * len(codes) + i]
    con.execute("CREATE TABLE area (k INT, code VARCHAR, moved VARCHAR)")
    con.executemany(
        "INSERT INTO area VALUES (?, ?, ?)",
        [(k, c, c if k == 0 else free[(k - 1) * len(codes) + i]) for k in range(times) for i, c in enumerate(codes)],
    )

    def number(col: str) -> str:  # a number outside +1 (none in the generated set) is kept as it is
        return f"CASE WHEN a.moved IS NOT NULL THEN '+1' || a.moved || substr({col}, 6) ELSE {col} END"

    def copy(name: str, id_col: str, cols: list[str], contact: str, k: int | None) -> None:
        select = ", ".join(
            f"CASE WHEN k.k = 0 THEN {c} ELSE {c} || 'r' || k.k END AS {c}"
            if c == id_col
            else f"{number('t.' + c)} AS {c}"
            if c == contact
            else f"t.{c}"
            for c in cols
        )
        target = out / (name if k is None else name.replace(".csv", f"-{k}.csv"))
        copies = "range(?) k(k)" if k is None else "(SELECT ?::BIGINT AS k) k"
        con.execute(
            f"COPY (SELECT {select} FROM read_csv(?, all_varchar=true) t CROSS JOIN {copies} "
            f"LEFT JOIN area a ON a.k = k.k AND t.{contact} LIKE '+1%' AND a.code = substr(t.{contact}, 3, 3)) "
            f"TO '{target}' (HEADER)",
            [str(base / name), times if k is None else k],
        )

    for name, id_col, contact in (
        ("messages.csv", "message_id", "contact_number"),
        ("surveys.csv", "response_id", "contact_number"),
    ):
        cols = [
            r[0]
            for r in con.execute("DESCRIBE SELECT * FROM read_csv(?, all_varchar=true)", [str(base / name)]).fetchall()
        ]
        for k in range(times) if split else [None]:
            copy(name, id_col, cols, contact, k)
    con.close()
    for name in ("agents.csv", "lines.csv"):
        shutil.copyfile(base / name, out / name)
    marker.touch()
    return out


def load_batches(folder: Path) -> list[list[Path]]:
    """The loads of a data set, in order: one (messages, surveys, agents, lines), or one per copy of a split
    repeat (the first with agents and lines)."""
    reference = [folder / "agents.csv", folder / "lines.csv"]
    if (folder / "messages.csv").exists():
        return [[folder / "messages.csv", folder / "surveys.csv", *reference]]
    parts = sorted(folder.glob("messages-*.csv"), key=lambda p: int(p.stem.split("-")[1]))
    return [
        [part, folder / part.name.replace("messages", "surveys"), *(reference if i == 0 else [])]
        for i, part in enumerate(parts)
    ]


@contextmanager
def peak_disk(path: Path, every: float = 0.25):
    """Yields a callable giving the most disk taken on ``path``'s file system since entry (bytes)."""
    start = shutil.disk_usage(path).free
    lowest = [start]
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every):
            lowest[0] = min(lowest[0], shutil.disk_usage(path).free)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield lambda: start - lowest[0]
    finally:
        stop.set()
        thread.join()


def load_curve() -> dict[int, Point]:
    if not CURVE.exists():
        return {}
    rows = json.loads(CURVE.read_text())
    return {p["size"]: Point(**{**p, "load_average": tuple(p["load_average"])}) for p in rows}


def save_point(point: Point) -> None:
    """Keeps the newest measurement of each size."""
    curve = load_curve()
    curve[point.size] = point
    CURVE.write_text(json.dumps([asdict(p) for _, p in sorted(curve.items())], indent=1) + "\n")


def _growth(points: list[Point], value: Callable[[Point], float]) -> str:
    """Cost growth between the smallest and largest point: the exponent b of value ~ size^b."""
    import math

    lo, hi = points[0], points[-1]
    if hi.size == lo.size or value(lo) <= 0 or value(hi) <= 0:
        return "–"
    return f"{math.log(value(hi) / value(lo)) / math.log(hi.size / lo.size):.2f}"


def curve_markdown() -> list[str]:
    points = [p for _, p in sorted(load_curve().items())]
    if not points:
        return []
    lines = [
        "## Scale curve",
        "",
        "One point per size (benchmarks/curve.json; `python -m benchmarks.run --points N,...` re-measures a point).",
        "Above 10M the data is a repeat of the 10M set with new ids (benchmarks/scale.py). Metrics: every registry",
        "metric over the whole data set, warm, one figure each (the median of 3 up to 10M); pages: the slowest",
        "first render (warmed, new process) and filter change.",
        "",
        "| messages | data, loads | memory limit | ETL | floor | ETL / floor | peak RSS | peak disk | warehouse "
        "| metrics: sum / slowest | pages: first / change | measured (load avg) |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for p in points:
        disk = "–" if p.peak_disk_bytes is None else f"{p.peak_disk_bytes / 1e9:.1f} GB"
        pages = (
            "–"
            if p.pages_first_max_s is None
            else f"{p.pages_first_max_s:.2f} s / {p.pages_change_max_s:.2f} s ({p.slowest_page})"
        )
        lines.append(
            f"| {p.size:,} | {p.source} | {p.memory_limit} | {p.etl_s:.1f} s | {p.floor_s:.1f} s | {p.ratio:.2f}x | {p.rss_bytes / 1e9:.2f} GB "
            f"| {disk} | {p.warehouse_bytes / 1e9:.2f} GB | {p.metrics_sum_s:.2f} s / {p.metrics_max_s:.2f} s "
            f"({p.slowest_metric}) | {pages} | {p.measured_at} ({p.load_average[0]:.1f})"
            + (f"; reads {p.reads_measured_at}" if p.reads_measured_at else "")
            + " |"
        )
    if len(points) > 1:
        lines += [
            "",
            f"Cost growth from {points[0].size:,} to {points[-1].size:,} (exponent b in cost ~ size^b; 1 is "
            f"linear): ETL {_growth(points, lambda p: p.etl_s)}, floor {_growth(points, lambda p: p.floor_s)}, "
            f"warehouse {_growth(points, lambda p: p.warehouse_bytes)}, peak RSS "
            f"{_growth(points, lambda p: p.rss_bytes)}, metrics (sum) {_growth(points, lambda p: p.metrics_sum_s)}.",
        ]
    return lines


def replace_curve_section(text: str) -> str:
    """RESULTS.md with its "## Scale curve" section drawn again from curve.json (the rest kept)."""
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if line == "## Scale curve"), None)
    new = curve_markdown()
    if start is None:
        head = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
        return "\n".join(lines[:head] + new + [""] + lines[head:])
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + new + [""] + lines[end:])


def timed_poll(fn: Callable[[], object], path: Path) -> tuple[float, int, object]:
    with peak_disk(path) as taken:
        t0 = time.perf_counter()
        out = fn()
        wall = time.perf_counter() - t0
        return wall, taken(), out
