"""The warehouse never depends on its load history (issue 12): any sequence of loads, each with its own
derivation settings, ends in the warehouse ONE fresh load of the same files (in the same order) with the
final settings gives. Compared: every derived table of replyboard.contract (all columns but run ids, sorted).

The files are small canonical exports made here (tests/fixtures holds none of them): a Friday-evening inquiry
answered after a holiday weekend, CSAT and NPS prompts answered by text (a "10" that is out of range on 1-9
and valid on 1-10), opt-outs, an auto-reply, reminders from an automation line written as "(201) 555-0199",
gaps either side of the session gap settings, a group text whose source conversation spans two contacts,
a status update and a body edit of an earlier file's message, and a surveys file with a later correction.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from etl.load import run_load
from replyboard.contract import TABLES
from replyboard.settings import Settings

SUPPORT, REMINDERS = "+12015550100", "+12015550199"
C1, C2, C3, C4, C5, C6 = (f"+1201555{n:04d}" for n in range(1001, 1007))
MESSAGE_COLUMNS = [
    *("message_id", "created_at", "direction", "line_number", "contact_number", "agent_id", "is_automated"),
    *("body", "channel", "conversation_id", "status"),
]
SURVEY_COLUMNS = ["response_id", "received_at", "contact_number", "survey", "reply_text", "line_number"]
CSAT_PROMPT = "On a scale of 1 to 9, how did we do today? Reply with a number."
NPS_PROMPT = "On a scale of 0 to 10, how likely are you to recommend us to a friend?"


def _m(mid, at, direction, contact, body, agent="", automated="false", line=SUPPORT, conv="", status=""):
    status = status or ("received" if direction == "inbound" else "delivered")
    return [mid, at, direction, line, contact, agent, automated, body, "sms", conv, status]


MESSAGES = {
    "messages_a.csv": [
        # Friday 16:30 New York, answered Tuesday after Labor Day; then the CSAT prompt and a "10"
        _m("a01", "2026-09-04T20:30:00Z", "inbound", C1, "Is my order shipping before the weekend?"),
        _m(
            "a02", "2026-09-04T20:31:00Z", "outbound", C1, "Thanks for reaching out! We reply within a day.", "", "true"
        ),
        _m("a03", "2026-09-08T13:15:00Z", "outbound", C1, "Yes, it ships today.", "ag_01"),
        _m("a04", "2026-09-08T13:40:00Z", "outbound", C1, CSAT_PROMPT, "", "true"),
        _m("a05", "2026-09-08T14:10:00Z", "inbound", C1, "10"),
        # opt-outs (CANCEL is a keyword only in some settings) and a reminder from the automation line
        _m("a06", "2026-09-05T12:00:00Z", "outbound", C2, "Reminder: your pickup is at 9am", "", "false", REMINDERS),
        _m("a07", "2026-09-05T12:05:00Z", "inbound", C2, "cancel!", line=REMINDERS),
        _m("a08", "2026-09-05T15:00:00Z", "inbound", C2, "What time do you open on Monday?"),
        _m("a09", "2026-09-05T15:40:00Z", "outbound", C2, "We open at 9.", "ag_02", status="queued"),
        # gaps of 3 hours and 30 hours: one, two or three conversations depending on session_gap_hours
        _m("a10", "2026-09-09T13:00:00Z", "inbound", C3, "Hi, question about billing"),
        _m("a11", "2026-09-09T13:20:00Z", "outbound", C3, "Sure, what is it?", "ag_01"),
        _m("a12", "2026-09-09T16:30:00Z", "inbound", C3, "Never mind, found it"),
        _m("a13", "2026-09-10T22:45:00Z", "inbound", C3, "Actually one more thing"),
        # a group text: one source conversation, two contacts
        _m("a14", "2026-09-09T14:00:00Z", "inbound", C4, "Can we move our booking?", conv="grp1"),
        _m("a15", "2026-09-09T14:02:00Z", "inbound", C5, "Same question here", conv="grp1"),
        _m("a16", "2026-09-09T14:30:00Z", "outbound", C4, "Yes, to which day?", "ag_02", conv="grp1"),
    ],
    "messages_b.csv": [
        _m("a09", "2026-09-05T15:40:00Z", "outbound", C2, "We open at 9.", "ag_02", status="failed"),  # update
        _m("b01", "2026-09-05T15:50:00Z", "outbound", C2, "We open at 9, sorry for the delay.", "ag_02"),
        _m("b02", "2026-09-09T14:40:00Z", "inbound", C5, "Thursday please", conv="grp1"),
        _m("b03", "2026-09-09T15:10:00Z", "outbound", C5, "Done, see you Thursday", "ag_01", conv="grp1"),
        _m("b04", "2026-09-11T13:00:00Z", "inbound", C1, "STOP"),
        _m("b05", "2026-09-11T14:00:00Z", "outbound", C3, "Happy to help with that", "ag_02"),
        _m("b06", "2026-09-11T14:05:00Z", "outbound", C3, NPS_PROMPT, "", "true"),
        _m("b07", "2026-09-11T16:30:00Z", "inbound", C3, "I'd say 9"),
    ],
    "messages_c.csv": [
        _m("a03", "2026-09-08T13:15:00Z", "outbound", C1, "Yes, it ships today (tracking sent).", "ag_01"),  # edit
        _m("c01", "2026-09-12T02:00:00Z", "inbound", C6, "Are you open on Sunday?"),
        _m("c02", "2026-09-12T02:01:00Z", "outbound", C6, "We're closed right now, back Monday 9am.", "", "true"),
        _m("c03", "2026-09-14T13:05:00Z", "outbound", C6, "Yes, 10 to 4 on Sundays.", "ag_03"),
        _m("c04", "2026-09-14T13:10:00Z", "outbound", C6, "Reminder: rate us in the app", "", "false", REMINDERS),
        _m("c05", "2026-09-14T13:30:00Z", "outbound", C6, CSAT_PROMPT, "", "true"),
        _m("c06", "2026-09-14T15:45:00Z", "inbound", C6, "ten!"),
    ],
}
SURVEYS = {
    "surveys_a.csv": [
        ["s01", "2026-09-08T15:00:00Z", C1, "csat", "10", SUPPORT],
        ["s02", "2026-09-05T17:00:00Z", C2, "csat", "8/10", SUPPORT],
        ["s03", "2026-09-09T18:00:00Z", C3, "nps", "7", SUPPORT],
    ],
    "surveys_b.csv": [
        ["s01", "2026-09-08T15:00:00Z", C1, "csat", "9, changed my mind", SUPPORT],  # a correction
        ["s04", "2026-09-14T16:00:00Z", C6, "csat", "0", SUPPORT],
    ],
}
LINES = {"lines.csv": [[SUPPORT, "Support"], [REMINDERS, "Reminders"]]}  # a load of it alone re-derives too
FILES = [*MESSAGES, *SURVEYS, *LINES]

WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday"]
derivation_changes = st.fixed_dictionaries(
    {
        "timezone": st.sampled_from(["America/New_York", "Europe/London", "Asia/Tokyo"]),
        "business_hours": st.sampled_from(
            [
                {d: ["09:00-17:00"] for d in WEEKDAYS},
                {**{d: ["08:00-12:00", "13:00-18:00"] for d in WEEKDAYS}, "saturday": ["10:00-14:00"]},
            ]
        ),
        "holidays": st.sampled_from([[], ["2026-09-07"]]),
        "session_gap_hours": st.sampled_from([2, 24]),
        "csat": st.sampled_from(
            [{"min": 1, "max": 9, "satisfied_at_least": 8}, {"min": 1, "max": 10, "satisfied_at_least": 8}]
        ),
        "survey_prompts": st.sampled_from(
            [
                {"reply_window_hours": 24},
                {"reply_window_hours": 1},
                {"csat": [r"on a scale of 1\s*(?:-|to)\s*9"], "nps": ["likely are you to recommend"]},
            ]
        ),
        "opt_out_keywords": st.sampled_from([["STOP", "UNSUBSCRIBE"], ["STOP", "UNSUBSCRIBE", "CANCEL"]]),
        "auto_reply_templates": st.sampled_from(
            [[r"^Thanks for reaching out!", r"^We're closed right now"], [r"^Thanks for reaching out!", "^Reminder:"]]
        ),
        "automation_numbers": st.sampled_from([[], ["(201) 555-0199"]]),
        # reporting settings: they must not matter to what is stored
        "typing_allowance_seconds": st.sampled_from([60, 120]),
        "response_target_minutes": st.sampled_from([30, 120]),
    }
)
loads = st.lists(
    st.tuples(st.lists(st.sampled_from(FILES), min_size=1, max_size=4), derivation_changes), min_size=1, max_size=4
)


@pytest.fixture(scope="module")
def export_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    out = {}
    for name, rows in [*MESSAGES.items(), *SURVEYS.items(), *LINES.items()]:
        path = folder / name
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            header = {"m": MESSAGE_COLUMNS, "s": SURVEY_COLUMNS, "l": ["line_number", "name"]}[name[0]]
            writer.writerow(header)
            writer.writerows(rows)
        out[name] = path
    return out


def fingerprint(db: Path) -> dict[str, list[tuple]]:
    """Every derived table's rows, all columns but the run that wrote them, sorted."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for table in (t for t in TABLES.values() if t.derived):
            columns = [r[0] for r in con.execute(f"DESCRIBE {table.name}").fetchall() if r[0] != "run_id"]
            out[table.name] = con.execute(f"SELECT {', '.join(columns)} FROM {table.name} ORDER BY ALL").fetchall()
        return out
    finally:
        con.close()


def _load(db: Path, files: list[Path], settings: Settings) -> None:
    report = run_load(db, files, settings)
    assert not report.errors, report.errors


def _assert_same(got: dict[str, list[tuple]], want: dict[str, list[tuple]], history: str) -> None:
    for table in want:
        missing = [r for r in want[table] if r not in got[table]]
        extra = [r for r in got[table] if r not in want[table]]
        assert not missing and not extra, (
            f"{table} after {history} differs from one fresh load:\n  fresh only: {missing[:3]}\n"
            f"  history only: {extra[:3]}"
        )


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=loads)
@example(  # the case: "10" loaded with csat.max 9, then another file with csat.max 10
    history=[
        (["messages_a.csv", "surveys_a.csv"], {"csat": {"min": 1, "max": 9, "satisfied_at_least": 8}}),
        (["messages_c.csv"], {"csat": {"min": 1, "max": 10, "satisfied_at_least": 8}}),
    ]
)
@example(  # the group text arrives in two files, the second re-deriving only the pair it touches
    history=[(["messages_a.csv"], {}), (["messages_b.csv"], {"session_gap_hours": 2})]
)
@example(  # a load of a lines file alone, with other settings: every conversation re-derived
    history=[(["messages_a.csv", "surveys_a.csv"], {}), (["lines.csv"], {"session_gap_hours": 2})]
)
def test_any_load_history_equals_one_fresh_load(
    tmp_path_factory: pytest.TempPathFactory, export_files: dict[str, Path], history: list[tuple[list[str], dict]]
) -> None:
    folder = tmp_path_factory.mktemp("history")
    db = folder / "history.duckdb"
    for names, changes in history:
        _load(db, [export_files[n] for n in names], Settings.model_validate(changes))
    final = Settings.model_validate(history[-1][1])
    fresh = folder / "fresh.duckdb"
    _load(fresh, [export_files[n] for names, _ in history for n in names], final)
    steps = " then ".join(f"{names} with {json.dumps(changes, sort_keys=True)}" for names, changes in history)
    _assert_same(fingerprint(db), fingerprint(fresh), steps)


def _status(db: Path) -> dict[str, tuple[str, int | None]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT response_id, parse_status, score FROM survey_responses").fetchall()
        return {rid: (status, score) for rid, status, score in rows}
    finally:
        con.close()


def test_a_scale_change_rescores_what_is_stored(tmp_path: Path, export_files: dict[str, Path]) -> None:
    """The issue's reproduction: a CSAT "10" texted (a05) and in a surveys file (s01), loaded on 1-9, stays
    out_of_range after a load with 1-10 on main; it must read valid, as a fresh load with 1-10 gives."""
    db = tmp_path / "w.duckdb"
    nine = Settings.model_validate({"csat": {"min": 1, "max": 9, "satisfied_at_least": 8}})
    ten = Settings.model_validate({"csat": {"min": 1, "max": 10, "satisfied_at_least": 8}})
    run_load(db, [export_files["messages_a.csv"], export_files["surveys_a.csv"]], nine)
    assert _status(db)["a05"] == ("out_of_range", 10) and _status(db)["s01"] == ("out_of_range", 10)
    report = run_load(db, [export_files["messages_c.csv"]], ten)
    assert _status(db)["a05"] == ("valid", 10) and _status(db)["s01"] == ("valid", 10)
    assert report.notes == ["derivation settings changed since the last load (csat): re-scored every survey reply"]
    again = run_load(db, [export_files["messages_c.csv"]], ten)
    assert again.notes == []  # the same settings: nothing to redo


def test_reporting_settings_are_not_derivation_settings() -> None:
    base = Settings()
    for reporting in (
        {"typing_allowance_seconds": 30},
        {"response_target_minutes": 15},
        {"csat": {"min": 1, "max": 9, "satisfied_at_least": 7}},
    ):
        assert Settings.model_validate(reporting).derivation_key() == base.derivation_key(), reporting
    for derivation in (
        {"csat": {"min": 1, "max": 10, "satisfied_at_least": 8}},
        {"session_gap_hours": 4},
        {"automation_numbers": ["+12015550199"]},
        {"opt_out_keywords": ["STOP"]},
    ):
        assert Settings.model_validate(derivation).derivation_key() != base.derivation_key(), derivation
    # one canonical form: weekdays and holidays written in another order derive the same facts
    shuffled = Settings.model_validate(
        {
            "business_hours": {"friday": ["13:00-17:00", "09:00-12:00"], "monday": ["09:00-12:00"]},
            "holidays": ["2026-12-25", "2026-01-01"],
        }
    )
    ordered = Settings.model_validate(
        {
            "business_hours": {"monday": ["09:00-12:00"], "friday": ["09:00-12:00", "13:00-17:00"]},
            "holidays": ["2026-01-01", "2026-12-25"],
        }
    )
    assert shuffled.derivation_key() == ordered.derivation_key()


def test_derivation_reads_only_derivation_settings() -> None:
    """etl/derive.py reads `settings.X` only for X of DerivationSettings: the key covers all it uses."""
    import ast

    from replyboard.settings import DerivationSettings

    source = Path(__file__).resolve().parent.parent / "etl" / "derive.py"
    read = {
        node.attr
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "settings"
    }
    allowed = set(DerivationSettings.model_fields) | {"zone", "windows_for"}
    assert read and read <= allowed, read - allowed


def test_a_reading_settings_change_is_said(tmp_path: Path, export_files: dict[str, Path]) -> None:
    """default_region applies when a file is read: a change cannot be re-applied to stored rows, so the load
    says so (in its notes, --json's "notes" and the summary) and stores nothing differently. GB also reads
    slash dates day first (date_order follows default_region unless set)."""
    db = tmp_path / "w.duckdb"
    run_load(db, [export_files["messages_a.csv"]], Settings())
    before = fingerprint(db)
    report = run_load(db, [export_files["messages_a.csv"]], Settings.model_validate({"default_region": "GB"}))
    assert report.notes == [
        "settings applied when files are read changed since the last load (default_region US -> GB; date_order MDY -> DMY): "
        "rows "
        "already stored keep how they were read; load their files again (with --replace) to re-read them"
    ]
    assert report.as_json()["notes"] == report.notes
    assert fingerprint(db) == before


def test_a_copy_with_other_settings_derives_with_them() -> None:
    """etl.sync copies the settings with extra lines (model_copy): the copy's derivation is its own."""
    settings = Settings()
    assert settings.derivation.session_gap_hours == 24
    assert settings.model_copy(update={"session_gap_hours": 5}).derivation.session_gap_hours == 5
