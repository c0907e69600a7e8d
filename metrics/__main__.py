"""python -m metrics report | rows | explain | list | okr | sql — the read layer from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from metrics.compiler import CompileError, Filters
from metrics.explain import explain
from metrics.output import format_table, rows_as_json
from metrics.params import Params, ParamsError
from metrics.query import compute
from metrics.registry import CATALOG, DIMENSIONS, METRICS
from metrics.rows import MAX_PAGE, parse_where, rows
from replyboard.settings import Settings, SettingsError, load_settings
from replyboard.warehouse import DEFAULT_DB, WarehouseError, connect_readonly

EXIT_USAGE = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def params_from(settings: Settings, hours: str, target: float | None) -> Params:
    return Params.from_settings(settings, hours=hours, target_minutes=target)  # type: ignore[arg-type]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"warehouse file (default {DEFAULT_DB})")
    p.add_argument("--settings", help="settings YAML (default: settings.yaml in the repo)")


def _add_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", type=_date, metavar="YYYY-MM-DD", help="first day (inclusive)")
    p.add_argument("--to", dest="date_to", type=_date, metavar="YYYY-MM-DD", help="last day (inclusive)")
    p.add_argument("--hours", choices=("calendar", "business"), default="calendar")
    p.add_argument("--target", type=float, metavar="MINUTES", help="for response_within_target_rate")
    p.add_argument("--line", action="append", default=[], help="filter: line number (repeatable)")
    p.add_argument("--channel", action="append", default=[], help="filter: channel (repeatable)")
    p.add_argument("--agent", action="append", default=[], help="filter: agent id (repeatable)")
    p.add_argument("--team", action="append", default=[], help="filter: team (repeatable)")


def _filters(args: argparse.Namespace) -> Filters:
    return Filters(
        date_from=args.date_from,
        date_to=args.date_to,
        lines=tuple(args.line),
        channels=tuple(args.channel),
        agents=tuple(args.agent),
        teams=tuple(args.team),
    )


def _print_frame(frame, fmt: str) -> None:  # type: ignore[no-untyped-def]
    if fmt == "json":
        print(json.dumps(rows_as_json(frame, float_digits=6), indent=2))
    elif fmt == "csv":
        from replyboard.csv_safety import to_safe_csv_bytes

        sys.stdout.write(to_safe_csv_bytes(frame).decode("utf-8"))
    else:
        print(format_table(frame, float_digits=2, null=""))


def _report(args: argparse.Namespace, settings: Settings) -> int:
    params = params_from(settings, args.hours, args.target)
    con = connect_readonly(args.db)
    try:
        result = compute(con, args.metric, by=tuple(args.by), filters=_filters(args), params=params)
    finally:
        con.close()
    if not args.with_n:
        result = result.drop([c for c in result.columns if c.endswith("_n") and c[:-2] in METRICS])
    _print_frame(result, args.format)
    return 0


def _rows(args: argparse.Namespace, settings: Settings) -> int:
    params = params_from(settings, args.hours, args.target)
    where = parse_where(args.where)
    con = connect_readonly(args.db)
    try:
        found = rows(
            con,
            args.metric,
            filters=_filters(args),
            params=params,
            where=where,
            order=args.order,
            descending=args.desc,
            limit=None if args.all else args.limit,
            offset=args.offset,
        )
    finally:
        con.close()
    _print_frame(found.frame, args.format)
    shown = found.frame.height
    print(
        f"{shown:,} of {found.total:,} {found.rows} behind {args.metric}"
        + (f" (from row {found.offset + 1:,}; --offset/--limit page through them)" if shown < found.total else ""),
        file=sys.stderr,
    )
    return 0


def _explain(args: argparse.Namespace, __: Settings) -> int:
    if args.metric not in METRICS:
        raise CompileError(f"unknown metric {args.metric}; valid: {', '.join(METRICS)}")
    print(explain(args.metric, tuple(args.by), args.hours, args.format))
    return 0


def metrics_markdown() -> str:
    """The README's metric table, generated from the registry (a test keeps the README in sync)."""
    lines = ["| metric | unit | aggregation | time anchor | better | definition |", "|---|---|---|---|---|---|"]
    for m in CATALOG.values():
        lines.append(f"| `{m.name}` | {m.unit} | {m.aggregation} | {m.anchor} | {m.better or '–'} | {m.description} |")
    return "\n".join(lines)


def _list(args: argparse.Namespace, __: Settings) -> int:
    if args.markdown:
        print(metrics_markdown())
        return 0
    for m in CATALOG.values():
        print(f"{m.name:34} {m.unit:8} {m.aggregation:10} {m.description}")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_PAGE:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_PAGE:,}")
    return value


def _offset(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m metrics", description="Replyboard metrics, OKRs and SQL.")
    sub = parser.add_subparsers(dest="command", required=True)
    dims = ", ".join(DIMENSIONS)

    rep = sub.add_parser("report", help="compute metrics by name")
    _add_common(rep)
    rep.add_argument("--metric", action="append", required=True, metavar="NAME", help="repeatable")
    rep.add_argument("--by", action="append", default=[], metavar="DIM", help=f"group by (repeatable): {dims}")
    _add_filters(rep)
    rep.add_argument("--format", choices=("json", "csv", "table"), default="table")
    rep.add_argument("--with-n", action="store_true", help="add NAME_n (the count behind each value)")
    rep.set_defaults(run=_report)

    row = sub.add_parser("rows", help="the rows behind a metric (drill-down), with each row's own value")
    _add_common(row)
    row.add_argument("--metric", required=True, metavar="NAME")
    row.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="DIM=VALUE",
        help="one group of a split, e.g. --where agent=a1 --where weekday=Monday (repeatable; "
        "an empty value is the no-value group)",
    )
    _add_filters(row)
    row.add_argument("--format", choices=("json", "csv", "table"), default="table")
    row.add_argument("--order", choices=("time", "value"), default="time", help="sort by time or by value")
    row.add_argument("--desc", action="store_true", help="largest / newest first")
    row.add_argument("--limit", type=_positive, default=100, help=f"rows per page (default 100, at most {MAX_PAGE:,})")
    row.add_argument("--offset", type=_offset, default=0, help="skip this many rows (pagination)")
    row.add_argument("--all", action="store_true", help="every row, no page")
    row.set_defaults(run=_rows)

    exp = sub.add_parser("explain", help="a metric's definition and the SQL that computes it")
    exp.add_argument("metric", metavar="NAME")
    exp.add_argument("--by", action="append", default=[], metavar="DIM", help=f"repeatable: {dims}")
    exp.add_argument("--hours", choices=("calendar", "business"), default="calendar")
    exp.add_argument("--format", choices=("text", "json"), default="text")
    exp.set_defaults(run=_explain, settings=None)

    lst = sub.add_parser("list", help="every metric with its definition")
    lst.add_argument("--markdown", action="store_true", help="the README's metric table")
    lst.set_defaults(run=_list, settings=None)

    from metrics.okr_cli import add_okr_parser
    from metrics.sql_cli import add_sql_parser

    add_okr_parser(sub, _add_common)
    add_sql_parser(sub, _add_common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(getattr(args, "settings", None))
        if getattr(args, "db", None) and not Path(args.db).exists():
            raise WarehouseError(
                f"{args.db}: no warehouse here yet. Load data first: python -m etl load --db {args.db} FILE..."
            )
        return int(args.run(args, settings))
    except (CompileError, ParamsError, SettingsError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and cut short: the reader's choice, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
