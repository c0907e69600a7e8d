"""python -m metrics sql --db DB "SELECT ..." — the Explore page's SQL sandbox from the shell.

Exit 0 with the result (table, CSV or JSON on stdout); when rows past --limit were cut, or columns hold
values Python cannot (TIMESTAMP 'infinity', dates past 9999) and are printed as DuckDB's text, a note on
stderr. Exit 2 with "error: Refused: ..." (or DuckDB's error) on stderr for anything the sandbox does not
run, out of memory, past the time limit or a result past the sandbox's size limit included.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from metrics.output import format_table, rows_as_json
from replyboard.sandbox import (
    DEFAULT_ROW_LIMIT,
    DEFAULT_TIMEOUT_SECONDS,
    SandboxProblem,
    csv_ready,
    run_query,
)
from replyboard.settings import Settings

EXIT_OK = 0
EXIT_REFUSED = 2


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _run_sql(args: argparse.Namespace, _: Settings) -> int:
    sql = sys.stdin.read() if args.query == "-" else args.query
    try:
        result = run_query(args.db, sql, row_limit=args.limit, timeout_seconds=args.timeout)
    except SandboxProblem as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    frame = result.frame
    if args.format == "csv":
        from replyboard.csv_safety import to_safe_csv_bytes

        sys.stdout.write(to_safe_csv_bytes(csv_ready(frame)).decode("utf-8"))
    elif args.format == "json":
        print(json.dumps(rows_as_json(frame), indent=2, default=str))
    else:
        print(format_table(frame) if frame.width else "(no columns)")
        print(f"({frame.height:,} row{'s' if frame.height != 1 else ''}, {result.elapsed:.2f} s)", file=sys.stderr)
    if result.notice:
        print(f"note: {result.notice}", file=sys.stderr)
    return EXIT_OK


def add_sql_parser(sub: argparse._SubParsersAction, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "sql",
        help="run one read-only SELECT in the Explore sandbox",
        description="Run one read-only SELECT (or EXPLAIN of one) on the warehouse, with the Explore page's "
        "sandbox: no writes, no files, no settings; a time, memory, row and size limit. Exit 2 when refused.",
    )
    add_common(p)
    p.add_argument("query", help='one SELECT, e.g. "SELECT count(*) FROM messages"; "-" reads it from stdin')
    p.add_argument("--format", choices=("table", "csv", "json"), default="table")
    p.add_argument(
        "--limit",
        type=_positive_int,
        default=DEFAULT_ROW_LIMIT,
        metavar="N",
        help=f"at most N rows (default {DEFAULT_ROW_LIMIT:,}); rows past it are cut with a note",
    )
    p.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_SECONDS,
        metavar="S",
        help=f"stop the query after S seconds (default {DEFAULT_TIMEOUT_SECONDS:g})",
    )
    p.set_defaults(run=_run_sql)
