"""Golden cases of conversations the source numbers (README "Conversations": the source's id, else the session gap),
worked out by hand. Team settings (tests/helpers.py): New York, Mon-Fri 09:00-12:00 + 13:00-17:00; times are UTC,
Mon Oct 19 2026 is EDT (UTC-4).

  S1 pair (+15550300001, +15553000001), source conversation CN1: inquiry Mon 14:00 (10:00 local), ag_01 replies
     14:10; the customer writes again Tue 20:00 (30 h later, over the 24 h session gap), ag_01 replies 20:05.
     With the source's id: ONE conversation s:CN1, two blocks: block 1 (600 s), block 2 a follow-up (300 s).
     By the session gap alone it would be two conversations of one block each, neither a follow-up.
  S2 the source numbers one conversation CN2 across two pairs (the same customer thread on two contacts): an
     inquiry from +15553000002 Mon 15:00, ag_02's reply to +15553000003 at 15:20. One conversation s:CN2 (its
     first message's pair); its one block is answered by that reply: 1,200 s. Pair by pair, the inquiry would be
     unanswered.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from etl.load import run_load
from tests.helpers import team_settings

HEADER = "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,conversation_id,status"
ROWS = [
    "s1a,2026-10-19T14:00:00Z,inbound,+15550300001,+15553000001,,false,Is my order shipped?,,CN1,received",
    's1b,2026-10-19T14:10:00Z,outbound,+15550300001,+15553000001,ag_01,false,"Yes, this morning",,CN1,delivered',
    "s1c,2026-10-20T20:00:00Z,inbound,+15550300001,+15553000001,,false,It has not arrived yet,,CN1,received",
    "s1d,2026-10-20T20:05:00Z,outbound,+15550300001,+15553000001,ag_01,false,Checking with the courier,,CN1,delivered",
    "s2a,2026-10-19T15:00:00Z,inbound,+15550300001,+15553000002,,false,Can I change my address?,,CN2,received",
    "s2b,2026-10-19T15:20:00Z,outbound,+15550300001,+15553000003,ag_02,false,Done,,CN2,delivered",
]


def _load(tmp_path: Path) -> Path:
    csv = tmp_path / "messages.csv"
    csv.write_text("\n".join([HEADER, *ROWS]) + "\n")
    db = tmp_path / "w.duckdb"
    report = run_load(db, [csv], team_settings())
    assert report.total("rows_loaded") == len(ROWS), report.errors
    return db


def _rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_a_source_conversation_outlasts_the_session_gap_and_counts_follow_ups(tmp_path: Path) -> None:
    db = _load(tmp_path)
    conv = _rows(
        db, "SELECT conversation_id, messages, human_replies FROM conversations WHERE contact_number = '+15553000001'"
    )
    blocks = _rows(
        db,
        "SELECT block_seq, is_follow_up, calendar_seconds, reply_message_id FROM inquiry_blocks "
        "WHERE conversation_id = 's:CN1' ORDER BY block_seq",
    )
    assert conv == [("s:CN1", 4, 2)]
    assert blocks == [(1, False, 600.0, "s1b"), (2, True, 300.0, "s1d")]


def test_a_source_conversation_across_two_pairs_is_answered_by_a_reply_in_either(tmp_path: Path) -> None:
    db = _load(tmp_path)
    conv = _rows(
        db, "SELECT conversation_id, contact_number, messages FROM conversations WHERE conversation_id = 's:CN2'"
    )
    blocks = _rows(
        db,
        "SELECT conversation_id, calendar_seconds, reply_message_id, reply_agent_id FROM inquiry_blocks "
        "WHERE contact_number = '+15553000002'",
    )
    assert conv == [("s:CN2", "+15553000002", 2)]
    assert blocks == [("s:CN2", 1200.0, "s2b", "ag_02")]
