"""python -m etl serve: one long-running process for a real deployment.

It runs the webhook receiver (etl.receive) and, on the cron expressions of `schedule:` in the settings (in
the team timezone), the tasks in TASKS: "sync quo", "sync twilio", "load spool". Jobs run one at a time in a
scheduler thread (a warehouse has one writer anyway); each run is logged on stderr with its summary and
remembered in <db>.serve-state.json, so a job whose run came and went while the process was down runs once
on start (and a job that never ran runs on start too). A job that fails is logged and retried at its next
time; it never stops the receiver.

Extension point: register_task(name, fn) adds a task; settings.SCHEDULE_TASKS must name it too, so `schedule:`
validates. The digests package registers "digests" and "alerts" (issue 17) when etl serve's command line imports
it (etl.live); the core never imports it.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from croniter import croniter

from etl import spool
from etl.durable import write_durably
from replyboard.settings import ScheduleJob, Settings


@dataclass
class Context:
    db: Path
    settings: Settings
    settings_dir: Path | None
    spool: Path
    env: Mapping[str, str]
    progress: Callable[[str], None] = lambda _: None


Task = Callable[[Context], dict[str, Any]]
TASKS: dict[str, Task] = {}


def register_task(name: str, task: Task) -> None:
    TASKS[name] = task


def _sync(source: str) -> Task:
    def task(ctx: Context) -> dict[str, Any]:
        from etl.sync.run import run_sync

        result = run_sync(
            source, ctx.db, ctx.settings, settings_dir=ctx.settings_dir, env=dict(ctx.env), progress=ctx.progress
        )
        return result.as_json()

    return task


def _load_spool(ctx: Context) -> dict[str, Any]:
    report = spool.load_and_archive(ctx.db, ctx.spool, ctx.settings, progress=ctx.progress)
    return report.as_json() if report is not None else {"files": [], "rows_read": 0, "note": "spool empty"}


register_task("sync quo", _sync("quo"))
register_task("sync twilio", _sync("twilio"))
register_task("load spool", _load_spool)


def state_path(db: Path) -> Path:
    return Path(db).with_name(Path(db).name + ".serve-state.json")


def _key(job: ScheduleJob) -> str:
    return f"{job.run} @ {job.cron}"


def _brief(summary: dict[str, Any]) -> str:
    keys: tuple[str, ...] = ("rows_read", "rows_loaded", "rows_updated", "rows_rejected", "rows_duplicate")
    keys += ("sent", "skipped", "fired", "resolved", "failed")  # the digests and alerts tasks
    parts = [f"{k}={summary[k]}" for k in keys if k in summary]
    errors = summary.get("errors") or []
    return ", ".join(parts) + (f"; {len(errors)} error(s)" if errors else "")


@dataclass
class Scheduler:
    jobs: list[ScheduleJob]
    ctx: Context
    log: Callable[[str], None] = lambda text: print(text, file=sys.stderr, flush=True)
    now: Callable[[], datetime] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    runs: int = 0

    def _now(self) -> datetime:
        return self.now() if self.now else datetime.now(self.ctx.settings.zone)

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(state_path(self.ctx.db).read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        write_durably(state_path(self.ctx.db), json.dumps(state, indent=2, default=str).encode())

    def missed(self, job: ScheduleJob, now: datetime) -> bool:
        """Never ran, or a run time passed since the last run (the process was down)."""
        last = self._load_state().get(_key(job), {}).get("last_run")
        if not last:
            return True
        try:
            last_at = datetime.fromisoformat(last)
        except ValueError:
            return True
        return croniter(job.cron, last_at).get_next(datetime) <= now

    def run_job(self, job: ScheduleJob) -> dict[str, Any]:
        started = self._now()
        t0 = time.perf_counter()
        task = TASKS[job.run]
        try:
            summary = task(self.ctx)
            status = "ok" if not summary.get("errors") else "errors"
            self.log(f"serve: {job.run}: {status} in {time.perf_counter() - t0:.1f} s: {_brief(summary)}")
        except Exception as exc:  # a failed job is logged; the receiver and other jobs go on
            status, summary = "failed", {"error": str(exc)}
            self.log(f"serve: {job.run}: failed in {time.perf_counter() - t0:.1f} s: {exc}")
        state = self._load_state()
        state[_key(job)] = {"last_run": started.isoformat(), "status": status, "summary": summary}
        self._save_state(state)
        self.runs += 1
        return summary

    def run_forever(self) -> None:
        now = self._now()
        due = {_key(j): now if self.missed(j, now) else croniter(j.cron, now).get_next(datetime) for j in self.jobs}
        for job in self.jobs:
            if due[_key(job)] <= now:
                self.log(f"serve: {job.run}: missed or never run; running now")
        while not self.stop.is_set():
            now = self._now()
            for job in self.jobs:
                if self.stop.is_set():
                    return
                if due[_key(job)] <= now:
                    self.run_job(job)
                    due[_key(job)] = croniter(job.cron, self._now()).get_next(datetime)
            wait = min((at - self._now()).total_seconds() for at in due.values()) if due else 3600
            self.stop.wait(max(0.05, min(wait, 60)))


def serve(ctx: Context, host: str, port: int, public_url: str | None) -> None:
    from etl.receive import ReceiverConfig, create_app, uvicorn_server

    config = ReceiverConfig.from_env(ctx.spool, ctx.env, public_url)
    jobs = list(ctx.settings.schedule)
    scheduler = Scheduler(jobs, ctx)
    thread = threading.Thread(target=scheduler.run_forever, name="replyboard-scheduler", daemon=True)
    print(
        f"serve: receiver on http://{host}:{port} (spool {ctx.spool}); "
        + (", ".join(f"{j.run} at '{j.cron}'" for j in jobs) or "no schedule: add `schedule:` to the settings"),
        file=sys.stderr,
        flush=True,
    )
    thread.start()
    server = uvicorn_server(create_app(config), host, port)
    try:
        server.run()
    finally:
        scheduler.stop.set()
        if thread.is_alive():
            print("serve: waiting for the running job to finish", file=sys.stderr, flush=True)
        thread.join()
