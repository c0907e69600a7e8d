"""OKRs: progress/pacing arithmetic by hand, attainment on a tiny warehouse, validation, schema, CLI, shipped OKRs."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from etl.load import run_load
from metrics.__main__ import main
from metrics.okr import (
    AT_RISK_MARGIN,
    DEFINITIONS_DIR,
    NO_DATA_IN_PERIOD,
    ON_TRACK_MARGIN,
    SCHEMA_PATH,
    CheckIn,
    HistoryPoint,
    Period,
    checkin_progress,
    covers,
    default_period,
    effective_as_of,
    evaluate,
    expected_progress,
    key_result_progress,
    known_values,
    last_checkin,
    load_definitions,
    meets_target,
    pacing_status,
    pick_period,
    schema_text,
    weekly_history,
    weighted_progress,
)
from replyboard.settings import Settings, load_settings
from replyboard.warehouse import connect_readonly

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "sample_data" / "demo"
LINE = "+15550100001"
OTHER_LINE = "+15550100002"
GUIDE_OBJECTIVES = [
    "A customer texting our business with any question or issue feels well-supported",
    "Our SMS customer service program increases levels of customer satisfaction",
]


# ------------------------------------------------------------------------------------------------------------
# Pure arithmetic, worked out by hand


@pytest.mark.parametrize(
    ("current", "baseline", "target", "comparator", "expected"),
    [
        (0.85, 0.80, 0.90, "gte", (0.5, "linear")),  # gte, baseline below the target: halfway
        (0.80, 0.80, 0.90, "gte", (0.0, "linear")),  # at the baseline
        (0.70, 0.80, 0.90, "gte", (0.0, "linear")),  # worse than the baseline: clamped to 0
        (0.99, 0.80, 0.90, "gte", (1.0, "linear")),  # beyond the target: clamped to 1
        (450, 600, 300, "lte", (0.5, "linear")),  # lte, baseline above the target: halfway down
        (700, 600, 300, "lte", (0.0, "linear")),
        (200, 600, 300, "lte", (1.0, "linear")),
        (0.96, None, 0.95, "gte", (1.0, "pass_fail")),  # no baseline: pass/fail
        (0.94, None, 0.95, "gte", (0.0, "pass_fail")),
        (250, None, 300, "lte", (1.0, "pass_fail")),
        (0.94, 0.953, 0.95, "gte", (0.0, "pass_fail")),  # baseline already above a gte target: keep it there
        (0.951, 0.953, 0.95, "gte", (1.0, "pass_fail")),
        (350, 200, 300, "lte", (0.0, "pass_fail")),  # baseline already below an lte target
        (290, 200, 300, "lte", (1.0, "pass_fail")),
        # gt / lt: the same line from baseline to target; only "met" is strict ("above a 7")
        (6.9, 6.8, 7.0, "gt", (0.5, "linear")),
        (7.0, 6.8, 7.0, "gt", (1.0, "linear")),  # progress reaches 1 at the target, met only above it
        (7.0, None, 7.0, "gt", (0.0, "pass_fail")),  # exactly 7 is not above 7
        (7.01, None, 7.0, "gt", (1.0, "pass_fail")),
        (7.3, 7.2, 7.0, "gt", (1.0, "pass_fail")),  # baseline already above: keep it there
        (450, 600, 300, "lt", (0.5, "linear")),
        (300, None, 300, "lt", (0.0, "pass_fail")),
        (299, None, 300, "lt", (1.0, "pass_fail")),
    ],
)
def test_key_result_progress(current, baseline, target, comparator, expected) -> None:
    progress, scoring = key_result_progress(current, baseline, target, comparator)
    assert (pytest.approx(progress), scoring) == expected


def test_meets_target_is_inclusive_for_gte_lte_and_strict_for_gt_lt() -> None:
    assert meets_target(7.0, "gte", 7.0) and not meets_target(6.99, "gte", 7.0)
    assert meets_target(300, "lte", 300) and not meets_target(301, "lte", 300)
    assert not meets_target(7.0, "gt", 7.0) and meets_target(7.000001, "gt", 7.0)
    assert not meets_target(300, "lt", 300) and meets_target(299.9, "lt", 300)


def test_expected_progress_counts_days_inclusive() -> None:
    start, end = date(2026, 3, 1), date(2026, 3, 10)  # 10 days
    assert expected_progress(start, end, date(2026, 2, 27)) == 0.0  # not started
    assert expected_progress(start, end, date(2026, 3, 1)) == pytest.approx(0.1)  # the first day counts
    assert expected_progress(start, end, date(2026, 3, 5)) == pytest.approx(0.5)
    assert expected_progress(start, end, date(2026, 3, 10)) == 1.0
    assert expected_progress(start, end, date(2026, 4, 1)) == 1.0  # over


@pytest.mark.parametrize(
    ("progress", "expected", "met", "status"),
    [
        (0.50, 0.55, False, "on track"),
        (0.45, 0.55, False, "on track"),  # exactly expected - ON_TRACK_MARGIN
        (0.44, 0.55, False, "at risk"),
        (0.25, 0.55, False, "at risk"),  # exactly expected - AT_RISK_MARGIN
        (0.24, 0.55, False, "off track"),
        (0.0, 0.05, False, "on track"),  # early in the period nothing is expected yet
        (0.0, 1.0, False, "off track"),
        (1.0, 1.0, True, "on track"),
        (0.0, 1.0, True, "on track"),  # target met (an lte KR already under target) counts as on track
        (None, 0.5, False, "no data"),
    ],
)
def test_pacing_status(progress, expected, met, status) -> None:
    assert (ON_TRACK_MARGIN, AT_RISK_MARGIN) == (0.1, 0.3)
    assert pacing_status(progress, expected, met) == status


def test_weighted_progress_skips_key_results_without_data() -> None:
    assert weighted_progress([(1.0, 2), (0.4, 1), (None, 5)]) == pytest.approx(0.8)
    assert weighted_progress([(0.5, 1), (0.5, 3)]) == pytest.approx(0.5)
    assert weighted_progress([(None, 1)]) is None
    assert weighted_progress([]) is None


def test_manual_check_ins() -> None:
    checkins = [
        CheckIn(date=date(2026, 3, 3), value=0.2),
        CheckIn(date=date(2026, 3, 9), value=0.6, note="first"),
        CheckIn(date=date(2026, 3, 9), value=0.7, note="second"),  # same day: the later line wins
        CheckIn(date=date(2026, 3, 20), value=1.0),
    ]
    assert last_checkin(checkins, date(2026, 3, 2)) is None
    assert checkin_progress(last_checkin(checkins, date(2026, 3, 5)), "fraction") == 0.2
    assert last_checkin(checkins, date(2026, 3, 10)).note == "second"
    assert checkin_progress(None, "fraction") is None
    done = [CheckIn(date=date(2026, 3, 3), value=False), CheckIn(date=date(2026, 3, 9), value=True)]
    assert checkin_progress(last_checkin(done, date(2026, 3, 4)), "done") == 0.0
    assert checkin_progress(last_checkin(done, date(2026, 3, 9)), "done") == 1.0


def test_as_of_defaults_to_today_in_the_team_timezone_capped_at_the_end() -> None:
    settings = Settings(timezone="Pacific/Auckland")
    past = _period([_frt_kr()], start="2000-01-01", end="2000-03-31")
    assert effective_as_of(past, None, settings) == date(2000, 3, 31)
    assert effective_as_of(past, date(2000, 2, 1), settings) == date(2000, 2, 1)
    future = _period([_frt_kr()], start="2999-01-01", end="2999-03-31")
    before = datetime.now(ZoneInfo("Pacific/Auckland")).date()
    assert effective_as_of(future, None, settings) in {before, datetime.now(ZoneInfo("Pacific/Auckland")).date()}


def test_pick_period() -> None:
    q3 = _period([_frt_kr()], start="2026-07-01", end="2026-09-30")
    sep = _period([_frt_kr()], start="2026-09-01", end="2026-09-30")
    q4 = _period([_frt_kr()], start="2026-10-01", end="2026-12-31")
    assert pick_period([q3, sep, q4], date(2026, 9, 15)) is sep  # the more specific running period
    assert pick_period([q3, q4], date(2026, 8, 1)) is q3
    assert pick_period([q3, sep], date(2027, 1, 1)) in (q3, sep)  # the latest that ended
    assert pick_period([q4, sep], date(2026, 1, 1)) is sep  # nothing started yet: the first to come
    assert pick_period([], date(2026, 1, 1)) is None


# ------------------------------------------------------------------------------------------------------------
# A tiny warehouse: four conversations on one line, each an inquiry and a human reply (calendar seconds).
#   baseline window of the period 2026-03-02..15 (Feb 16 - Mar 1): replies after 600 s and 600 s -> median 600
#   in the period: Mar 3 reply after 450 s, Mar 10 reply after 150 s


def _messages_csv(path: Path) -> Path:
    rows = [
        "message_id,created_at,direction,line_number,contact_number,agent_id,is_automated,body,channel,"
        "conversation_id,status"
    ]
    for n, (day, wait) in enumerate(
        [("2026-02-17", 600), ("2026-02-24", 600), ("2026-03-03", 450), ("2026-03-10", 150)], 1
    ):
        contact = f"+1555111000{n}"
        minutes, seconds = divmod(wait, 60)
        rows.append(f"in{n},{day}T15:00:00Z,inbound,{LINE},{contact},,false,Where is my ride?,sms,,received")
        rows.append(
            f"out{n},{day}T15:{minutes:02d}:{seconds:02d}Z,outbound,{LINE},{contact},ag_01,false,"
            "On its way!,sms,,delivered"
        )
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("okr_tiny")
    agents = folder / "agents.csv"
    agents.write_text("agent_id,name,team\nag_01,Sam Rivera,Care\n", encoding="utf-8")
    lines = folder / "lines.csv"
    lines.write_text(f"line_number,name\n{LINE},Support\n{OTHER_LINE},Rides\n", encoding="utf-8")
    db = folder / "tiny.duckdb"
    report = run_load(db, [agents, lines, _messages_csv(folder / "messages.csv")], Settings())
    assert not report.errors, report.errors
    return db


@pytest.fixture
def con(tiny_db: Path):
    connection = connect_readonly(tiny_db)
    yield connection
    connection.close()


def _frt_kr(**extra) -> dict:
    return {
        "id": "frt",
        "title": "Median first response at most 5 minutes",
        "metric": "first_response_time_median",
        "comparator": "lte",
        "target": 300,
        **extra,
    }


def _period(krs: list[dict], start: str = "2026-03-02", end: str = "2026-03-15") -> Period:
    return Period.model_validate(
        {
            "period": "test",
            "start": start,
            "end": end,
            "objectives": [{"id": "fast", "title": "Fast replies", "key_results": krs}],
        }
    )


def _one(con, krs: list[dict], as_of: date, **kw):
    (objective,) = evaluate(con, _period(krs, **kw), Settings(), as_of, with_history=True)
    return objective


def test_lte_in_progress_with_a_computed_baseline(con) -> None:
    obj = _one(con, [_frt_kr()], date(2026, 3, 4))
    (kr,) = obj.key_results
    assert (kr.current, kr.n, kr.baseline, kr.baseline_source, kr.scoring) == (450, 1, 600, "computed", "linear")
    assert kr.progress == pytest.approx(0.5)  # (450 - 600) / (300 - 600)
    assert kr.expected_progress == pytest.approx(3 / 14)
    assert (kr.status, kr.grade, kr.met) == ("on track", 0.5, False)
    assert (kr.window_start, kr.window_end) == (date(2026, 3, 2), date(2026, 3, 4))
    assert kr.history == [HistoryPoint(date(2026, 3, 4), 450, 1)]
    assert (obj.progress, obj.status, obj.measured, obj.data_through) == (
        pytest.approx(0.5),
        "on track",
        1,
        date(2026, 3, 10),
    )


def test_as_of_never_passes_the_end_of_the_data(con) -> None:
    # the data ends on Tue Mar 10 (the last reply, 15:02:30 UTC): the period runs to Mar 15, asked about on
    # Jun 1 or by default (today), it is judged as of Mar 10, with Mar 10's expected progress 9/14
    for as_of in (date(2026, 6, 1), None):
        obj = _one(con, [_frt_kr()], as_of)
        (kr,) = obj.key_results
        assert (obj.as_of, obj.data_through) == (date(2026, 3, 10), date(2026, 3, 10))
        assert (kr.current, kr.n, kr.progress, kr.met, kr.status, kr.grade) == (300, 2, 1.0, True, "on track", 1.0)
        assert kr.expected_progress == pytest.approx(9 / 14)  # not 1.0: five days of the period have no data
        assert kr.window_end == date(2026, 3, 10)
        # weekly, cumulative from the start; the last point is the current value (median of 450 and 150)
        assert kr.history == [HistoryPoint(date(2026, 3, 8), 450, 1), HistoryPoint(date(2026, 3, 10), 300, 2)]


def test_a_period_over_before_the_data_ends_is_judged_at_its_end(con) -> None:
    # Feb 16 - Mar 1 with data through Mar 10: as of Jun 1 it is judged at its own end, Mar 1
    obj = _one(con, [_frt_kr(target=900)], date(2026, 6, 1), start="2026-02-16", end="2026-03-01")
    assert (obj.as_of, obj.expected_progress, obj.key_results[0].current) == (date(2026, 3, 1), 1.0, 600)


MANUAL_KR = {"id": "guide", "type": "manual", "title": "Guide", "checkins": [{"date": "2026-05-04", "value": 0.4}]}


@pytest.mark.parametrize(("start", "end"), [("2026-05-01", "2026-05-31"), ("2026-01-01", "2026-01-31")])
def test_a_period_the_data_does_not_reach_has_no_data_in_it(con, start: str, end: str) -> None:
    # the data runs Feb 17 - Mar 10: May (after it) and January (before it) hold none of it
    day = date.fromisoformat(end)
    obj = _one(con, [_frt_kr(), MANUAL_KR], day, start=start, end=end)
    frt, guide = obj.key_results
    assert (frt.status, frt.current, frt.n, frt.progress, frt.history, frt.window_end) == (
        NO_DATA_IN_PERIOD,
        None,
        0,
        None,
        [],
        None,
    )
    # the manual key result still shows its check-in (in January none is dated yet)
    assert guide.current == (0.4 if start.startswith("2026-05") else None)
    # and the objective is not judged on the check-ins alone
    assert (obj.status, obj.progress, obj.grade, obj.measured, obj.as_of) == (NO_DATA_IN_PERIOD, None, None, 0, day)
    only_manual = _one(con, [MANUAL_KR], date(2026, 5, 20), start="2026-05-01", end="2026-05-31")
    assert (only_manual.progress, only_manual.status) == (0.4, "at risk")  # expected 20/31 = 0.65, 0.4 >= 0.35


def test_coverage_and_the_default_period() -> None:
    sep = _period([_frt_kr()], start="2026-09-01", end="2026-09-30")
    october = _period([_frt_kr()], start="2026-10-01", end="2026-10-31")
    assert covers(october, date(2026, 8, 1), date(2026, 10, 19))
    assert covers(october, date(2026, 10, 31), date(2026, 12, 1))
    assert not covers(october, date(2026, 8, 1), date(2026, 9, 30)) and not covers(october, None, None)
    settings = Settings()
    assert default_period([sep, october], date(2026, 10, 19), settings) is october  # holds the data's end
    assert default_period([sep, october], date(2026, 9, 3), settings) is sep


def test_period_not_started(con) -> None:
    obj = _one(con, [_frt_kr()], date(2026, 2, 20))
    (kr,) = obj.key_results
    assert (obj.status, obj.progress, obj.expected_progress) == ("not started", None, 0.0)
    assert (kr.status, kr.current, kr.progress, kr.history) == ("not started", None, None, [])
    assert kr.baseline == 600  # already known before the start


def test_no_data_yet(con) -> None:
    (kr,) = _one(con, [_frt_kr()], date(2026, 3, 2)).key_results  # the first inquiry comes on Mar 3
    assert (kr.current, kr.n, kr.progress, kr.status, kr.grade) == (None, 0, None, "no data", None)


def test_pass_fail_when_nothing_before_the_period(con) -> None:
    # Feb 16 - Mar 1: the window before it (Feb 2 - 15) has no data; the two replies took 600 s
    met = _one(con, [_frt_kr(target=900)], date(2026, 3, 1), start="2026-02-16", end="2026-03-01").key_results[0]
    assert (met.baseline, met.baseline_source, met.scoring, met.current, met.progress, met.status) == (
        None,
        None,
        "pass_fail",
        600,
        1.0,
        "on track",
    )
    missed = _one(con, [_frt_kr(target=500)], date(2026, 3, 1), start="2026-02-16", end="2026-03-01").key_results[0]
    assert (missed.progress, missed.status, missed.grade) == (0.0, "off track", 0.0)


def test_gte_with_a_given_baseline_on_a_count(con) -> None:
    kr = {
        "id": "volume",
        "title": "Inbound texts",
        "metric": "inbound_messages",
        "comparator": "gte",
        "target": 4,
        "baseline": 0,
    }
    (mid,) = _one(con, [kr], date(2026, 3, 4)).key_results
    assert (mid.current, mid.baseline_source, mid.progress) == (1, "given", pytest.approx(0.25))
    # asked on Mar 15, judged on Mar 10 (the data's end): expected 9/14 = 0.64, 0.5 is within 0.3 of it
    (end,) = _one(con, [kr], date(2026, 3, 15)).key_results
    assert (end.current, end.progress, end.status) == (2, pytest.approx(0.5), "at risk")


def test_a_count_of_zero_is_a_value_not_missing_data(con) -> None:
    kr = {
        "id": "unanswered",
        "title": "No unanswered texts",
        "metric": "unanswered_inquiries",
        "comparator": "lte",
        "target": 1,
    }
    (result,) = _one(con, [kr], date(2026, 3, 15)).key_results
    assert (result.current, result.n, result.baseline, result.scoring, result.progress) == (0, 0, 0, "pass_fail", 1.0)


def test_filters_and_rolling_window(con) -> None:
    other = _frt_kr(id="other-line", filters={"lines": [OTHER_LINE]})
    rolling = _frt_kr(id="last-week", window={"rolling_days": 7})
    obj = _one(con, [_frt_kr(), other, rolling], date(2026, 3, 15))
    _, other_r, rolling_r = obj.key_results
    assert (other_r.current, other_r.status, other_r.filters) == (None, "no data", {"lines": [OTHER_LINE]})
    # rolling, as of Mar 10 (the data's end): Mar 4-10 holds only the 150 s reply; baseline: the 7 days before
    # the start (Feb 23 - Mar 1)
    assert (rolling_r.window_start, rolling_r.current, rolling_r.baseline, rolling_r.window) == (
        date(2026, 3, 4),
        150,
        600,
        "rolling 7 days",
    )
    assert obj.measured == 2  # the KR with no data is left out of the mean
    assert obj.progress == pytest.approx(1.0)


def test_manual_key_results_and_weighted_objective(con) -> None:
    fraction = {
        "id": "guide",
        "type": "manual",
        "title": "Write the texting guide",
        "weight": 1,
        "checkins": [
            {"date": "2026-03-03", "value": 0.1, "confidence": 0.5, "note": "outline"},
            {"date": "2026-03-12", "value": 0.8},
        ],
    }
    done = {
        "id": "page",
        "type": "manual",
        "title": "Add SMS to the support page",
        "progress_kind": "done",
        "checkins": [{"date": "2026-03-03", "value": False}, {"date": "2026-03-09", "value": True}],
    }
    obj = _one(con, [_frt_kr(weight=3), fraction, done], date(2026, 3, 4))
    _, guide, page = obj.key_results
    assert (guide.current, guide.progress, guide.n, guide.note, guide.confidence) == (0.1, 0.1, 1, "outline", 0.5)
    assert (page.progress, page.unit, page.met) == (0.0, "done", False)
    assert obj.progress == pytest.approx((3 * 0.5 + 0.1 + 0.0) / 5)
    later = _one(con, [_frt_kr(weight=3), fraction, done], date(2026, 3, 15))
    _, guide, page = later.key_results
    # judged as of Mar 10, the data's last day: the Mar 12 check-in counts once the data reaches it
    assert (later.as_of, guide.progress, page.progress, page.status) == (date(2026, 3, 10), 0.1, 1.0, "on track")
    assert [
        h.value
        for h in weekly_history(
            con, _period([done]), _period([done]).objectives[0].key_results[0], Settings(), date(2026, 3, 15)
        )
    ] == [0.0, 1.0]


def test_status_from_objective_progress_vs_expected(con) -> None:
    behind = {"id": "guide", "type": "manual", "title": "Guide", "checkins": [{"date": "2026-03-03", "value": 0.2}]}
    obj = _one(con, [behind], date(2026, 3, 9))  # expected 8/14 = 0.57; 0.2 is off track
    assert (obj.status, obj.key_results[0].status) == ("off track", "off track")


# ------------------------------------------------------------------------------------------------------------
# Validation: every problem with its file, path and line

GOOD = """\
period: test-period
start: 2026-03-02
end: 2026-03-15
owner: Tester
objectives:
  - id: fast
    title: Fast replies
    key_results:
      - id: frt
        title: Median first response under 5 minutes
        metric: first_response_time_median
        comparator: lte
        target: 300
        filters: {lines: ["+15550100001"]}
      - id: guide
        type: manual
        title: Write the texting guide
        checkins:
          - {date: 2026-03-03, value: 0.1}
"""
KNOWN = {"lines": {LINE, OTHER_LINE}, "channels": {"sms"}, "teams": {"Care"}, "agents": {"ag_01"}}


def _write(folder: Path, text: str, name: str = "okr.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str, known=KNOWN):
    path = _write(tmp_path, text)
    periods, problems = load_definitions(path, known)
    assert all(p.file == str(path) for p in problems)
    return periods, problems


def _find(problems, path: str):
    found = [p for p in problems if p.path == path]
    assert found, f"no problem at {path}: {[str(p) for p in problems]}"
    return found[0]


def test_good_definitions_load(tmp_path: Path) -> None:
    periods, problems = _problems(tmp_path, GOOD)
    assert problems == []
    (period,) = periods
    assert (period.period, period.days, period.source) == ("test-period", 14, str(tmp_path / "okr.yaml"))
    frt, guide = period.objectives[0].key_results
    assert (frt.type, frt.window, frt.hours, frt.weight, guide.type, guide.progress_kind) == (
        "metric",
        "period",
        "calendar",
        1.0,
        "manual",
        "fraction",
    )


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    periods, problems = _problems(tmp_path, GOOD.replace("comparator: lte", "comparitor: lte"))
    assert periods == []
    typo = _find(problems, "objectives[0].key_results[0].comparitor")
    assert typo.line == 12
    assert "unknown key 'comparitor'" in typo.message and "did you mean 'comparator'" in typo.message
    assert "valid keys here:" in typo.message and "window" in typo.message
    missing = _find(problems, "objectives[0].key_results[0].comparator")
    assert (missing.line, missing.message) == (9, "required key 'comparator' is missing")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    _, problems = _problems(tmp_path, GOOD.replace("owner: Tester", "ownr: Tester"))
    problem = _find(problems, "ownr")
    assert problem.line == 4 and "did you mean 'owner'" in problem.message


def test_unknown_metric_with_suggestion(tmp_path: Path) -> None:
    periods, problems = _problems(tmp_path, GOOD.replace("first_response_time_median", "first_response_median"))
    assert periods == []
    problem = _find(problems, "objectives[0].key_results[0].metric")
    assert problem.line == 11
    assert "unknown metric 'first_response_median'" in problem.message
    assert "did you mean 'first_response_time_median'" in problem.message
    assert "valid metrics:" in problem.message and "csat_mean" in problem.message
    assert str(problem).startswith(f"{tmp_path / 'okr.yaml'}:11: objectives[0].key_results[0].metric: unknown")


def test_unknown_line_filter(tmp_path: Path) -> None:
    text = GOOD.replace('"+15550100001"', '"+15550109999"')
    _, problems = _problems(tmp_path, text)
    problem = _find(problems, "objectives[0].key_results[0].filters.lines[0]")
    assert problem.line == 14
    assert "line '+15550109999' is not in the warehouse" in problem.message and LINE in problem.message
    assert load_definitions(tmp_path / "okr.yaml")[1] == []  # no warehouse: the check is skipped


def test_filter_values_from_a_warehouse_connection(tmp_path: Path, con) -> None:
    assert known_values(con) == {
        "lines": {LINE, OTHER_LINE},
        "channels": {"sms"},
        "teams": {"Care"},
        "agents": {"ag_01"},
    }
    text = GOOD.replace('{lines: ["+15550100001"]}', "{teams: [Cars], agents: [ag_01]}")
    _, problems = load_definitions(_write(tmp_path, text), con)
    (problem,) = problems
    assert (problem.path, problem.line) == ("objectives[0].key_results[0].filters.teams[0]", 14)
    assert "known teams: Care" in problem.message


def test_unquoted_phone_number(tmp_path: Path) -> None:
    _, problems = _problems(tmp_path, GOOD.replace('"+15550100001"', "+15550100001"))
    problem = _find(problems, "objectives[0].key_results[0].filters.lines[0]")
    assert problem.line == 14 and 'quote it: "+15550100001"' in problem.message


def test_negative_weight(tmp_path: Path) -> None:
    periods, problems = _problems(
        tmp_path, GOOD.replace("        target: 300\n", "        target: 300\n        weight: -1\n")
    )
    assert periods == []
    problem = _find(problems, "objectives[0].key_results[0].weight")
    assert problem.line == 14 and "greater than 0" in problem.message


def test_duplicate_ids(tmp_path: Path) -> None:
    text = GOOD.replace("      - id: guide", "      - id: frt") + GOOD[GOOD.index("  - id: fast") :].replace(
        "id: guide", "id: other"
    )
    periods, problems = _problems(tmp_path, text)
    assert periods == []
    kr = _find(problems, "objectives[0].key_results[1].id")
    assert kr.line == 15 and "key result id 'frt' is already used at line 9" in kr.message
    objective = _find(problems, "objectives[1].id")
    assert objective.line == 20 and "objective id 'fast' is already used at line 6" in objective.message
    again = _find(problems, "objectives[1].key_results[0].id")
    assert again.line == 23 and "already used at line 9" in again.message


@pytest.mark.parametrize(
    ("comparator", "target", "baseline", "words"),
    [
        ("lte", 300, 200, "not below the baseline 200"),
        ("gte", 300, 400, "not above the baseline 400"),
        ("gte", 300, 300, "not above the baseline 300"),
        ("gt", 300, 400, "not above the baseline 400: with comparator gt the target must be higher"),
        ("lt", 300, 200, "not below the baseline 200: with comparator lt the target must be lower"),
    ],
)
def test_target_on_the_wrong_side_of_the_baseline(tmp_path: Path, comparator, target, baseline, words) -> None:
    text = GOOD.replace("comparator: lte", f"comparator: {comparator}").replace(
        "        target: 300\n", f"        target: {target}\n        baseline: {baseline}\n"
    )
    periods, problems = _problems(tmp_path, text)
    assert periods == []
    problem = _find(problems, "objectives[0].key_results[0].target")
    assert problem.line == 13 and words in problem.message and problem.severity == "error"


def test_bad_yaml_syntax(tmp_path: Path) -> None:
    periods, problems = _problems(tmp_path, GOOD.replace('{lines: ["+15550100001"]}', '{lines: ["+15550100001"]'))
    assert periods == []
    (problem,) = problems
    assert problem.path == "" and problem.message.startswith("not valid YAML")
    assert problem.line == 15  # where the parser noticed: the next line
    assert str(problem).startswith(f"{tmp_path / 'okr.yaml'}:15: not valid YAML")


def test_a_bad_file_beside_a_good_one(tmp_path: Path) -> None:
    good = _write(tmp_path, GOOD, "a-good.yaml")
    bad = _write(
        tmp_path,
        GOOD.replace("test-period", "other").replace("metric: first_response_time_median", "metric: csat_avg"),
        "b-bad.yaml",
    )
    _write(tmp_path, "period: [unclosed\n", "c-broken.yml")
    periods, problems = load_definitions(tmp_path, KNOWN)
    assert [(p.period, p.source) for p in periods] == [("test-period", str(good))]
    assert {p.file for p in problems} == {str(bad), str(tmp_path / "c-broken.yml")}
    assert "did you mean 'csat_mean'" in _find(problems, "objectives[0].key_results[0].metric").message


def test_shape_and_cross_reference_problems_reported_together(tmp_path: Path) -> None:
    text = (
        GOOD.replace("end: 2026-03-15", "end: 2026-03-01")
        .replace("first_response_time_median", "nope")
        .replace("title: Fast replies", "title: Fast replies\n    colour: red")
    )
    _, problems = _problems(tmp_path, text)
    by_path = {p.path: p.line for p in problems}
    assert by_path["end"] == 3 and by_path["objectives[0].colour"] == 8
    assert by_path["objectives[0].key_results[0].metric"] == 12


def test_more_shape_problems(tmp_path: Path) -> None:
    text = (
        GOOD.replace("type: manual", "type: manul")
        .replace("id: fast", "id: Fast Replies")
        .replace("target: 300", "target: 300\n        window: {rolling_dayz: 7}")
    )
    _, problems = _problems(tmp_path, text)
    assert "is not a slug" in _find(problems, "objectives[0].id").message
    assert "valid: metric (default), manual" in _find(problems, "objectives[0].key_results[1]").message
    assert _find(problems, "objectives[0].key_results[1]").line == 17
    window = _find(problems, "objectives[0].key_results[0].window.rolling_dayz")
    assert window.line == 14 and "did you mean 'rolling_days'" in window.message
    _, problems = _problems(tmp_path, GOOD.replace("target: 300", "target: 300\n        window: weekly"))
    assert "{rolling_days: 30}" in _find(problems, "objectives[0].key_results[0].window").message


def test_impossible_dates_and_non_mapping_key_results(tmp_path: Path) -> None:
    text = GOOD.replace("start: 2026-03-02", "start: 2026-13-02") + "      - just a string\n"
    _, problems = _problems(tmp_path, text)
    start = _find(problems, "start")
    assert (
        start.line == 2 and "month value is outside expected range" in start.message and "2026-13-02" in start.message
    )
    item = _find(problems, "objectives[0].key_results[2]")
    assert item.line == 20 and "is not a key result: give a mapping" in item.message
    _, problems = _problems(
        tmp_path, GOOD.replace("    key_results:\n", "    key_results: []\n").split("      - id")[0]
    )
    assert "needs at least one key result" in _find(problems, "objectives[0].key_results").message


def test_duplicate_yaml_keys_and_checkin_values(tmp_path: Path) -> None:
    text = GOOD.replace("target: 300", "target: 300\n        target: 200").replace("value: 0.1", "value: yes")
    _, problems = _problems(tmp_path, text)
    dup = _find(problems, "objectives[0].key_results[0].target")
    assert dup.line == 14 and "duplicate key 'target' (first at line 13)" in dup.message
    value = _find(problems, "objectives[0].key_results[1].checkins[0].value")
    assert value.line == 20 and "progress_kind fraction" in value.message


def test_ratio_target_out_of_range(tmp_path: Path) -> None:
    text = (
        GOOD.replace("first_response_time_median", "same_business_day_response_rate")
        .replace("comparator: lte", "comparator: gte")
        .replace("target: 300", "target: 95")
    )
    _, problems = _problems(tmp_path, text)
    assert "write 95% as 0.95" in _find(problems, "objectives[0].key_results[0].target").message


def test_direction_and_too_many_key_results_are_warnings(tmp_path: Path) -> None:
    extra = "".join(f"      - {{id: g{i}, type: manual, title: G{i}}}\n" for i in range(2))
    text = GOOD.replace("comparator: lte", "comparator: gte").replace("target: 300", "target: 600\n        baseline: 0")
    periods, problems = _problems(tmp_path, text + extra)
    assert [p.period for p in periods] == ["test-period"]  # warnings do not keep a file out
    assert {p.severity for p in problems} == {"warning"}
    direction = _find(problems, "objectives[0].key_results[0].comparator")
    assert direction.line == 12 and "better when lower" in direction.message
    assert str(direction).endswith(direction.message) and ": warning: " in str(direction)
    assert "one to three" in _find(problems, "objectives[0].key_results").message


def test_period_ids_unique_across_files(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "a.yaml")
    second = _write(tmp_path, GOOD, "b.yaml")
    periods, problems = load_definitions(tmp_path)
    assert len(periods) == 1
    (problem,) = problems
    assert (problem.file, problem.path, problem.line) == (str(second), "period", 1)


def test_not_a_mapping_and_missing_path(tmp_path: Path) -> None:
    _, problems = _problems(tmp_path, "- just\n- a list\n")
    assert "expected a mapping" in problems[0].message
    _, problems = load_definitions(tmp_path / "nowhere")
    assert problems[0].message == "no such file or folder"


# ------------------------------------------------------------------------------------------------------------
# The JSON schema is generated from the models and committed


def test_committed_schema_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), (
        "okr_definitions/schema.json is stale (an OKR model or the metric list changed): "
        "run python -m metrics okr-schema"
    )
    schema = json.loads(schema_text())
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["MetricKeyResult"]["properties"]["comparator"]["enum"] == ["gte", "gt", "lte", "lt"]
    assert "same_business_day_response_rate" in schema["$defs"]["MetricKeyResult"]["properties"]["metric"]["enum"]


# ------------------------------------------------------------------------------------------------------------
# CLI


def _cli_definitions(tmp_path: Path) -> Path:
    return _write(tmp_path, GOOD)


def test_cli_json_shape(tmp_path: Path, tiny_db: Path, capsys) -> None:
    definitions = _cli_definitions(tmp_path)
    code = main(
        ["okr", "--db", str(tiny_db), "--definitions", str(definitions), "--as-of", "2026-03-04", "--format", "json"]
    )
    out = capsys.readouterr().out
    assert code == 0
    (objective,) = json.loads(out)
    assert {"id", "title", "progress", "status", "key_results", "period", "grade", "expected_progress"} <= set(
        objective
    )
    frt, guide = objective["key_results"]
    assert {
        "id",
        "metric",
        "current",
        "baseline",
        "target",
        "comparator",
        "progress",
        "expected_progress",
        "status",
        "n",
        "history",
        "weight",
        "title",
        "unit",
    } <= set(frt)
    assert (frt["id"], frt["metric"], frt["current"], frt["baseline"], frt["target"], frt["comparator"]) == (
        "frt",
        "first_response_time_median",
        450,
        600,
        300,
        "lte",
    )
    assert (frt["progress"], frt["status"], frt["n"]) == (0.5, "on track", 1)
    assert frt["history"] == [{"week_end": "2026-03-04", "value": 450, "n": 1}]
    assert (guide["metric"], guide["current"], guide["checkins"]) == (
        None,
        0.1,
        [{"date": "2026-03-03", "value": 0.1, "confidence": None, "note": None}],
    )
    assert objective["progress"] == pytest.approx((0.5 + 0.1) / 2)


def test_cli_table(tmp_path: Path, tiny_db: Path, capsys) -> None:
    code = main(
        ["okr", "--db", str(tiny_db), "--definitions", str(_cli_definitions(tmp_path)), "--as-of", "2026-03-15"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "OKR period test-period: 2026-03-02 .. 2026-03-15" in out
    assert "Objective fast: Fast replies" in out
    assert "5 min" in out and "on track" in out  # written as the dashboard writes it (replyboard.formats)


def test_cli_bad_definitions_exit_2(tmp_path: Path, tiny_db: Path, capsys) -> None:
    bad = _write(tmp_path, GOOD.replace("first_response_time_median", "csat_avg").replace("comparator: lte", ""))
    code = main(["okr", "--db", str(tiny_db), "--definitions", str(bad), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert f"{bad}:11: objectives[0].key_results[0].metric: unknown metric 'csat_avg'" in captured.err
    assert f"{bad}:9: objectives[0].key_results[0].comparator: required key 'comparator' is missing" in lines
    assert lines[-1] == "2 errors in the OKR definitions"


def test_cli_check_and_schema(tmp_path: Path, tiny_db: Path, capsys) -> None:
    definitions = _cli_definitions(tmp_path)
    assert main(["okr-check", "--definitions", str(definitions), "--db", str(tiny_db)]) == 0
    assert "test-period ok (1 objectives, 2 key results)" in capsys.readouterr().out
    assert main(["okr-schema", "--check"]) == 0
    stale = _write(tmp_path, "{}", "schema.json")
    assert main(["okr-schema", "--check", "--out", str(stale)]) == 1
    assert main(["okr-schema", "--out", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == schema_text()


# ------------------------------------------------------------------------------------------------------------
# The shipped OKRs on the sample data


def test_the_shipped_csat_key_result_is_above_a_7() -> None:
    # the guide: "customers rate their SMS customer service experience above a 7 on a 1-9 scale"
    periods, problems = load_definitions(DEFINITIONS_DIR)
    assert [p for p in problems if p.severity == "error"] == []
    (csat,) = [kr for p in periods for o in p.objectives for kr in o.key_results if kr.id == "csat-above-7"]
    assert (csat.metric, csat.comparator, csat.target) == ("csat_mean", "gt", 7.0)


def _check_shipped(db: Path, settings: Settings, capsys) -> None:
    con = connect_readonly(db)
    try:
        periods, problems = load_definitions(DEFINITIONS_DIR, con)
        assert [p for p in problems if p.severity == "error"] == []
        assert periods, "no shipped OKR definitions"
        period = periods[0]
        assert [o.title for o in period.objectives] == GUIDE_OBJECTIVES
        middle = period.start + timedelta(days=(period.end - period.start).days // 2)
        for as_of in (middle, period.end):
            objectives = evaluate(con, period, settings, as_of, with_history=True)
            for obj in objectives:
                assert obj.progress is not None and 0 <= obj.progress <= 1
                for kr in obj.key_results:
                    assert kr.current is not None and kr.progress is not None, kr
                    assert kr.status in ("on track", "at risk", "off track"), kr
                    assert kr.history and kr.history[-1].value == pytest.approx(kr.current)
                    if kr.type == "metric":
                        assert kr.n > 0 and kr.baseline is not None
    finally:
        con.close()
    assert main(["okr", "--db", str(db), "--format", "json", "--as-of", str(middle)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [o["title"] for o in result] == GUIDE_OBJECTIVES
    assert result[0]["key_results"][0]["id"] == "same-business-day-replies"


@pytest.mark.slow
def test_shipped_okrs_on_the_committed_sample_data(tmp_path: Path, capsys) -> None:
    if not (DEMO / "messages.csv").exists():
        pytest.skip(f"{DEMO} holds no sample data yet (python -m sample_data.generate writes it)")
    db = tmp_path / "demo.duckdb"
    files = sorted(p for p in DEMO.iterdir() if p.suffix == ".csv")
    settings = load_settings()
    assert not run_load(db, files, settings).errors
    _check_shipped(db, settings, capsys)


@pytest.mark.slow
def test_shipped_okrs_on_freshly_generated_sample_data(tmp_path: Path, capsys) -> None:
    from sample_data.generate import generate, write

    folder = tmp_path / "sample"
    write(generate(20_000, seed=1, days=80), folder)
    db = tmp_path / "generated.duckdb"
    settings = load_settings()
    assert not run_load(db, sorted(folder.glob("*.csv")), settings).errors
    _check_shipped(db, settings, capsys)
