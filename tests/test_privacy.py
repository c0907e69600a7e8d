"""Issue 11, privacy: card numbers and SSNs are never stored in clear (not in a column, not in the file's bytes,
not in a hash), the fact that one was sent is kept, phone numbers are masked in rejected rows' reasons, a
warehouse an older version wrote is migrated. (The dashboard's own privacy: tests/test_private_dashboard.py.)
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

import duckdb
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from etl.__main__ import main as etl_main
from etl.load import run_load
from metrics.query import Filters, compute
from replyboard import warehouse
from replyboard.sensitive import find_sensitive_spans
from replyboard.settings import Settings
from tests.helpers import ARTIFACTS, FIXTURES, ROOT, SAMPLE, team_settings
from tests.test_hostile_input import CORPUS

PAYMENT = FIXTURES / "hostile" / "payment_data.csv"
# Every test number in the fixtures below, as digits; each is looked for in every way it could be written.
CARDS = ("4111111111111111", "5500000000000004", "6011111111111117", "378282246310005", "5105105105105100")
CARDS += ("5555555555554444",)
PHONE = re.compile(r"\+?1?[ (.-]*646[ ).-]*555[ .-]*01[0-9]{2}")  # the fixtures' numbers, however written
FIGURES: dict[str, int] = {}


def clear_forms(digits: str) -> list[bytes]:
    """The ways a number may sit in a file: digits only, and in groups of four with each common separator."""
    groups = [digits[i : i + 4] for i in range(0, len(digits), 4)]
    forms = [digits] + [sep.join(groups) for sep in (" ", "-", ".", "\u00a0", "\u2009", "\n")]
    return [form.encode() for form in forms]


CLEAR = [form for card in CARDS for form in clear_forms(card)] + [b"123-45-6789", b"cvv 957", b"exp 12/29"]


def clear_text_in(path: Path) -> list[bytes]:
    data = path.read_bytes()
    FIGURES["forms grepped"] = len(CLEAR)
    return [form for form in CLEAR if form in data]


def write_surveys(folder: Path) -> Path:
    path = folder / "surveys.csv"
    path.write_text(
        "response_id,received_at,contact_number,survey,reply_text,line_number\n"
        's1,2026-10-19T15:00:00Z,+12015550123,csat,"9, and refund 4111-1111-1111-1111 please",+16465550100\n'
        's2,2026-10-19T15:01:00Z,+12015550123,nps,"10",+16465550100\n'
        's3,2026-10-19T15:02:00Z,+12015550123,stars,"5500 0000 0000 0004 exp 12/29",+16465550100\n'
    )
    return path


def write_twilio(folder: Path) -> Path:
    """A Twilio console export: one message with a card, one record the adapter rejects (a field too many)."""
    path = folder / "twilio_export.csv"
    head = "From,To,Body,Status,SentDate,ApiVersion,NumSegments,ErrorCode,AccountSid,Sid,Direction,Price,PriceUnit"
    account = "AC" + "a" * 32
    path.write_text(
        f"{head}\n"
        f"+12015550124,+16465550100,new card 6011 1111 1111 1117 cvv 957,received,2026-10-19T16:00:00Z,"
        f"2010-04-01,1,0,{account},SM{'1' * 32},inbound,-0.0079,USD\n"
        f"+12015550124,+16465550100,5555555555554444,received,2026-10-19T16:01:00Z,"
        f"2010-04-01,1,0,{account},SM{'2' * 32},inbound,-0.0079,USD,extra\n"
    )
    return path


def load_all(db: Path, folder: Path, settings: Settings | None = None):
    files = [PAYMENT, write_surveys(folder), write_twilio(folder)]
    return run_load(db, files, settings or team_settings())


def rows(db: Path, sql: str) -> list[tuple]:
    con = warehouse.connect_readonly(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture
def loaded(tmp_path: Path) -> Path:
    db = tmp_path / "w.duckdb"
    load_all(db, tmp_path)
    return db


def test_the_check_can_fail_a_duckdb_file_with_these_texts_in_clear_holds_their_bytes(tmp_path: Path):
    control = tmp_path / "control.duckdb"
    con = duckdb.connect(str(control))
    con.execute("CREATE TABLE t (body VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[sent] for sent, _ in CORPUS.PAYMENT])
    con.execute("CHECKPOINT")
    con.close()
    assert b"4111 1111 1111 1111" in control.read_bytes()
    assert b"4111.1111.1111.1111" in control.read_bytes()


def test_a_load_stores_no_card_number_or_ssn_anywhere(loaded: Path, tmp_path: Path):
    assert clear_text_in(loaded) == []
    assert not loaded.with_name(loaded.name + ".wal").exists()
    stored = dict(rows(loaded, "SELECT message_id, body FROM messages"))
    for i, (_, redacted) in enumerate(CORPUS.PAYMENT):
        assert stored[f"p{i + 1}"] == redacted
    assert rows(loaded, "SELECT body FROM messages WHERE source = 'twilio_csv'") == [
        ("new card •••• •••• •••• 1117 cvv •••",)
    ]
    texts = [
        t for (t,) in rows(loaded, "SELECT reply_text FROM survey_responses UNION ALL SELECT raw FROM rejected_rows")
    ]
    assert not [t for t in texts if any(form.decode() in t for form in CLEAR)], texts
    assert "9, and refund ••••-••••-••••-1111 please" in texts
    FIGURES["bodies"] = len(CORPUS.PAYMENT) + 1


def test_the_fact_a_card_was_sent_is_kept_for_the_compliance_page(loaded: Path):
    kinds = dict(rows(loaded, "SELECT message_id, sensitive FROM messages WHERE source = 'messages'"))
    expected = {f"p{i + 1}": "card" for i in range(len(CORPUS.PAYMENT))} | {"p7": "ssn", "p8": None}
    assert kinds == expected
    con = warehouse.connect_readonly(loaded)
    try:
        by_direction = compute(con, ["sensitive_data_messages"], by="direction", filters=Filters())
    finally:
        con.close()
    counts = dict(zip(by_direction["direction"], by_direction["sensitive_data_messages"], strict=True))
    assert counts == {"inbound": 6, "outbound": 3}  # p1 p3 p5 p7 p9 + the Twilio text; p2 p4 p6 by ag_01


def test_rejected_rows_keep_their_raw_text_without_cards_and_their_reasons_without_phone_numbers(loaded: Path):
    stored = rows(loaded, "SELECT path, line, reason, raw FROM rejected_rows ORDER BY path, line")
    by_file = {(Path(path).name, line): (reason, raw) for path, line, reason, raw in stored}
    assert set(by_file) == {
        ("payment_data.csv", 2),
        ("payment_data.csv", 3),
        ("surveys.csv", 4),
        ("twilio_export.csv", 3),
    }
    reason, raw = by_file[("payment_data.csv", 2)]
    assert reason == "direction '•••0177' is not inbound or outbound"
    assert raw.startswith("q1,2026-10-19T14:00:00Z,+16465550177,")  # the one raw export keeps phone numbers...
    assert "•••• •••• •••• 4444 exp ••/••" in raw  # ...but never a card
    assert "••••••••••••4444" in by_file[("twilio_export.csv", 3)][1]  # an adapter's reject, redacted centrally
    assert "•••• •••• •••• 0004 exp ••/••" in by_file[("surveys.csv", 4)][1]
    for reason, _ in by_file.values():
        assert not PHONE.search(reason) and "01001234567" not in reason, reason


def test_the_same_files_loaded_again_are_duplicates(loaded: Path, tmp_path: Path):
    again = load_all(loaded, tmp_path)
    assert (again.total("rows_loaded"), again.total("rows_updated")) == (0, 0)
    assert again.total("rows_duplicate") == again.total("rows_read") - again.total("rows_rejected")


def test_re_deriving_every_conversation_keeps_what_was_found(loaded: Path, tmp_path: Path):
    # Other settings re-derive everything from the stored (redacted) bodies: the kinds found at load stay.
    before = rows(loaded, "SELECT message_id, sensitive FROM messages ORDER BY message_id")
    report = load_all(loaded, tmp_path, team_settings(session_gap_hours=6))
    assert report.total("rows_loaded") == 0
    assert rows(loaded, "SELECT message_id, sensitive FROM messages ORDER BY message_id") == before
    assert len(set(rows(loaded, "SELECT settings_key FROM etl_runs"))) == 2  # the second run re-derived all


def test_the_sample_data_is_stored_without_its_card_numbers(sample_warehouse: Path):
    with (SAMPLE / "messages.csv").open(encoding="utf-8", newline="") as fh:
        bodies = [r["body"] for r in csv.DictReader(fh)]
    found = [(body, spans) for body in bodies if (spans := find_sensitive_spans(body))]
    numbers = {body[s:e] for body, spans in found for _, s, e in spans}
    assert len(numbers) >= 10  # the demo has a few cards and SSNs in several formats
    data = sample_warehouse.read_bytes()
    digits_only = {re.sub("[^0-9]", "", n) for n in numbers}
    assert [n for n in numbers | digits_only if n.encode() in data] == []
    (count,) = rows(sample_warehouse, "SELECT count(*) FROM messages WHERE sensitive IS NOT NULL")[0]
    assert count == len(found)
    FIGURES["sample"] = len(numbers)


# ------------------------------------------------------------------------------ a warehouse an older version wrote


def make_legacy(db: Path, tmp_path: Path) -> None:
    """Turn a warehouse into what the previous version left: bodies, replies and raw rows in clear, hashes of
    the clear text, unmasked reasons, and migration 002 not applied."""
    with PAYMENT.open(encoding="utf-8", newline="") as fh:
        clear = {r["message_id"]: r["body"] for r in csv.DictReader(fh)}
    con = duckdb.connect(str(db))
    try:
        con.executemany("UPDATE messages SET body = ? WHERE message_id = ?", [[b, m] for m, b in clear.items()])
        con.execute(f"UPDATE messages SET content_hash = {warehouse.MESSAGE_CONTENT_HASH_SQL}")
        con.execute(
            "UPDATE survey_responses SET reply_text = m.body FROM messages m "
            "WHERE survey_responses.origin = 'message' AND survey_responses.response_id = m.message_id"
        )
        con.execute(
            "UPDATE survey_responses SET reply_text = '9, and refund 4111-1111-1111-1111 please' WHERE response_id = 's1'"
        )
        con.execute(
            "UPDATE rejected_rows SET reason = 'direction ''+16465550177'' is not inbound or outbound', "
            "raw = 'q1,2026-10-19T14:00:00Z,+16465550177,+16465550100,+12015550123,,false,"
            "5555 5555 5555 4444 exp 01/30,sms,,received' WHERE line = 2 AND path LIKE '%payment_data.csv'"
        )
        con.execute("DELETE FROM schema_migrations WHERE version = 2")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    db.with_name(db.name + ".published").unlink(missing_ok=True)  # written outside a load


def test_a_warehouse_an_older_version_wrote_is_redacted_by_the_migration(tmp_path: Path, capsys):
    fresh = tmp_path / "fresh" / "w.duckdb"
    fresh.parent.mkdir()
    load_all(fresh, fresh.parent)
    db = tmp_path / "w.duckdb"
    load_all(db, tmp_path)
    make_legacy(db, tmp_path)
    assert b"4111 1111 1111 1111" in db.read_bytes() and clear_text_in(db)  # the clear text is really there

    assert etl_main(["migrate", "--db", str(db)]) == 0
    assert "applied 002_redact_payment_data.py" in capsys.readouterr().out
    assert clear_text_in(db) == []  # the file was rewritten: not even free blocks keep the old text
    columns = "message_id, body, sensitive, content_hash"
    assert rows(db, f"SELECT {columns} FROM messages ORDER BY 1") == rows(
        fresh, f"SELECT {columns} FROM messages ORDER BY 1"
    )
    assert rows(db, "SELECT reply_text FROM survey_responses WHERE response_id = 's1'") == [
        ("9, and refund ••••-••••-••••-1111 please",)
    ]
    assert rows(db, "SELECT reason, raw FROM rejected_rows WHERE line = 2 AND path LIKE '%payment_data.csv'") == [
        (
            "direction '•••0177' is not inbound or outbound",
            "q1,2026-10-19T14:00:00Z,+16465550177,+16465550100,+12015550123,,false,"
            "•••• •••• •••• 4444 exp ••/••,sms,,received",
        )
    ]

    # Reloading: messages are duplicates (their hash was recomputed as a load computes it); the file survey
    # reply whose text was redacted gets a hash no load makes, so it is updated once (its raw time is unknown).
    again = load_all(db, tmp_path)
    assert again.total("rows_loaded") == 1 and again.total("rows_updated") == 1
    assert [f.rows_updated for f in again.files] == [0, 1, 0]
    (run_ids,) = rows(db, "SELECT list(run_id ORDER BY run_id) FROM etl_runs")[0]
    assert run_ids == [1, 2]  # the run sequence survived the rewrite
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert etl_main(["migrate", "--db", str(db)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_migrate_names_a_missing_warehouse(tmp_path: Path, capsys):
    assert etl_main(["migrate", "--db", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "none.duckdb" in err and "Traceback" not in err


# ------------------------------------------------------------------------------------------------ Data health


def _data_health(monkeypatch: pytest.MonkeyPatch, db: Path) -> AppTest:
    monkeypatch.setenv("REPLYBOARD_DB", str(db))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/data_health.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _cells(at: AppTest) -> list[str]:
    return [str(c) for frame in at.dataframe for c in frame.value.to_numpy().ravel()]


def _downloads(at: AppTest) -> list[str]:
    return [el.proto.label for el in at.get("download_button")]


@pytest.fixture
def _new_navigation(monkeypatch: pytest.MonkeyPatch) -> None:
    """app.py's navigation on every AppTest run (why: tests/test_pages.py, _navigation_not_pages_folder)."""
    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.mark.usefixtures("_new_navigation")
def test_data_health_shows_no_phone_number_and_no_card(loaded: Path, monkeypatch: pytest.MonkeyPatch):
    at = _data_health(monkeypatch, loaded)
    cells = _cells(at)
    assert any("•••0177" in c for c in cells), "the reasons are shown, masked"
    assert not [c for c in cells if PHONE.search(c) or "+1646" in c.replace(" ", "")]
    assert not [c for c in cells if any(form.decode() in c for form in CLEAR)]
    assert any("only place raw rows appear" in w.value for w in at.warning)
    assert "Download rejected rows with raw text (CSV)" in _downloads(at)


@pytest.mark.usefixtures("_new_navigation")
def test_data_health_on_an_unmigrated_warehouse_masks_reasons_and_withholds_raw_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    db = tmp_path / "w.duckdb"
    load_all(db, tmp_path)
    make_legacy(db, tmp_path)
    at = _data_health(monkeypatch, db)
    assert any("older Replyboard" in w.value and "etl migrate" in w.value for w in at.warning)
    cells = _cells(at)
    assert any(c == "direction '•••0177' is not inbound or outbound" for c in cells)
    assert not [c for c in cells if PHONE.search(c)]
    assert "Download rejected rows with raw text (CSV)" not in _downloads(at)


@pytest.fixture(scope="module", autouse=True)
def figures_file():
    yield
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "privacy.txt").write_text(
        f"privacy: {FIGURES.get('bodies', 0)} hand-made and {FIGURES.get('sample', 0)} sample card/SSN texts "
        f"stored redacted, 0 of {FIGURES.get('forms grepped', 0)} clear forms in the warehouse bytes\n"
    )
