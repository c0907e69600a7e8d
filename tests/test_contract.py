"""The declared warehouse contract (replyboard/contract.py) against the warehouse itself: every table is
declared with the primary key its DDL has, each declared reader reads it, the codes bound into SQL are the
enums' values, and the keys hold through DELETE + INSERT of the same rows in one transaction (the merge).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import duckdb
import pytest

from etl.load import run_load
from replyboard import warehouse
from replyboard.contract import TABLES, Disposition, MessageKind, ParseStatus, SurveyOrigin, code_param, codes_in
from replyboard.settings import Settings
from tests.helpers import ROOT


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> duckdb.DuckDBPyConnection:
    """A warehouse made by the migrations alone, as a first load makes it."""
    db = tmp_path_factory.mktemp("contract") / "w.duckdb"
    with warehouse.writer(db):
        pass
    con = duckdb.connect(str(db), read_only=True)
    yield con
    con.close()


def test_every_table_is_declared_and_every_declared_table_exists(fresh: duckdb.DuckDBPyConnection) -> None:
    tables = {r[0] for r in fresh.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()}
    assert tables == set(TABLES)


def test_declared_keys_are_the_primary_keys_of_the_ddl(fresh: duckdb.DuckDBPyConnection) -> None:
    keys = {
        table: tuple(columns)
        for table, columns in fresh.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    }
    assert keys == {t.name: t.key for t in TABLES.values() if t.key}
    for table in TABLES.values():  # DESCRIBE agrees: exactly the key columns are PRI
        described = fresh.execute(f"DESCRIBE {table.name}").fetchall()
        assert tuple(r[0] for r in described if r[3] == "PRI") == table.key, table.name


def test_each_table_has_a_reader_or_says_which_issue_reads_it() -> None:
    for table in TABLES.values():
        assert table.read_by or table.kept_for, f"{table.name}: nothing reads it; give it a reader or drop it"
        for module in table.read_by:
            spec = importlib.util.find_spec(module)
            assert spec is not None and spec.origin, module
            text = Path(spec.origin).read_text()
            read = rf"\b(?:FROM|JOIN)\s+{table.name}\b|source=\"{table.name}\b"
            assert re.search(read, text), f"{module} is declared to read {table.name} but never selects from it"
        assert table.writes and all(isinstance(w.disposition, Disposition) for w in table.writes)
        for write in table.writes:  # the declared writer writes it
            text = (ROOT / (write.by.replace(".", "/") + ".py")).read_text()
            named = re.search(rf"\b(?:INSERT (?:OR REPLACE )?INTO|UPDATE|DELETE FROM)\s+{table.name}\b", text)
            # merge_reference, etl.ownership: the table's name in a mapping, the statement on a variable
            by_variable = f'"{table.name}"' in text and ("INSERT INTO {table}" in text or "UPDATE {table}" in text)
            assert named or by_variable, (table.name, write)


def test_derived_tables_are_those_loads_rebuild() -> None:
    assert {t.name for t in TABLES.values() if t.derived} == {
        "messages",
        "conversations",
        "inquiry_blocks",
        "survey_responses",
    }


def test_codes_bind_the_enum_values() -> None:
    sql = "SELECT * FROM m WHERE kind = $kind_human_reply AND origin = $origin_file AND x < $survey_cutoff"
    assert codes_in(sql) == {"kind_human_reply": "human_reply", "origin_file": "file"}  # not $survey_cutoff
    assert code_param(MessageKind.SURVEY_ANSWER) == "kind_survey_answer"
    assert code_param(ParseStatus.OUT_OF_RANGE) == "status_out_of_range"
    assert code_param(SurveyOrigin.MESSAGE) == "origin_message"
    # a misspelt code is not silently nothing: DuckDB refuses it unbound
    with duckdb.connect() as con, pytest.raises(duckdb.InvalidInputException):
        warehouse.one(con, "SELECT $kind_humanreply")


def test_no_code_is_spelt_as_a_literal_in_etl_sql() -> None:
    """Kinds, statuses and origins are bound ($kind_...), never written as 'human_reply' in etl/ SQL."""
    codes = {m.value for enum in (MessageKind, ParseStatus, SurveyOrigin) for m in enum} - {"empty", "valid"}
    for path in [ROOT / "etl" / name for name in ("derive.py", "merge.py", "validate.py", "load.py")]:
        text = path.read_text()
        found = sorted(code for code in codes if f"'{code}'" in text)
        assert not found, f"{path.name} spells {found} in SQL; bind them (replyboard.contract.codes_in)"


def test_keys_hold_through_a_reload_and_an_update_in_one_transaction(tmp_path: Path) -> None:
    """The merge deletes and re-inserts the same keys in one transaction (a surveys file's correction, the
    derivation of a pair): with primary keys that must still work, and the keys stay unique."""
    messages = tmp_path / "messages.csv"
    surveys = tmp_path / "surveys.csv"
    head = "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body\n"
    messages.write_text(
        head + "m1,2026-09-01T14:00:00Z,inbound,+12015550100,+12015550111,,false,hi\n"
        "m2,2026-09-01T14:05:00Z,outbound,+12015550100,+12015550111,ag_1,false,hello\n"
    )
    surveys.write_text(
        "response_id,received_at,contact_number,survey,reply_text\nr1,2026-09-01T15:00:00Z,+12015550111,csat,8\n"
    )
    db = tmp_path / "w.duckdb"
    settings = Settings()
    run_load(db, [messages, surveys], settings)
    surveys.write_text(
        "response_id,received_at,contact_number,survey,reply_text\nr1,2026-09-01T15:00:00Z,+12015550111,csat,9\n"
    )
    messages.write_text(messages.read_text().replace(",hello", ",hello again"))
    report = run_load(db, [messages, surveys, messages], settings)
    assert not report.errors and report.total("rows_updated") == 2
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT reply_text, score FROM survey_responses").fetchall() == [("9", 9)]
        for table in (t for t in TABLES.values() if t.key):
            cols = ", ".join(table.key)
            repeated = con.execute(
                f"SELECT count(*) FROM (SELECT {cols} FROM {table.name} GROUP BY ALL HAVING count(*) > 1)"
            )
            assert repeated.fetchall() == [(0,)], table.name
    with duckdb.connect(str(db)) as con, pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO messages SELECT * FROM messages LIMIT 1")


def _old_warehouse(db: Path, like: Path) -> None:
    """A warehouse as versions before migration 004 left it (no keys, `contacts`, unread meta keys), holding
    `like`'s rows plus what the old derivation could leave: a conversation row twice."""
    con = duckdb.connect(str(db))
    warehouse.configure(con)
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())"
    )
    for version, name, step, _ in warehouse._migrations():
        if version >= 4:
            break
        con.execute(step) if isinstance(step, str) else step(con)
        con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
    con.execute(f"ATTACH '{like}' AS new (READ_ONLY)")
    for table in ("messages", "conversations", "inquiry_blocks", "survey_responses", "agents", "lines", "meta"):
        # the columns the old version had (later migrations add more, e.g. 006's owners)
        old = [c for (c, *_) in con.execute(f"DESCRIBE {table}").fetchall()]
        names = ", ".join(f'"{c}"' for c in old)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM new.{table}")
    con.execute("DETACH new")
    con.execute("INSERT INTO conversations SELECT * FROM conversations LIMIT 1")
    con.execute("INSERT INTO meta VALUES ('timezone', 'America/New_York'), ('data_end', '2026-09-01')")
    con.close()


def test_an_older_warehouse_gets_its_keys_and_is_derived_again(tmp_path: Path) -> None:
    messages = tmp_path / "messages.csv"
    messages.write_text(
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body\n"
        "m1,2026-09-01T14:00:00Z,inbound,+12015550100,+12015550111,,false,hi\n"
        "m2,2026-09-01T14:05:00Z,outbound,+12015550100,+12015550111,ag_1,false,hello\n"
    )
    fresh, old = tmp_path / "fresh.duckdb", tmp_path / "old.duckdb"
    run_load(fresh, [messages], Settings())
    _old_warehouse(old, fresh)
    report = run_load(old, [messages], Settings())
    assert report.notes and "re-derived every conversation" in report.notes[0]
    with duckdb.connect(str(old), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'contacts'").fetchall() == [(0,)]
        assert con.execute("SELECT key FROM meta ORDER BY key").fetchall() == [
            ("derivation_key",),
            ("reading_settings",),
        ]
        pks = con.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'")
        assert pks.fetchall() == [(sum(1 for t in TABLES.values() if t.key),)]
        got = con.execute("SELECT * FROM conversations ORDER BY ALL").fetchall()
    with duckdb.connect(str(fresh), read_only=True) as con:
        assert got == con.execute("SELECT * FROM conversations ORDER BY ALL").fetchall()
