"""Golden cases of texts that need no reply (issue 13 item 2), worked out by hand.

closers_reactions.csv, one line, Mon Oct 19 2026 (EDT; times local), the shipped closers and reactions:
  C1 10:00 inquiry - ag_01 10:10 (600 s) - 10:12 "great thanks!": a closer after the reply, no block.
  C2 10:15 inquiry - ag_02 10:30 (900 s) - 10:31 "thanks, when do you open tomorrow?": a closer that asks is an
     inquiry, a follow-up block - ag_02 10:40 (540 s).
  C3 11:00 inquiry - 11:01 Liked “What time is my pickup?” (a reaction inside the open block: it stays one
     inquiry, started 11:00) - ag_01 11:20 (1,200 s) - then three tapback forms after the reply: Loved “…”,
     Google Messages' 👍 to “…”, Questioned “…”: no block.
  C4 11:40 "👍🏽" (emoji alone, a skin tone): a reaction, no block.
  C5 12:00 "Thanks Luis!" (closer phrases and a name): no block.
  C6 12:30 "ok cancel it": more than closer phrases: an inquiry, unanswered. The end of the data.
  So: inbound 12 = inquiries 5 (r01 r04 r06 r08 r16) + no reply needed 7 (r03 r09 r11 r12 r13 r14 r15);
  inquiry blocks 5, unanswered 1 (C6); reply times 540, 600, 900, 1,200 -> median 750 s.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.load import run_load
from metrics.conversation import transcript
from metrics.query import compute
from replyboard.settings import SettingsError, load_settings
from tests.helpers import team_settings

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
METRICS = [
    "inbound_messages",
    "inquiry_messages",
    "no_reply_needed_messages",
    "inquiry_blocks",
    "unanswered_inquiries",
    "reply_time_median",
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("closers") / "w.duckdb"
    run_load(path, [FIXTURES / "closers_reactions.csv", FIXTURES / "agents.csv"], team_settings())
    return path


def test_closers_and_reactions_open_no_block(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        got = compute(con, METRICS).select(METRICS).row(0, named=True)
        kinds = dict(con.execute("SELECT message_id, kind FROM messages WHERE direction = 'inbound'").fetchall())
        c3 = con.execute(
            "SELECT inquiries, started_at FROM inquiry_blocks WHERE contact_number = '+15554000003'"
        ).fetchall()
    assert got == {
        "inbound_messages": 12,
        "inquiry_messages": 5,
        "no_reply_needed_messages": 7,
        "inquiry_blocks": 5,
        "unanswered_inquiries": 1,
        "reply_time_median": 750.0,
    }
    assert kinds == {
        "r01": "inquiry",
        "r03": "closer",
        "r04": "inquiry",
        "r06": "inquiry",
        "r08": "inquiry",
        "r09": "reaction",
        "r11": "reaction",
        "r12": "reaction",
        "r13": "reaction",
        "r14": "reaction",
        "r15": "closer",
        "r16": "inquiry",
    }
    assert [(n, t.isoformat()) for n, t in c3] == [(1, "2026-10-19T15:00:00+00:00")]  # unchanged by the reaction


def test_the_transcript_shows_the_kinds(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        (cid,) = con.execute("SELECT conversation_id FROM messages WHERE message_id = 'r03'").fetchall()[0]
        t = transcript(con, cid)
    assert [m.kind_label for m in t.messages] == ["inquiry", "human reply", "closer (no reply needed)"]


def test_patterns_are_settings_and_a_change_re_derives(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    files = [FIXTURES / "closers_reactions.csv", FIXTURES / "agents.csv"]
    run_load(db, files, team_settings())
    report = run_load(db, files, team_settings(closers=["ok", "cancel it"], reactions=[]))
    assert any("closers" in note and "re-derived every conversation" in note for note in report.notes)
    with duckdb.connect(str(db), read_only=True) as con:
        kinds = dict(con.execute("SELECT message_id, kind FROM messages WHERE direction = 'inbound'").fetchall())
    # only "ok cancel it" is made of closer phrases now; tapbacks are inquiries, emoji alone is still a reaction
    assert kinds["r16"] == "closer" and kinds["r03"] == "inquiry" and kinds["r09"] == "inquiry"
    assert kinds["r14"] == "reaction"


def test_a_pattern_re2_cannot_run_is_refused_with_its_key(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("closers: ['thanks(?=!)']\n")
    with pytest.raises(SettingsError, match="closers"):
        load_settings(settings)
