"""One sync run: fetch what changed since the published mark, save the pages, load them, publish with the mark.

The load is etl.load.run_load over the saved pages, so a sync gives exactly what loading the same pages from
files gives; the sync state, the API's line and user names and the Quo conversation objects are written by
its before_publish hook, in the same private copy of the warehouse, so they publish together with the data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb

from etl import ownership
from etl.load import LoadReport, run_load
from etl.sync import state
from etl.sync.http import SyncError
from etl.sync.pages import RunFolder
from etl.sync.quo import QuoFetcher
from etl.sync.secrets import Credentials
from etl.sync.twilio import TwilioFetcher
from replyboard.settings import Settings

SOURCES = ("quo", "twilio")


@dataclass
class SyncResult:
    source: str
    account: str
    report: LoadReport
    high_water: datetime | None
    requests: int
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.report.as_json(),
            "source": self.source,
            "account": self.account,
            "high_water": self.high_water.isoformat() if self.high_water else None,
            "requests": self.requests,
            "warnings": self.warnings,
        }


def sync_folder(db: Path, settings: Settings, settings_dir: Path | None) -> Path:
    if settings.sync.folder:
        folder = Path(settings.sync.folder)
        return folder if folder.is_absolute() or settings_dir is None else settings_dir / folder
    return Path(db).resolve().parent / "sync"


def secrets_path(settings: Settings, settings_dir: Path | None) -> Path | None:
    if not settings.sync.secrets_file:
        return None
    path = Path(settings.sync.secrets_file)
    return path if path.is_absolute() or settings_dir is None else settings_dir / path


def _fetcher(source: str, creds: Credentials, settings: Settings, base_url: str | None, progress):
    if source == "quo":
        return QuoFetcher(creds, settings, base_url, progress)
    if source == "twilio":
        return TwilioFetcher(creds, settings, base_url, progress)
    raise SyncError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")


def _start(since: date | None, mark: datetime | None, settings: Settings) -> datetime | None:
    """Where this run reads from: --since, else the mark less the re-read window, else the beginning."""
    if since is not None:
        return datetime.combine(since, time(0), tzinfo=UTC)
    if mark is None:
        return None
    return mark - timedelta(hours=settings.sync.reread_hours)


def run_sync(
    source: str,
    db: Path,
    settings: Settings,
    *,
    settings_dir: Path | None = None,
    since: date | None = None,
    base_url: str | None = None,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _: None,
    wait: bool = True,
) -> SyncResult:
    creds = Credentials(env, secrets_path(settings, settings_dir))
    fetcher = _fetcher(source, creds, settings, base_url, progress)
    mask = fetcher.secrets.mask
    try:
        previous = state.read_state(db, source, fetcher.account)
        start = _start(since, previous.high_water, settings)
        progress(
            f"{source}: fetching " + (f"changes since {start.isoformat()}" if start else "everything (first sync)")
        )
        run = RunFolder(sync_folder(db, settings, settings_dir), source, fetcher.account)
        leftovers = run.leftovers()
        try:
            fetched = fetcher.fetch(start, run)
        except SyncError as exc:
            message = mask(str(exc))
            _note_error(db, source, fetcher.account, message, progress)
            raise type(exc)(message) from None
        for warning in fetched.warnings:
            progress(f"warning: {mask(warning)}")
        files = [p for folder in leftovers for p in RunFolder.loadable(folder)] + fetched.files
        if leftovers:
            progress(f"{source}: also loading {len(leftovers)} unfinished earlier run(s)")
        known = {line.source_id for line in settings.lines if line.source_id}
        extra = [line for line in fetched.lines if line.source_id not in known]
        load_settings = settings.model_copy(update={"lines": [*settings.lines, *extra]}) if extra else settings

        def before_publish(con: duckdb.DuckDBPyConnection, report: LoadReport) -> None:
            if report.errors:  # a page that could not be read: keep the old mark so it is fetched again
                state.record_error(con, source, fetcher.account, mask("; ".join(report.errors)))
            else:
                state.record_success(con, source, fetcher.account, report.run_id, fetched.high_water, fetched.cursor)
            _save_names(con, fetched.agent_names)
            # saved after the load's derivation: the owners of the pairs whose objects changed follow them now
            ownership.remember_sync_conversations(con)
            state.save_conversations(con, source, fetched.conversations, report.run_id or 0)
            ownership.reassign_changed_sync_conversations(con)

        report = run_load(db, files, load_settings, progress=progress, wait=wait, before_publish=before_publish)
        run.finish([*leftovers, run.path], keep=settings.sync.keep_pages)
        return SyncResult(
            source,
            fetcher.account,
            report,
            fetched.high_water,
            fetcher.client.requests,
            [mask(w) for w in fetched.warnings],
        )
    finally:
        fetcher.close()


def _note_error(db: Path, source: str, account: str, message: str, progress: Callable[[str], None]) -> None:
    try:
        state.save_error(db, source, account, message)
    except Exception as exc:  # the sync's own error is the one to report
        progress(f"warning: could not record the error in the warehouse ({type(exc).__name__})")


def _save_names(con: duckdb.DuckDBPyConnection, names: dict[str, str]) -> None:
    """Users' names from the API fill agents that have none (a name from an agents file is kept); users who
    never sent a message are not added as agents."""
    rows = [(name, agent) for agent, name in names.items() if name]
    if rows:
        con.executemany("UPDATE agents SET name = ? WHERE agent_id = ? AND name IS NULL", rows)
