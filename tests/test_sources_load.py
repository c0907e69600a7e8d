"""Real formats through the whole pipeline: every format gives the same metrics, nothing double counts."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from etl.__main__ import main as etl_main
from etl.load import run_load
from metrics.query import compute
from replyboard import warehouse
from replyboard.settings import LineSetting
from tests.helpers import FIXTURES, team_settings

SAME = FIXTURES / "same_conversation"
METRICS = [
    "inbound_messages",
    "outbound_messages",
    "human_replies",
    "conversations",
    "unanswered_inquiries",
    "first_response_time_median",
    "reply_time_median",
    "reply_time_mean",
    "follow_up_within_2h_rate",
    "same_business_day_response_rate",
]
# Worked out by hand from the fixture: blocks (14:00:00, 14:00:30) -> reply 14:05 = 300 s;
# (14:20) -> reply 15:40 = 4,800 s (a follow-up slower than 2 h? no: 80 min, within).
EXPECTED = {
    "inbound_messages": 3,
    "outbound_messages": 2,
    "human_replies": 2,
    "conversations": 1,
    "unanswered_inquiries": 0,
    "first_response_time_median": 300.0,
    "reply_time_median": 2550.0,
    "reply_time_mean": 2550.0,
    "follow_up_within_2h_rate": 1.0,
    "same_business_day_response_rate": 1.0,
}


def _settings():
    return team_settings(lines=[LineSetting(number="+15550100100", name="Support", source_id="PNsupport01")])


def _metrics(db: Path) -> dict:
    con = warehouse.connect_readonly(db)
    try:
        return compute(con, METRICS).row(0, named=True)
    finally:
        con.close()


@pytest.mark.parametrize(
    "fixture", ["canonical.csv", "openphone_api.json", "openphone_webhooks.jsonl", "twilio_api.json"]
)
def test_every_format_gives_the_same_metrics(load, fixture):
    db, report = load(SAME / fixture, settings_=_settings())
    assert report.errors == []
    got = _metrics(db)
    assert {k: got[k] for k in METRICS} == EXPECTED


def test_export_and_its_webhooks_together_do_not_double_count(load):
    db, _ = load(SAME / "openphone_api.json", SAME / "openphone_webhooks.jsonl", settings_=_settings())
    assert {k: _metrics(db)[k] for k in METRICS} == EXPECTED
    con = warehouse.connect_readonly(db)
    try:
        assert con.execute("SELECT count(*), count(DISTINCT conversation_id) FROM messages").fetchall() == [(5, 1)]
    finally:
        con.close()
    # loading either again changes nothing (the REST export must not erase the webhook's conversation id)
    _, again = load(SAME / "openphone_api.json", settings_=_settings())
    assert again.total("rows_loaded") == 0 and again.total("rows_duplicate") == 5


@pytest.mark.parametrize(
    "fixture",
    [
        "twilio_console_export_handmade.csv",
        "sms_backup_restore_sample_memacs.xml",
        "openphone_api_messages_handmade.json",
        "openphone_webhooks_handmade.jsonl",
    ],
)
def test_real_samples_load_from_the_cli_with_rows_accounted_for(tmp_path, capsys, fixture):
    import json

    code = etl_main(["load", "--db", str(tmp_path / "w.duckdb"), "--json", str(FIXTURES / fixture)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0, out["errors"]
    assert out["rows_loaded"] > 0
    assert out["rows_read"] == out["rows_loaded"] + out["rows_rejected"] + out["rows_duplicate"]


def test_mapped_csv_from_the_cli(tmp_path, capsys):
    mapping = Path(__file__).resolve().parent.parent / "etl" / "sources" / "mappings" / "example_helpdesk.yaml"
    code = etl_main(
        [
            "load",
            "--db",
            str(tmp_path / "w.duckdb"),
            "--quiet",
            "--source",
            "mapped_csv",
            "--mapping",
            str(mapping),
            str(FIXTURES / "helpdesk_export_handmade.csv"),
        ]
    )
    assert code == 0
    con = warehouse.connect_readonly(tmp_path / "w.duckdb")
    try:
        assert con.execute("SELECT count(*) FROM messages").fetchall()[0][0] > 0
    finally:
        con.close()


# The adapters never run settings' patterns (a user's regex under Python's backtracking engine can hang a
# load): auto_reply_templates and automation_numbers are applied once, in etl.derive with DuckDB's RE2, for
# every source alike. These are the rows each adapter test used to check at read time.
MAPPING = Path(__file__).resolve().parent.parent / "etl" / "sources" / "mappings" / "example_helpdesk.yaml"


@pytest.mark.parametrize(
    ("fixture", "extra", "kinds"),
    [
        (
            "twilio_console_export_handmade.csv",
            (),
            {
                "Thanks for reaching out! We'll reply within the hour.": "automated",  # a template
                "We're closed right now. Back at 9.": "automated",  # a template (and undelivered)
                "Auto: got it": "automated",  # outbound-reply: Twilio's own flag
                "Sorry about that, checking now": "human_reply",
            },
        ),
        ("sms_backup_handmade.xml", (), {"We're closed right now, back Monday.": "automated"}),
        (
            "helpdesk_export_handmade.csv",
            ("--source", "mapped_csv", "--mapping", str(MAPPING)),
            {"We're closed right now": "automated", "Sorry, let me check": "human_reply"},
        ),
    ],
)
def test_automation_rules_apply_in_derive_for_every_source(tmp_path, fixture, extra, kinds):
    db = tmp_path / "w.duckdb"
    code = etl_main(["load", "--db", str(db), "--quiet", *extra, str(FIXTURES / fixture)])
    assert code in (0, 2)  # the fixtures hold broken rows on purpose, never a broken file
    con = warehouse.connect_readonly(db)
    try:
        stored = dict(con.execute("SELECT body, kind FROM messages WHERE direction = 'outbound'").fetchall())
    finally:
        con.close()
    assert {body: stored.get(body) for body in kinds} == kinds


def test_automation_numbers_match_however_they_are_written(tmp_path):
    # settings may write the number as people do; stored lines are E.164
    line = "+15550100100"
    csv = tmp_path / "messages.csv"
    csv.write_text(
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body\n"
        f"a1,2024-01-15T14:00:00Z,inbound,{line},+12015550123,,false,hello\n"
        f"a2,2024-01-15T14:01:00Z,outbound,{line},+12015550123,ag_1,false,Your code is 1234\n"
    )
    db = tmp_path / "w.duckdb"
    run_load(db, [csv], team_settings(automation_numbers=["(555) 010-0100"]))
    con = warehouse.connect_readonly(db)
    try:
        assert con.execute("SELECT kind FROM messages WHERE message_id = 'a2'").fetchall() == [("automated",)]
    finally:
        con.close()


# ---- times without a UTC offset and slash dates (issue 13) ------------------------------------------------


def _stored_times(db: Path) -> dict[str, str]:
    con = warehouse.connect_readonly(db)
    try:
        rows = con.execute("SELECT message_id, created_at FROM messages").fetchall()
    finally:
        con.close()
    return {mid: at.astimezone(UTC).isoformat() for mid, at in rows}


def test_a_mappings_timezone_reads_its_naive_dates(tmp_path, capsys):
    # the helpdesk export writes day-first local times of Europe/London (the mapping's timezone): winter is UTC,
    # summer BST (UTC+1); the team timezone (America/New_York) is not used for them
    db = tmp_path / "w.duckdb"
    code = etl_main(
        [
            "load",
            "--db",
            str(db),
            "--json",
            "--source",
            "mapped_csv",
            "--mapping",
            str(MAPPING),
            str(FIXTURES / "helpdesk_export_handmade.csv"),
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    stored = _stored_times(db)
    assert (stored["m-1"], stored["m-4"]) == ("2024-01-15T10:00:00+00:00", "2024-07-15T09:00:00+00:00")
    (file,) = report["files"]
    assert (file["rows_local_time"], file["rows_ambiguous_time"], file["local_timezone"]) == (5, 0, "Europe/London")
    assert report["rows_local_time"] == 5  # the totals carry the new keys too; the old ones are unchanged
    assert {"rows_read", "rows_loaded", "rows_updated", "rows_rejected", "rows_duplicate"} <= report.keys()


@pytest.mark.parametrize(
    ("order", "region", "loaded", "reason"),
    [
        # default_region US: month first; "15/01/2024" has no month 15 and is refused, never swapped
        (None, "US", {"SMd1": "2024-01-15T19:23:05+00:00"}, "15/01/2024 14:23:05"),
        # default_region GB: day first; now "01/15/2024" is the one refused
        (None, "GB", {"SMd2": "2024-01-15T19:23:05+00:00"}, "01/15/2024 14:23:05"),
        # date_order set: it wins over the region
        ("DMY", "US", {"SMd2": "2024-01-15T19:23:05+00:00"}, "01/15/2024 14:23:05"),
    ],
)
def test_slash_dates_follow_date_order_and_are_never_swapped(tmp_path, order, region, loaded, reason):
    export = tmp_path / "twilio.csv"
    export.write_text(
        "From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,AccountSid,Sid,Direction,Price,PriceUnit\n"
        "+14155550123,+14155550100,hi,received,01/15/2024 14:23:05,2010-04-01,1,0,ACx,SMd1,inbound,,USD\n"
        "+14155550123,+14155550100,hi,received,15/01/2024 14:23:05,2010-04-01,1,0,ACx,SMd2,inbound,,USD\n",
        encoding="utf-8",
    )
    db = tmp_path / "w.duckdb"
    report = run_load(db, [export], team_settings(date_order=order, default_region=region))
    assert _stored_times(db) == loaded  # 14:23:05 New York time (EST) = 19:23:05 UTC
    assert (report.total("rows_rejected"), report.total("rows_local_time")) == (1, 1)
    con = warehouse.connect_readonly(db)
    try:
        (why,) = con.execute("SELECT reason FROM rejected_rows").fetchall()[0]
    finally:
        con.close()
    assert why.startswith(f"SentDate '{reason}' is not a valid ") and "set date_order to" in why
