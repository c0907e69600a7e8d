"""Golden cases of group texts (issue 13 item 6), worked out by hand.

A group text is one message with several other participants; its conversation is keyed by the line and the SET
of participants (contact_number: the numbers sorted, comma-separated), so each message counts once.

group_text.csv, line +15550100001, Mon Oct 19 2026 (EDT; times local), three customers P1 +15555000001,
P2 +15555000002, P3 +15555000003, the set written four ways (commas in another order, semicolons, spaces, a
national-format number and a duplicate): all one key "+15555000001,+15555000002,+15555000003".
  g01 10:00 ag_01 to the three: a human reply, no block yet.
  g02 10:05 "Can we add a stop on the way?" and g03 10:06 "Yes please, at Main St" (two members): one block of
     two inquiries - g04 ag_01 10:20 to the group: 900 s.
  g05 10:30 P1 alone: "Also can I pay by card?": P1's own conversation, unanswered.
  So: conversations 2, human replies 2 (not 6), inbound 3, inquiry blocks 2, unanswered 1, reply time median
  900 s; the group conversation is ag_01's (its first human reply).
openphone_group_handmade.json: the same group over the OpenPhone REST API (outgoing `to` three recipients; the
incoming one from P2 `to` our line and P1, P3): one conversation with one block answered in 900 s.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from etl.load import run_load
from metrics.query import compute
from replyboard.phones import mask_number
from tests.helpers import team_settings

FIXTURES = Path(__file__).parent / "fixtures"
GROUP = "+15555000001,+15555000002,+15555000003"
METRICS = [
    "conversations",
    "human_replies",
    "inbound_messages",
    "inquiry_blocks",
    "unanswered_inquiries",
    "reply_time_median",
]


def _figures(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return compute(con, METRICS).select(METRICS).row(0, named=True)


def test_a_three_recipient_group_text_is_one_conversation_counted_once(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    report = run_load(
        db, [FIXTURES / "metrics" / "group_text.csv", FIXTURES / "metrics" / "agents.csv"], team_settings()
    )
    assert report.total("rows_rejected") == 0
    assert _figures(db) == {
        "conversations": 2,
        "human_replies": 2,
        "inbound_messages": 3,
        "inquiry_blocks": 2,
        "unanswered_inquiries": 1,
        "reply_time_median": 900.0,
    }
    with duckdb.connect(str(db), read_only=True) as con:
        contacts = con.execute("SELECT DISTINCT contact_number FROM messages ORDER BY 1").fetchall()
        group = con.execute(
            "SELECT messages, owner_agent_id FROM conversations WHERE contact_number = ?", [GROUP]
        ).fetchall()
        block = con.execute("SELECT inquiries, calendar_seconds FROM inquiry_blocks WHERE contact_number = ?", [GROUP])
        assert block.fetchall() == [(2, 900.0)]
    assert contacts == [("+15555000001",), (GROUP,)]
    assert group == [(4, "ag_01")]


def test_an_openphone_group_text_is_filed_under_the_whole_group(tmp_path: Path) -> None:
    settings = team_settings(lines=[{"number": "+15550100100", "name": "Support", "source_id": "PNsupport01"}])
    db = tmp_path / "w.duckdb"
    report = run_load(db, [FIXTURES / "openphone_group_handmade.json"], settings)
    assert report.total("rows_rejected") == 0
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT message_id, contact_number FROM messages ORDER BY 1").fetchall()
    assert rows == [("ACg001", GROUP), ("ACg002", GROUP), ("ACg003", GROUP)]
    assert _figures(db) == {
        "conversations": 1,
        "human_replies": 2,
        "inbound_messages": 1,
        "inquiry_blocks": 1,
        "unanswered_inquiries": 0,
        "reply_time_median": 900.0,
    }


def test_a_group_is_masked_member_by_member() -> None:
    assert mask_number(GROUP) == "•••0001, •••0002, •••0003"


def test_a_line_of_several_numbers_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "m.csv"
    bad.write_text(
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body\n"
        'x1,2026-10-19T14:00:00Z,inbound,"+15550100001,+15550100002",+15555000001,,false,hi\n'
        "x2,2026-10-19T14:00:00Z,inbound,+15550100001,+15555000001;not a number,,false,hi\n"
    )
    report = run_load(tmp_path / "w.duckdb", [bad], team_settings())
    assert report.total("rows_rejected") == 2
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        reasons = [r for (r,) in con.execute("SELECT reason FROM rejected_rows ORDER BY line").fetchall()]
    assert reasons[0].startswith("line_number: several numbers")
    assert reasons[1].startswith("contact_number: a participant of the group:")
