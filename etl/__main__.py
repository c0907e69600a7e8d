"""python -m etl load --db DB [--settings FILE] [--json] [--source KIND] [--mapping FILE] PATH...
python -m etl migrate --db DB

Also: etl sync quo|twilio (etl.sync), etl receive (etl.receive) and etl serve (etl.serve); see the README's
"Live data" section.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from etl import spool
from etl.load import run_load, stderr_progress
from etl.load_table import load_table
from etl.sources.base import SourceError
from replyboard import warehouse
from replyboard.settings import SettingsError, load_settings
from replyboard.warehouse import DEFAULT_DB, WarehouseError

EXIT_USAGE = 2


def _expand(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for the files directly inside it."""
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m etl", description="Load message logs and surveys.")
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load files into the warehouse (idempotent; atomic)")
    load.add_argument("paths", nargs="+", metavar="PATH", help="files, or folders of files, to load")
    load.add_argument("--db", default=str(DEFAULT_DB), help=f"warehouse file (default {DEFAULT_DB})")
    load.add_argument("--settings", help="settings YAML (default: settings.yaml in the repo)")
    load.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    load.add_argument(
        "--source",
        help="skip detection: messages, surveys, agents, lines, openphone_api, "
        "openphone_webhook, twilio_api, twilio_webhook, twilio_csv, sms_backup_xml, mapped_csv",
    )
    load.add_argument("--mapping", help="YAML column mapping for --source mapped_csv")
    load.add_argument("--no-wait", action="store_true", help="fail instead of waiting when another load runs")
    load.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    load.add_argument(
        "--replace",
        action="store_true",
        help="a deliberate correction: a row whose id is already stored for another message or survey reply "
        "(another line, contact, direction or time) replaces the stored one instead of being rejected, and "
        "empty cells in agents/lines files clear stored names and teams instead of keeping them",
    )
    load.add_argument(
        "--no-warm",
        action="store_true",
        help="do not compute the dashboard's default views in the background after the load (they are "
        "computed when a page first asks; REPLYBOARD_NO_WARM=1 does the same for every load)",
    )
    migrate = sub.add_parser(
        "migrate",
        help="bring a warehouse written by an older version up to date (loads do this too), e.g. redact "
        "card numbers it stored in clear",
    )
    migrate.add_argument("--db", default=str(DEFAULT_DB), help=f"warehouse file (default {DEFAULT_DB})")
    migrate.add_argument("--no-wait", action="store_true", help="fail instead of waiting when a load runs")
    from etl import live

    live.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command == "migrate":
        return _migrate(Path(args.db), wait=not args.no_wait)
    if args.command != "load":
        return live.run(args)

    spools = [Path(p) for p in args.paths if Path(p).is_dir() and spool.is_spool(Path(p))]
    try:
        settings = load_settings(args.settings)
        paths = _expand(args.paths)
        if not paths:
            if spools:  # an empty webhook spool is nothing to do, not a mistake
                print("nothing waiting in the spool", file=sys.stderr)
                return 0
            raise SourceError(f"{', '.join(args.paths)}: no files to load")
        report = run_load(
            Path(args.db),
            paths,
            settings,
            source=args.source,
            mapping=Path(args.mapping) if args.mapping else None,
            progress=(lambda _: None) if args.quiet or args.json else stderr_progress,
            wait=not args.no_wait,
            replace=args.replace,
            warm=not args.no_warm,
        )
    except (SettingsError, SourceError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: the warehouse was not changed", file=sys.stderr)
        return 130

    failed = {Path(f.path) for f in report.files if f.error}
    for folder in spools:  # only now that the load has published: move what it read out of the spool
        inside = [p for p in paths if p.parent == folder]
        spool.archive(folder, [p for p in inside if p not in failed], [p for p in inside if p in failed])
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(load_table(report))
        print(f"run {report.run_id} in {report.seconds:.1f} s; warehouse {args.db}")
        rejected = report.total("rows_rejected")
        if rejected:
            print(
                f"{rejected:,} rows rejected: see the Data health page, or "
                f"SELECT * FROM rejected_rows WHERE run_id = {report.run_id}"
            )
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_USAGE if report.errors else 0


def _migrate(db: Path, *, wait: bool) -> int:
    try:
        applied = warehouse.upgrade(db, wait=wait)
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{db}: applied {', '.join(applied)}" if applied else f"{db}: up to date")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # output piped into `head` and cut short: the reader's choice, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
