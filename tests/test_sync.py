"""python -m etl sync quo|twilio against fake vendor APIs on a real local port (tests/fake_vendors.py):
pagination, incremental runs, status updates, 429 / 20429 / 5xx / slow answers, expired keys (exit 2, the key
never printed), kills mid-way, and the equality of a sync with a load of the same pages from files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml

from etl.__main__ import main as etl_main
from etl.sync.http import CredentialError, SyncError
from etl.sync.run import run_sync
from metrics.query import compute
from replyboard import warehouse
from replyboard.settings import LineSetting
from tests.fake_vendors import ACCOUNT, SERVICE, TOKEN, FakeQuo, FakeTwilio, quo_workload, serve
from tests.helpers import ROOT, team_settings

DAY = datetime(2026, 9, 14, tzinfo=UTC)
METRICS = [
    "inbound_messages",
    "outbound_messages",
    "human_replies",
    "automated_messages",
    "conversations",
    "unanswered_inquiries",
    "first_response_time_median",
    "reply_time_mean",
    "response_within_target_rate",
]


def settings(**sync):
    return team_settings(sync={"timeout_seconds": 1.0, **sync})


@pytest.fixture
def quo():
    fake = FakeQuo(max_page=4)  # fewer than maxResults per page: every list is paginated
    quo_workload(fake, DAY)
    server, url = serve(fake)
    yield fake, url
    server.stop()


@pytest.fixture
def twilio():
    fake = FakeTwilio()
    t = DAY.replace(hour=14)
    for i in range(5):
        contact = f"+1555030{i:04d}"
        fake.add("inbound", "+15550100010", contact, t + timedelta(minutes=9 * i), f"Hello {i}")
        fake.add("outbound-api", "+15550100010", contact, t + timedelta(minutes=9 * i + 4), f"Reply {i}")
    # a day earlier, and one scheduled through a Messaging Service: no `from`, no date_sent yet
    fake.add("inbound", "+15550100010", "+15550309999", t - timedelta(days=1), "Yesterday's question")
    fake.add("outbound-api", "", "+15550309999", None, "Reminder", status="scheduled", service=SERVICE, created=t)
    server, url = serve(fake)
    yield fake, url
    server.stop()


def quo_sync(db: Path, url: str, s=None, **kw):
    return run_sync("quo", db, s or settings(), env={"QUO_API_KEY": FakeQuo.KEY}, base_url=url, **kw)


def twilio_sync(db: Path, url: str, s=None, **kw):
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN}
    return run_sync("twilio", db, s or settings(), env=env, base_url=url, **kw)


def rows(db: Path, sql: str, params=None) -> list[tuple]:
    con = warehouse.connect_readonly(db)
    try:
        return con.execute(sql, params).fetchall() if params else con.execute(sql).fetchall()
    finally:
        con.close()


def metrics(db: Path) -> dict:
    con = warehouse.connect_readonly(db)
    try:
        return compute(con, METRICS).to_dicts()[0]
    finally:
        con.close()


def message_fingerprint(db: Path) -> list[tuple]:
    return rows(
        db,
        "SELECT message_id, created_at, direction, line_number, contact_number, agent_id, is_automated, body, "
        "status, kind FROM messages ORDER BY message_id",
    )


# ------------------------------------------------------------------------------------------------- Quo


def test_quo_first_sync_pages_through_everything_with_names_lines_and_conversations(quo, tmp_path):
    fake, url = quo
    db = tmp_path / "w.duckdb"
    result = quo_sync(db, url)
    report = result.report
    assert (report.total("rows_read"), report.total("rows_loaded"), report.total("rows_rejected")) == (26, 26, 0)
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM messages") == [(26, 26)]
    assert len([p for p in fake.paths() if p == "/v1/conversations"]) == 2  # 7 conversations, 4 a page
    assert all(args.get("maxResults") == ["100"] for _, p, args, _ in fake.log if p.startswith("/v1/"[:4]) and args)
    # the key goes in the Authorization header as it is: no "Bearer"
    assert {h.get("Authorization") for _, _, _, h in fake.log} == {FakeQuo.KEY}
    assert rows(db, "SELECT line_number, name, source_id FROM lines ORDER BY 1") == [
        ("+15550100001", "Support", "PNsupport01"),
        ("+15550100002", "Sales", "PNsales002"),
    ]
    assert dict(rows(db, "SELECT agent_id, name FROM agents")) == {"USann": "Ann Lee", "USbo": "Bo Chan"}
    conv = rows(db, "SELECT conversation_id, phone_number_id, participants, assigned_to, raw FROM sync_conversations")
    assert len(conv) == 7 and {c[3] for c in conv} == {"USann"}
    # the conversation objects' assignment owns their conversations from this sync on, not the next load's
    assert rows(db, "SELECT owner_agent_id, count(*) FROM conversations GROUP BY ALL") == [("USann", 7)]
    assert json.loads(conv[0][4])["participants"] == conv[0][2]
    mark = max(datetime.fromisoformat(m["updatedAt"].replace("Z", "+00:00")) for m in fake.messages)
    assert rows(db, "SELECT high_water, last_error FROM sync_state WHERE source = 'quo'") == [(mark, None)]
    assert result.account.startswith("key-") and FakeQuo.KEY not in result.account
    m = metrics(db)
    # 6 replies by a person, 7 auto-replies; unanswered: the last inquiry (the 6 closing "great, thanks" are
    # closers: no reply needed, README "Texts that need no reply")
    assert (m["human_replies"], m["automated_messages"], m["unanswered_inquiries"]) == (6, 7, 1)
    assert not list((tmp_path / "sync").rglob("*.json"))  # pages are dropped once published


def test_quo_second_sync_reads_only_changes_and_a_status_update_updates_the_row(quo, tmp_path):
    fake, url = quo
    db = tmp_path / "w.duckdb"
    quo_sync(db, url)
    first_mark = rows(db, "SELECT high_water FROM sync_state")[0][0]
    later = DAY.replace(hour=18)
    queued = fake.add_message(
        "PNsupport01", "+15550200000", "outgoing", later, "On its way", user="USann", status="queued"
    )
    fake.log.clear()
    second = quo_sync(db, url).report
    assert second.total("rows_loaded") == 1 and second.total("rows_updated") == 0
    since = (first_mark - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    conv_calls = [a for _, p, a, _ in fake.log if p == "/v1/conversations"]
    assert conv_calls and all(a["updatedAfter"] == [since] for a in conv_calls)
    assert all(a["createdAfter"] == [since] for _, p, a, _ in fake.log if p == "/v1/messages")
    assert rows(db, "SELECT status FROM messages WHERE message_id = ?", [queued["id"]]) == [("queued",)]

    fake.set_status(queued, "delivered", later + timedelta(minutes=1))
    third = quo_sync(db, url).report
    assert (third.total("rows_loaded"), third.total("rows_updated")) == (1, 1)
    assert rows(db, "SELECT status, body FROM messages WHERE message_id = ?", [queued["id"]]) == [
        ("delivered", "On its way")
    ]
    assert rows(db, "SELECT count(*) FROM messages") == [(27,)]
    assert rows(db, "SELECT high_water FROM sync_state")[0][0] == later + timedelta(minutes=1)


def test_quo_sync_equals_a_load_of_the_same_pages_from_files(quo, tmp_path):
    _, url = quo
    synced = tmp_path / "synced.duckdb"
    quo_sync(synced, url, settings(keep_pages=True, folder=str(tmp_path / "pages")))
    pages = sorted((tmp_path / "pages").rglob("*-messages.json"))
    assert pages
    loaded = tmp_path / "files.duckdb"
    assert etl_main(["load", "--db", str(loaded), "--quiet", *map(str, pages)]) == 0
    assert message_fingerprint(synced) == message_fingerprint(loaded)
    assert metrics(synced) == metrics(loaded)


def test_quo_rate_limit_server_errors_and_a_slow_answer_are_retried(quo, tmp_path):
    fake, url = quo
    fake.fault("/v1/conversations", "429", "500")
    fake.fault("/v1/messages", "slow", "503")
    db = tmp_path / "w.duckdb"
    notes: list[str] = []
    report = quo_sync(db, url, progress=notes.append).report
    assert report.total("rows_loaded") == 26 and rows(db, "SELECT count(*) FROM messages") == [(26,)]
    times = [t for t, p, _, _ in fake.log if p == "/v1/conversations"]
    assert times[1] - times[0] >= 0.95  # Retry-After: 1 was honoured
    assert any("rate limited (HTTP 429); waiting 1.0 s" in n for n in notes)
    assert any("HTTP 500; retrying" in n for n in notes) and any("timed out; retrying" in n for n in notes)
    # never more than Quo's 10 requests a second, retries included: any 11 requests span a second or more
    # (less 50 ms for the time they spend on the wire)
    stamps = sorted(t for t, _, _, _ in fake.log)
    assert len(stamps) > 11
    assert all(stamps[i + 10] - stamps[i] >= 0.95 for i in range(len(stamps) - 10))


def test_quo_server_that_keeps_failing_is_a_bounded_clear_error(quo, tmp_path):
    fake, url = quo
    fake.fault("/v1/conversations", "500", "500", "500", "500", "500")
    db = tmp_path / "w.duckdb"
    with pytest.raises(SyncError, match=r"HTTP 500 from the server 4 times"):
        quo_sync(db, url)
    assert rows(db, "SELECT high_water, last_error FROM sync_state")[0][0] is None
    assert "HTTP 500" in rows(db, "SELECT last_error FROM sync_state")[0][0]
    assert rows(db, "SELECT count(*) FROM messages") == [(0,)]


def test_quo_optional_phone_numbers_endpoint_refused_is_a_warning(tmp_path):
    fake = FakeQuo(numbers_endpoint=False)
    quo_workload(fake, DAY)
    server, url = serve(fake)
    try:
        result = quo_sync(tmp_path / "w.duckdb", url)
    finally:
        server.stop()
    assert result.report.total("rows_loaded") == 26
    assert any("/v1/phone-numbers answered 403/404" in w for w in result.warnings)


def test_quo_dated_api_lists_workspace_messages_and_users_and_gives_the_same_result(tmp_path):
    v1 = FakeQuo(max_page=4)
    dated = FakeQuo(max_page=4, dated=True)
    for fake in (v1, dated):
        quo_workload(fake, DAY)
    s = settings(quo_api_version="2026-03-30")
    results = {}
    for name, fake in (("v1", v1), ("dated", dated)):
        server, url = serve(fake)
        try:
            results[name] = quo_sync(tmp_path / f"{name}.duckdb", url, s)
        finally:
            server.stop()
    assert "/v1/messages" not in dated.paths() and "/messages" in dated.paths()
    assert all(h.get("Quo-Api-Version") == "2026-03-30" for _, p, _, h in dated.log if p in ("/messages", "/users"))
    assert any("no workspace-wide message list" in w for w in results["v1"].warnings)  # fell back to v1
    assert message_fingerprint(tmp_path / "v1.duckdb") == message_fingerprint(tmp_path / "dated.duckdb")


def test_quo_missing_key_is_a_clear_error(tmp_path):
    with pytest.raises(SyncError, match="QUO_API_KEY is not set"):
        run_sync("quo", tmp_path / "w.duckdb", settings(), env={}, base_url="http://127.0.0.1:9")


# ------------------------------------------------------------------------------------- CLI: exit codes


def cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "etl", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def settings_file(tmp_path: Path, **sync) -> Path:
    path = tmp_path / "settings.yaml"
    path.write_text(yaml.safe_dump({"timezone": "America/New_York", "sync": {"timeout_seconds": 1.0, **sync}}))
    return path


def test_cli_expired_key_exit_2_names_the_credential_and_never_prints_it(quo, tmp_path):
    fake, url = quo
    fake.expired = True
    db = tmp_path / "w.duckdb"
    common = ["sync", "quo", "--db", str(db), "--settings", str(settings_file(tmp_path)), "--base-url", url]
    for extra in ([], ["--json"]):
        proc = cli([*common, *extra], {"QUO_API_KEY": FakeQuo.KEY})
        assert proc.returncode == 2, proc.stderr
        assert "QUO_API_KEY" in proc.stderr and "HTTP 401" in proc.stderr
        assert FakeQuo.KEY not in proc.stderr + proc.stdout
        assert "Traceback" not in proc.stderr
    (error,) = rows(db, "SELECT last_error FROM sync_state")[0]
    assert "HTTP 401" in error and FakeQuo.KEY not in error


def test_cli_twilio_expired_token_names_it_and_never_prints_it(twilio, tmp_path):
    fake, url = twilio
    fake.expired = True
    proc = cli(
        [
            "sync",
            "twilio",
            "--db",
            str(tmp_path / "w.duckdb"),
            "--settings",
            str(settings_file(tmp_path)),
            "--base-url",
            url,
        ],
        {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN},
    )
    assert proc.returncode == 2 and "TWILIO_AUTH_TOKEN" in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout
    import base64

    assert base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode() not in proc.stderr


def test_cli_json_summary_has_the_load_keys_and_progress_goes_to_stderr(quo, tmp_path):
    _, url = quo
    proc = cli(
        [
            "sync",
            "quo",
            "--db",
            str(tmp_path / "w.duckdb"),
            "--settings",
            str(settings_file(tmp_path)),
            "--base-url",
            url,
            "--json",
        ],
        {"QUO_API_KEY": FakeQuo.KEY},
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert {"rows_read", "rows_loaded", "rows_updated", "rows_rejected", "rows_duplicate", "files"} <= summary.keys()
    assert summary["rows_loaded"] == 26 and summary["source"] == "quo"
    assert "quo: conversations page 1" in proc.stderr


def test_secrets_file_named_in_settings_supplies_the_key(quo, tmp_path):
    _, url = quo
    (tmp_path / "secrets.env").write_text(f"# Quo\nexport QUO_API_KEY='{FakeQuo.KEY}'\n")
    proc = cli(
        [
            "sync",
            "quo",
            "--db",
            str(tmp_path / "w.duckdb"),
            "--settings",
            str(settings_file(tmp_path, secrets_file="secrets.env")),
            "--base-url",
            url,
        ],
        {"QUO_API_KEY": ""},
    )
    assert proc.returncode == 0, proc.stderr
    assert FakeQuo.KEY not in proc.stderr + proc.stdout


# ---------------------------------------------------------------------------------- killed and resumed


@pytest.mark.parametrize("point", ["sync_after_page", "after_merge", "before_rename"])
def test_sync_killed_mid_way_resumes_with_nothing_lost_or_doubled(quo, tmp_path, point):
    _, url = quo
    clean = tmp_path / "clean.duckdb"
    quo_sync(clean, url)
    db = tmp_path / "w.duckdb"
    args = ["sync", "quo", "--db", str(db), "--settings", str(settings_file(tmp_path)), "--base-url", url]
    killed = cli(args, {"QUO_API_KEY": FakeQuo.KEY, "REPLYBOARD_KILL_AT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-500:]
    assert not db.exists() or rows(db, "SELECT count(*) FROM messages") == [(0,)]
    if point == "sync_after_page":
        assert list((tmp_path / "sync").rglob("run-*/*-messages.json"))  # the fetched page waits on disk
    resumed = cli([*args, "--json"], {"QUO_API_KEY": FakeQuo.KEY})
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["rows_loaded"] == 26 and summary["rows_rejected"] == 0
    assert rows(db, "SELECT count(*), count(DISTINCT message_id) FROM messages") == [(26, 26)]
    assert message_fingerprint(db) == message_fingerprint(clean)
    assert metrics(db) == metrics(clean)
    assert rows(db, "SELECT high_water FROM sync_state") == rows(clean, "SELECT high_water FROM sync_state")
    assert not list((tmp_path / "sync").rglob("run-*"))  # the killed run's pages were loaded and dropped


# ----------------------------------------------------------------------------------------------- Twilio


def test_twilio_sync_pages_resolves_the_messaging_service_and_rereads_from_the_day_before(twilio, tmp_path):
    fake, url = twilio
    db = tmp_path / "w.duckdb"
    s = settings()
    from etl.sync import twilio as twilio_sync_module

    original = twilio_sync_module.PAGE_SIZE
    twilio_sync_module.PAGE_SIZE = 4  # paginate a small account
    try:
        first = twilio_sync(db, url, s).report
    finally:
        twilio_sync_module.PAGE_SIZE = original
    assert first.total("rows_loaded") == 12 and first.total("rows_rejected") == 0
    pages = [a for _, p, a, _ in fake.log if p.endswith("/Messages.json")]
    assert len(pages) == 3 and "DateSent>" not in pages[0]  # first sync: everything
    assert pages[1]["PageToken"] == ["PASM1"]
    # the scheduled message has no `from`: its line is the service's number, named after the service
    assert rows(db, "SELECT line_number FROM messages WHERE status = 'scheduled'") == [("+15550109999",)]
    assert rows(db, "SELECT name, source_id FROM lines WHERE line_number = '+15550109999'") == [
        ("Reminders service", SERVICE)
    ]
    mark = rows(db, "SELECT high_water FROM sync_state WHERE source = 'twilio' AND account = ?", [ACCOUNT])[0][0]

    latest = max(fake.messages, key=lambda m: m["date_sent"] or "")
    reply = next(m for m in fake.messages if m["body"] == "Reply 4")
    fake.set_status(reply, "undelivered", DAY.replace(hour=16))
    fake.log.clear()
    second = twilio_sync(db, url, s).report
    (args,) = [a for _, p, a, _ in fake.log if p.endswith("/Messages.json")]
    assert args["DateSent>"] == [(mark - timedelta(hours=24)).date().isoformat()]
    assert args["PageSize"] == ["1000"]
    assert second.total("rows_updated") == 1 and latest
    assert rows(db, "SELECT status FROM messages WHERE message_id = ?", [reply["sid"]]) == [("undelivered",)]
    assert rows(db, "SELECT count(*) FROM messages") == [(12,)]


def test_twilio_settings_line_overrides_the_service_lookup(twilio, tmp_path):
    fake, url = twilio
    s = team_settings(
        sync={"timeout_seconds": 1.0}, lines=[LineSetting(number="+15550107777", name="Ops", source_id=SERVICE)]
    )
    twilio_sync(tmp_path / "w.duckdb", url, s)
    assert not [p for p in fake.paths() if "/Services/" in p]
    assert rows(tmp_path / "w.duckdb", "SELECT line_number FROM messages WHERE status = 'scheduled'") == [
        ("+15550107777",)
    ]


def test_twilio_20429_and_5xx_are_retried(twilio, tmp_path):
    fake, url = twilio
    path = f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    fake.fault(path, "20429", "503")
    notes: list[str] = []
    report = twilio_sync(tmp_path / "w.duckdb", url, progress=notes.append).report
    assert report.total("rows_loaded") == 12
    assert any("rate limited" in n for n in notes) and any("HTTP 503; retrying" in n for n in notes)


def test_twilio_api_key_pair_is_used_for_basic_auth(twilio, tmp_path):
    fake, url = twilio
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_API_KEY": "SK" + "1" * 32, "TWILIO_API_SECRET": "api-secret-xyz"}
    with pytest.raises(CredentialError, match="TWILIO_API_KEY and TWILIO_API_SECRET") as exc:
        run_sync("twilio", tmp_path / "w.duckdb", settings(), env=env, base_url=url)
    assert "api-secret-xyz" not in str(exc.value)
    assert fake.log[0][3]["Authorization"].startswith("Basic ")


def test_twilio_bad_account_sid_is_refused_before_any_request(tmp_path):
    with pytest.raises(SyncError, match="not an account sid"):
        run_sync(
            "twilio",
            tmp_path / "w.duckdb",
            settings(),
            env={"TWILIO_ACCOUNT_SID": "nope", "TWILIO_AUTH_TOKEN": "x" * 10},
            base_url="http://127.0.0.1:9",
        )


def test_sync_state_table_is_created_by_migration(tmp_path):
    db = tmp_path / "w.duckdb"
    with warehouse.writer(db) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert {"sync_state", "sync_conversations"} <= tables
    duckdb.connect(str(db), read_only=True).close()


def test_a_server_that_repeats_its_page_token_is_stopped_not_followed_forever(tmp_path):
    class Looping(FakeQuo):
        def _v1(self, items, request):
            response = super()._v1(items, request)
            body = json.loads(response.get_data())
            body["nextPageToken"] = "4" if body["data"] else None  # always "the next page is 4"
            response.set_data(json.dumps(body))
            return response

    fake = Looping(max_page=4)
    quo_workload(fake, DAY)
    server, url = serve(fake)
    try:
        with pytest.raises(SyncError, match="repeated a page token"):
            quo_sync(tmp_path / "w.duckdb", url)
    finally:
        server.stop()
    assert len(fake.log) < 10


def test_secrets_mask_every_form_and_adding_again_changes_nothing() -> None:
    import base64

    from etl.sync.http import Secrets

    secrets = Secrets()
    secrets.add("AC123456", "tok-abcdef", None, "xy")
    before = list(secrets.values)
    for _ in range(50):  # every retry adds the same secrets again
        secrets.add("AC123456", "tok-abcdef")
    assert secrets.values == before and len(before) == 4  # two raw, two basic-auth encodings
    header = base64.b64encode(b"AC123456:tok-abcdef").decode()
    masked = secrets.mask(f"Basic {header} for AC123456, token tok-abcdef")
    assert "AC123456" not in masked and header not in masked and "tok-abcdef" not in masked
