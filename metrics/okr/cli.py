"""``python -m metrics okr | okr-check | okr-schema``: OKR attainment, validation and the JSON schema.

``okr --db DB [--settings FILE] [--definitions PATH] [--as-of YYYY-MM-DD] [--format json|table]
[--period ID] [--no-history]`` evaluates every period in PATH (default: the repo's okr_definitions/).
JSON is a list of objectives (every period's, in file order), each with its key results and their weekly
history. When a definition has an error, every problem is printed to stderr as ``file:line: path: message``
and the command exits 2 with nothing on stdout (a script never reads a partial answer); warnings are
printed too but do not stop the evaluation.

``okr-check [--definitions PATH] [--db DB]`` only validates (filter values too when a warehouse is given);
exit 2 on errors. ``okr-schema [--check]`` writes okr_definitions/schema.json from the models (``--check``:
exit 1 when the committed file is stale).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from metrics.annotations import checkins_for, overlay_for
from metrics.okr.evaluate import KeyResultResult, ObjectiveResult, evaluate, with_checkins
from metrics.okr.loader import DefinitionProblem, load_definitions
from metrics.okr.spec import DEFINITIONS_DIR, SCHEMA_PATH, Period, schema_text, write_schema
from metrics.okr.text import target_text, value_text
from metrics.scope import scope_from
from replyboard import data_range
from replyboard.formats import fmt_rate
from replyboard.settings import Settings
from replyboard.warehouse import connect_readonly

EXIT_USAGE = 2
SPARK = "▁▂▃▄▅▆▇█"


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def add_okr_parser(sub: argparse._SubParsersAction, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    okr = sub.add_parser("okr", help="OKR attainment: progress, pacing and status of every key result")
    add_common(okr)
    okr.add_argument(
        "--definitions", default=str(DEFINITIONS_DIR), metavar="PATH", help="a YAML file or a folder of them"
    )
    okr.add_argument(
        "--as-of", type=_date, metavar="YYYY-MM-DD", help="evaluate as of this day (default today, capped at the end)"
    )
    okr.add_argument("--format", choices=("json", "table"), default="table")
    okr.add_argument("--period", action="append", default=[], metavar="ID", help="only this period (repeatable)")
    okr.add_argument("--no-history", action="store_true", help="skip the weekly history (faster)")
    okr.add_argument(
        "--as",
        dest="as_email",
        metavar="EMAIL",
        help="measure in this person's scope from the access file (exit 2 when they are not in it)",
    )
    okr.set_defaults(run=run_okr)

    check = sub.add_parser("okr-check", help="validate OKR definitions without evaluating them")
    check.add_argument("--definitions", default=str(DEFINITIONS_DIR), metavar="PATH")
    check.add_argument("--db", default=None, help="also check filter values against this warehouse")
    check.set_defaults(run=run_check)

    schema = sub.add_parser("okr-schema", help="write the JSON schema of the definitions (for editors)")
    schema.add_argument("--out", type=Path, default=SCHEMA_PATH)
    schema.add_argument("--check", action="store_true", help="exit 1 if the file is not up to date")
    schema.set_defaults(run=run_schema, settings=None)


def _report_problems(problems: list[DefinitionProblem]) -> int:
    """Print every problem to stderr; the number of errors."""
    for problem in problems:
        print(problem, file=sys.stderr)
    errors = sum(1 for p in problems if p.severity == "error")
    if errors:
        print(f"{errors} error{'s' if errors > 1 else ''} in the OKR definitions", file=sys.stderr)
    return errors


def run_okr(args: argparse.Namespace, settings: Settings) -> int:
    problem = data_range.problem(args.as_of, "--as-of") if args.as_of else None
    if problem:  # 0001-01-01 has no rolling window before it
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    scope = scope_from(settings, args.as_email)  # AccessError: exit 2 (metrics.__main__)
    con = connect_readonly(args.db)
    try:
        periods, problems = load_definitions(args.definitions, con)
        if _report_problems(problems):
            return EXIT_USAGE
        if args.period:
            unknown = [p for p in args.period if p not in {x.period for x in periods}]
            if unknown:
                valid = ", ".join(p.period for p in periods) or "none"
                print(f"error: no period {', '.join(unknown)} in {args.definitions}; periods: {valid}", file=sys.stderr)
                return EXIT_USAGE
            periods = [p for p in periods if p.period in args.period]
        if not periods:
            print(f"no OKR definitions (*.yaml) in {args.definitions}", file=sys.stderr)
        overlay = overlay_for(args.db)
        evaluated = [
            (
                period,
                evaluate(
                    con,
                    with_checkins(period, checkins_for(args.db, period.period)),
                    settings,
                    args.as_of,
                    with_history=not args.no_history,
                    overlay=overlay,
                    scope=scope,
                ),
            )
            for period in periods
        ]
    finally:
        con.close()
    if args.format == "json":
        print(json.dumps([obj.as_dict() for _, objs in evaluated for obj in objs], indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(format_period(period, objs) for period, objs in evaluated))
    return 0


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    con = connect_readonly(args.db) if args.db else None
    try:
        periods, problems = load_definitions(args.definitions, con)
    finally:
        if con is not None:
            con.close()
    if _report_problems(problems):
        return EXIT_USAGE
    for period in periods:
        krs = sum(len(o.key_results) for o in period.objectives)
        print(f"{period.source}: {period.period} ok ({len(period.objectives)} objectives, {krs} key results)")
    return 0


def run_schema(args: argparse.Namespace, _: Settings | None) -> int:
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != schema_text():
            print(f"{args.out} is stale; regenerate it with python -m metrics okr-schema", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    changed = write_schema(args.out)
    print(f"{'wrote' if changed else 'unchanged:'} {args.out}")
    return 0


# --------------------------------------------------------------------------------------------------------------
# Table format


def format_value(value: float | None, kr: KeyResultResult) -> str:
    """A key result's figure as the dashboard writes it (metrics.okr.text)."""
    return "-" if value is None else value_text(kr.type, kr.metric, kr.unit, value)


def sparkline(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = high - low
    return "".join(
        " " if v is None else SPARK[3] if span == 0 else SPARK[round((v - low) / span * (len(SPARK) - 1))]
        for v in values
    )


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _align(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


def format_period(period: Period, objectives: list[ObjectiveResult]) -> str:
    first = objectives[0]
    day = (min(first.as_of, period.end) - period.start).days + 1
    elapsed = f"day {day} of {period.days}" if day >= 1 else "not started"
    through = f"; data through {first.data_through}" if first.data_through else "; no data loaded"
    lines = [
        f"OKR period {period.period}: {period.start} .. {period.end}"
        + (f", owner {period.owner}" if period.owner else ""),
        f"as of {first.as_of} ({elapsed}, expected progress {fmt_rate(first.expected_progress)}{through})",
    ]
    for obj in objectives:
        lines += [
            "",
            f"Objective {obj.id}: {obj.title}",
            f"  progress {fmt_rate(obj.progress)} (expected {fmt_rate(obj.expected_progress)}) -> {obj.status}; "
            f"grade {_pct(obj.grade)}; {obj.measured} of {len(obj.key_results)} key results measured",
        ]
        rows = [["key result", "current", "baseline", "target", "progress", "status", "n", "weekly"]]
        for kr in obj.key_results:
            baseline = format_value(kr.baseline, kr) if kr.type == "metric" else ""
            if kr.type == "metric" and kr.baseline_source:
                baseline += f" ({kr.baseline_source}{', met: pass/fail' if kr.scoring == 'pass_fail' else ''})"
            elif kr.type == "metric":
                baseline = "none: pass/fail"
            target = (
                target_text(kr.type, kr.metric, kr.unit, kr.comparator, kr.target) if kr.type == "metric" else "manual"
            )
            rows.append(
                [
                    kr.id,
                    format_value(kr.current, kr) + (" (low n)" if kr.low_n else ""),
                    baseline,
                    target,
                    fmt_rate(kr.progress),
                    kr.status,
                    f"{kr.n:,}",
                    sparkline([h.value for h in kr.history]),
                ]
            )
        lines += ["  " + r for r in _align(rows)]
        for kr in obj.key_results:
            detail = kr.metric if kr.type == "metric" else f"manual, {kr.unit}"
            extra = ""
            if kr.type == "metric":
                extra = f"; {kr.window}, {kr.hours} hours"
                if kr.filters:
                    extra += "; " + ", ".join(f"{k}={'/'.join(v)}" for k, v in kr.filters.items())
            elif kr.note:
                extra = f"; last check-in: {kr.note}"
                if kr.confidence is not None:
                    extra += f" (confidence {kr.confidence:.0%})"
            lines.append(f"    {kr.id}: {kr.title} [{detail}{extra}]")
    return "\n".join(lines)
