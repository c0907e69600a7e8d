"""In a real browser, as a lead: from a KPI to the rows behind it, from a row to its conversation, annotate, reload
the warehouse (`python -m etl load` the same files again) and find the annotation still applied; two browser
sessions annotating at once lose nothing. Screenshots of the viewer and a queue (1440x1000) are saved.

Debian's chromium drives `streamlit run app.py` on a private copy of the sample warehouse; the app-state store
lives beside it, as in production.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from metrics.conversation import transcript
from metrics.rows import rows
from replyboard import warehouse
from replyboard.appstate import AppState, state_path
from tests.helpers import ARTIFACTS, ROOT, SAMPLE
from tests.test_browser import SHOTS, _launch, _need_chromium, _serve, _wait_for_text, _wait_until_idle

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 1000}


def _load(db: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "etl", "load", "--db", str(db), str(SAMPLE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _need_chromium()
    if not SAMPLE.exists():
        pytest.skip("sample_data/demo is missing")
    db = tmp_path_factory.mktemp("browser-drill") / "demo.duckdb"
    _load(db)
    return db


@pytest.fixture(scope="module")
def app(demo: Path):
    yield from _serve(demo, USER="lead")  # who annotates, until there is sign-in


def _open(page, url: str) -> str:
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
    _wait_until_idle(page)
    main = page.inner_text("[data-testid='stMain']")
    for _ in range(20):  # under load the status can look idle before a run has sent all its elements
        page.wait_for_timeout(500)
        again = page.inner_text("[data-testid='stMain']")
        if again == main:
            break
        main = again
    assert page.locator("[data-testid='stException']").count() == 0, f"{url}: exception\n{main[:2000]}"
    return main


def _kpi(page, label: str):
    return page.locator("[data-testid='stColumn']").filter(has_text=label).last


def _number(text: str) -> int:
    return int(re.search(r"\n([0-9,]+)\n", "\n" + text + "\n").group(1).replace(",", ""))


def _unanswered(page, url: str, query: str = "") -> int:
    _open(page, f"{url}/response-times{query}")
    return _number(_kpi(page, "Unanswered inquiries").inner_text())


def _click_first_row(page) -> None:
    """st.dataframe draws on a canvas: click the first row's selection marker (left edge, below the header)."""
    grid = page.locator("[data-testid='stDataFrame']").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box, "the table is not on the page"
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)


def _mark_no_reply(page, note: str, *, save: bool = True) -> None:
    page.get_by_role("button", name=re.compile("Mark: no reply needed")).first.click()
    field = page.get_by_label("Note").first
    field.fill(note)
    field.press("Enter")
    _wait_until_idle(page)
    if save:
        page.get_by_role("button", name="Save").first.click()
        _wait_until_idle(page)


def _telling_conversation(db: Path) -> str:
    """A short conversation that shows most of what the viewer marks (chosen from the data, not hard-coded)."""
    con = warehouse.connect_readonly(db)
    try:
        scored = rows(con, "low_satisfaction_replies", limit=400).frame["conversation_id"].unique(maintain_order=True)
        for cid in scored.to_list():
            t = transcript(con, cid)
            if (
                6 <= len(t.messages) <= 9
                and t.surveys
                and any(b.gap_over_2h for b in t.blocks)
                and any(not m.in_hours for m in t.messages)
                and any(m.in_hours for m in t.messages)
            ):
                return cid
    finally:
        con.close()
    raise AssertionError("no such conversation in the sample data")


def _active(db: Path) -> list:
    return AppState(state_path(db)).annotations()


def test_from_a_kpi_to_a_conversation_annotated_and_kept_across_a_reload(app: str, demo: Path) -> None:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport=VIEWPORT)
        # a copied link, opened as the fresh server's first session, shows the same rows
        link = f"{app}/rows?metric=reply_time_median&where=weekday%3DMonday&order=value&size=50"
        body = _open(page, link)
        assert "Group: weekday = Monday" in body
        assert "by reply time, largest first" in body and "rows 1–50" in body
        before = _unanswered(page, app, "?hours=business")
        assert before > 0

        # the KPI's "n = ... · see rows" opens the rows behind it, under the same filters
        _kpi(page, "Unanswered inquiries").get_by_role("link").click()
        page.wait_for_url(re.compile(r"/rows\?.*metric=unanswered_inquiries"), timeout=30_000)
        _wait_until_idle(page)
        body = page.inner_text("[data-testid='stMain']")
        assert f"{before:,} inquiry blocks behind this number" in body
        assert "hours=business" in page.url, "the sidebar's filters are in the link too"
        assert "business hours" in body
        page.screenshot(path=str(SHOTS / "rows-behind-a-number.png"))

        # the whole set as CSV, built off the script thread when the button is clicked
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name=re.compile("Download every row")).click()
        lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
        assert len(lines) == before + 1 and lines[0].startswith("local_time,waiting")
        assert not re.search(r"\+[1-9][0-9]{6,14}", "\n".join(lines)), "contacts masked in the download"

        # a row opens its conversation
        _click_first_row(page)
        page.wait_for_url(re.compile(r"/conversation\?id=c_"), timeout=30_000)
        _wait_until_idle(page)
        conversation_url = page.url
        body = page.inner_text("[data-testid='stMain']")
        assert "Inquiry block 1" in body and "same-day deadline" in body

        _mark_no_reply(page, "customer wrote thanks, nothing to answer")
        body = page.inner_text("[data-testid='stMain']")
        assert "marked: no reply needed" in body and "customer wrote thanks" in body
        (mark,) = _active(demo)
        assert mark.author == "lead" and "by lead" in body
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(SHOTS / "conversation-annotated.png"))

        # the figure on another page counts it
        assert _unanswered(page, app) == before - 1

        # the warehouse is rebuilt by a load of the same files: the annotation is still applied
        version = warehouse.data_version(demo)
        _load(demo)
        assert warehouse.data_version(demo) != version
        assert _unanswered(page, app) == before - 1
        assert "marked: no reply needed" in _open(page, conversation_url)
        assert [a.id for a in _active(demo)] == [mark.id]

        # two sessions annotate at once: both are kept
        con = warehouse.connect_readonly(demo)
        try:
            waiting = rows(con, "unanswered_inquiries", order="value", descending=True, limit=20).frame
        finally:
            con.close()
        others = [c for c in waiting["conversation_id"].unique(maintain_order=True).to_list()]
        marked_conversation = conversation_url.split("id=")[1]
        others = [c for c in others if c != marked_conversation][:2]
        first, second = (browser.new_context(viewport=VIEWPORT).new_page() for _ in range(2))
        notes = ["wrong number, the customer said so", "the customer called us instead"]
        for p, cid, note in zip((first, second), others, notes, strict=True):
            _open(p, f"{app}/conversation?id={cid}")
            _mark_no_reply(p, note, save=False)
        saves = [p.get_by_role("button", name="Save").first for p in (first, second)]
        for button in saves:  # both clicks land before either rerun has finished
            button.click(no_wait_after=True)
        for p in (first, second):
            _wait_until_idle(p)
        assert set(notes) <= {a.note for a in _active(demo)} and len(_active(demo)) == 3

        # the README's picture of the viewer: a conversation with closed hours, a 2-hour gap and a survey
        body = _open(page, f"{app}/conversation?id={_telling_conversation(demo)}")
        assert "waited over 2 h" in body and "closed" in body and "attributed to" in body
        page.screenshot(path=str(SHOTS / "conversation-viewer.png"))

        _open(page, f"{app}/queues?queue=waiting")
        # the history is the page's last part: under load the status can look idle before its buttons arrive
        body = _wait_for_text(page, "Undo", "work-queue")
        assert "by " in body and "Undo" in body
        # the queue, its rows and its annotations in one view
        page.get_by_role("heading", name="Waiting now").evaluate("h => h.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        page.screenshot(path=str(SHOTS / "work-queue.png"))
        browser.close()
    (ARTIFACTS / "browser-drilldown.txt").write_text(
        f"browser drill-down: KPI -> {before:,} rows -> conversation -> annotated; kept across a reload; "
        "two sessions annotating at once: both kept\n"
    )


def test_a_chart_click_opens_the_rows_of_its_bar_or_cell(app: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport=VIEWPORT)
        # a bar of "texts per day": that day's inbound texts
        _open(page, f"{app}/overview")
        bar = page.locator("[data-testid='stPlotlyChart'] .barlayer .point path").first
        bar.scroll_into_view_if_needed()
        bar.click(force=True)
        page.wait_for_url(re.compile(r"/rows\?.*metric=inbound_messages.*where=day"), timeout=30_000)
        _wait_until_idle(page)
        body = page.inner_text("[data-testid='stMain']")
        day = re.search(r"Group: day = (\d{4}-\d{2}-\d{2})", body)
        assert day, body[:1500]
        # a heatmap cell (weekday x hour) of the busiest times
        _open(page, f"{app}/busiest-times")
        cell = page.locator("[data-testid='stPlotlyChart'] .scatterlayer .point").nth(24 + 10)  # Tuesday 10:00
        cell.scroll_into_view_if_needed()
        cell.click(force=True)
        page.wait_for_url(re.compile(r"/rows\?.*metric=inbound_messages"), timeout=30_000)
        _wait_until_idle(page)
        body = page.inner_text("[data-testid='stMain']")
        assert "Group: weekday = Tuesday · hour = 10" in body, body[:1500]
        browser.close()
