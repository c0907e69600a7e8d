"""python -m metrics report | okr | sql | list — the metric layer from the shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from metrics.output import format_table, rows_as_json
from metrics.query import Filters, MetricError, Options, compute
from metrics.registry import DIMENSIONS, METRICS
from replyboard.settings import Settings, SettingsError, load_settings
from replyboard.warehouse import DEFAULT_DB, WarehouseError, connect_readonly

EXIT_USAGE = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def options_from(settings: Settings, hours: str, target: float | None) -> Options:
    return Options(
        hours=hours,
        target_minutes=target if target is not None else settings.response_target_minutes,
        satisfied_at_least=settings.csat.satisfied_at_least,
        typing_allowance_seconds=settings.typing_allowance_seconds,
    )


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"warehouse file (default {DEFAULT_DB})")
    p.add_argument("--settings", help="settings YAML (default: settings.yaml in the repo)")


def _report(args: argparse.Namespace, settings: Settings) -> int:
    filters = Filters(
        date_from=args.date_from,
        date_to=args.date_to,
        lines=tuple(args.line),
        channels=tuple(args.channel),
        agents=tuple(args.agent),
        teams=tuple(args.team),
    )
    con = connect_readonly(args.db)
    try:
        result = compute(
            con, args.metric, by=args.by, filters=filters, options=options_from(settings, args.hours, args.target)
        )
    finally:
        con.close()
    if not args.with_n:
        result = result.drop([c for c in result.columns if c.endswith("_n") and c[:-2] in METRICS])
    if args.format == "json":
        print(json.dumps(rows_as_json(result, float_digits=6), indent=2))
    elif args.format == "csv":
        from replyboard.csv_safety import to_safe_csv_bytes

        sys.stdout.write(to_safe_csv_bytes(result).decode("utf-8"))
    else:
        print(format_table(result, float_digits=2, null=""))
    return 0


def metrics_markdown() -> str:
    """The README's metric table, generated from the registry (a test keeps the README in sync)."""
    lines = ["| metric | unit | aggregation | time anchor | better | definition |", "|---|---|---|---|---|---|"]
    for m in METRICS.values():
        lines.append(f"| `{m.name}` | {m.unit} | {m.aggregation} | {m.anchor} | {m.better or '–'} | {m.description} |")
    return "\n".join(lines)


def _list(args: argparse.Namespace, __: Settings) -> int:
    if args.markdown:
        print(metrics_markdown())
        return 0
    for m in METRICS.values():
        print(f"{m.name:34} {m.unit:8} {m.aggregation:10} {m.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metrics", description="Replyboard metrics, OKRs and SQL.")
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("report", help="compute metrics by name")
    _add_common(rep)
    rep.add_argument("--metric", action="append", required=True, metavar="NAME", help="repeatable")
    rep.add_argument("--by", metavar="DIM", help=f"group by one of: {', '.join(DIMENSIONS)}")
    rep.add_argument("--from", dest="date_from", type=_date, metavar="YYYY-MM-DD", help="first day (inclusive)")
    rep.add_argument("--to", dest="date_to", type=_date, metavar="YYYY-MM-DD", help="last day (inclusive)")
    rep.add_argument("--hours", choices=("calendar", "business"), default="calendar")
    rep.add_argument("--target", type=float, metavar="MINUTES", help="for response_within_target_rate")
    rep.add_argument("--format", choices=("json", "csv", "table"), default="table")
    rep.add_argument("--line", action="append", default=[], help="filter: line number (repeatable)")
    rep.add_argument("--channel", action="append", default=[], help="filter: channel (repeatable)")
    rep.add_argument("--agent", action="append", default=[], help="filter: agent id (repeatable)")
    rep.add_argument("--team", action="append", default=[], help="filter: team (repeatable)")
    rep.add_argument("--with-n", action="store_true", help="add NAME_n (the count behind each value)")
    rep.set_defaults(run=_report)

    lst = sub.add_parser("list", help="every metric with its definition")
    lst.add_argument("--markdown", action="store_true", help="the README's metric table")
    lst.set_defaults(run=_list, settings=None)

    try:
        from metrics.okr_cli import add_okr_parser

        add_okr_parser(sub, _add_common)
    except ImportError:  # the OKR engine is optional until it lands
        pass
    try:
        from metrics.sql_cli import add_sql_parser

        add_sql_parser(sub, _add_common)
    except ImportError:
        pass

    args = parser.parse_args(argv)
    try:
        settings = load_settings(getattr(args, "settings", None))
        if getattr(args, "db", None) and not Path(args.db).exists():
            raise WarehouseError(
                f"{args.db}: no warehouse here yet. Load data first: python -m etl load --db {args.db} FILE..."
            )
        return args.run(args, settings)
    except (MetricError, SettingsError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and cut short: the reader's choice, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
