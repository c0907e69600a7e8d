"""Digests (issue 17): `python -m metrics digest` on the demo warehouse, delivered to real local servers.

An aiosmtpd server (STARTTLS + AUTH, implicit TLS, plain) receives the email; pytest-httpserver stands in for
Slack and a webhook receiver (its signature checked with the standardwebhooks package); golden snapshots pin the
HTML and text; every send is recorded in the app-state store and never repeated for its period.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml
from standardwebhooks.webhooks import Webhook
from werkzeug import Request, Response

from digests import schedule
from digests.deliver import RetryPolicy
from digests.run import Request as DigestRequest
from digests.run import run as run_digests
from metrics import okr
from metrics.__main__ import main
from metrics.annotations import checkins_for, overlay_for
from metrics.compiler import Filters
from metrics.params import Params
from metrics.query import compare
from replyboard.appstate import AppState, state_path
from replyboard.settings import SettingsError, load_settings
from replyboard.warehouse import connect_readonly
from tests.digest_golden import GOLDEN, GOLDEN_AS_OF, golden_settings, rendered
from tests.digest_servers import (
    CERT,
    SMTP_PASSWORD,
    SMTP_USER,
    WEBHOOK_SECRET,
    Mailbox,
    SmtpServer,
    parts,
    write_settings,
)

AS_OF = "2026-09-20"
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01)
KR_TITLES = {
    "same-business-day-replies": "All incoming texts answered within the same business day",
    "csat-above-7": "Customers rate their SMS customer service experience above a 7 on a 1-9 scale",
    "repeat-customers": "Customers become repeat users of our SMS customer service",
}


@pytest.fixture
def db(sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the demo warehouse (its store, beside it, is private too)."""
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    target = tmp_path / "demo.duckdb"
    shutil.copyfile(sample_warehouse, target)
    return target


@pytest.fixture
def smtp_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(CERT))  # trust the test certificate, as a company CA would be
    monkeypatch.setenv("SMTP_USER", SMTP_USER)
    monkeypatch.setenv("SMTP_PASSWORD", SMTP_PASSWORD)


def email_settings(tmp_path: Path, port: int, security: str = "starttls", **sub: object) -> Path:
    subscription = {"name": "monday-okrs", "report": "okr", "recipients": ["manager@example.com", "lead@example.com"]}
    return write_settings(
        tmp_path,
        dashboard_url="https://replyboard.example.com",
        smtp={"host": "localhost", "port": port, "security": security, "sender": "Replyboard <digests@example.com>"},
        digests=[{**subscription, **sub}],
    )


def digest(*args: str) -> int:
    return main(["digest", *args])


def _html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


# ---- --out and --dry-run ---------------------------------------------------------------------------------------


def test_out_writes_html_text_pngs_and_csvs(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert digest("--db", str(db), "--as-of", AS_OF, "--out", str(out)) == 0
    files = sorted(p.name for p in out.iterdir())
    pngs = [f for f in files if f.endswith(".png")]
    assert {"digest.html", "digest.txt", "headline.csv", "key-results.csv"} <= set(files)
    assert pngs == sorted(f"kr-{kr}.png" for kr in (*KR_TITLES, "agent-training-resource", "promote-sms-support"))
    for png in pngs:
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000  # a drawn chart, not an empty image
    html = (out / "digest.html").read_text()
    assert all(f'src="{png}"' in html for png in pngs)  # digest.html opens with its charts beside it
    assert "<style" not in html and 'style="' in html  # the CSS is inlined
    text = (out / "digest.txt").read_text()
    for kr, title in KR_TITLES.items():
        assert title in html and title in text and kr in text
    csv = (out / "key-results.csv").read_text().splitlines()
    assert csv[0].startswith("objective,key_result,title,status,previous_status,current")
    assert any(line.startswith("customer-satisfaction,repeat-customers,") and "off track" in line for line in csv)
    assert "wrote" in capsys.readouterr().out


def test_dry_run_says_what_would_be_sent_to_whom_and_sends_nothing(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    box = Mailbox()
    with SmtpServer(box, "none") as server:
        settings = email_settings(tmp_path, server.port, "none")
        assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send", "--dry-run") == 0
        written = tmp_path / "dry"
        assert digest("--db", str(db), "--as-of", AS_OF, "--out", str(written), "--dry-run") == 0
    out = capsys.readouterr().out
    assert 'monday-okrs (as of 2026-09-20): would send "OKR digest: 14–20 Sep 2026" by email to ' in out
    assert "manager@example.com, lead@example.com (5 charts, 2 CSV)" in out
    assert f"would write {written}: digest.html, digest.txt" in out
    assert box.messages == [] and not written.exists() and not state_path(db).exists()


# ---- email -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_arrives_with_html_text_images_and_csvs(
    db: Path, tmp_path: Path, smtp_env: None, security: str, capsys: pytest.CaptureFixture
) -> None:
    box = Mailbox()
    with SmtpServer(box, security) as server:
        settings = email_settings(tmp_path, server.port, security)
        assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 0
    assert box.logins == [(SMTP_USER, SMTP_PASSWORD)]  # authenticated, over TLS (the server requires it)
    [message] = box.messages
    assert box.envelopes == [("digests@example.com", ["manager@example.com", "lead@example.com"])]
    assert message["Subject"].strip() == "OKR digest: 14–20 Sep 2026"
    tree = parts(message)
    assert tree[:4] == ["0:multipart/mixed", "1:multipart/alternative", "2:text/plain", "2:multipart/related"]
    assert tree.count("3:image/png") == 5 and tree.count("1:text/csv") == 2
    html, text = _html(message), _text(message)
    related = message.get_body(preferencelist=("related",))
    cids = {p["Content-ID"].strip("<>") for p in related.iter_parts() if p.get_content_type() == "image/png"}
    assert set(re.findall(r'src="cid:([^"]+)"', html)) == cids and len(cids) == 5
    for title in KR_TITLES.values():
        assert title in html and title in text
    for status_line in ("[on track] All incoming texts", "[off track] Customers become repeat users"):
        assert status_line in text
    assert ">on track<" in html and ">off track<" in html
    assert "repeat-customers went from at risk to off track" in text
    attachments = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    assert set(attachments) == {"key-results.csv", "headline.csv"}
    assert attachments["headline.csv"].startswith("metric,label,value,n,previous,previous_n")
    output = capsys.readouterr()
    assert SMTP_PASSWORD not in output.out + output.err
    [record] = AppState(state_path(db)).sends()
    assert (record.subscription, record.period, record.status, record.attempts) == ("monday-okrs", AS_OF, "sent", 1)
    assert record.recipients == ["manager@example.com", "lead@example.com"]
    assert record.summary["statuses"]["repeat-customers"] == "off track"


def test_a_period_is_sent_once(db: Path, tmp_path: Path, smtp_env: None, capsys: pytest.CaptureFixture) -> None:
    box = Mailbox()
    with SmtpServer(box) as server:
        settings = email_settings(tmp_path, server.port)
        for _ in range(2):
            assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 0
        assert len(box.messages) == 1
        assert "already sent" in capsys.readouterr().out
        # a one-off to someone else is not the subscription's send: it goes, and is recorded as one-off
        args = ["--smtp-host", "127.0.0.1", "--smtp-port", str(server.port), "--to", "me@example.com"]
        assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send", *args) == 0
    assert len(box.messages) == 2 and box.envelopes[1][1] == ["me@example.com"]
    sends = AppState(state_path(db)).sends()
    assert [(s.scheduled, s.status) for s in sends] == [(False, "sent"), (True, "sent")]


def test_a_failed_send_is_retried_then_reported_and_sent_by_the_next_run(
    db: Path, tmp_path: Path, smtp_env: None
) -> None:
    settings = load_settings(email_settings(tmp_path, 1))
    request = DigestRequest(db=db, settings=settings, as_of=date(2026, 9, 20), send=True, retry=FAST)
    box = Mailbox(fail_first=2)  # 451 twice: the third attempt goes through
    with SmtpServer(box) as server:
        smtp = settings.smtp.model_copy(update={"port": server.port})
        logs: list[str] = []
        result = run_digests(DigestRequest(**{**request.__dict__, "smtp": smtp}), logs.append, logs.append)
    assert result.sent and box.attempts == 3 and len(box.messages) == 1
    assert sum("retrying" in line for line in logs) == 2
    assert AppState(state_path(db)).sends()[0].attempts == 3

    other = db.with_name("other.duckdb")
    shutil.copyfile(db, other)
    AppState(state_path(other))  # a store of its own, empty
    failing = DigestRequest(**{**request.__dict__, "db": other})  # port 1: nothing listens
    warnings: list[str] = []
    result = run_digests(failing, lambda _: None, warnings.append)
    [message] = result.failed
    assert (
        "monday-okrs (as of 2026-09-20) by email to manager@example.com, lead@example.com: not sent after 3" in message
    )
    assert "connection refused" in message and "the next run tries again" in message
    [record] = AppState(state_path(other)).sends()
    assert (record.status, record.attempts) == ("failed", 3) and "connection refused" in (record.error or "")
    box = Mailbox()
    with SmtpServer(box) as server:
        smtp = settings.smtp.model_copy(update={"port": server.port})
        result = run_digests(DigestRequest(**{**failing.__dict__, "smtp": smtp}), lambda _: None, warnings.append)
    assert result.sent and len(box.messages) == 1
    assert [s.status for s in AppState(state_path(other)).sends()] == ["sent", "failed"]


def test_cli_reports_a_refused_password_with_exit_2_and_masks_it(
    db: Path, tmp_path: Path, smtp_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    wrong = "wrong-password-9f8e7d"
    monkeypatch.setenv("SMTP_PASSWORD", wrong)
    box = Mailbox()
    with SmtpServer(box) as server:
        settings = email_settings(tmp_path, server.port)
        assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 2
    err = capsys.readouterr().err
    assert "the server refused SMTP_USER / SMTP_PASSWORD (535" in err and "not sent after 1 attempt" in err
    assert wrong not in err and box.messages == []  # an authentication failure is not retried
    assert AppState(state_path(db)).sends()[0].status == "failed"


def test_no_password_over_a_plain_connection_to_another_machine(db: Path, tmp_path: Path, smtp_env: None) -> None:
    settings = load_settings(email_settings(tmp_path, 2525, "none"))
    smtp = settings.smtp.model_copy(update={"host": "mail.example.com"})
    request = DigestRequest(db=db, settings=settings, as_of=date(2026, 9, 20), send=True, smtp=smtp, retry=FAST)
    result = run_digests(request, lambda _: None, lambda _: None)
    assert "never sent unencrypted" in result.failed[0]


# ---- Slack and webhook -----------------------------------------------------------------------------------------


def test_slack_gets_block_kit_with_the_headline_and_status_lines(
    db: Path, tmp_path: Path, httpserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/services/T000/B000/XXXX", method="POST").respond_with_data("ok")
    monkeypatch.setenv("TEAM_SLACK_URL", httpserver.url_for("/services/T000/B000/XXXX"))
    settings = write_settings(
        tmp_path, digests=[{"name": "slack-okrs", "report": "okr", "channel": "slack", "url_env": "TEAM_SLACK_URL"}]
    )
    assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 0
    [(request, _)] = httpserver.log
    payload = json.loads(request.get_data())
    assert payload["text"] == "OKR digest: 14–20 Sep 2026"
    types = [b["type"] for b in payload["blocks"]]
    assert types[0] == "header" and "section" in types and types[-1] == "actions"
    text = json.dumps(payload["blocks"], ensure_ascii=False)
    assert "*Texts received*" in text and "repeat-customers went from at risk to off track" in text
    assert ":red_circle: <http://127.0.0.1:8501/rows?metric=repeat_customer_rate" in text
    assert AppState(state_path(db)).sends()[0].channel == "slack"


def test_webhook_posts_the_same_figures_signed_with_standard_webhooks(
    db: Path, tmp_path: Path, httpserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[tuple[bytes, dict]] = []

    def handler(request: Request) -> Response:
        received.append((request.get_data(), dict(request.headers)))
        return Response("", status=204)

    httpserver.expect_request("/hooks/replyboard", method="POST").respond_with_handler(handler)
    monkeypatch.setenv("DIGEST_WEBHOOK_URL", httpserver.url_for("/hooks/replyboard"))
    monkeypatch.setenv("DIGEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    settings = write_settings(tmp_path, digests=[{"name": "hook", "report": "okr", "channel": "webhook"}])
    assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 0
    [(body, headers)] = received
    lowered = {k.lower(): v for k, v in headers.items()}
    payload = Webhook(WEBHOOK_SECRET).verify(body, lowered)  # the reference implementation accepts it
    assert lowered["webhook-id"] == "msg_digest_hook_2026-09-20"
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(WEBHOOK_SECRET).verify(body.replace(b"off track", b"on track!"), lowered)
    con = connect_readonly(db)
    try:  # the same figures as the read layer gives the Overview for that week
        s = load_settings(settings)
        expected = compare(con, ["csat_mean"], Filters(date(2026, 9, 14), date(2026, 9, 20)), Params.from_settings(s))
    finally:
        con.close()
    figures = {f["metric"]: f for f in payload["headline"]}
    assert figures["csat_mean"]["value"] == expected["csat_mean"]["value"]
    assert figures["csat_mean"]["n"] == expected["csat_mean"]["n"]
    krs = {kr["id"]: kr for o in payload["okr"]["objectives"] for kr in o["key_results"]}
    assert krs["repeat-customers"]["status"] == "off track" and krs["repeat-customers"]["previous_status"] == "at risk"
    assert payload["tables"]["key-results"][0]["key_result"] == "same-business-day-replies"


def test_missing_webhook_secret_is_a_clear_error(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("DIGEST_WEBHOOK_URL", "http://127.0.0.1:1/hook")
    monkeypatch.delenv("DIGEST_WEBHOOK_SECRET", raising=False)
    settings = write_settings(tmp_path, digests=[{"name": "hook", "report": "okr", "channel": "webhook"}])
    assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 2
    assert "set DIGEST_WEBHOOK_SECRET (the environment)" in capsys.readouterr().err


# ---- the same numbers as the pages -----------------------------------------------------------------------------


def test_okr_figures_are_the_okr_pages_with_store_checkins_and_annotations(db: Path, tmp_path: Path) -> None:
    """A check-in entered on the dashboard moves the digest's manual key result, as it moves the OKR page."""
    store = AppState(state_path(db))
    store.add_checkin("2026-09", "agent-training-resource", date(2026, 9, 18), 0.8, author="lead")
    out = tmp_path / "out"
    assert digest("--db", str(db), "--as-of", AS_OF, "--out", str(out)) == 0
    rows = (out / "key-results.csv").read_text().splitlines()
    [training] = [r for r in rows if ",agent-training-resource," in r]
    con = connect_readonly(db)
    try:
        [period] = [p for p in okr.load_definitions(okr.DEFINITIONS_DIR, con)[0] if p.period == "2026-09"]
        page = okr.evaluate(
            con,
            okr.with_checkins(period, checkins_for(db, "2026-09")),
            load_settings(),
            date(2026, 9, 20),
            overlay=overlay_for(db),
        )
    finally:
        con.close()
    [kr] = [k for o in page for k in o.key_results if k.id == "agent-training-resource"]
    assert kr.current == 0.8 and ",0.8," in training and kr.status in training


# ---- golden snapshots ------------------------------------------------------------------------------------------


def test_html_and_text_match_the_golden_snapshots(
    sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    # a copy of its own: other tests of this session may keep annotations or an audit beside the shared one
    db = tmp_path / "sample.duckdb"
    shutil.copyfile(sample_warehouse, db)
    assert not state_path(db).exists()  # no store: no annotations or check-ins beyond the YAML
    got = rendered(db)
    assert sorted(got) == sorted(p.name for p in GOLDEN.glob("digest_*"))
    for name, text in got.items():
        assert text == (GOLDEN / name).read_text(encoding="utf-8"), f"{name} differs; see tests/digest_golden.py"


def test_golden_settings_cover_every_report() -> None:
    assert {s.report for s in golden_settings().digests} == {"okr", "yesterday", "team"}
    assert GOLDEN_AS_OF.weekday() == 6  # the Monday digest covers the week to Sunday


# ---- schedule --------------------------------------------------------------------------------------------------


def test_cadence_days() -> None:
    zone = load_settings().zone
    monday_8 = datetime(2026, 9, 21, 8, 0, tzinfo=zone)
    assert schedule.due("0 8 * * 1", monday_8) == date(2026, 9, 20)
    assert schedule.due("0 8 * * 1", datetime(2026, 9, 21, 7, 59, tzinfo=zone)) is None  # last Monday's is too old
    assert schedule.due("0 8 * * 1", datetime(2026, 9, 22, 7, 59, tzinfo=zone)) == date(2026, 9, 20)  # caught up
    assert schedule.previous_as_of("0 8 * * 1", date(2026, 9, 20), zone) == date(2026, 9, 13)
    assert schedule.previous_as_of("0 7 * * *", date(2026, 9, 20), zone) == date(2026, 9, 19)


def test_a_scheduled_sweep_sends_what_is_due_once(db: Path, tmp_path: Path, smtp_env: None) -> None:
    box = Mailbox()
    with SmtpServer(box) as server:
        settings = load_settings(email_settings(tmp_path, server.port, skip_if_empty=False))
        zone = settings.zone
        for at in (datetime(2026, 9, 21, 8, 5, tzinfo=zone), datetime(2026, 9, 21, 8, 20, tzinfo=zone)):
            request = DigestRequest(db=db, settings=settings, send=True, scheduled=True, now=at, retry=FAST)
            run_digests(request, lambda _: None, lambda _: None)
        late = datetime(2026, 9, 23, 8, 5, tzinfo=zone)  # more than a day after: nothing due
        run_digests(DigestRequest(db=db, settings=settings, send=True, scheduled=True, now=late), print, print)
    assert len(box.messages) == 1 and box.messages[0]["Subject"].strip() == "OKR digest: 14–20 Sep 2026"


def test_an_empty_window_is_skipped_and_recorded(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = email_settings(tmp_path, 1)
    assert digest("--db", str(db), "--settings", str(settings), "--as-of", "2026-12-20", "--send") == 0
    assert "skipped: nothing happened in 2026-12-14 to 2026-12-20 (skip_if_empty)" in capsys.readouterr().out
    assert AppState(state_path(db)).sends()[0].status == "skipped"


# ---- bad requests and settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"digests": [{"name": "a", "channel": "email"}]}, "an email delivery needs recipients"),
        ({"digests": [{"name": "a", "recipients": ["not-an-address"]}]}, "is not one mail address"),
        ({"digests": [{"name": "a", "recipients": ["a@b.co"], "cadence": "every monday"}]}, "is not a cron"),
        ({"digests": [{"name": "a", "channel": "slack", "recipients": ["a@b.co"]}]}, "recipients are for email"),
        ({"digests": [{"name": "a", "recipients": ["a@b.co"], "report": "monthly"}]}, "digests.0.report"),
        ({"digests": [{"name": "a", "recipients": ["a@b.co"]}] * 2}, "given more than once: a"),
        ({"smtp": {"security": "tls"}}, "smtp.security"),
        ({"smtp": {"port": 0}}, "smtp.port"),
        ({"dashboard_url": "replyboard.example.com"}, "is not an http(s) address"),
        ({"alerts": [{"name": "w", "rule": "waiting", "channel": "slack"}]}, "does not match any of the expected tags"),
        ({"alerts": [{"name": "w", "rule": "customer_waiting", "channel": "slack"}]}, "customer_waiting.minutes"),
        ({"alerts": [{"name": "w", "rule": "stale_data", "max_age_hours": ".inf", "channel": "slack"}]}, "finite"),
        ({"schedule": [{"run": "digest", "cron": "*/15 * * * *"}]}, "digests, alerts"),
    ],
)
def test_bad_digest_settings_name_the_key(tmp_path: Path, extra: dict, message: str) -> None:
    if extra.get("alerts") and extra["alerts"][0].get("max_age_hours") == ".inf":
        extra = {"alerts": [{**extra["alerts"][0], "max_age_hours": float("inf")}]}
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(write_settings(tmp_path, **extra))


def test_unknown_subscription_and_misused_flags(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    settings = email_settings(tmp_path, 1)
    assert digest("--db", str(db), "--settings", str(settings), "--subscription", "nope", "--send") == 2
    assert "no subscription nope in the settings (digests:); subscriptions: monday-okrs" in capsys.readouterr().err
    assert digest("--db", str(db), "--out", str(tmp_path / "x"), "--to", "a@b.co") == 2
    assert "--to are for --send" in capsys.readouterr().err
    assert digest("--db", str(db), "--as-of", "1999-12-31", "--out", str(tmp_path / "x")) == 2
    assert "outside the dates" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        digest("--db", str(db), "--send", "--out", str(tmp_path / "x"))  # one or the other
    assert digest("--db", str(db), "--send") == 2  # the shipped settings hold no subscription
    assert "add one, or send a one-off with --to ADDR" in capsys.readouterr().err


def test_links_open_the_pages_the_dashboard_serves() -> None:
    from digests import links
    from pages.catalog import PAGES

    assert PAGES[0].url_path == links.DEFAULT_PAGE  # Streamlit serves the default page at the root
    labels = links.Labels({"+16465550100": "Support"}, {"ag_01": "Sam Rivera"})
    query = links.view(
        (date(2026, 9, 14), date(2026, 9, 20)), labels, lines=["+16465550100"], agents=["ag_01"], hours="business"
    )
    assert links.page("https://rb.example.com/", "overview", query) == (
        "https://rb.example.com/overview?dates=2026-09-14&dates=2026-09-20&line=Support&agent=Sam+Rivera&hours=business"
    )  # the sidebar's multiselects are bound to the URL by their labels
    assert links.page("https://rb.example.com", "okrs", {"okr_period": "2026-09"}) == (
        "https://rb.example.com/?okr_period=2026-09"
    )


@pytest.mark.browser
def test_the_digest_renders_in_chromium_with_its_charts(db: Path, tmp_path: Path) -> None:
    """digest.html opened in Debian's Chromium at 1440x1000: every chart loads, nothing overflows the card; the
    screenshot goes to tests/artifacts/screenshots/digest.png (the README's is a copy)."""
    import os

    from playwright.sync_api import sync_playwright

    from digests.images import browser_path
    from tests.helpers import ARTIFACTS

    chromium = browser_path()
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    out = tmp_path / "out"
    assert digest("--db", str(db), "--as-of", AS_OF, "--out", str(out)) == 0
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto((out / "digest.html").as_uri(), wait_until="load")
            loaded = page.eval_on_selector_all("img", "els => els.map(e => e.complete && e.naturalWidth > 0)")
            card = page.eval_on_selector("table.card", "e => e.getBoundingClientRect().width")
            heading = page.inner_text("h1")
            page.screenshot(path=str(shots / "digest.png"))
        finally:
            browser.close()
    assert loaded == [True] * 5  # the five key results' trend charts
    assert card <= 700 and heading == "OKR digest: 14–20 Sep 2026"


def test_digest_send_alone_is_the_quiet_sweep_cron_runs(
    db: Path, tmp_path: Path, smtp_env: None, capsys: pytest.CaptureFixture
) -> None:
    """`digest --send` without --as-of or --subscription sends what is due now, once, and prints nothing more."""
    box = Mailbox()
    with SmtpServer(box) as server:
        settings = email_settings(tmp_path, server.port, cadence="0 8 * * *", skip_if_empty=False)  # daily
        for _ in range(2):
            assert digest("--db", str(db), "--settings", str(settings), "--send") == 0
    assert len(box.messages) == 1  # yesterday's (an empty window on the demo data: sent, skip_if_empty is off)
    out = capsys.readouterr().out
    assert out.count("sent") == 1 and "already" not in out
    leap_day = email_settings(tmp_path, 1, cadence="0 8 29 2 *")  # 29 February: due one day in four years
    assert digest("--db", str(db), "--settings", str(leap_day), "--send", "--dry-run") == 0
    assert "monday-okrs: nothing due now; it goes out next 20" in capsys.readouterr().out


def test_an_out_folder_that_cannot_be_written_is_one_error(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    assert digest("--db", str(db), "--as-of", AS_OF, "--out", str(taken)) == 2
    assert f"error: {taken}: cannot write the digest there" in capsys.readouterr().err
    assert taken.read_text() == "not a folder"


def test_text_from_definitions_is_escaped_in_html_and_neutralised_in_csv(db: Path, tmp_path: Path) -> None:
    import yaml

    definitions = tmp_path / "okrs"
    definitions.mkdir()
    hostile = '=HYPERLINK("http://evil.example","x") <script>alert(1)</script>'
    (definitions / "2026-09.yaml").write_text(
        yaml.safe_dump(
            {
                "period": "2026-09",
                "start": "2026-09-01",
                "end": "2026-09-30",
                "objectives": [
                    {
                        "id": "o",
                        "title": "<b>bold</b> & co",
                        "key_results": [
                            {"id": "k", "title": hostile, "metric": "csat_mean", "comparator": "gte", "target": 7}
                        ],
                    }
                ],
            }
        )
    )
    out = tmp_path / "out"
    assert digest("--db", str(db), "--as-of", AS_OF, "--out", str(out), "--definitions", str(definitions)) == 0
    from html.parser import HTMLParser

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: set[str] = set()

        def handle_starttag(self, tag: str, attrs: list) -> None:
            self.tags.add(tag)

    html = (out / "digest.html").read_text()
    parser = Tags()
    parser.feed(html)
    assert not parser.tags & {"script", "b"}  # the titles are text (in an alt attribute, "<" is only a character)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt; &amp; co" in html
    csv_text = (out / "key-results.csv").read_text()
    assert "'=HYPERLINK" in csv_text and ',"=HYPERLINK' not in csv_text


# ---- scope: each recipient gets the digest the dashboard would show them --------------------------------------


def test_each_recipient_gets_the_digest_of_their_own_scope(
    db: Path, tmp_path: Path, smtp_env: None, capsys: pytest.CaptureFixture
) -> None:
    """With an access file, a team report to a manager, a lead of Care, an agent of Care and a stranger: the
    manager's names agents of both teams (the control), the lead's only Care's, the agent's only themselves; the
    stranger gets nothing and the run says so (exit 2). Each scope is its own recorded send."""
    (tmp_path / "access.yaml").write_text(
        yaml.safe_dump(
            {
                "people": [
                    {"email": "boss@example.com", "role": "manager"},
                    {"email": "care-lead@example.com", "role": "lead", "teams": ["Care"]},
                    {"email": "care-lead-2@example.com", "role": "lead", "teams": ["Care"]},
                    {"email": "sam@example.com", "role": "agent", "agent_id": "ag_01"},
                ]
            }
        )
    )
    recipients = [
        "boss@example.com",
        "care-lead@example.com",
        "care-lead-2@example.com",
        "sam@example.com",
        "stranger@example.com",
    ]
    box = Mailbox()
    with SmtpServer(box) as server:
        settings = email_settings(tmp_path, server.port, name="weekly-team", report="team", recipients=recipients)
        settings.write_text(settings.read_text() + "access_file: access.yaml\n")
        assert digest("--db", str(db), "--settings", str(settings), "--as-of", AS_OF, "--send") == 2
    err = capsys.readouterr().err
    assert "stranger@example.com is not in the access file" in err
    texts = {tuple(to): _text(m) for (_, to), m in zip(box.envelopes, box.messages, strict=True)}
    assert set(texts) == {
        ("boss@example.com",),
        ("care-lead@example.com", "care-lead-2@example.com"),  # one scope, one digest
        ("sam@example.com",),
    }
    boss, lead, agent = (
        texts[("boss@example.com",)],
        texts[("care-lead@example.com", "care-lead-2@example.com")],
        texts[("sam@example.com",)],
    )
    care, rides = ["Sam Rivera", "Priya Shah", "Aisha Okafor"], ["Diego Alvarez", "Hannah Kim", "Olivia Brooks"]
    assert all(name in boss for name in care + rides)
    assert all(name in lead for name in care) and not any(name in lead for name in rides)
    assert "Sam Rivera" in agent and not any(name in agent for name in care[1:] + rides)
    sends = {s.subscription: s.recipients for s in AppState(state_path(db)).sends()}
    assert sends == {
        "weekly-team": ["boss@example.com"],
        "weekly-team [lead of Care]": ["care-lead@example.com", "care-lead-2@example.com"],
        "weekly-team [agent ag_01]": ["sam@example.com"],
    }
