"""``python -m metrics digest`` and ``python -m metrics alerts`` (added to the metrics command line, its one edge
into this package).

digest --db DB [--settings FILE] [--as-of DATE] [--subscription NAME] (--out DIR | --send) [--dry-run]
       [--smtp-host H --smtp-port P --to ADDR] [--definitions PATH]
alerts --db DB [--settings FILE] [--rule NAME] [--at TIME] (--send | --dry-run) [--definitions PATH]

Exit code 2 for a mistake in the request or the settings, and when a send failed (after its retries; the message
says which and why, and the store records it for the next run).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from replyboard import data_range
from replyboard.settings import DEFAULT_SETTINGS_PATH, Settings, check_address

EXIT_USAGE = 2


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-09-20") from None


def _instant(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time like 2026-09-21T10:30 (team timezone)") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def _address(text: str) -> str:
    try:
        return check_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parsers(sub: argparse._SubParsersAction, add_common: Callable[[argparse.ArgumentParser], None]) -> None:
    from metrics import okr  # the default definitions folder

    dig = sub.add_parser(
        "digest",
        help="the OKR digest, daily summary or team report of each subscription: written to a folder or sent",
        description="Subscriptions are in the settings (digests:). --out writes digest.html, digest.txt, the "
        "charts (PNG) and tables (CSV); --send delivers by email, Slack or webhook, once per period; --dry-run "
        "says what would be written or sent, to whom.",
    )
    add_common(dig)
    dig.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="the last day covered (default: the day before the subscription's latest cadence time)",
    )
    dig.add_argument("--subscription", action="append", default=[], metavar="NAME", help="only this one (repeatable)")
    mode = dig.add_mutually_exclusive_group(required=True)
    mode.add_argument("--out", type=Path, metavar="DIR", help="write the digest's files here")
    mode.add_argument("--send", action="store_true", help="deliver it through the subscription's channel")
    dig.add_argument("--dry-run", action="store_true", help="print what would be written or sent; do nothing")
    dig.add_argument("--smtp-host", metavar="H", help="mail server for this run (overrides smtp.host)")
    dig.add_argument("--smtp-port", type=_port, metavar="P", help="its port (overrides smtp.port)")
    dig.add_argument(
        "--to",
        action="append",
        default=[],
        type=_address,
        metavar="ADDR",
        help="a one-off email to ADDR instead of the subscription's recipients (repeatable)",
    )
    dig.add_argument("--definitions", type=Path, default=okr.DEFINITIONS_DIR, metavar="PATH", help="OKR definitions")
    dig.set_defaults(run=run_digest)

    al = sub.add_parser(
        "alerts",
        help="check the alert rules (alerts:) once: fire new episodes, resolve ended ones",
        description="Each rule fires once per episode and clears with a resolved notice; the episodes are kept in "
        "the app-state store. Schedule it (etl serve's alerts task, or cron) every few minutes.",
    )
    add_common(al)
    al.add_argument("--rule", action="append", default=[], metavar="NAME", help="only this rule (repeatable)")
    al.add_argument("--at", type=_instant, metavar="TIME", help="check as of this time (team timezone; default now)")
    act = al.add_mutually_exclusive_group(required=True)
    act.add_argument("--send", action="store_true", help="record episodes and deliver their notices")
    act.add_argument("--dry-run", action="store_true", help="print what would fire or resolve; change nothing")
    al.add_argument("--definitions", type=Path, default=okr.DEFINITIONS_DIR, metavar="PATH", help="OKR definitions")
    al.set_defaults(run=run_alerts)


def settings_dir(path: str | None) -> Path:
    return (Path(path) if path else DEFAULT_SETTINGS_PATH).resolve().parent


def _say(text: str) -> None:
    print(text, flush=True)


def _warn(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_digest(args: argparse.Namespace, settings: Settings) -> int:
    from digests.run import DigestError, Request, run

    if args.as_of is not None and (problem := data_range.problem(args.as_of, "--as-of")):
        _warn(f"error: {problem}")
        return EXIT_USAGE
    if (args.smtp_host or args.smtp_port or args.to) and not args.send:
        _warn("error: --smtp-host, --smtp-port and --to are for --send")
        return EXIT_USAGE
    if args.send and not args.to and not settings.digests:
        _warn("error: no subscriptions in the settings (digests:): add one, or send a one-off with --to ADDR")
        return EXIT_USAGE
    smtp = settings.smtp.model_copy(
        update={k: v for k, v in (("host", args.smtp_host), ("port", args.smtp_port)) if v is not None}
    )
    request = Request(
        db=Path(args.db),
        settings=settings,
        settings_dir=settings_dir(args.settings),
        names=args.subscription,
        as_of=args.as_of,
        out=args.out,
        send=args.send,
        dry_run=args.dry_run,
        to=args.to,
        smtp=smtp,
        definitions=args.definitions,
        # `digest --send` on its own is what cron runs: the subscriptions whose cadence came round, once each
        scheduled=args.send and args.as_of is None and not args.subscription and not args.to,
    )
    try:
        result = run(request, _say, _warn)
    except DigestError as exc:
        _warn(f"error: {exc}")
        return EXIT_USAGE
    if result.failed:
        _warn(f"{len(result.failed)} digest{'s' if len(result.failed) > 1 else ''} not sent (see above)")
        return EXIT_USAGE
    return 0


def run_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from digests.alerts import AlertError, AlertRequest, run_alerts

    at = args.at
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=settings.zone)
    request = AlertRequest(
        db=Path(args.db),
        settings=settings,
        settings_dir=settings_dir(args.settings),
        names=args.rule,
        at=at,
        dry_run=args.dry_run,
        definitions=args.definitions,
    )
    try:
        result = run_alerts(request, _say, _warn)
    except AlertError as exc:
        _warn(f"error: {exc}")
        return EXIT_USAGE
    if not args.dry_run and not (result.fired or result.resolved or result.failed):
        _say("no alert fired or resolved")
    return EXIT_USAGE if result.failed else 0
