"""`make bench [SIZE=N]`: ETL against DuckDB's floor, incremental load, metrics, OKRs, pandas, pages.

Writes benchmarks/RESULTS.md (the table and the machine) and prints the same table. Timings are
medians of several runs where a step is short. Data is generated with the sample generator into
benchmarks/work/ (git-ignored). Targets (issue 7) are shown beside each figure; a miss is reported, not
hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import duckdb
import polars as pl

from benchmarks import scale
from replyboard import spare_copy, warehouse

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PY = sys.executable
PEERS_UP_TO = 10_000_000


@dataclass
class Row:
    step: str
    seconds: float | None  # the measured value, in `unit`
    target: str = ""
    ok: bool | None = None
    note: str = ""
    unit: str = "s"

    def shown(self) -> str:
        if self.seconds is None:
            return "–"
        return f"{self.seconds:.2f}x" if self.unit == "x" else f"{self.seconds:.3f} {self.unit}"


@dataclass
class Report:
    size: int
    rows: list[Row] = field(default_factory=list)
    # the 1/5/15-minute load averages when the run started: on a shared machine, what the figures were measured under
    load_at_start: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def add(
        self,
        step: str,
        seconds: float | None,
        target: str = "",
        ok: bool | None = None,
        note: str = "",
        unit: str = "s",
    ) -> None:
        row = Row(step, seconds, target, ok, note, unit)
        self.rows.append(row)
        mark = "" if ok is None else (" ok" if ok else " MISS")
        print(f"  {step:58} {row.shown():>11} {target:>14}{mark}  {note}", flush=True)


T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median_time(fn: Callable[[], object], runs: int = 3) -> float:
    return statistics.median(timed(fn)[0] for _ in range(runs))


def run_child(args: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (bytes, of this child alone) and stdout of a child process."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, env={**os.environ, **(env or {})})
        assert proc.stdout is not None  # stdout=PIPE
        with proc.stdout:
            out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped by wait4 (for its RSS): Popen must not wait for it again
        if code != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(args)} failed ({code}): {err.read()[-2000:].decode(errors='replace')}")
    return wall, usage.ru_maxrss * 1024, out.decode()


def generate(size: int, seed: int = 11) -> Path:
    folder = WORK / f"data-{size}"
    marker = folder / ".done"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run(
        [PY, "-m", "sample_data.generate", "--messages", str(size), "--seed", str(seed), "--out", str(folder)],
        cwd=ROOT,
        check=True,
        stderr=subprocess.DEVNULL,
    )
    marker.touch()
    return folder


def floor_seconds(csv: Path | list[Path], runs: int = 3) -> float:
    """DuckDB's own CREATE TABLE AS read_csv of the same file (or files): the floor the ETL is measured against."""
    files = [str(p) for p in csv] if isinstance(csv, list) else str(csv)

    def once() -> None:
        target = WORK / "floor.duckdb"
        target.unlink(missing_ok=True)
        con = duckdb.connect(str(target))
        con.execute("CREATE TABLE t AS SELECT * FROM read_csv(?)", [files])
        con.close()
        target.unlink(missing_ok=True)

    return median_time(once, runs=runs)


def etl(db: Path, files: list[Path], fresh: bool = True) -> tuple[float, int, dict]:
    """One `etl load` of ``files`` (into a new warehouse unless ``fresh`` is False): wall s, peak RSS, its JSON."""
    if fresh:
        db.unlink(missing_ok=True)
    # --no-warm: the harness warms the dashboard itself, in the foreground, in the page step
    wall, rss, out = run_child([PY, "-m", "etl", "load", "--json", "--no-warm", "--db", str(db), *map(str, files)])
    return wall, rss, json.loads(out)


def split_last_day(folder: Path) -> tuple[Path, Path]:
    """messages.csv without its last local day, and that day alone (the 'daily load')."""
    head, tail = folder / "history.csv", folder / "last_day.csv"
    if head.exists() and tail.exists():
        return head, tail
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    src = str(folder / "messages.csv")
    (cut,) = con.execute(
        "SELECT max(CAST(created_at AS TIMESTAMPTZ)) - INTERVAL 1 DAY FROM read_csv(?, all_varchar=true)", [src]
    ).fetchall()[0]
    for target, cond in ((head, "<="), (tail, ">")):
        con.execute(
            f"COPY (SELECT * FROM read_csv(?, all_varchar=true) WHERE CAST(created_at AS TIMESTAMPTZ) {cond} ?) "
            f"TO '{target}' (HEADER)",
            [src, cut],
        )
    con.close()
    return head, tail


def fingerprint(db: Path) -> dict[str, tuple]:
    """Order-independent content of the derived tables, to prove incremental == full."""
    con = duckdb.connect(str(db), read_only=True)
    out = {}
    for table, cols in (
        ("messages", "message_id, kind, conversation_id, survey, sensitive, prev_reply_gap_seconds"),
        ("conversations", "conversation_id, messages, inbound, human_replies"),
        ("inquiry_blocks", "block_id, reply_message_id, calendar_seconds, business_seconds, deadline_at"),
        ("survey_responses", "response_id, score, parse_status, agent_id"),
    ):
        out[table] = con.execute(f"SELECT count(*), sum(hash({cols})) FROM {table}").fetchall()[0]
    con.close()
    return out


def bench_metrics(db: Path, runs: int = 3) -> dict[str, float]:
    from metrics.query import compute
    from metrics.registry import METRICS
    from replyboard.warehouse import connect_readonly

    con = connect_readonly(db)
    times = {}
    for name in METRICS:
        compute(con, [name])  # warm
        times[name] = median_time(partial(compute, con, [name]), runs=runs)
    con.close()
    return times


def bench_okrs(db: Path) -> float | None:
    try:
        from metrics import okr
    except ImportError:
        return None
    from replyboard.settings import load_settings
    from replyboard.warehouse import connect_readonly

    settings = load_settings()
    periods, _ = okr.load_definitions(ROOT / "okr_definitions")
    con = connect_readonly(db)
    try:

        def evaluate() -> None:
            for period in periods:
                okr.evaluate(con, period, settings, None)

        evaluate()
        return median_time(evaluate, runs=3)
    finally:
        con.close()


def warm_and_bench_pages(db: Path) -> tuple[float, list[tuple[str, float, float]], int]:
    """What a person meets after a load: the warmer the load starts (timed here, in the foreground), then each
    page's first render and a filter change in a new process (benchmarks.pages). Returns the warming seconds,
    the page times and how many results the pages read from the warm store."""
    warm_s, _, _ = run_child([PY, "-m", "pages.warm", "--db", str(db)])
    _, _, out = run_child([PY, "-m", "benchmarks.pages", str(db)])
    found = json.loads(out)
    return warm_s, [tuple(p) for p in found["pages"]], found["warm_hits"]


def bench_pandas(db: Path, files: list[Path]) -> tuple[float, float, bool, str] | None:
    try:
        from benchmarks import pandas_reference
    except ImportError:
        return None
    return pandas_reference.compare(db, files)


def bench_polars(db: Path, csv: Path) -> tuple[float, float, bool, str]:
    from benchmarks import polars_reference

    return polars_reference.compare(db, csv)


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import plotly
    import streamlit

    return (
        f"{os.cpu_count()} cores, {mem:.0f} GiB, {platform.platform()}, Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, Polars {pl.__version__}, Streamlit {streamlit.__version__}, "
        f"Plotly {plotly.__version__}"
    )


def write_results(report: Report) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"`make bench SIZE={report.size}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        "",
        f"Machine: {machine()}.",
        "",
        "Load average (1, 5, 15 min) at the start: {:.2f}, {:.2f}, {:.2f}; at the end: {:.2f}, {:.2f}, {:.2f} "
        "(2 cores shared with other work: compare the ratios to the floor, measured in the same run).".format(
            *report.load_at_start, *os.getloadavg()
        ),
        "",
        "| step | time | target | met | note |",
        "|---|---:|---|---|---|",
    ]
    for r in report.rows:
        met = "" if r.ok is None else ("yes" if r.ok else "**no**")
        lines.append(f"| {r.step} | {r.shown()} | {r.target} | {met} | {r.note} |")
    lines += ["", *scale.curve_markdown()]
    notes = ROOT / "benchmarks" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text()]
    RESULTS.write_text("\n".join(lines) + "\n")


def data_for(size: int) -> tuple[float, Path, str]:
    """Seconds taken, the folder of the data set of ``size`` messages, and where it came from."""
    if size <= scale.GENERATED_UP_TO:
        t, folder = timed(partial(generate, size))
        return t, folder, "generator"
    base, times = scale.GENERATED_UP_TO, size // scale.GENERATED_UP_TO
    if size % base:
        raise SystemExit(f"--points: a size above {base:,} must be a multiple of it (a repeat of that set)")
    t_base, folder = timed(partial(generate, base))
    split = size > scale.ONE_FILE_UP_TO
    t, out = timed(partial(scale.repeat_set, folder, times, WORK / f"data-{size}", split=split))
    how = f", {times} loads of one copy each" if split else ""
    return t_base + t, out, f"{times}x the {base:,}-message set{how}"


def measure_point(size: int, pages: bool) -> tuple[scale.Point, Path, dict, dict[str, float], float]:
    """One point of the scale curve, saved to benchmarks/curve.json. Above 10M each step runs once (a floor of
    100M is a minute, its metrics a minute more), below it the medians of 3; DuckDB's memory limit grows with
    the size above 10M (scale.memory_limit_for)."""
    limit = scale.memory_limit_for(size)
    with scale.memory_limit(limit):
        return _measure_point(size, pages, limit)


def _measure_point(size: int, pages: bool, limit: str) -> tuple[scale.Point, Path, dict, dict[str, float], float]:
    print(f"\n== {size:,} messages (memory limit {limit})", flush=True)
    t_gen, folder, source = data_for(size)
    batches = scale.load_batches(folder)
    runs = 3 if size <= scale.GENERATED_UP_TO else 1
    floor = floor_seconds([batch[0] for batch in batches], runs=runs)
    print(f"  floor {floor:.1f} s", flush=True)
    db = WORK / f"full-{size}.duckdb"
    with scale.peak_disk(WORK) as disk_taken:
        etl_s, rss, out = etl(db, batches[0])
        for i, batch in enumerate(batches[1:], start=2):  # a split repeat: each copy its own load, in order
            print(f"  load {i - 1}: {etl_s:.1f} s so far, peak RSS {rss / 1e9:.2f} GB", flush=True)
            more_s, more_rss, more = etl(db, batch, fresh=False)
            etl_s, rss = etl_s + more_s, max(rss, more_rss)
            out["rows_loaded"] += more["rows_loaded"]
        disk = disk_taken()
    print(
        f"  ETL {etl_s:.1f} s ({etl_s / floor:.2f}x), peak RSS {rss / 1e9:.2f} GB, disk {disk / 1e9:.1f} GB", flush=True
    )
    metric_times = bench_metrics(db, runs=runs)
    slowest = max(metric_times, key=metric_times.__getitem__)
    print(f"  metrics {sum(metric_times.values()):.2f} s, slowest {slowest} {metric_times[slowest]:.2f} s", flush=True)
    point = scale.Point(
        size=size,
        rows_loaded=out["rows_loaded"],
        etl_s=etl_s,
        floor_s=floor,
        rss_bytes=rss,
        warehouse_bytes=db.stat().st_size,
        metrics_sum_s=sum(metric_times.values()),
        metrics_max_s=metric_times[slowest],
        slowest_metric=slowest,
        peak_disk_bytes=disk,
        source=source,
        memory_limit=limit,
    )
    if pages:
        add_pages(point, db)
    scale.save_point(point)
    return point, db, out, metric_times, t_gen


def add_pages(point: scale.Point, db: Path) -> tuple[float, list[tuple[str, float, float]], int]:
    warm_s, pages, hits = warm_and_bench_pages(db)
    first = max(pages, key=lambda p: p[1])
    point.pages_first_max_s, point.pages_change_max_s = first[1], max(p[2] for p in pages)
    point.slowest_page = Path(first[0]).stem
    print(f"  pages: warming {warm_s:.1f} s, slowest first render {first[0]} {first[1]:.2f} s", flush=True)
    return warm_s, pages, hits


def remeasure_reads(size: int) -> scale.Point:
    """The metrics and pages of a point again, on the warehouse its last run loaded (the ETL figures kept):
    after a change to the read layer, without loading 100M messages again."""
    point = scale.load_curve().get(size)
    db = WORK / f"full-{size}.duckdb"
    if point is None or not db.exists():
        raise SystemExit(f"--reads-only: no measured point of {size:,} messages with its warehouse {db}")
    with scale.memory_limit(point.memory_limit):
        print(f"\n== {size:,} messages: reads only (memory limit {point.memory_limit})", flush=True)
        times = bench_metrics(db, runs=3 if size <= scale.GENERATED_UP_TO else 1)
        slowest = max(times, key=times.__getitem__)
        point.metrics_sum_s, point.metrics_max_s, point.slowest_metric = sum(times.values()), times[slowest], slowest
        print(f"  metrics {point.metrics_sum_s:.2f} s, slowest {slowest} {times[slowest]:.2f} s", flush=True)
        add_pages(point, db)
    point.reads_measured_at = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    scale.save_point(point)
    return point


def run_points(sizes: list[int], reads_only: bool = False) -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        if reads_only:
            remeasure_reads(n)
        else:
            measure_point(n, pages=True)
        if RESULTS.exists():
            RESULTS.write_text(scale.replace_curve_section(RESULTS.read_text()))


def run(size: int, curve: bool) -> Report:
    WORK.mkdir(parents=True, exist_ok=True)
    report = Report(size)
    sizes = [s for s in (1_000_000, 3_000_000) if s < size] + [size] if curve else [size]
    for n in sizes:
        point, db, out, metric_times, t_gen = measure_point(n, pages=False)
        folder, floor, etl_s, rss = WORK / f"data-{n}", point.floor_s, point.etl_s, point.rss_bytes
        files = [folder / "messages.csv", folder / "surveys.csv", folder / "agents.csv", folder / "lines.csv"]
        csv = files[0]
        if n != size:
            continue
        report.add("generate sample data (cached between runs)", t_gen, "<= 60 s (10M)")
        report.add("floor: DuckDB CREATE TABLE AS read_csv", floor)
        report.add(
            f"full ETL ({out['rows_loaded']:,} rows)",
            etl_s,
            "<= 3x floor",
            etl_s <= 3 * floor,
            f"{etl_s / floor:.2f}x floor",
        )
        report.add(
            "ETL peak memory", rss / 1e9, "<= 3 GB", rss <= 3e9, "peak resident set of the load process", unit="GB"
        )
        head, tail = split_last_day(folder)
        base = WORK / f"history-{n}.duckdb"
        etl(base, [head, *files[1:]])
        inc_db = WORK / f"incremental-{n}.duckdb"
        runs, same = [], True
        for _ in range(5):  # issue 19: the median of 5, each into a fresh copy of the history warehouse
            inc_db.unlink(missing_ok=True)
            shutil.copyfile(base, inc_db)
            warehouse.stamp_as_published(inc_db)  # a daily load finds its warehouse as the last load left it
            spare_copy.make(inc_db)  # and the spare copy the last load's background copier made
            inc_s, _, inc_out = run_child(
                [PY, "-m", "etl", "load", "--json", "--no-warm", "--db", str(inc_db), str(tail)]
            )
            runs.append(inc_s)
            same = same and fingerprint(inc_db) == fingerprint(db)
        inc_s = statistics.median(runs)
        report.add(
            f"incremental load of the last day ({json.loads(inc_out)['rows_loaded']:,} rows), median of 5",
            inc_s,
            "<= 2 s",
            inc_s <= 2,
            ("same warehouse as a full load" if same else "DIFFERS from a full load")
            + f"; runs {', '.join(f'{r:.2f}' for r in runs)} s, each taking the spare copy the last load left",
        )
        slowest = max(metric_times, key=metric_times.__getitem__)
        report.add(
            "each registry metric, warm (slowest)",
            metric_times[slowest],
            "<= 1 s each",
            all(t <= 1 for t in metric_times.values()),
            f"slowest: {slowest}; all {len(metric_times)}: {sum(metric_times.values()):.2f} s",
        )
        okr_s = bench_okrs(db)
        report.add("shipped OKRs evaluated", okr_s, "<= 2 s", None if okr_s is None else okr_s <= 2)
        if n > PEERS_UP_TO:  # pandas holds every row in memory: ~10 GB per 10M messages
            report.add("pandas and Polars peers", None, "", None, f"not run above {PEERS_UP_TO:,} messages")
        else:
            pandas = bench_pandas(db, files)
            if pandas:
                ours, theirs, equal, note = pandas
                report.add("pandas reference, same metrics", theirs, "", None, note)
                report.add(
                    "Replyboard speed-up over pandas",
                    theirs / ours,
                    ">= 5x",
                    theirs / ours >= 5,
                    "same numbers" if equal else "NUMBERS DIFFER",
                    unit="x",
                )
            ours, theirs, equal, note = bench_polars(db, csv)
            report.add("Polars peer, core derivation (conversations, blocks, first replies)", theirs, "", None, note)
            report.add(
                "Replyboard speed-up over Polars (same figures)",
                theirs / ours,
                "> 1x",
                theirs > ours,
                "same numbers" if equal else "NUMBERS DIFFER",
                unit="x",
            )
        try:
            warm_s, pages, hits = add_pages(point, db)
            scale.save_point(point)
            report.add(
                "warm the default views after the load (pages.warm)",
                warm_s,
                "",
                None,
                f"background after each load; the pages below read {hits} results from the store",
            )
            for page, first, change in pages:
                report.add(f"page {page}: first render", first, "<= 2 s", first <= 2, "new process, warmed")
                report.add(f"page {page}: filter change", change, "<= 0.5 s", change <= 0.5)
        except Exception as exc:  # a page benchmark that cannot run is reported, not fatal
            report.add("pages", None, "", False, f"could not run: {exc}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--size", type=int, default=1_000_000, help="messages (default 1M; 10M for the targets)")
    parser.add_argument("--no-curve", action="store_true", help="skip the 1M/3M points of the scale curve")
    parser.add_argument("--no-write", action="store_true", help="do not overwrite benchmarks/RESULTS.md")
    parser.add_argument(
        "--points",
        help="measure only these points of the scale curve (comma-separated sizes; above 10M a multiple of 10M) "
        "into benchmarks/curve.json and RESULTS.md's curve",
    )
    parser.add_argument(
        "--reads-only",
        action="store_true",
        help="with --points: measure the metrics and pages again on each point's warehouse, keeping its ETL figures",
    )
    args = parser.parse_args(argv)
    # no background spare copies (replyboard.spare_copy) competing with the steps measured after a load; the
    # daily load below makes its spare itself, as the previous load's copier would have
    os.environ[spare_copy.OFF_ENV] = "1"
    if args.reads_only and not args.points:
        parser.error("--reads-only needs --points")
    if args.points:
        try:
            sizes = [int(s.replace("_", "")) for s in args.points.split(",")]
        except ValueError:
            parser.error(f"--points: {args.points!r} is not a comma-separated list of sizes")
        run_points(sizes, reads_only=args.reads_only)
        return 0
    report = run(args.size, curve=not args.no_curve and args.size >= 3_000_000)
    if not args.no_write:
        write_results(report)
        print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
