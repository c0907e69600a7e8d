"""python -m etl serve: the receiver plus the cron schedule from settings, as a real process on a real port;
missed runs after downtime run once on start; each run logged with its summary."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from etl import spool
from etl.serve import Context, Scheduler, state_path
from replyboard.settings import ScheduleJob, SettingsError, load_settings
from tests.fake_vendors import FakeQuo
from tests.helpers import ROOT, team_settings
from tests.test_receive import SECRET, quo_event, signed_quo
from tests.test_sync import DAY, rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event_bytes(n: int, minutes: int) -> bytes:
    fake = FakeQuo()
    m = fake.add_message("PNsupport01", f"+1555040{n:04d}", "incoming", DAY + timedelta(minutes=minutes), f"hi {n}")
    m["id"] = f"AC{n:08d}"
    return json.dumps(quo_event(m, f"CN{n}", n)).encode()


def write_settings(tmp_path: Path, spool_dir: Path, cron: str) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "timezone": "America/New_York",
                "sync": {"spool": str(spool_dir)},
                "schedule": [{"run": "load spool", "cron": cron}],
            }
        )
    )
    return path


class Served:
    def __init__(self, tmp_path: Path, settings: Path, db: Path) -> None:
        self.port = free_port()
        self.log = (tmp_path / f"serve-{self.port}.log").open("w+")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "etl",
                "serve",
                "--db",
                str(db),
                "--settings",
                str(settings),
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env={**os.environ, "QUO_WEBHOOK_SECRET": SECRET},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_for(self.healthy, "the receiver to answer")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).text == "ok"
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def wait_for(self, condition, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.proc.poll() is None, f"serve exited ({self.proc.returncode}): {self.output()[-2000:]}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.output()[-2000:]}"
            time.sleep(0.1)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self.log.close()
        return code


def count(db: Path) -> int:
    return rows(db, "SELECT count(*) FROM messages")[0][0] if db.exists() else 0


def test_serve_runs_missed_jobs_on_start_receives_webhooks_and_logs_each_run(tmp_path):
    spool_dir = spool.prepare(tmp_path / "spool")
    spool.store(spool_dir, "quo", "first", event_bytes(1, 0))
    db = tmp_path / "w.duckdb"
    settings = write_settings(tmp_path, spool_dir, "0 3 1 1 *")  # once a year: only "missed" can run it now

    first = Served(tmp_path, settings, db)
    first.wait_for(lambda: "serve: load spool: ok" in first.output(), "the never-run job to run on start")
    assert count(db) == 1
    assert "rows_read=1, rows_loaded=1" in first.output()
    raw = event_bytes(2, 5)
    assert httpx.post(f"{first.url}/webhooks/quo", content=raw, headers=signed_quo(raw, "msg_2")).status_code == 200
    assert first.stop() == 0
    state = json.loads(state_path(db).read_text())
    (entry,) = state.values()
    assert entry["status"] == "ok" and entry["summary"]["rows_loaded"] == 1

    # restarted soon after: nothing was missed, so the job waits for its time and the new event waits too
    second = Served(tmp_path, settings, db)
    time.sleep(1.5)
    assert "missed or never run" not in second.output() and count(db) == 1
    assert second.stop() == 0

    # down for a long time: the run that passed while it was down happens once, on start
    entry["last_run"] = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    state_path(db).write_text(json.dumps(state))
    third = Served(tmp_path, settings, db)
    third.wait_for(lambda: count(db) == 2, "the missed run to load the waiting event")
    assert third.output().count("serve: load spool: ok") == 1
    assert third.stop() == 0
    assert len(list((spool_dir / spool.LOADED).iterdir())) == 2


def test_scheduler_missed_logic_and_a_failing_job_does_not_stop_it(tmp_path):
    settings = team_settings(schedule=[{"run": "sync quo", "cron": "0 * * * *"}])
    ctx = Context(tmp_path / "w.duckdb", settings, tmp_path, tmp_path / "spool", env={})
    logs: list[str] = []
    scheduler = Scheduler(list(settings.schedule), ctx, log=logs.append)
    (job,) = settings.schedule
    now = datetime(2026, 9, 14, 10, 30, tzinfo=settings.zone)
    assert scheduler.missed(job, now)  # never ran
    summary = scheduler.run_job(job)  # no QUO_API_KEY: the job fails, is logged, and is remembered
    assert "QUO_API_KEY is not set" in summary["error"] and "serve: sync quo: failed" in logs[-1]
    state = json.loads(state_path(ctx.db).read_text())
    key = next(iter(state))
    state[key]["last_run"] = datetime(2026, 9, 14, 10, 5, tzinfo=settings.zone).isoformat()
    state_path(ctx.db).write_text(json.dumps(state))
    assert not scheduler.missed(job, now)  # 10:05 ran; 11:00 has not come
    assert scheduler.missed(job, now + timedelta(hours=1))


@pytest.mark.parametrize(
    ("schedule", "needle"),
    [
        ([{"run": "sync quo", "cron": "every hour"}], "schedule.0.cron"),
        ([{"run": "sync salesforce", "cron": "0 * * * *"}], "is not a task"),
        ([{"run": "sync quo"}], "schedule.0.cron"),
    ],
)
def test_bad_schedule_is_reported_with_its_key(tmp_path, schedule, needle):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"schedule": schedule}))
    with pytest.raises(SettingsError, match=needle):
        load_settings(path)


def test_schedule_job_normalises_the_task_name():
    assert ScheduleJob(run="  Sync   QUO ", cron="*/15 * * * *").run == "sync quo"


def test_etl_receive_process_spools_and_stops_cleanly_on_sigterm(tmp_path):
    from tests.fake_vendors import TOKEN
    from tests.test_receive import twilio_post

    port = free_port()
    folder = tmp_path / "spool"
    log = (tmp_path / "receive.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "etl", "receive", "--spool", str(folder), "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "TWILIO_AUTH_TOKEN": TOKEN, "QUO_WEBHOOK_SECRET": ""},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    params = {"MessageSid": "SM" + "f" * 32, "SmsStatus": "received", "From": "+15550300005", "To": "+15550100010"}
    assert twilio_post(base, {**params, "Body": "hello"}).status_code == 200
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    log.seek(0)
    output = log.read()
    assert "QUO_WEBHOOK_SECRET is not set" in output and TOKEN not in output
    assert len([p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]) == 1
