"""Real formats through the whole pipeline: every format gives the same metrics, nothing double counts."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.__main__ import main as etl_main
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
