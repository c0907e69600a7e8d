"""python -m metrics report | rows | explain | list | okr | sql | digest | alerts — the read layer from the shell
(digest and alerts: the digests package, issue 17)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from metrics.annotations import NO_OVERLAY, check_target, overlay_for
from metrics.compiler import CompileError, Filters
from metrics.conversation import ConversationNotFound, as_text, transcript
from metrics.explain import explain
from metrics.output import column_units, csv_bytes, format_table, json_value, rows_as_json
from metrics.params import Hours, Params, ParamsError
from metrics.query import compute
from metrics.registry import CATALOG, DIMENSIONS, METRICS
from metrics.rows import MAX_PAGE, parse_where, rows
from metrics.scope import EVERYTHING, AccessError, Scope, scope_from
from replyboard import data_range
from replyboard.appstate import Action, AppState, AppStateError, Target, state_path
from replyboard.settings import Settings, SettingsError, load_settings
from replyboard.warehouse import DEFAULT_DB, WarehouseError, connect_readonly, storage_failure

EXIT_USAGE = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def params_from(
    settings: Settings, hours: Hours, target: float | None, db: str | None = None, scope: Scope = EVERYTHING
) -> Params:
    """The reporting settings, with the leads' annotations of the warehouse's app-state store applied, for the
    person asking (scope)."""
    overlay = overlay_for(db) if db else NO_OVERLAY
    return Params.from_settings(
        settings,
        hours=hours,
        target_minutes=target,
        overlay=overlay,
        scope=scope,
    )


def _add_as(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as",
        dest="as_email",
        metavar="EMAIL",
        help="apply this person's scope from the access file (exit 2 when they are not in it)",
    )


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
    for day, flag in ((args.date_from, "--from"), (args.date_to, "--to")):
        problem = data_range.problem(day, flag) if day is not None else None
        if problem:  # 9999-12-31 has no next day to end the window on
            raise CompileError(problem)
    return Filters(
        date_from=args.date_from,
        date_to=args.date_to,
        lines=tuple(args.line),
        channels=tuple(args.channel),
        agents=tuple(args.agent),
        teams=tuple(args.team),
    )


def _print_frame(frame: pl.DataFrame, fmt: str) -> None:
    if fmt == "json":  # raw numbers, for programs
        print(json.dumps(rows_as_json(frame, float_digits=6), indent=2))
    elif fmt == "csv":  # numbers with their unit in the header (first_response_time_median_min), as on the dashboard
        sys.stdout.write(csv_bytes(frame).decode("utf-8"))
    else:  # as the dashboard writes them: 19 min, 95.7%, 7.23
        print(format_table(frame, float_digits=2, null="", units=column_units(frame.columns)))


def _report(args: argparse.Namespace, settings: Settings) -> int:
    params = params_from(settings, args.hours, args.target, args.db, scope_from(settings, args.as_email))
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
    params = params_from(settings, args.hours, args.target, args.db, scope_from(settings, args.as_email))
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


def _conversation(args: argparse.Namespace, settings: Settings) -> int:
    con = connect_readonly(args.db)
    try:
        found = transcript(con, args.id, overlay_for(args.db), scope_from(settings, args.as_email))
    except ConversationNotFound as exc:
        raise CompileError(str(exc)) from None
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps(json_value(found.as_dict()), indent=2, ensure_ascii=False))
    else:
        print(as_text(found))
    return 0


_TARGETS = {
    "no-reply-needed": (Target.BLOCK, Action.NO_REPLY_NEEDED),
    "handled": (Target.MESSAGE, Action.HANDLED),
    "rescore": (Target.SURVEY_REPLY, Action.RESCORED),
}


def _annotate(args: argparse.Namespace, settings: Settings) -> int:
    store = AppState(state_path(args.db))
    author = args.author or os.environ.get("USER") or "cli"
    if args.action == "list":
        for a in store.annotations(include_undone=args.all):
            state = "active" if a.active else f"undone {a.undone_at} by {a.undone_by}"
            score = f" score {a.score}" if a.score is not None else ""
            print(f"{a.id}\t{a.action}\t{a.target} {a.target_id}{score}\t{a.author} {a.created_at}\t{state}\t{a.note}")
        return 0
    if args.action == "undo":
        if not args.id.isdigit():
            raise AppStateError(f"undo takes an annotation number (see annotate list), not {args.id!r}")
        if not store.undo(int(args.id), author=author):
            raise AppStateError(f"annotation {args.id} is not active (already undone, or no such annotation)")
        print(f"annotation {args.id} undone")
        return 0
    target, action = _TARGETS[args.action]
    con = connect_readonly(args.db)
    try:
        check_target(con, target, args.id, args.score)
    finally:
        con.close()
    number = store.annotate(target, args.id, action, author=author, note=args.note or "", score=args.score)
    print(f"annotation {number}: {action} on {target} {args.id}")
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
    _add_as(rep)
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
    _add_as(row)
    row.set_defaults(run=_rows)

    exp = sub.add_parser("explain", help="a metric's definition and the SQL that computes it")
    exp.add_argument("metric", metavar="NAME")
    exp.add_argument("--by", action="append", default=[], metavar="DIM", help=f"repeatable: {dims}")
    exp.add_argument("--hours", choices=("calendar", "business"), default="calendar")
    exp.add_argument("--format", choices=("text", "json"), default="text")
    exp.set_defaults(run=_explain, settings=None)

    conv = sub.add_parser("conversation", help="one conversation's transcript with its inquiry blocks")
    _add_common(conv)
    conv.add_argument("id", metavar="ID", help="a conversation id (from metrics rows, or the dashboard's URL)")
    conv.add_argument("--format", choices=("text", "json"), default="text")
    _add_as(conv)
    conv.set_defaults(run=_conversation)

    ann = sub.add_parser(
        "annotate",
        help="record a lead's annotation (kept in the app-state store beside the warehouse, applied everywhere)",
        description="no-reply-needed BLOCK_ID: the block leaves the rates and the unanswered count; handled "
        "MESSAGE_ID: a compliance hit dealt with; rescore RESPONSE_ID --score N: a survey reply read as N; "
        "undo N: take annotation N back; list: every active annotation (--all: with the undone ones).",
    )
    _add_common(ann)
    ann.add_argument("action", choices=("no-reply-needed", "handled", "rescore", "undo", "list"))
    ann.add_argument("id", nargs="?", default="", metavar="ID", help="what it is about (or the annotation to undo)")
    ann.add_argument("--score", type=int, help="for rescore: the score on the survey's scale")
    ann.add_argument("--note", help="why")
    ann.add_argument("--author", help="who (default: $USER)")
    ann.add_argument("--all", action="store_true", help="list: undone annotations too")
    ann.set_defaults(run=_annotate)

    lst = sub.add_parser("list", help="every metric with its definition")
    lst.add_argument("--markdown", action="store_true", help="the README's metric table")
    lst.set_defaults(run=_list, settings=None)

    from metrics.okr.cli import add_okr_parser
    from metrics.sql_cli import add_sql_parser

    add_okr_parser(sub, _add_common)
    add_sql_parser(sub, _add_common)
    # The CLI edge, the one place the core reaches the presentation layer: digest and alerts (issue 17). Its
    # parsers import nothing heavy; charts, kaleido and SMTP are imported when a digest runs.
    from digests.cli import add_parsers as add_digest_parsers

    add_digest_parsers(sub, _add_common)
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
    except (AccessError, AppStateError, CompileError, ParamsError, SettingsError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except duckdb.Error as exc:  # a damaged block found while reading: the file's fault, not a bug
        reason = storage_failure(exc)
        if reason is None:
            raise
        print(f"error: {getattr(args, 'db', None) or 'the warehouse'}: {reason}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and cut short: the reader's choice, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
