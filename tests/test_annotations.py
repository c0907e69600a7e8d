"""Annotations change the figures consistently everywhere (compute, rows, CLI, OKRs) and survive reloads;
the conversation transcript and its CLI."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from etl.load import run_load
from metrics.__main__ import main
from metrics.annotations import overlay_for
from metrics.conversation import transcript
from metrics.okr import evaluate, load_file, with_checkins
from metrics.params import Params
from metrics.query import compute
from metrics.rows import rows
from replyboard import warehouse
from replyboard.appstate import AppState, state_path
from tests.helpers import FIXTURES, team_settings

FIX = FIXTURES / "metrics"
FILES = [FIX / f for f in ("response_times.csv", "volume_surveys.csv", "volume_surveys_file.csv", "agents.csv")]
RATES = [
    "same_business_day_response_rate",
    "response_within_target_rate",
    "unanswered_inquiries",
    "inquiries_marked_no_reply_needed",
    "csat_mean",
    "survey_replies_valid",
    "sensitive_data_open",
]


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("REPLYBOARD_STATE", raising=False)
    path = tmp_path / "w.duckdb"
    assert run_load(path, FILES, team_settings()).errors == []
    return path


def figures(db: Path) -> dict:
    con = warehouse.connect_readonly(db)
    try:
        return compute(con, RATES, params=Params(overlay=overlay_for(db))).row(0, named=True)
    finally:
        con.close()


def one_id(db: Path, metric: str, column: str, **where: object) -> str:
    con = warehouse.connect_readonly(db)
    try:
        return str(rows(con, metric, where=where or None, limit=1, order="value", descending=True).frame[column][0])
    finally:
        con.close()


def test_each_annotation_moves_exactly_its_figures(db: Path) -> None:
    before = figures(db)
    block = one_id(db, "unanswered_inquiries", "block_id")  # the longest-waiting unanswered block
    store = AppState(state_path(db))
    mark = store.annotate("block", block, "no_reply_needed", author="lee", note="only said thanks")
    after = figures(db)
    assert after["unanswered_inquiries"] == before["unanswered_inquiries"] - 1
    assert after["inquiries_marked_no_reply_needed"] == 1
    # B5 was past its deadline and the target: it left both denominators (and was a miss in both)
    assert after["same_business_day_response_rate_n"] == before["same_business_day_response_rate_n"] - 1
    assert after["response_within_target_rate_n"] == before["response_within_target_rate_n"] - 1
    assert after["same_business_day_response_rate"] > before["same_business_day_response_rate"]
    assert after["csat_mean"] == before["csat_mean"]

    # e04 "between 6 and 8" (ambiguous) read as 7: one more valid CSAT reply, the mean moves accordingly
    rid = "e04"
    store.annotate("survey_reply", rid, "rescored", author="lee", score=7)
    rescored = figures(db)
    assert rescored["survey_replies_valid"] == before["survey_replies_valid"] + 1
    n = before["csat_mean_n"]
    assert rescored["csat_mean"] == pytest.approx((before["csat_mean"] * n + 7) / (n + 1))

    store.annotate("message", "e01", "handled", author="lee", note="told the customer to use the link")
    assert figures(db)["sensitive_data_open"] == before["sensitive_data_open"] - 1

    store.undo(mark, author="lee")
    undone = figures(db)
    assert undone["unanswered_inquiries"] == before["unanswered_inquiries"]
    assert undone["same_business_day_response_rate"] == before["same_business_day_response_rate"]


def test_annotations_survive_a_reload_and_a_rederivation(db: Path) -> None:
    block = one_id(db, "unanswered_inquiries", "block_id")
    AppState(state_path(db)).annotate("block", block, "no_reply_needed", author="lee")
    marked = figures(db)
    run_load(db, FILES, team_settings())  # the same files again: published anew, facts re-merged
    assert figures(db) == marked
    # other business hours: every conversation re-derived; the block keeps its id and its annotation
    run_load(db, FILES, team_settings(business_hours={"monday": ["08:00-18:00"]}))
    again = figures(db)
    assert again["inquiries_marked_no_reply_needed"] == 1
    con = warehouse.connect_readonly(db)
    try:
        listed = rows(con, "inquiries_marked_no_reply_needed", params=Params(overlay=overlay_for(db)), limit=None)
    finally:
        con.close()
    assert listed.frame["block_id"].to_list() == [block]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_annotate_cli(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    block = one_id(db, "unanswered_inquiries", "block_id")
    code, out, _ = cli(
        capsys, "annotate", "--db", str(db), "no-reply-needed", block, "--note", "thanks", "--author", "lee"
    )
    assert code == 0 and "annotation 1" in out
    code, out, _ = cli(
        capsys, "report", "--db", str(db), "--metric", "inquiries_marked_no_reply_needed", "--format", "json"
    )
    assert json.loads(out) == [{"inquiries_marked_no_reply_needed": 1}]
    code, out, _ = cli(capsys, "annotate", "--db", str(db), "list")
    assert block in out and "lee" in out and "thanks" in out
    for args, message in (
        (["no-reply-needed", "b_nope"], "no inquiry block 'b_nope'"),
        (["rescore", "e04", "--score", "12"], "re-scored on 1-9, not 12"),
        (["handled", "a01"], "holds no payment data"),
        (["undo", "99"], "not active"),
    ):
        code, out, err = cli(capsys, "annotate", "--db", str(db), *args)
        assert code == 2 and message in err and "Traceback" not in err
    code, out, _ = cli(capsys, "annotate", "--db", str(db), "undo", "1")
    assert code == 0
    code, out, _ = cli(
        capsys, "report", "--db", str(db), "--metric", "inquiries_marked_no_reply_needed", "--format", "json"
    )
    assert json.loads(out) == [{"inquiries_marked_no_reply_needed": 0}]


def test_conversation_transcript(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    con = warehouse.connect_readonly(db)
    try:
        cid = con.execute("SELECT conversation_id FROM messages WHERE message_id = 'a01'").fetchall()[0][0]
        t = transcript(con, cid)
    finally:
        con.close()
    assert t.messages[0].message_id == "a01"
    assert t.contact.startswith("•••") and len(t.contact) == 7
    assert t.messages[0].author == "customer" and t.messages[0].kind == "inquiry"
    assert {b.block_id for b in t.blocks} == {m.block_id for m in t.messages if m.kind == "inquiry"}
    code, out, _ = cli(capsys, "conversation", "--db", str(db), cid, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["conversation_id"] == cid and data["messages"][0]["message_id"] == "a01"
    assert "+1555" not in out  # numbers masked
    code, out, _ = cli(capsys, "conversation", "--db", str(db), cid)
    assert code == 0 and "block 1" in out and "customer" in out
    code, _, err = cli(capsys, "conversation", "--db", str(db), "c_nope")
    assert code == 2 and "no conversation 'c_nope'" in err


def test_dashboard_checkins_count_with_the_yaml_ones(db: Path, tmp_path: Path) -> None:
    okr_file = tmp_path / "2026-10.yaml"
    okr_file.write_text(
        "period: 2026-10\nstart: 2026-10-01\nend: 2026-10-31\nowner: Lead\nobjectives:\n"
        "  - id: o\n    title: Training\n    key_results:\n"
        "      - id: guide\n        title: Write the SMS training guide\n        type: manual\n"
        "        checkins:\n          - {date: 2026-10-05, value: 0.2}\n"
    )
    period, problems = load_file(okr_file)
    assert period is not None and not [p for p in problems if p.severity == "error"]
    store = AppState(state_path(db))
    store.add_checkin("2026-10", "guide", date(2026, 10, 15), 0.6, author="lee", confidence=0.8, note="draft done")
    con = warehouse.connect_readonly(db)
    try:
        from metrics.annotations import checkins_for

        result = evaluate(con, with_checkins(period, checkins_for(db, "2026-10")), team_settings(), date(2026, 10, 20))
    finally:
        con.close()
    kr = result[0].key_results[0]
    assert kr.current == 0.6 and kr.n == 2 and kr.note == "draft done"
