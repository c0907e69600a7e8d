"""Alerts (issue 17): episodes on a timeline of real loads, notices to a local webhook receiver (signatures
checked with the standardwebhooks package), email to a local SMTP server, and the serve tasks.

The timeline is a Monday (2026-10-19, New York, open 09:00-12:00 and 13:00-17:00): each step loads a canonical CSV
into the warehouse, then checks the rules at a given instant.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from digests.alerts import AlertRequest, run_alerts
from digests.deliver import RetryPolicy
from etl.load import run_load
from metrics.__main__ import main
from metrics.rows import rows
from replyboard.appstate import Action, AppState, Target, state_path
from replyboard.settings import Settings
from replyboard.warehouse import connect_readonly
from tests.digest_servers import CERT, SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET, Mailbox, SmtpServer
from tests.helpers import team_settings

NY = ZoneInfo("America/New_York")
LINE = "+15550100999"
FAST = RetryPolicy(attempts=2, backoff_seconds=0.01)
HEADER = ["message_id", "created_at", "direction", "line_number", "contact_number", "agent_id", "is_automated", "body"]


def at(hour: int, minute: int, day: int = 19) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=NY)


def text(mid: str, when: datetime, contact: str, body: str, agent: str = "") -> list[str]:
    direction = "outbound" if agent else "inbound"
    stamp = when.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [mid, stamp, direction, LINE, contact, agent, "false", body]


class Timeline:
    """A warehouse that grows by loads, checked by the alert rules after each step."""

    def __init__(self, tmp_path: Path, settings: Settings, httpserver, env: dict[str, str]) -> None:
        self.tmp, self.settings, self.env = tmp_path, settings, env
        self.db = tmp_path / "live.duckdb"
        self.steps = 0
        self.received: dict[str, list[dict]] = {}
        self.server = httpserver
        for rule in settings.alerts:
            path = f"/hooks/{rule.name}"
            self.received[rule.name] = []
            httpserver.expect_request(path, method="POST").respond_with_handler(self._handler(rule.name))
            env[rule.url_variable] = httpserver.url_for(path)
        env["DIGEST_WEBHOOK_SECRET"] = WEBHOOK_SECRET
        self.load([["ag_01", "Sam Rivera", "Care"]], header=["agent_id", "name", "team"], name="agents")

    def _handler(self, rule: str):  # type: ignore[no-untyped-def]
        def handle(request: Request) -> Response:
            body = request.get_data()
            headers = {k.lower(): v for k, v in request.headers.items()}
            self.received[rule].append(Webhook(WEBHOOK_SECRET).verify(body, headers))  # refuses a bad signature
            return Response("", status=204)

        return handle

    def load(self, records: list[list[str]], header: list[str] = HEADER, name: str = "messages") -> None:
        self.steps += 1
        path = self.tmp / f"{self.steps:02d}_{name}.csv"
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([header, *records])
        report = run_load(self.db, [path], self.settings)
        assert not report.errors

    def check(self, when: datetime, dry_run: bool = False) -> list[str]:
        said: list[str] = []
        request = AlertRequest(db=self.db, settings=self.settings, at=when, env=self.env, retry=FAST, dry_run=dry_run)
        result = run_alerts(request, said.append, said.append)
        assert not result.failed, result.failed
        return said

    def kinds(self, rule: str) -> list[str]:
        return [p["type"].rsplit(".", 1)[1] for p in self.received[rule]]


def settings_with(*alerts: dict) -> Settings:
    return team_settings(dashboard_url="https://replyboard.example.com", alerts=list(alerts))


WAITING = {
    "name": "customer-waiting",
    "rule": "customer_waiting",
    "minutes": 30,
    "channel": "webhook",
    "url_env": "WAITING_URL",
}
STALE = {"name": "stale", "rule": "stale_data", "max_age_hours": 1, "channel": "webhook", "url_env": "STALE_URL"}


def test_a_waiting_customer_fires_once_and_clears_once(tmp_path: Path, httpserver) -> None:
    t = Timeline(tmp_path, settings_with(WAITING, STALE), httpserver, {})
    t.load(
        [
            text("m1", at(9, 50), "+15551110001", "where is my driver?"),
            text("m2", at(9, 55), "+15551110002", "hi, a question about my booking"),
            text("m3", at(10, 0), "+15551110002", "Happy to help, what is it?", agent="ag_01"),
        ]
    )
    assert t.check(at(10, 10)) == []  # 20 minutes: not yet
    t.check(at(10, 25))  # 35 business minutes: fires
    t.check(at(10, 40))  # still waiting: the same episode, no second notice
    assert t.kinds("customer-waiting") == ["firing"]
    [fired] = t.received["customer-waiting"]
    assert fired["title"] == "1 customer has waited over 30 business minutes for a reply"
    assert "•••0001 on •••0999" in fired["text"]  # the customer masked; the line has no name, so masked too
    assert "waiting 35 min of opening time since Mon 19 Oct 2026 09:50" in fired["text"]
    assert fired["link"].startswith("https://replyboard.example.com/queues?queue=waiting&dates=2026-10-13")
    assert "hours=business" in fired["link"]

    t.load([text("m4", at(10, 45), "+15551110001", "Your driver is 2 minutes away", agent="ag_01")])
    t.check(at(10, 50))
    t.check(at(11, 0))
    assert t.kinds("customer-waiting") == ["firing", "resolved"]
    assert t.received["customer-waiting"][1]["title"] == "No customer is waiting over 30 business minutes now"

    # 11:55 to 13:20 is 85 minutes, 25 of them open (lunch is closed): business time does not fire yet
    t.load([text("m5", at(11, 55), "+15551110003", "can I change my pickup address?")])
    t.check(at(13, 20))
    assert t.kinds("customer-waiting") == ["firing", "resolved"]
    t.check(at(13, 30))
    assert t.kinds("customer-waiting") == ["firing", "resolved", "firing"]  # a new episode

    # a lead marks the block "no reply needed" on the dashboard: the read layer leaves it out, the episode ends
    con = connect_readonly(t.db)
    try:
        [block] = rows(con, "unanswered_inquiries").frame["block_id"].to_list()
    finally:
        con.close()
    AppState(state_path(t.db)).annotate(Target.BLOCK, block, Action.NO_REPLY_NEEDED, author="lead")
    t.check(at(13, 35))
    assert t.kinds("customer-waiting") == ["firing", "resolved", "firing", "resolved"]

    episodes = AppState(state_path(t.db)).episodes("customer-waiting")
    assert [(e.open, e.fired, e.resolved) for e in episodes] == [(False, "sent", "sent")] * 2

    # stale data: the newest message (11:55) is more than an hour old at 13:20; a new message clears it
    assert t.kinds("stale") == ["firing"]
    assert t.received["stale"][0]["values"]["newest"].startswith("2026-10-19T15:55")  # UTC
    assert "The newest message loaded is from Mon 19 Oct 2026 11:55" in t.received["stale"][0]["text"]
    t.load([text("m6", at(13, 40), "+15551110003", "Yes, send me the new address", agent="ag_01")])
    t.check(at(13, 45))
    assert t.kinds("stale") == ["firing", "resolved"]
    assert t.kinds("customer-waiting") == ["firing", "resolved", "firing", "resolved"]


def test_a_notice_that_cannot_be_delivered_is_tried_again_next_run(tmp_path: Path, httpserver) -> None:
    settings = settings_with(STALE)
    t = Timeline(tmp_path, settings, httpserver, {})
    t.load([text("m1", at(9, 0), "+15551110001", "hello")])
    t.env["STALE_URL"] = "http://127.0.0.1:1/nobody-listens"
    said: list[str] = []
    request = AlertRequest(db=t.db, settings=settings, at=at(11, 0), env=t.env, retry=FAST)
    result = run_alerts(request, said.append, said.append)
    assert len(result.failed) == 1 and "not delivered after 2 attempts" in result.failed[0]
    [episode] = AppState(state_path(t.db)).episodes("stale")
    assert (episode.fired, episode.fired_attempts) == ("failed", 2)
    t.env["STALE_URL"] = httpserver.url_for("/hooks/stale")
    t.check(at(11, 5))  # the same episode: its firing notice goes out now, once
    t.check(at(11, 10))
    assert t.kinds("stale") == ["firing"]


def test_key_result_status_episodes_follow_checkins(tmp_path: Path, httpserver) -> None:
    definitions = tmp_path / "okrs"
    definitions.mkdir()
    (definitions / "2026-10.yaml").write_text(
        yaml.safe_dump(
            {
                "period": "2026-10",
                "start": "2026-10-01",
                "end": "2026-10-31",
                "objectives": [
                    {
                        "id": "helpful",
                        "title": "Customers get help",
                        "key_results": [
                            {
                                "id": "guide",
                                "type": "manual",
                                "title": "Write the texting guide",
                                "checkins": [{"date": "2026-10-05", "value": 0.2}],
                            },
                            {
                                "id": "fast",
                                "title": "Answer the same day",
                                "metric": "same_business_day_response_rate",
                                "comparator": "gte",
                                "target": 0.5,
                                "hours": "business",
                            },
                        ],
                    }
                ],
            }
        )
    )
    rule = {"name": "okr-status", "rule": "kr_status", "channel": "webhook", "url_env": "OKR_URL"}
    t = Timeline(tmp_path, settings_with(rule), httpserver, {})
    t.load([text("m1", at(9, 0), "+15551110001", "hello"), text("m2", at(9, 5), "+15551110001", "Hi!", "ag_01")])

    def check(when: datetime) -> None:
        request = AlertRequest(db=t.db, settings=t.settings, at=when, env=t.env, retry=FAST, definitions=definitions)
        assert not run_alerts(request, lambda _: None, lambda _: None).failed

    check(at(10, 0))  # guide: 20% done where 61% is expected: off track; fast: 100% same day, on track
    check(at(11, 0))
    [fired] = t.received["okr-status"]
    assert fired["title"] == "guide is off track" and fired["scope"] == "2026-10/guide"
    assert "is off track: 20.0% against a target of 100%; progress 20% where 61% is expected" in fired["text"]
    assert fired["link"] == "https://replyboard.example.com/?okr_period=2026-10"
    AppState(state_path(t.db)).add_checkin("2026-10", "guide", at(10, 0).date(), 0.6, author="lead")  # dashboard
    check(at(12, 0))
    assert t.kinds("okr-status") == ["firing", "resolved"]
    assert t.received["okr-status"][1]["title"] == "guide is on track again"


def test_same_day_rate_fires_for_its_day_and_the_day_end_resolves_it(tmp_path: Path, httpserver) -> None:
    rule = {
        "name": "same-day",
        "rule": "same_day_rate",
        "below": 0.8,
        "min_n": 3,
        "channel": "webhook",
        "url_env": "SAME_DAY_URL",
    }
    t = Timeline(tmp_path, settings_with(rule), httpserver, {})
    t.load(
        [
            text("m1", at(9, 0), "+15551110001", "first question"),
            text("m2", at(9, 5), "+15551110002", "second question"),
            text("m3", at(9, 10), "+15551110003", "third question"),
            text("m4", at(9, 30), "+15551110001", "Answered!", agent="ag_01"),
        ]
    )
    said = t.check(at(10, 0))  # only one inquiry can be judged yet (the others' day is not over): not judged
    assert t.kinds("same-day") == []
    t.load([text("m5", at(17, 20), "+15551110004", "are you open?")])  # the data now runs past 17:00
    t.check(at(17, 25))
    [fired] = t.received["same-day"]
    assert fired["title"] == "Same-business-day rate 33.3% today, under 80.0%"
    assert fired["values"] == {"day": "2026-10-19", "rate": pytest.approx(1 / 3), "n": 3, "below": 0.8, "min_n": 3}
    assert "queue=same-day" in fired["link"] and "dates=2026-10-19&dates=2026-10-19" in fired["link"]
    t.check(at(9, 0, day=20))  # a new day: yesterday's episode is over
    assert t.kinds("same-day") == ["firing", "resolved"]
    assert said == []


def test_dry_run_changes_nothing(tmp_path: Path, httpserver) -> None:
    t = Timeline(tmp_path, settings_with(WAITING), httpserver, {})
    t.load([text("m1", at(9, 50), "+15551110001", "where is my driver?")])
    said = t.check(at(10, 30), dry_run=True)
    assert said == [
        "customer-waiting: would fire: 1 customer has waited over 30 business minutes for a reply -> webhook "
        "(WAITING_URL)"
    ]
    assert t.received["customer-waiting"] == [] and AppState(state_path(t.db)).episodes() == []


def _customer_waiting_since_9_50(
    tmp_path: Path, rule: dict, smtp_port: int, access_file: str | None = None
) -> tuple[Path, Path]:
    """A warehouse whose one customer has waited since 09:50, and a settings file with `rule` and the local SMTP
    server (and the access file, relative to the settings file)."""
    settings = team_settings(alerts=[rule], smtp={"host": "localhost", "port": smtp_port}).model_dump(mode="json")
    if access_file:
        settings["access_file"] = access_file
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    db = tmp_path / "w.duckdb"
    messages = tmp_path / "m.csv"
    with messages.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, text("m1", at(9, 50), "+15551110001", "where is my driver?")])
    run_load(db, [messages], team_settings())
    return db, path


def test_alerts_cli_emails_a_lead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    box = Mailbox()
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
    monkeypatch.setenv("SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    with SmtpServer(box) as server:
        rule = {
            "name": "customer-waiting",
            "rule": "customer_waiting",
            "minutes": 30,
            "recipients": ["care-lead@example.com"],
        }
        db, path = _customer_waiting_since_9_50(tmp_path, rule, server.port)
        args = ["alerts", "--db", str(db), "--settings", str(path), "--at", "2026-10-19T10:30"]
        assert main([*args, "--send"]) == 0
        assert main([*args, "--send"]) == 0  # once per episode
    [message] = box.messages
    assert message["Subject"].strip() == "[Replyboard] 1 customer has waited over 30 business minutes for a reply"
    assert box.envelopes[0][1] == ["care-lead@example.com"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert "Threshold: 30 business minutes." in body and "http://127.0.0.1:8501/queues?queue=waiting" in body
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Open it on the dashboard" in html and "<style" not in html
    out = capsys.readouterr()
    assert "no alert fired or resolved" in out.out and SMTP_PASSWORD not in out.out + out.err


def test_unknown_rule_is_a_clear_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "w.duckdb"
    messages = tmp_path / "m.csv"
    with messages.open("w", newline="") as f:
        csv.writer(f).writerows([HEADER, text("m1", at(9, 50), "+15551110001", "hi")])
    run_load(db, [messages], team_settings())
    assert main(["alerts", "--db", str(db), "--rule", "nope", "--dry-run"]) == 2
    assert "no alert rule nope in the settings" in capsys.readouterr().err


def test_serve_runs_the_alerts_and_digests_tasks(tmp_path: Path, httpserver) -> None:
    import digests.tasks  # noqa: F401  (etl serve's command line imports it: the tasks register themselves)
    from etl.serve import TASKS, Context, Scheduler
    from replyboard.settings import ScheduleJob

    assert {"digests", "alerts"} <= set(TASKS)
    settings = settings_with(STALE)
    t = Timeline(tmp_path, settings, httpserver, {})
    t.load([text("m1", at(9, 0), "+15551110001", "hello")])
    ctx = Context(t.db, settings, None, tmp_path / "spool", t.env)
    logs: list[str] = []
    scheduler = Scheduler([ScheduleJob(run="alerts", cron="*/5 * * * *")], ctx, log=logs.append)
    summary = scheduler.run_job(scheduler.jobs[0])  # now: the data is months old, the stale rule fires
    assert summary["fired"] == 1 and t.kinds("stale") == ["firing"]
    assert "serve: alerts: ok" in logs[0] and "fired=1" in logs[0]
    digest_job = ScheduleJob(run="digests", cron="*/15 * * * *")
    assert Scheduler([digest_job], ctx, log=logs.append).run_job(digest_job) == {
        "sent": 0,
        "skipped": 0,
        "failed": 0,
        "errors": [],
    }
    state = json.loads((t.db.with_name(t.db.name + ".serve-state.json")).read_text())
    assert state["alerts @ */5 * * * *"]["status"] == "ok"


def test_etl_serve_sends_the_digest_and_the_alert_on_its_schedule(
    sample_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real process: `python -m etl serve` runs the digests and alerts tasks (never run yet: on start) and
    both arrive at the local SMTP server."""
    from tests.digest_servers import write_settings
    from tests.test_serve import Served

    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
    monkeypatch.setenv("SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    box = Mailbox()
    with SmtpServer(box) as server:
        settings = write_settings(
            tmp_path,
            smtp={"host": "localhost", "port": server.port, "sender": "Replyboard <digests@example.com>"},
            digests=[{"name": "daily", "report": "yesterday", "cadence": "0 7 * * *", "skip_if_empty": False,
                      "recipients": ["manager@example.com"]}],
            alerts=[{"name": "stale-sync", "rule": "stale_data", "max_age_hours": 6,
                     "recipients": ["ops@example.com"]}],
            schedule=[{"run": "digests", "cron": "0 3 1 1 *"}, {"run": "alerts", "cron": "0 3 1 1 *"}],
            sync={"spool": str(tmp_path / "spool")},
        )  # fmt: skip
        served = Served(tmp_path, settings, sample_copy)
        try:
            served.wait_for(lambda: len(box.messages) == 2, "the digest and the alert to arrive", timeout=180)
            served.wait_for(lambda: "serve: alerts: ok" in served.output(), "the alerts run to be logged")
            log = served.output()
        finally:
            assert served.stop() == 0
    assert "serve: digests: ok" in log and "sent=1" in log and "fired=1" in log
    subjects = sorted(m["Subject"].strip() for m in box.messages)
    assert subjects[0].startswith("Yesterday: ") and subjects[1].startswith("[Replyboard] No new messages for ")
    assert SMTP_PASSWORD not in log


def test_with_an_access_file_alerts_email_only_those_who_see_everything(  # type: ignore[no-untyped-def]
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Alerts count every team and line: with an access file, the manager gets the email (the control), a lead
    and someone the file does not name get none, and each one left out is said."""
    box = Mailbox()
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))
    monkeypatch.setenv("SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    (tmp_path / "access.yaml").write_text(
        yaml.safe_dump(
            {
                "people": [
                    {"email": "boss@example.com", "role": "manager"},
                    {"email": "care-lead@example.com", "role": "lead", "teams": ["Care"]},
                ]
            }
        )
    )
    with SmtpServer(box) as server:
        rule = {
            "name": "customer-waiting",
            "rule": "customer_waiting",
            "minutes": 30,
            "recipients": ["boss@example.com", "care-lead@example.com", "stranger@example.com"],
        }
        db, path = _customer_waiting_since_9_50(tmp_path, rule, server.port, access_file="access.yaml")
        args = ["alerts", "--db", str(db), "--settings", str(path), "--at", "2026-10-19T10:30", "--send"]
        assert main(args) == 0
    assert len(box.messages) == 1 and box.envelopes[0][1] == ["boss@example.com"]
    err = capsys.readouterr().err
    assert "care-lead@example.com is a lead, and alerts count every team and line: no alert to them" in err
    assert "stranger@example.com is not in the access file" in err
