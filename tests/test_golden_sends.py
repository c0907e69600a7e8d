"""Golden cases of sends that are not replies yet (issue 13 item 3), worked out by hand.

sends_queued.csv, one line, Mon Oct 19 2026 (EDT; times local), team settings (open 09:00-12:00, 13:00-17:00):
  S1 10:00 "Is my ride confirmed?" - q02 ag_01 10:05 status queued: not a reply yet -> unanswered.
  S2 10:10 "Can I pay cash?" - q04 ag_01 10:12 accepted (not a reply) - q05 ag_02 10:20 sent: the reply, 600 s.
  S3 10:30 - q07 ag_02 10:35 canceled (never a reply) - q08 10:40 scheduled (not yet) -> unanswered.
  S4 11:00 - q10 ag_01 11:02 sending -> unanswered. End of the data: 11:02.
  So: human_replies 1 (q05), unanswered_inquiries 3, outbound_messages 6, reply_time_median 600 s.
Then sends_delivered.csv brings later statuses for the same messages: q02 delivered, q10 sent. Now S1 is answered
by q02 at 10:05 (300 s) and S4 by q10 at 11:02 (120 s): human_replies 3, unanswered 1 (S3),
reply_time_median of 120, 300, 600 = 300 s; S1's conversation is now ag_01's (its first human reply).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from etl.load import run_load
from metrics.query import compute
from tests.helpers import team_settings

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
METRICS = ["human_replies", "unanswered_inquiries", "outbound_messages", "reply_time_median"]


def _figures(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return compute(con, METRICS).select(METRICS).row(0, named=True)


def _kinds(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.execute("SELECT message_id, kind FROM messages WHERE direction = 'outbound'").fetchall())


def test_queued_accepted_scheduled_sending_are_not_replies_until_sent(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    run_load(db, [FIXTURES / "sends_queued.csv", FIXTURES / "agents.csv"], team_settings())
    assert _figures(db) == {
        "human_replies": 1,
        "unanswered_inquiries": 3,
        "outbound_messages": 6,
        "reply_time_median": 600.0,
    }
    assert _kinds(db) == {
        "q02": "pending_reply",
        "q04": "pending_reply",
        "q05": "human_reply",
        "q07": "failed_reply",
        "q08": "pending_reply",
        "q10": "pending_reply",
    }
    run_load(db, [FIXTURES / "sends_delivered.csv"], team_settings())
    assert _figures(db) == {
        "human_replies": 3,
        "unanswered_inquiries": 1,
        "outbound_messages": 6,
        "reply_time_median": 300.0,
    }
    assert _kinds(db)["q02"] == "human_reply" and _kinds(db)["q10"] == "human_reply"
    with duckdb.connect(str(db), read_only=True) as con:
        owner = con.execute("SELECT owner_agent_id FROM conversations WHERE contact_number = '+15553000001'")
        assert owner.fetchall() == [("ag_01",)]
