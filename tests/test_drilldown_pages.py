"""From a number to the conversations behind it, under AppTest: the rows page, the conversation viewer, the work
queues, annotations made on the dashboard (and the figures they move), OKR check-ins.

The hand-made warehouse is tests/fixtures/metrics' four files (tests/test_metrics.py explains every block);
each test writes to its own app-state store (REPLYBOARD_STATE), so annotations never leak between tests.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from etl.load import run_load
from metrics.annotations import overlay_for
from metrics.conversation import transcript
from metrics.params import Params
from metrics.query import compute
from metrics.rows import parse_where, rows
from pages import common
from pages.conversation import CLOSED_SHADE
from pages.queues import QUEUES
from replyboard import warehouse
from replyboard.appstate import AppState, state_path
from replyboard.settings import load_settings
from tests.helpers import FIXTURES, team_settings
from tests.test_pages import (  # noqa: F401 - fixtures and helpers shared with every page test
    _app,
    _assert_clean,
    _bounds,
    _navigation_not_pages_folder,
    empty_warehouse,
)

FIX = FIXTURES / "metrics"
FILES = [FIX / f for f in ("response_times.csv", "volume_surveys.csv", "volume_surveys_file.csv", "agents.csv")]
PHONE = re.compile(r"\+[1-9][0-9]{6,14}")


@pytest.fixture(scope="module")
def hand_made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("drill") / "w.duckdb"
    assert run_load(db, FILES, team_settings()).errors == []
    return db


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state.sqlite"
    monkeypatch.setenv("REPLYBOARD_STATE", str(path))
    monkeypatch.setenv("USER", "lee")
    return path


def open_page(
    monkeypatch: pytest.MonkeyPatch, db: Path, script: str, state: dict | None = None, **query: str | list[str]
) -> AppTest:
    """A fresh session on ``script`` with the query string ``query`` (and sidebar values in ``state``)."""
    at = _app(monkeypatch, db)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.run()
    at.query_params.update(query)
    at.switch_page(script).run()
    _assert_clean(at)
    return at


def con(db: Path):
    return warehouse.connect_readonly(db)


def every_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [h.value for h in at.html]
    return "\n".join(parts)


def link_queries(at: AppTest) -> list[dict]:
    return [
        {"label": p.proto.label, **parse_qs(p.proto.query_string, keep_blank_values=True)}
        for p in at.get("page_link")
        if p.proto.page == "rows"
    ]


# ---- the rows page -------------------------------------------------------------------------------------


def test_rows_page_lists_the_rows_behind_a_number(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/rows.py", metric="unanswered_inquiries")
    c = con(hand_made)
    try:
        value = compute(c, ["unanswered_inquiries"]).row(0, named=True)
        expected = rows(c, "unanswered_inquiries", order="value", descending=True, limit=None).frame
    finally:
        c.close()
    assert at.metric[0].value == f"{value['unanswered_inquiries']:,}" == "3"  # B5 B9 B10
    (table,) = at.dataframe
    assert table.value["block_id"].to_list() == expected["block_id"].to_list()  # the longest wait first
    assert "3 inquiry blocks" in every_text(at)
    assert not [v for v in table.value.to_numpy().ravel() if PHONE.search(str(v))]

    business = open_page(
        monkeypatch,
        hand_made,
        "pages/rows.py",
        {"hours": "business"},
        metric="unanswered_inquiries",
        order="time",
        desc="false",
    )
    waits = business.dataframe[0].value["waiting"].to_list()
    assert business.session_state["hours"] == "business" and len(waits) == 3
    assert "oldest first" in every_text(business)
    # the data ends Fri 23 10:06 (volume_surveys.csv): B5 (Mon 14:00) has waited Mon 3 h + Tue-Thu 3 x 7 h + Fri
    # 66 min = 25.1 business hours; B9 (Tue 15:10) 1 h 50 min + 14 h + 66 min = 16.9 h
    assert waits[:2] == ["25.1 h", "16.9 h"]
    assert at.dataframe[0].value["waiting"][0] == "3.8 d"  # calendar: Mon 14:00 -> Fri 10:06 = 92.1 h


def test_rows_page_one_group_and_bad_links(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/rows.py", metric="reply_time_median", where=["agent=ag_01"])
    c = con(hand_made)
    try:
        one = compute(c, ["reply_time_median"], where={"agent": "ag_01"}).row(0, named=True)
    finally:
        c.close()
    assert at.metric[0].value == common.fmt_duration(one["reply_time_median"])
    assert set(at.dataframe[0].value["agent"]) == {"ag_01"}
    assert len(at.dataframe[0].value) == one["reply_time_median_n"]
    assert "agent = **Sam Rivera**" in every_text(at)

    bad = open_page(monkeypatch, hand_made, "pages/rows.py", metric="reply_time_median", where=["planet=mars"])
    assert any("not valid" in w.value for w in bad.warning) and bad.dataframe  # every group instead
    split = open_page(monkeypatch, hand_made, "pages/rows.py", metric="reply_time_median", where=["direction=inbound"])
    assert any("cannot be split by direction" in w.value for w in split.warning)
    unknown = open_page(monkeypatch, hand_made, "pages/rows.py", metric="no_such_metric")
    assert any("Choose a metric" in i.value for i in unknown.info) and not unknown.dataframe


def test_rows_page_pages_and_a_histogram_bucket(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/rows.py", metric="reply_time_median", size="50", page="1")
    assert len(at.dataframe[0].value) == 15  # 7 + 8 answered blocks: one page
    bucket = open_page(monkeypatch, hand_made, "pages/rows.py", metric="reply_time_median", min="300", max="900")
    seconds = bucket.dataframe[0].value["seconds"].to_list()
    assert seconds and all(300 <= s < 900 for s in seconds)
    assert any(b.label == "Show every group" for b in bucket.button)


def test_a_row_opens_its_conversation(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/rows.py", metric="unanswered_inquiries")
    first = at.dataframe[0].value["conversation_id"][0]
    at.session_state["rows-table"] = {"selection": {"rows": [0]}}
    at.run()
    _assert_clean(at)
    assert at.title[0].value == "Conversation"
    assert at.query_params["id"] == first
    back = [p for p in at.get("page_link") if p.proto.label == "Back to the rows"]
    assert back and "metric=unanswered_inquiries" in back[0].proto.query_string


# ---- drill-down from the other pages --------------------------------------------------------------------


def test_every_kpi_opens_rows_with_its_own_value(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/overview.py")
    shown = {m.label: m.value for m in at.metric}
    links = link_queries(at)
    assert len(links) == len(shown) == 10
    for metric_card, link in zip(at.metric, links, strict=True):
        assert link["label"].startswith("n = ")
        page = open_page(monkeypatch, hand_made, "pages/rows.py", **{k: v for k, v in link.items() if k != "label"})
        assert page.metric[0].value == metric_card.value, link  # the same number as where it was clicked
        n = link["label"].removeprefix("n = ").split(" ")[0]
        assert any(c.value.startswith(f"n = {n}") for c in page.caption), (link, n)
    assert shown


def test_a_table_cell_opens_the_rows_of_its_group(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/agents.py")
    table = at.dataframe[0].value
    agent, n = table["agent"][0], table["reply_time_median_n"][0]
    at.session_state["agents-table"] = {"selection": {"cells": [[0, "reply_time_median"]]}}
    at.run()
    _assert_clean(at)
    assert at.title[0].value == "Rows behind a number"
    assert at.query_params["metric"] == "reply_time_median"
    assert parse_where([at.query_params["where"]]) == {"agent": agent}
    assert len(at.dataframe[0].value) == n


def test_compliance_counts_open_their_direction(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/compliance.py")
    inbound = [q for q in link_queries(at) if q.get("where") == ["direction=inbound"]]
    assert inbound and inbound[0]["label"] == "n = 1 · see rows"  # e01, the card number


# ---- the conversation viewer ----------------------------------------------------------------------------


def _conversation_with(db: Path, kind: str) -> str:
    c = con(db)
    try:
        found = rows(c, "outbound_messages", limit=None).frame
        cid = next(
            r["conversation_id"]
            for r in found.iter_rows(named=True)
            if r["kind"] == kind and r["conversation_id"] is not None
        )
    finally:
        c.close()
    return cid


def test_viewer_shows_a_transcript_as_a_lead_reads_it(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cid = _conversation_with(hand_made, "failed_reply")  # C3: B6 (missed, a failed send first) and B7 (> 2 h)
    at = open_page(monkeypatch, hand_made, "pages/conversation.py", id=cid)
    text = every_text(at)
    assert "reply not delivered" in text and "failed" in text
    assert "same day: missed" in text and "waited over 2 h after the first reply" in text
    assert "Reply time **17.0 h** calendar · **60 min** business" in text  # B6: 61,200 s / 3,600 s
    assert CLOSED_SHADE not in text  # Mon 16:30 to Tue 13:30, all inside opening hours
    assert not PHONE.search(text)
    assert {m.label: m.value for m in at.metric}["Inquiry blocks"] == "2"

    c = con(hand_made)
    try:
        friday = rows(c, "inquiry_blocks", order="time", limit=1).frame["conversation_id"][0]  # B1, Fri 18:00
    finally:
        c.close()
    closed = every_text(open_page(monkeypatch, hand_made, "pages/conversation.py", id=friday))
    assert CLOSED_SHADE in closed and "Fri 16 Oct 18:00" in closed and "We&#x27;re closed right now" in closed

    missing = open_page(monkeypatch, hand_made, "pages/conversation.py", id="c_nope")
    assert any("No conversation 'c_nope'" in w.value for w in missing.warning)
    none = open_page(monkeypatch, hand_made, "pages/conversation.py")
    assert any("Open a conversation" in i.value for i in none.info)


def test_viewer_annotations_with_history_and_undo(
    hand_made: Path, own_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cid = _conversation_with(hand_made, "failed_reply")
    c = con(hand_made)
    try:
        block = transcript(c, cid).blocks[0].block_id
    finally:
        c.close()
    at = open_page(monkeypatch, hand_made, "pages/conversation.py", id=cid)
    at.text_input(key=f"note-no_reply_needed-{block}").input("the customer only said thanks")
    at.button(key=f"save-no_reply_needed-{block}").click().run()
    _assert_clean(at)
    (mark,) = AppState(own_store).annotations()
    assert (mark.target_id, mark.author, mark.note) == (block, "lee", "the customer only said thanks")
    text = every_text(at)
    assert "marked: no reply needed" in text and "**no reply needed** by lee" in text
    at.button(key=f"hist-{block}-undo-{mark.id}").click().run()
    _assert_clean(at)
    assert AppState(own_store).annotations() == []
    assert "undone by lee" in every_text(at)


def test_viewer_rescore_and_handled(hand_made: Path, own_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = con(hand_made)
    try:
        found = rows(c, "sensitive_data_messages", limit=None).frame
        card = found.filter(found["direction"] == "inbound").row(0, named=True)
        cid = card["conversation_id"]  # D2: e01 card, e02 SSN, e04 "between 6 and 8"
    finally:
        c.close()
    at = open_page(monkeypatch, hand_made, "pages/conversation.py", id=cid)
    assert "CSAT –" in every_text(at) and "ambiguous" in every_text(at)
    at.button(key="save-rescored-e04").click().run()  # no score entered: refused, nothing stored
    assert any("enter the score" in e.value for e in at.error)
    assert AppState(own_store).annotations() == []
    at.number_input(key="score-e04").set_value(7)
    at.text_input(key="note-rescored-e04").input("meant 7")
    at.button(key="save-rescored-e04").click().run()
    at.button(key=f"save-handled-{card['message_id']}").click().run()
    _assert_clean(at)
    text = every_text(at)
    assert "**CSAT 7**" in text and "re-scored" in text and ":green-badge[handled]" in text
    o = overlay_for(hand_made)
    assert o.rescored == (("e04", 7),) and o.handled_messages == (card["message_id"],)


def test_an_annotation_moves_the_figures_on_the_pages(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = open_page(monkeypatch, hand_made, "pages/response_times.py")
    unanswered = {m.label: m.value for m in before.metric}["Unanswered inquiries"]
    c = con(hand_made)
    try:
        block = rows(c, "unanswered_inquiries", order="value", descending=True, limit=1).frame["block_id"][0]
    finally:
        c.close()
    AppState(state_path(hand_made)).annotate("block", block, "no_reply_needed", author="sam")  # another session
    after = open_page(monkeypatch, hand_made, "pages/response_times.py")
    shown = {m.label: m.value for m in after.metric}
    assert int(shown["Unanswered inquiries"]) == int(unanswered) - 1
    c = con(hand_made)
    try:
        rate = compute(c, ["same_business_day_response_rate"], params=Params(overlay=overlay_for(hand_made)))
    finally:
        c.close()
    assert shown["Answered same business day"] == common.fmt_rate(rate["same_business_day_response_rate"][0])


# ---- the work queues ------------------------------------------------------------------------------------


@pytest.mark.parametrize("queue", QUEUES, ids=lambda q: q.slug)
def test_each_queue_lists_its_rows_and_annotations(
    queue, hand_made: Path, own_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, hand_made, "pages/queues.py", queue=queue.slug)
    c = con(hand_made)
    try:
        total = compute(c, [queue.metric]).row(0, named=True)[queue.metric]
        listed = rows(c, queue.metric, descending=queue.descending, limit=None, extra_columns=queue.extra).frame
    finally:
        c.close()
    assert at.subheader[0].value == queue.title
    card = next(m for m in at.metric if m.label == queue.title and m.value == f"{total:,}")
    assert card
    if total:
        (table,) = at.dataframe
        assert len(table.value) == min(total, 100)
        assert not [v for v in table.value.to_numpy().ravel() if PHONE.search(str(v))]
        # a row opens its conversation, and the viewer links back to this queue
        at.session_state[f"queue-{queue.slug}"] = {"selection": {"rows": [0]}}
        at.run()
        assert at.title[0].value == "Conversation" and at.query_params["id"] == listed["conversation_id"][0]
        assert any(p.proto.label == "Back to the queue" for p in at.get("page_link"))

    # an annotation of the queue's kind (made elsewhere) is listed with who and when, and can be undone
    target_id = {"block": "block_id", "message": "message_id", "survey_reply": "response_id"}[queue.target.value]
    if listed.is_empty():
        return
    store = AppState(own_store)
    mark = store.annotate(
        queue.target,
        listed[target_id][0],
        queue.action,
        author="sam",
        note="checked",
        score=5 if queue.action.value == "rescored" else None,
    )
    at = open_page(monkeypatch, hand_made, "pages/queues.py", queue=queue.slug)
    assert any("by sam" in m.value and "“checked”" in m.value for m in at.markdown)
    assert any(p.proto.label == "open" for p in at.get("page_link"))
    at.button(key=f"queue-{queue.slug}-undo-{mark}").click().run()
    _assert_clean(at)
    assert store.annotations() == []


@pytest.mark.parametrize("queue", QUEUES, ids=lambda q: q.slug)
def test_queues_on_an_empty_warehouse_and_filters_matching_nothing(
    queue,
    empty_warehouse: Path,  # noqa: F811 - the fixture imported from test_pages
    hand_made: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    empty = open_page(monkeypatch, empty_warehouse, "pages/queues.py", queue=queue.slug)
    assert any("python -m etl load" in i.value for i in empty.info)
    first, _ = _bounds(hand_made)
    at = _app(monkeypatch, hand_made)
    at.session_state["dates"] = (first - timedelta(days=300), first - timedelta(days=270))
    at.run()
    at.query_params["queue"] = queue.slug
    at.switch_page("pages/queues.py").run()
    _assert_clean(at)
    assert any("Nothing in this queue" in i.value for i in at.info)


def test_an_unknown_queue_falls_back_to_the_first(hand_made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page(monkeypatch, hand_made, "pages/queues.py", queue="nope")
    assert any("No queue 'nope'" in w.value for w in at.warning) and at.subheader[0].value == "Waiting now"


# ---- OKR check-ins ---------------------------------------------------------------------------------------


def test_okr_checkin_goes_to_the_store_and_counts(
    sample_warehouse: Path, own_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(monkeypatch, sample_warehouse, "pages/okrs.py", okr_period="2026-09")
    assert at.selectbox(key="okr_period").value == "2026-09"
    key = "checkin-2026-09-agent-training-resource"
    at.slider(key=f"{key}-progress").set_value(100)
    at.slider(key=f"{key}-confidence").set_value(90)
    at.text_input(key=f"{key}-note").input("published on the wiki")
    at.button(key=f"{key}-save").click().run()
    _assert_clean(at)
    (entry,) = AppState(own_store).checkins("2026-09")
    assert (entry.key_result_id, entry.value, entry.confidence, entry.author) == (
        "agent-training-resource",
        1.0,
        0.9,
        "lee",
    )
    assert entry.note == "published on the wiki"
    tables = [d.value for d in at.dataframe]
    current = next(m for m in at.metric if m.label.startswith("Develop a resource"))  # the key result's row
    assert current.value == "100.0%"  # the dashboard's check-in (Sep 30) is the latest: it counts
    assert any("by" in t.columns and "lee" in set(t["by"]) for t in tables)  # shown with who entered it
    odd = open_page(monkeypatch, sample_warehouse, "pages/okrs.py", okr_period="1999-01")
    assert odd.selectbox(key="okr_period").value == "2026-09"


def test_the_store_beside_the_warehouse_is_used_without_the_override(
    hand_made: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLYBOARD_STATE")
    db = tmp_path / "copy.duckdb"
    db.write_bytes(hand_made.read_bytes())
    store = AppState(state_path(db))
    block = None
    c = con(db)
    try:
        block = rows(c, "unanswered_inquiries", limit=1).frame["block_id"][0]
    finally:
        c.close()
    store.annotate("block", block, "no_reply_needed", author="sam")
    at = open_page(monkeypatch, db, "pages/queues.py", queue="waiting")
    assert {m.label: m.value for m in at.metric}["Waiting now"] == "2"
    assert load_settings()  # the dashboard's own settings file is readable


# ---- OKR key results ---------------------------------------------------------------------------------------


def test_each_metric_key_result_opens_its_rows(sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OKR page links every metric key result to the rows behind its current value: its metric over its
    own window and hours (the rows page's sidebar set to them), and the rows page then counts the key result's n."""
    at = open_page(monkeypatch, sample_warehouse, "pages/okrs.py")
    links = {q["metric"][0]: q for q in link_queries(at)}
    assert {"same_business_day_response_rate", "csat_mean", "repeat_customer_rate"} <= set(links)
    query = links["same_business_day_response_rate"]
    assert query["hours"] == ["business"] and len(query["dates"]) == 2  # the shipped KR is in business hours
    n = int(query["label"].split(" ")[2].replace(",", ""))
    # the sidebar values the link's URL sets (Streamlit binds them; AppTest takes them as session state)
    sidebar = {"hours": "business", "dates": tuple(date.fromisoformat(d) for d in query["dates"])}
    rows_page = open_page(monkeypatch, sample_warehouse, "pages/rows.py", sidebar, metric=query["metric"][0])
    assert f"{n:,} inquiry blocks" in every_text(rows_page)
