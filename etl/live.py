"""The live-data subcommands of python -m etl: sync, receive, serve (parsers and what each runs)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path

from etl.sync.http import SyncError
from replyboard.settings import DEFAULT_SETTINGS_PATH, Settings, SettingsError, load_settings
from replyboard.warehouse import DEFAULT_DB, WarehouseError

EXIT_USAGE = 2


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default=str(DEFAULT_DB), help=f"warehouse file (default {DEFAULT_DB})")
    p.add_argument("--settings", help="settings YAML (default: settings.yaml in the repo)")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-09-01") from None


def add_parsers(sub: argparse._SubParsersAction) -> None:
    sync = sub.add_parser("sync", help="pull new and changed messages from Quo or Twilio (incremental; atomic)")
    sync.add_argument("source", choices=("quo", "twilio"))
    _common(sync)
    sync.add_argument("--since", type=_day, help="read from this day (UTC) instead of the saved high-water mark")
    sync.add_argument("--base-url", help="the API's address (a proxy, a test server); default the vendor's")
    sync.add_argument("--json", action="store_true", help="print one JSON object (the etl load keys) instead")
    sync.add_argument("--no-wait", action="store_true", help="fail instead of waiting when another load runs")

    receive = sub.add_parser("receive", help="run the webhook receiver (Quo, Twilio) that spools events")
    receive.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    receive.add_argument("--port", type=int, default=None, help="port (default 8788)")
    receive.add_argument("--spool", required=True, help="folder the accepted events are written to")
    receive.add_argument("--public-url", help="the URL Twilio calls, when a proxy sits in front")
    receive.add_argument("--settings", help="settings YAML (for sync.secrets_file)")

    serve = sub.add_parser("serve", help="receiver plus the schedule of syncs and spool loads in settings")
    _common(serve)
    serve.add_argument("--host", default=None, help="receiver address (default sync.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="receiver port (default sync.port, 8788)")
    serve.add_argument("--spool", help="webhook spool (default sync.spool, else <warehouse dir>/spool)")
    serve.add_argument("--public-url", help="the URL Twilio calls, when a proxy sits in front")


def _settings_dir(path: str | None) -> Path:
    return (Path(path) if path else DEFAULT_SETTINGS_PATH).resolve().parent


def _spool_dir(settings: Settings, given: str | None, db: str, settings_dir: Path) -> Path:
    if given:
        return Path(given)
    if settings.sync.spool:
        folder = Path(settings.sync.spool)
        return folder if folder.is_absolute() else settings_dir / folder
    return Path(db).resolve().parent / "spool"


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.settings)
        if args.command == "sync":
            return _sync(args, settings)
        if args.command == "receive":
            return _receive(args, settings)
        if args.command == "serve":
            return _serve(args, settings)
    except (SettingsError, SyncError, WarehouseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: the warehouse was not changed", file=sys.stderr)
        return 130
    raise AssertionError(args.command)


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from etl.load import stderr_progress
    from etl.sync.run import run_sync

    result = run_sync(
        args.source,
        Path(args.db),
        settings,
        settings_dir=_settings_dir(args.settings),
        since=args.since,
        base_url=args.base_url,
        progress=stderr_progress,
        wait=not args.no_wait,
    )
    report = result.report
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        from etl.load_table import load_table

        print(load_table(report))
        mark = result.high_water.isoformat() if result.high_water else "none yet"
        print(
            f"run {report.run_id} in {report.seconds:.1f} s, {result.requests} requests; "
            f"{args.source} high-water mark {mark}; warehouse {args.db}"
        )
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    return EXIT_USAGE if report.errors else 0


def _env(settings: Settings, settings_dir: Path) -> dict[str, str]:
    from etl.sync.run import secrets_path
    from etl.sync.secrets import merged_env

    return merged_env(os.environ, secrets_path(settings, settings_dir))


def _receive(args: argparse.Namespace, settings: Settings) -> int:
    from etl.receive import ReceiverConfig, serve_forever

    public_url = args.public_url or settings.sync.public_url
    config = ReceiverConfig.from_env(Path(args.spool), _env(settings, _settings_dir(args.settings)), public_url)
    host, port = args.host or settings.sync.host, args.port or settings.sync.port
    _announce(config, host, port)
    serve_forever(config, host, port)
    return 0


def _announce(config, host: str, port: int) -> None:
    missing = [
        name
        for name, value in (("QUO_WEBHOOK_SECRET", config.quo_secret), ("TWILIO_AUTH_TOKEN", config.twilio_token))
        if not value
    ]
    print(f"receive: listening on http://{host}:{port}, spooling to {config.spool}", file=sys.stderr, flush=True)
    for name in missing:
        print(f"warning: {name} is not set: that route answers 503 until it is", file=sys.stderr, flush=True)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    # The CLI edge into the presentation layer: importing digests.tasks registers the "digests" and "alerts"
    # tasks with etl.serve (the core itself never imports digests).
    import digests.tasks  # noqa: F401
    from etl.receive import ReceiverConfig
    from etl.serve import Context, serve

    settings_dir = _settings_dir(args.settings)
    env = _env(settings, settings_dir)
    spool_dir = _spool_dir(settings, args.spool, args.db, settings_dir)
    ctx = Context(Path(args.db), settings, settings_dir, spool_dir, env, progress=lambda _: None)
    host, port = args.host or settings.sync.host, args.port or settings.sync.port
    public_url = args.public_url or settings.sync.public_url
    _announce(ReceiverConfig.from_env(spool_dir, env, public_url), host, port)
    serve(ctx, host, port, public_url)
    return 0
