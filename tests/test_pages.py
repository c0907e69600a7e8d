"""Every dashboard page under AppTest: sample data, an empty warehouse, no warehouse, filters that match
nothing; filters survive page switches and URL round trips; phone numbers never appear unmasked."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from etl.load import run_load
from pages.catalog import PAGE_FILES
from replyboard.formats import fmt_day
from replyboard.settings import load_settings
from tests.helpers import SAMPLE

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
OTHER_TEAMS = {"pages/okrs.py", "pages/explore.py"}  # built elsewhere: here only "runs cleanly"
NEEDS_MESSAGES = [p for p in PAGE_FILES if p not in OTHER_TEAMS | {"pages/data_health.py"}]
PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
LOAD_HINT = "python -m etl load"

# What each page must show on the sample data: metric labels and section headers.
KEY_FIGURES: dict[str, dict[str, list[str]]] = {
    "pages/overview.py": {"metric": ["Texts received", "First response (median)", "CSAT (mean)"]},
    "pages/response_times.py": {
        "metric": ["Reply time (median)", "Reply time (p90)", "Answered same business day"],
        "subheader": [
            "Distribution",
            "Trend",
            "Share within targets",
            "Per line and channel",
            "Slowest unanswered inquiries right now",
        ],
    },
    "pages/busiest_times.py": {"subheader": ["Daily volume", "By line"]},
    "pages/agents.py": {"subheader": ["One agent"]},
    "pages/satisfaction.py": {
        "metric": ["CSAT (mean)", "Satisfied", "NPS", "Replies not parsed"],
        "subheader": ["Trends", "Per agent", "Replies that could not be parsed", "Testimonials bank"],
    },
    "pages/compliance.py": {"metric": ["Messages with sensitive data", "From customers", "Sent by us"]},
    "pages/data_health.py": {
        "metric": ["Loads", "Last load (UTC)"],
        "subheader": ["Freshness per source", "Runs", "Files per run", "Rejected rows"],
    },
}
NOTHING = "Nothing matches these filters."
# What each page shows when the filters match nothing: its notes and tiles (0 for counts, – for the rest).
EMPTY_STATE: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "pages/overview.py": ((), {"Texts received": "0", "Conversations": "0", "CSAT (mean)": "–", "NPS": "–"}),
    "pages/agents.py": ((NOTHING,), {}),
    "pages/response_times.py": (
        ("No inquiries for these filters.", "No unanswered inquiries for these filters."),
        {"Reply time (median)": "–", "Unanswered inquiries": "0"},
    ),
    "pages/busiest_times.py": ((NOTHING,), {}),
    "pages/satisfaction.py": (
        ("No high-score replies with words for these filters.",),
        {"CSAT (mean)": "–", "Replies not parsed": "0"},
    ),
    "pages/compliance.py": (
        ("No messages with card numbers or SSNs for these filters.",),
        {"Messages with sensitive data": "0", "From customers": "0", "Sent by us": "0"},
    ),
    "pages/data_health.py": ((), {"Loads": "1"}),  # loads have no dates: every load is still listed
}
FILTERS_DO_NOT_APPLY = OTHER_TEAMS | {"pages/data_health.py"}
MIN_CHARTS = {
    "pages/response_times.py": 3,
    "pages/busiest_times.py": 3,
    "pages/agents.py": 4,
    "pages/satisfaction.py": 4,
    "pages/overview.py": 1,
}


@pytest.fixture(autouse=True)
def _navigation_not_pages_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run app.py on every AppTest run, as the server does.

    AppTest resets PagesManager.uses_pages_directory before each run and a new PagesManager sets it again
    because a `pages/` folder sits next to app.py; from the second run on, Streamlit then takes the legacy
    multipage path and runs the page script alone, without app.py (no sidebar filters). The server clears
    the flag for good on the first st.navigation call. streamlit/streamlit#9446, PR #14217.
    """
    original = PagesManager.__init__

    def init(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def _load(db: Path, *paths: Path) -> Path:
    run_load(db, list(paths), load_settings())
    return db


@pytest.fixture(scope="session")
def warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample warehouse; until sample_data/demo exists, 3,000 generated messages."""
    if SAMPLE.exists():
        return request.getfixturevalue("sample_warehouse")
    from sample_data.generate import main as generate

    folder = tmp_path_factory.mktemp("generated")
    assert generate(["--messages", "3000", "--seed", "1", "--out", str(folder / "csv")]) in (0, None)
    return _load(folder / "w.duckdb", *sorted((folder / "csv").glob("*.csv")))


@pytest.fixture(scope="session")
def empty_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated, one load recorded, no rows: a messages CSV with only its header."""
    folder = tmp_path_factory.mktemp("empty")
    (folder / "messages.csv").write_text(
        "message_id,created_at,direction,line_number,contact_number,agent_id,"
        "is_automated,body,channel,conversation_id,status\n"
    )
    return _load(folder / "w.duckdb", folder / "messages.csv")


@pytest.fixture(scope="session")
def rejects_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Rows that all fail validation: no messages, but rejected rows for Data health."""
    folder = tmp_path_factory.mktemp("rejects")
    (folder / "messages.csv").write_text(
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,"
        "conversation_id,status\n"
        "r1,yesterday,inbound,+16465550100,+19082042097,,false,hi,sms,,received\n"
        "r2,2026-08-02T10:00:00Z,sideways,+16465550100,+19082042097,,false,=1+1,sms,,received\n"
    )
    return _load(folder / "w.duckdb", folder / "messages.csv")


def _bounds(db: Path) -> tuple[date, date]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        first, last = con.execute(
            "SELECT CAST(min(created_local) AS DATE), CAST(max(created_local) AS DATE) FROM messages"
        ).fetchall()[0]
    finally:
        con.close()
    return first, last


def _app(monkeypatch: pytest.MonkeyPatch, db: Path) -> AppTest:
    monkeypatch.setenv("REPLYBOARD_DB", str(db))
    return AppTest.from_file(APP, default_timeout=60)


def _open(at: AppTest, page: str) -> AppTest:
    at.run()
    return at.switch_page(page).run()


def _assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _texts(at: AppTest, kind: str) -> list[str]:
    return [el.label if kind == "metric" else el.value for el in getattr(at, kind)]


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_on_sample_warehouse(page: str, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(monkeypatch, warehouse), page)
    _assert_clean(at)
    assert at.title, "every page has a title"
    assert at.sidebar.date_input(key="dates").value, "app.py ran: the global filters are in the sidebar"
    for kind, expected in KEY_FIGURES.get(page, {}).items():
        shown = _texts(at, kind)
        assert set(expected) <= set(shown), (kind, shown)
    assert len(at.get("plotly_chart")) >= MIN_CHARTS.get(page, 0)
    if page not in KEY_FIGURES:
        return
    assert not any("No messages in the warehouse yet" in i.value for i in at.info)
    for frame in at.dataframe:  # phone numbers masked everywhere but Explore (Data health's reasons too)
        cells = [str(c) for c in frame.value.to_numpy().ravel()]
        assert not [c for c in cells if PHONE.search(c)], page


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_on_empty_warehouse(page: str, empty_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(monkeypatch, empty_warehouse), page)
    _assert_clean(at)
    if page in NEEDS_MESSAGES:
        assert any(LOAD_HINT in i.value for i in at.info), "a first-time user sees how to load data"


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_without_warehouse_file(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(monkeypatch, tmp_path / "missing.duckdb"), page)
    _assert_clean(at)
    if page not in OTHER_TEAMS:
        assert any(LOAD_HINT in i.value for i in at.info)


@pytest.mark.parametrize("page", PAGE_FILES)
def test_page_with_filters_matching_nothing(page: str, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = _bounds(warehouse)
    at = _app(monkeypatch, warehouse)
    at.session_state["dates"] = (first - timedelta(days=300), first - timedelta(days=270))
    at = _open(at, page)
    _assert_clean(at)
    assert at.session_state["dates"] == (first - timedelta(days=300), first - timedelta(days=270))
    infos = [i.value for i in at.info]
    notes, tiles = EMPTY_STATE.get(page, ((), {}))
    for note in notes:
        assert any(note in i for i in infos), (page, infos)
    shown = {m.label: m.value for m in at.metric}
    assert {label: shown.get(label) for label in tiles} == tiles, shown
    if page not in FILTERS_DO_NOT_APPLY:  # no figure from outside the dates shows through
        assert set(shown.values()) <= {"0", "–"}, shown


@pytest.mark.parametrize("page", ["pages/response_times.py", "pages/agents.py", "pages/busiest_times.py"])
def test_business_hours_and_a_team(page: str, warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app(monkeypatch, warehouse)
    at.session_state["hours"] = "business"
    at.session_state["team"] = ["Care"]
    at = _open(at, page)
    _assert_clean(at)
    if page != "pages/busiest_times.py":
        assert any("business hours" in c.value for c in at.caption)


def test_data_health_lists_rejected_rows(rejects_warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _open(_app(monkeypatch, rejects_warehouse), "pages/data_health.py")
    _assert_clean(at)
    assert "Rows rejected (all runs)" in _texts(at, "metric")
    assert any("only place raw rows appear" in w.value for w in at.warning)
    shown = [frame.value for frame in at.dataframe]
    assert any("reason" in f.columns and len(f) == 2 for f in shown)
    assert not any("raw" in f.columns for f in shown), "raw rows only in the download"


def test_filters_survive_page_switches(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, last = _bounds(warehouse)
    chosen = (first + timedelta(days=3), last - timedelta(days=3))
    at = _app(monkeypatch, warehouse)
    at.run()
    lines = at.sidebar.multiselect(key="line").options
    at.session_state["dates"] = chosen
    at.session_state["hours"] = "business"
    at.session_state["team"] = ["Care"]
    at.run()
    at.sidebar.multiselect(key="line").select(lines[0]).run()
    line = at.session_state["line"]
    assert line
    for page in ("pages/agents.py", "pages/response_times.py", "pages/overview.py"):
        at.switch_page(page).run()
        _assert_clean(at)
        assert at.session_state["dates"] == chosen
        assert at.session_state["line"] == line
        assert at.session_state["team"] == ["Care"]
        assert at.session_state["hours"] == "business"
        assert at.sidebar.date_input(key="dates").value == chosen
        assert at.sidebar.multiselect(key="line").value == line


def test_url_round_trip(warehouse: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, _ = _bounds(warehouse)
    chosen = (first + timedelta(days=1), first + timedelta(days=20))
    at = _app(monkeypatch, warehouse)
    at.session_state["dates"] = chosen
    at.session_state["hours"] = "business"
    at.session_state["team"] = ["Care"]
    at.run()
    link = dict(at.query_params)
    assert {"dates", "hours", "team"} <= set(link), link

    # The link, opened fresh (a new session), reproduces the view.
    fresh = _app(monkeypatch, warehouse)
    fresh.query_params.update(link)
    fresh.run()
    _assert_clean(fresh)
    assert fresh.sidebar.date_input(key="dates").value == chosen
    assert fresh.sidebar.multiselect(key="team").value == ["Care"]
    assert fresh.session_state["hours"] == "business"
    fresh.switch_page("pages/response_times.py").run()
    _assert_clean(fresh)
    assert any("business hours" in c.value for c in fresh.caption)


def test_okr_page_opens_on_the_period_of_the_data_end(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three periods (Sep, Oct, Dec 2026) on the sample data (through Oct 19): the page opens on October, the
    period holding the data's last day, judged as of that day; December says it has no data."""
    shipped = (ROOT / "okr_definitions" / "2026-09.yaml").read_text(encoding="utf-8")
    _, last = _bounds(warehouse)
    for month, days in (("09", 30), ("10", 31), ("12", 31)):
        text = (
            shipped.replace("period: 2026-09 ", f"period: 2026-{month} ")
            .replace("start: 2026-09-01", f"start: 2026-{month}-01")
            .replace("end: 2026-09-30", f"end: 2026-{month}-{days}")
        )
        (tmp_path / f"2026-{month}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setattr("metrics.okr.DEFINITIONS_DIR", tmp_path)
    at = _open(_app(monkeypatch, warehouse), "pages/okrs.py")
    _assert_clean(at)
    period = at.selectbox(key="okr_period")
    assert period.value == "2026-10" and last.month == 10  # of 09, 10, 12: the one holding the data's end
    captions = " ".join(c.value for c in at.caption)
    assert f"as of {fmt_day(last)} · the data's last day" in captions
    at = period.select("2026-12").run()
    _assert_clean(at)
    captions = " ".join(c.value for c in at.caption)
    assert f"no data in this period (data through {fmt_day(last)})" in captions
