"""Golden cases of ownership (issue 13 item 1): who owns each block, conversation and text, worked out by hand.

ownership.csv with ownership_lines.csv (Support +15550200001 team Care, Sales +15550200002 team Sales, Old number
+15550200003 no team) and agents.csv (ag_01, ag_02 Care; ag_03 Sales). Team settings (tests/helpers.py): New York,
open Mon-Fri 09:00-12:00 + 13:00-17:00; Mon Oct 19 2026, EDT (UTC-4). Times below are local.

  O1 Sales line: 10:00 inquiry; ag_01 (Care) 10:10, ag_02 (Care) 10:20. First human reply ag_01: owner ag_01,
     team Care (the agent's team wins over the line's). Same day: met (600 s).
  O2 Support line (Care): 10:30 "Where is my refund?", never answered. No agent; team Care (the line's).
     Deadline Mon 17:00, past at the end of the data: a miss.
  O3 Sales line: 11:00; ag_03 (Sales) 11:05: owner ag_03, team Sales. Met.
  O4 Support line: 11:30, the source assigns it to ag_03 (assigned_agent_id); ag_01 answers 11:40. Owner ag_03
     (the source's assignment wins over the first replier), team Sales. Met.
  O5 Old number (no team): 14:00 "hello?", never answered: no owner, no team (Unassigned). Deadline Mon 17:00:
     a miss.
  O6 Support line: Tue 20 18:00, never answered (the end of the data): team Care; deadline Wed 17:00, still ahead:
     not judged by the rate, counted as unanswered.

  Same-business-day rate, all: met O1 O3 O4 = 3 of judged O1-O5 = 5: 60%. Team Care: O1 met, O2 missed: 1/2 = 50%
  (before ownership the filter kept the blocks Care agents answered, O1 and O4: 100%, higher than the whole).
  Sales: O3 O4 2/2; no team: O5 0/1. 1 + 2 + 0 = 3 met, 2 + 2 + 1 = 5 judged: the groups add up to the total.
  Unanswered: Care O2 O6 = 2, Sales 0, no team O5 = 1: 3. By agent: ag_01 0, ag_03 0, Unassigned O2 O5 O6 = 3.
  Inbound texts: Care O1 (its owner's team) O2 O6 = 3, Sales O3 O4 = 2, no team O5 = 1: 6.
  Human replies by team: each reply is its sender's: Care ag_01 x2 + ag_02 = 3, Sales ag_03 = 1.
  Share of team (human replies): ag_01 2 of Care's 3 = 66.7%, also with the agent filter on ag_01 alone.
  Then an agents file moves ag_03 to Care (no message changes): O3 and O4 are Care's: inbound Care 5, Sales 0.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

import etl.ownership
from etl.load import run_load
from etl.ownership import assign_owners
from etl.sync.state import save_conversations
from metrics.query import Filters, compute
from metrics.reads import share_of_team
from tests.helpers import team_settings

FIXTURES = Path(__file__).parent / "fixtures" / "metrics"
EVERYTHING = Filters()
FILES = [FIXTURES / "ownership.csv", FIXTURES / "ownership_lines.csv", FIXTURES / "agents.csv"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ownership") / "w.duckdb"
    run_load(path, FILES, team_settings())
    return path


def _by(db: Path, metrics: list[str], by: str, filters: Filters = EVERYTHING) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        out = compute(con, metrics, by=(by,), filters=filters)
    values = out.select(by, *metrics).rows()
    return {row[0]: row[1:] if len(row) > 2 else row[1] for row in values}


def _total(db: Path, metric: str, filters: Filters = EVERYTHING) -> object:
    with duckdb.connect(str(db), read_only=True) as con:
        return compute(con, [metric], filters=filters)[metric][0]


def test_owners_stored_on_conversations_and_blocks(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        got = con.execute(
            "SELECT contact_number, owner_agent_id, owner_team FROM conversations ORDER BY contact_number"
        ).fetchall()
        blocks = con.execute("SELECT owner_agent_id, owner_team FROM inquiry_blocks ORDER BY started_at").fetchall()
    assert got == [
        ("+15552000001", "ag_01", "Care"),
        ("+15552000002", None, "Care"),
        ("+15552000003", "ag_03", "Sales"),
        ("+15552000004", "ag_03", "Sales"),
        ("+15552000005", None, None),
        ("+15552000006", None, "Care"),
    ]
    assert blocks == [(o, t) for _, o, t in got]


def test_team_filter_counts_the_misses_on_the_teams_line(db: Path) -> None:
    rate = "same_business_day_response_rate"
    assert _total(db, rate) == pytest.approx(0.6)
    assert _total(db, rate, Filters(teams=("Care",))) == pytest.approx(0.5)  # not above the whole
    assert _by(db, [rate], "team") == {"Care": pytest.approx(0.5), "Sales": 1.0, None: 0.0}
    assert _total(db, "unanswered_inquiries", Filters(teams=("Care",))) == 2
    assert _by(db, ["unanswered_inquiries", "inbound_messages"], "team") == {
        "Care": (2, 3),
        "Sales": (0, 2),
        None: (1, 1),
    }
    assert _by(db, ["human_replies"], "team") == {"Care": 3, "Sales": 1, None: 0}


def test_per_agent_unanswered_and_same_day_with_an_unassigned_group(db: Path) -> None:
    got = _by(db, ["unanswered_inquiries", "same_business_day_response_rate"], "agent")
    assert got == {"ag_01": (0, 1.0), "ag_03": (0, 1.0), None: (3, 0.0)}  # ag_02 owns no block


def test_share_of_team_ignores_the_agent_filter(db: Path) -> None:
    with duckdb.connect(str(db), read_only=True) as con:
        one = share_of_team(con, "human_replies", Filters(agents=("ag_01",)))
    assert one.select("agent", "share_of_team").rows() == [("ag_01", pytest.approx(2 / 3))]


def test_an_agents_file_re_owns_without_a_message_change(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    run_load(db, FILES, team_settings())
    moved = tmp_path / "agents.csv"
    moved.write_text("agent_id,name,team\nag_03,Jo Park,Care\n")
    run_load(db, [moved], team_settings())
    assert _by(db, ["inbound_messages"], "team") == {"Care": 5, None: 1}
    fresh = tmp_path / "fresh.duckdb"
    run_load(fresh, [*FILES, moved], team_settings())  # the same as one load of every file
    with duckdb.connect(str(db), read_only=True) as a, duckdb.connect(str(fresh), read_only=True) as b:
        for table in ("conversations", "inquiry_blocks", "messages"):
            q = f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY ALL" if table == "messages" else ""
            q = q or f"SELECT * FROM {table} ORDER BY ALL"
            assert a.execute(q).fetchall() == b.execute(q).fetchall(), table


def test_a_quo_conversation_assigned_to_an_agent_owns_the_pairs_conversation(tmp_path: Path) -> None:
    """O2 (Support line, nobody answered) is assigned to ag_02 in Quo: the conversation object `etl sync quo`
    saves (assignedTo, participants, phoneNumberId = the line's source_id) makes ag_02 its owner."""
    settings = team_settings(lines=[{"number": "+15550200001", "name": "Support", "source_id": "PNsupport"}])
    db = tmp_path / "w.duckdb"
    run_load(db, FILES, settings)
    quo = {"id": "CN1", "phoneNumberId": "PNsupport", "participants": ["+15552000002"], "assignedTo": "ag_02"}
    with duckdb.connect(str(db)) as con:
        save_conversations(con, "quo", [quo], 1)
        assign_owners(con)
    assert _by(db, ["unanswered_inquiries"], "agent") == {"ag_01": 0, "ag_02": 1, "ag_03": 0, None: 2}


def test_a_sync_re_owns_only_the_pairs_of_the_conversation_objects_it_changed(tmp_path: Path) -> None:
    """The objects a sync saves after its load: only the pairs of those that changed are owned again (their old
    and new participants), and the owners equal a pass over every row: assigned to ag_02, then to ag_03, then
    moved to another participant (O2's customer loses the assignment, its first replier owns it again)."""
    settings = team_settings(lines=[{"number": "+15550200001", "name": "Support", "source_id": "PNsupport"}])
    db, every_row = tmp_path / "w.duckdb", tmp_path / "every-row.duckdb"
    run_load(db, FILES, settings)
    quo = {"id": "CN1", "phoneNumberId": "PNsupport", "participants": ["+15552000002"], "assignedTo": "ag_02"}
    steps = [quo, {**quo, "assignedTo": "ag_03"}, {**quo, "assignedTo": "ag_03", "participants": ["+15552000001"]}]
    expected = [
        {"ag_01": 0, "ag_02": 1, "ag_03": 0, None: 2},
        {"ag_01": 0, "ag_03": 1, None: 2},  # ag_02 owns nothing now: no row of it
        None,  # whatever a pass over every row says
    ]
    for step, want in zip(steps, expected, strict=True):
        with duckdb.connect(str(db)) as con:
            etl.ownership.remember_sync_conversations(con)
            save_conversations(con, "quo", [step], 1)
            assert etl.ownership.reassign_changed_sync_conversations(con) >= 1
        shutil.copyfile(db, every_row)
        with duckdb.connect(str(every_row)) as con:
            assign_owners(con)
        _same_tables(db, every_row)
        if want is not None:
            assert _by(db, ["unanswered_inquiries"], "agent") == want
    with duckdb.connect(str(db)) as con:  # the same object again: nothing changed, nothing owned again
        etl.ownership.remember_sync_conversations(con)
        save_conversations(con, "quo", [steps[-1]], 1)
        assert etl.ownership.reassign_changed_sync_conversations(con) == 0


def test_an_agent_or_line_without_a_team_changes_no_owner_so_the_pass_stays_scoped(tmp_path: Path) -> None:
    """owner_team is coalesce(agent's team, line's team): a row without a team is the same as no row, so a sync
    naming an agent for the first time (no team) keeps the owner pass to its pairs; a team moves every row."""
    db = tmp_path / "w.duckdb"
    run_load(db, FILES, team_settings())
    with duckdb.connect(str(db)) as con:
        before = etl.ownership.inputs(con)
        con.execute("INSERT INTO agents (agent_id, name) VALUES ('ag_new', 'New agent')")
        con.execute("INSERT INTO lines (line_number, name) VALUES ('+15550209999', 'Spare line')")
        assert etl.ownership.inputs(con) == before
        con.execute("UPDATE agents SET team = 'Care' WHERE agent_id = 'ag_new'")
        assert etl.ownership.inputs(con) != before
        con.execute("UPDATE agents SET team = NULL WHERE agent_id = 'ag_new'")
        con.execute("UPDATE lines SET source_id = 'PNspare' WHERE line_number = '+15550209999'")
        assert etl.ownership.inputs(con) != before


def _same_tables(a_path: Path, b_path: Path) -> None:
    with duckdb.connect(str(a_path), read_only=True) as a, duckdb.connect(str(b_path), read_only=True) as b:
        for table in ("conversations", "inquiry_blocks", "messages", "survey_responses"):
            q = f"SELECT * EXCLUDE (run_id) FROM {table} ORDER BY ALL"
            q = q if table in ("messages", "survey_responses") else f"SELECT * FROM {table} ORDER BY ALL"
            assert a.execute(q).fetchall() == b.execute(q).fetchall(), table


def test_a_later_load_re_owns_only_its_pairs_and_equals_one_load(tmp_path: Path, monkeypatch) -> None:
    """The customers' texts first, the replies in a second load (no agents or lines change): that load re-owns
    the rows of the pairs it touched only (issue 19: a daily load into 10M messages no longer re-reads them all),
    and the owners are those of one load of every file: O1 ag_01, O3 ag_03, O4 ag_03 (assigned), Care/Sales."""
    lines = (FIXTURES / "ownership.csv").read_text().splitlines()
    replies = [row for row in lines[1:] if ",outbound," in row]
    first, second = tmp_path / "texts.csv", tmp_path / "replies.csv"
    first.write_text("\n".join([lines[0], *[row for row in lines[1:] if row not in replies]]) + "\n")
    second.write_text("\n".join([lines[0], *replies]) + "\n")
    scopes: list[object] = []
    real = etl.ownership.assign_owners

    def spy(con, scope=None):
        scopes.append(scope)
        real(con, scope)

    monkeypatch.setattr(etl.ownership, "assign_owners", spy)
    db = tmp_path / "w.duckdb"
    run_load(db, [first, *FILES[1:]], team_settings())
    run_load(db, [second], team_settings())
    assert scopes[0] is None and scopes[1] is not None  # the first load fills every row; the second its pairs
    fresh = tmp_path / "fresh.duckdb"
    run_load(fresh, FILES, team_settings())
    _same_tables(db, fresh)
    assert _by(db, ["inbound_messages"], "agent") == {"ag_01": 1, "ag_02": 0, "ag_03": 2, None: 3}
