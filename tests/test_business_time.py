"""Business-hours arithmetic: golden cases worked out by hand, DST, properties, SQL == Python."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import duckdb
import polars as pl
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from replyboard.business_time import (
    CALENDAR_DAYS_AFTER,
    CALENDAR_DAYS_BEFORE,
    CALENDAR_SCHEMA,
    business_cutoff,
    business_deadline,
    business_seconds,
    business_seconds_query,
    calendar_frame,
    closed_dates,
    deadline_query,
    open_intervals,
    register_calendar,
    register_calendar_around,
)
from replyboard.settings import WEEKDAYS, DerivationSettings, Settings
from tests.helpers import team_settings

NY = ZoneInfo("America/New_York")
WEEKDAYS_5 = WEEKDAYS[:5]

NINE_TO_FIVE = Settings(timezone="America/New_York", business_hours={d: ["09:00-17:00"] for d in WEEKDAYS_5})
LUNCH = Settings(timezone="America/New_York", business_hours={d: ["09:00-12:00", "13:00-17:00"] for d in WEEKDAYS_5})
THANKSGIVING = Settings(
    timezone="America/New_York",
    business_hours={d: ["09:00-17:00"] for d in WEEKDAYS_5},
    holidays=[date(2026, 11, 26)],
)
# Weekdays 09-17, Sunday open around the clock, Saturday closed.
SUNDAY_ALL_DAY = Settings(
    timezone="America/New_York",
    business_hours={**{d: ["09:00-17:00"] for d in WEEKDAYS_5}, "sunday": ["00:00-24:00"]},
)
# The rich setting used by the property and SQL-vs-Python tests: lunch break, Saturday morning, Sunday
# 24 h (DST days), manual holidays plus the US public holidays.
RICH = Settings(
    timezone="America/New_York",
    business_hours={
        **{d: ["08:30-12:00", "13:00-17:30"] for d in WEEKDAYS_5},
        "saturday": ["10:00-14:00"],
        "sunday": ["00:00-24:00"],
    },
    holidays=[date(2026, 3, 17), date(2026, 8, 14), date(2026, 12, 24)],
    holiday_country="US",
)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# Golden business-seconds cases
# ------------------------------------------------------------------------------------------------


def test_friday_afternoon_to_monday_morning():
    # Fri 2026-10-16 16:30 -> 17:00 close = 30 min = 1800 s; weekend closed;
    # Mon 2026-10-19 09:00 -> 09:15 = 15 min = 900 s.  1800 + 900 = 2700 s.
    assert business_seconds(NINE_TO_FIVE, ny(2026, 10, 16, 16, 30), ny(2026, 10, 19, 9, 15)) == 2700.0


def test_lunch_break_is_closed():
    # Tue 2026-10-20 11:50 -> 12:00 = 600 s; reply at 12:40 falls in the 12:00-13:00 break: 600 s.
    assert business_seconds(LUNCH, ny(2026, 10, 20, 11, 50), ny(2026, 10, 20, 12, 40)) == 600.0
    # 11:50 -> 12:00 = 600 s, break, 13:00 -> 13:10 = 600 s.  600 + 600 = 1200 s.
    assert business_seconds(LUNCH, ny(2026, 10, 20, 11, 50), ny(2026, 10, 20, 13, 10)) == 1200.0


def test_holiday_is_closed():
    # Wed 2026-11-25 16:00 -> 17:00 = 3600 s; Thu 2026-11-26 (holiday) = 0;
    # Fri 2026-11-27 09:00 -> 10:00 = 3600 s.  3600 + 3600 = 7200 s.
    assert business_seconds(THANKSGIVING, ny(2026, 11, 25, 16), ny(2026, 11, 27, 10)) == 7200.0
    # Without the holiday Thursday adds 8 h = 28800 s: 7200 + 28800 = 36000 s.
    assert business_seconds(NINE_TO_FIVE, ny(2026, 11, 25, 16), ny(2026, 11, 27, 10)) == 36000.0


def test_country_holidays_close_the_day():
    us = Settings(business_hours={d: ["09:00-17:00"] for d in WEEKDAYS_5}, holiday_country="US")
    assert date(2026, 11, 26) in closed_dates(us, date(2026, 11, 1), date(2026, 11, 30))  # Thanksgiving
    assert date(2026, 10, 12) in closed_dates(us, date(2026, 10, 1), date(2026, 10, 31))  # Columbus Day
    # Wed 16:00 -> Fri 10:00 around Thanksgiving, as in test_holiday_is_closed: 3600 + 3600 = 7200 s.
    assert business_seconds(us, ny(2026, 11, 25, 16), ny(2026, 11, 27, 10)) == 7200.0
    assert open_intervals(us, date(2026, 11, 26), date(2026, 11, 26)) == []


def test_unknown_holiday_country_is_a_clear_error():
    with pytest.raises(ValueError, match="holiday_country"):
        Settings(holiday_country="XX")  # refused when settings are read
    bad = Settings.model_construct(holiday_country="XX")  # and by business time if validation was skipped
    with pytest.raises(ValueError, match="holiday_country 'XX'"):
        open_intervals(bad, date(2026, 1, 1), date(2026, 1, 31))


def test_both_outside_hours_is_zero():
    # Sat 2026-10-17 10:00 -> 11:00: Saturday has no window, 0 s.
    assert business_seconds(NINE_TO_FIVE, ny(2026, 10, 17, 10), ny(2026, 10, 17, 11)) == 0.0
    # Before opening to before opening the same day: Mon 07:00 -> 08:00 = 0 s.
    assert business_seconds(NINE_TO_FIVE, ny(2026, 10, 19, 7), ny(2026, 10, 19, 8)) == 0.0


def test_end_before_start_is_zero_and_naive_is_rejected():
    assert business_seconds(NINE_TO_FIVE, ny(2026, 10, 19, 12), ny(2026, 10, 19, 10)) == 0.0
    assert business_seconds(NINE_TO_FIVE, ny(2026, 10, 19, 12), ny(2026, 10, 19, 12)) == 0.0
    with pytest.raises(ValueError, match="timezone-aware"):
        business_seconds(NINE_TO_FIVE, datetime(2026, 10, 19, 10), ny(2026, 10, 19, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        business_deadline(NINE_TO_FIVE, datetime(2026, 10, 19, 10))


def test_inputs_in_other_zones_are_the_same_instants():
    # Fri 2026-10-16 16:30 EDT = 20:30 UTC; Mon 2026-10-19 09:15 EDT = 13:15 UTC -> same 2700 s.
    assert business_seconds(NINE_TO_FIVE, utc(2026, 10, 16, 20, 30), utc(2026, 10, 19, 13, 15)) == 2700.0


def test_microsecond_inputs():
    # Mon 2026-10-19 09:00:00.000001 -> 09:00:01.5 = 1.499999 s.
    start = ny(2026, 10, 19, 9, 0, 0, 1)
    end = ny(2026, 10, 19, 9, 0, 1, 500000)
    assert business_seconds(NINE_TO_FIVE, start, end) == pytest.approx(1.499999, abs=1e-9)


# ------------------------------------------------------------------------------------------------
# DST
# ------------------------------------------------------------------------------------------------


def test_spring_forward_24h_day_has_23_hours():
    # Sun 2026-03-08 00:00 EST (05:00 UTC) -> Mon 2026-03-09 00:00 EDT (04:00 UTC) = 23 h = 82800 s.
    [(start, end, day)] = open_intervals(SUNDAY_ALL_DAY, date(2026, 3, 8), date(2026, 3, 8))
    assert (start, end, day) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4), date(2026, 3, 8))
    assert (end - start).total_seconds() == 82800.0
    # Sat 2026-03-07 22:00 -> Mon 2026-03-09 10:00: Saturday closed, Sunday 23 h = 82800 s,
    # Monday 09:00 -> 10:00 = 3600 s.  82800 + 3600 = 86400 s.
    assert business_seconds(SUNDAY_ALL_DAY, ny(2026, 3, 7, 22), ny(2026, 3, 9, 10)) == 86400.0


def test_fall_back_24h_day_has_25_hours():
    # Sun 2026-11-01 00:00 EDT (04:00 UTC) -> Mon 2026-11-02 00:00 EST (05:00 UTC) = 25 h = 90000 s.
    [(start, end, _)] = open_intervals(SUNDAY_ALL_DAY, date(2026, 11, 1), date(2026, 11, 1))
    assert (start, end) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    # Sat 2026-10-31 22:00 -> Mon 2026-11-02 10:00: 90000 s Sunday + 3600 s Monday = 93600 s.
    assert business_seconds(SUNDAY_ALL_DAY, ny(2026, 10, 31, 22), ny(2026, 11, 2, 10)) == 93600.0


def test_nine_to_five_on_dst_days_is_eight_hours():
    s = Settings(business_hours={"sunday": ["09:00-17:00"]})
    # 2026-03-08: 09:00 EDT = 13:00 UTC -> 17:00 EDT = 21:00 UTC = 8 h = 28800 s (the lost hour is 02:00).
    assert business_seconds(s, ny(2026, 3, 8, 0), ny(2026, 3, 9, 0)) == 28800.0
    # 2026-11-01: 09:00 EST = 14:00 UTC -> 17:00 EST = 22:00 UTC = 8 h = 28800 s.
    assert business_seconds(s, ny(2026, 11, 1, 0), ny(2026, 11, 2, 0)) == 28800.0


def test_utc_offsets_either_side_of_spring_forward():
    # Fri 2026-03-06 is EST (UTC-5): 09:00 local = 14:00 UTC.  Mon 2026-03-09 is EDT (UTC-4): 13:00 UTC.
    rows = open_intervals(NINE_TO_FIVE, date(2026, 3, 6), date(2026, 3, 9))
    assert [(s, e, d) for s, e, d in rows] == [
        (utc(2026, 3, 6, 14), utc(2026, 3, 6, 22), date(2026, 3, 6)),
        (utc(2026, 3, 9, 13), utc(2026, 3, 9, 21), date(2026, 3, 9)),
    ]


def test_boundary_inside_the_gap_uses_fold_0():
    # 2026-03-08 02:30 does not exist.  fold=0 applies the pre-transition offset (EST, UTC-5): 07:30 UTC
    # (= 03:30 EDT).  04:00 EDT = 08:00 UTC.  Window length 30 min = 1800 s.
    s = Settings(business_hours={"sunday": ["02:30-04:00"]})
    assert open_intervals(s, date(2026, 3, 8), date(2026, 3, 8)) == [
        (utc(2026, 3, 8, 7, 30), utc(2026, 3, 8, 8), date(2026, 3, 8))
    ]
    # A gap boundary that would make windows overlap in UTC: 01:00 EST = 06:00 UTC, 02:45 (fold=0, EST)
    # = 07:45 UTC; 03:00 EDT = 07:00 UTC is clipped to 07:45, 04:00 EDT = 08:00 UTC.
    # Total 1 h 45 min + 15 min = 2 h = 7200 s (the real time from 01:00 EST to 04:00 EDT).
    s2 = Settings(business_hours={"sunday": ["01:00-02:45", "03:00-04:00"]})
    rows = open_intervals(s2, date(2026, 3, 8), date(2026, 3, 8))
    assert rows == [
        (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7, 45), date(2026, 3, 8)),
        (utc(2026, 3, 8, 7, 45), utc(2026, 3, 8, 8), date(2026, 3, 8)),
    ]
    assert business_seconds(s2, ny(2026, 3, 7), ny(2026, 3, 9)) == 7200.0


def test_ambiguous_boundary_uses_first_occurrence():
    # 2026-11-01 01:30 happens twice; fold=0 = first (EDT, UTC-4) = 05:30 UTC.  03:00 EST = 08:00 UTC.
    # 2.5 h = 9000 s of open time.
    s = Settings(business_hours={"sunday": ["01:30-03:00"]})
    assert open_intervals(s, date(2026, 11, 1), date(2026, 11, 1)) == [
        (utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 8), date(2026, 11, 1))
    ]


def test_other_timezone():
    # Europe/Berlin springs forward 2026-03-29 (Sunday).  Mon 2026-03-30 09:00 CEST = 07:00 UTC;
    # Fri 2026-03-27 09:00 CET = 08:00 UTC.
    s = Settings(timezone="Europe/Berlin", business_hours={d: ["09:00-17:00"] for d in WEEKDAYS_5})
    rows = open_intervals(s, date(2026, 3, 27), date(2026, 3, 30))
    assert [r[0] for r in rows] == [utc(2026, 3, 27, 8), utc(2026, 3, 30, 7)]


# ------------------------------------------------------------------------------------------------
# Deadlines
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "deadline"),
    [
        # Inside the morning window: that day's close (last window end) 17:00 EDT = 21:00 UTC.
        (ny(2026, 10, 19, 10, 0), utc(2026, 10, 19, 21)),
        # Mon 12:30 in the lunch break: first open moment 13:00 Monday -> Monday close 17:00.
        (ny(2026, 10, 19, 12, 30), utc(2026, 10, 19, 21)),
        # Exactly at the morning close (windows are half-open): next open 13:00 Monday -> Monday 17:00.
        (ny(2026, 10, 19, 12, 0), utc(2026, 10, 19, 21)),
        # Mon 07:00 before opening: first open moment Monday 09:00 -> Monday 17:00.
        (ny(2026, 10, 19, 7, 0), utc(2026, 10, 19, 21)),
        # Mon 17:00 exactly (closed): next business day Tuesday 17:00 EDT = 21:00 UTC.
        (ny(2026, 10, 19, 17, 0), utc(2026, 10, 20, 21)),
        # Fri 18:00: first open moment Mon 09:00 -> Mon 2026-10-19 17:00.
        (ny(2026, 10, 16, 18, 0), utc(2026, 10, 19, 21)),
        # Sat 10:00: same, Monday 17:00.
        (ny(2026, 10, 17, 10, 0), utc(2026, 10, 19, 21)),
    ],
)
def test_deadline_cases(received: datetime, deadline: datetime):
    assert business_deadline(LUNCH, received) == deadline


def test_deadline_skips_holiday_monday():
    # Monday 2026-10-19 a holiday: Fri 18:00 -> Tuesday 2026-10-20 17:00 EDT = 21:00 UTC.
    s = Settings(business_hours={d: ["09:00-17:00"] for d in WEEKDAYS_5}, holidays=[date(2026, 10, 19)])
    assert business_deadline(s, ny(2026, 10, 16, 18)) == utc(2026, 10, 20, 21)
    # Country holiday: Columbus Day Mon 2026-10-12 -> Fri 2026-10-09 18:00 waits until Tue 10-13 17:00.
    us = Settings(business_hours={d: ["09:00-17:00"] for d in WEEKDAYS_5}, holiday_country="US")
    assert business_deadline(us, ny(2026, 10, 9, 18)) == utc(2026, 10, 13, 21)


def test_deadline_across_dst_and_midnight_close():
    # Sunday 2026-03-08 00:00-24:00: 01:00 EST inside -> close is Monday 00:00 EDT = 2026-03-09 04:00 UTC.
    assert business_deadline(SUNDAY_ALL_DAY, ny(2026, 3, 8, 1)) == utc(2026, 3, 9, 4)
    # Friday 2026-03-06 18:00 EST: next open moment Sunday 00:00 -> same Sunday close.
    assert business_deadline(SUNDAY_ALL_DAY, ny(2026, 3, 6, 18)) == utc(2026, 3, 9, 4)


def test_deadline_without_hours_is_none():
    assert business_deadline(Settings(business_hours={}), ny(2026, 10, 19, 10)) is None


# ------------------------------------------------------------------------------------------------
# Calendar frame
# ------------------------------------------------------------------------------------------------


def test_calendar_frame_schema_and_cumulative_sums():
    frame = calendar_frame(RICH, date(2026, 1, 1), date(2026, 12, 31))
    assert frame.schema == pl.Schema(CALENDAR_SCHEMA)
    assert frame["window_start"].dtype == pl.Datetime("us", "UTC")
    lengths = (frame["window_end"] - frame["window_start"]).dt.total_microseconds() / 1e6
    assert (lengths > 0).all()
    assert frame["cum_open_before"][0] == 0.0
    expected = lengths.cum_sum().shift(1, fill_value=0.0)
    assert (frame["cum_open_before"] - expected).abs().max() < 1e-6
    # Sorted and disjoint.
    assert (frame["window_start"].shift(-1).drop_nulls() >= frame["window_end"].head(frame.height - 1)).all()
    # day_close is the latest window_end of each local date.
    closes = frame.group_by("local_date").agg(pl.col("window_end").max().alias("close"))
    joined = frame.join(closes, on="local_date")
    assert (joined["day_close"] == joined["close"]).all()
    # Holidays (manual and US) have no windows.
    dates = set(frame["local_date"].to_list())
    assert not dates & {date(2026, 3, 17), date(2026, 7, 3), date(2026, 11, 26)}
    # Total open time equals the Python reference over the year.
    total = business_seconds(RICH, ny(2026, 1, 1), ny(2027, 1, 1))
    assert frame["cum_open_before"][-1] + lengths[-1] == pytest.approx(total, abs=1e-6)


def test_calendar_frame_empty_range_keeps_schema():
    frame = calendar_frame(NINE_TO_FIVE, date(2026, 10, 17), date(2026, 10, 18))  # a weekend
    assert frame.height == 0
    assert frame.schema == pl.Schema(CALENDAR_SCHEMA)


# ------------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------------

_BASE = datetime(2026, 1, 1, tzinfo=UTC)
_SPAN_US = 366 * 24 * 3600 * 10**6
instants = st.integers(min_value=0, max_value=_SPAN_US).map(lambda us: _BASE + timedelta(microseconds=us))
short_gaps = st.integers(min_value=0, max_value=20 * 86400 * 10**6).map(lambda us: timedelta(microseconds=us))


@hyp_settings(max_examples=150, deadline=None)
@given(a=instants, gap=short_gaps)
def test_business_between_zero_and_calendar(a: datetime, gap: timedelta):
    b = a + gap
    value = business_seconds(RICH, a, b)
    assert 0.0 <= value <= (b - a).total_seconds() + 1e-9


@hyp_settings(max_examples=150, deadline=None)
@given(a=instants, g1=short_gaps, g2=short_gaps)
def test_business_is_additive(a: datetime, g1: timedelta, g2: timedelta):
    b, c = a + g1, a + g1 + g2
    whole = business_seconds(RICH, a, c)
    assert whole == pytest.approx(business_seconds(RICH, a, b) + business_seconds(RICH, b, c), abs=1e-6)


@hyp_settings(max_examples=150, deadline=None)
@given(t=instants)
def test_deadline_is_a_day_close_after_t(t: datetime):
    deadline = business_deadline(RICH, t)
    assert deadline is not None and deadline > t
    local_day = deadline.astimezone(NY).date()
    closes: dict[date, datetime] = {}
    for _, end, day in open_intervals(RICH, local_day - timedelta(days=1), local_day):
        closes[day] = max(closes.get(day, end), end)
    assert deadline in closes.values()
    # Nothing opens between t and the start of the deadline's day, except within that business day:
    # i.e. the open time from t to the deadline lies entirely within one local business day.
    rows = open_intervals(RICH, t.astimezone(NY).date() - timedelta(days=1), local_day)
    open_days = {d for s, e, d in rows if e > t and s < deadline}
    assert len(open_days) == 1


# ------------------------------------------------------------------------------------------------
# SQL == Python
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def con():
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    yield connection
    connection.close()


def _random_pairs(n: int, seed: int) -> list[tuple[datetime, datetime]]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        start = _BASE + timedelta(microseconds=rng.randrange(_SPAN_US))
        kind = i % 5
        if kind == 0:  # long span, up to 40 days
            gap = timedelta(microseconds=rng.randrange(40 * 86400 * 10**6))
        elif kind == 1:  # within a few hours
            gap = timedelta(microseconds=rng.randrange(6 * 3600 * 10**6))
        elif kind == 2:  # whole minutes, starts on a boundary-ish instant
            start = start.replace(second=0, microsecond=0, minute=rng.choice([0, 30]))
            gap = timedelta(minutes=rng.randrange(0, 4 * 24 * 60))
        elif kind == 3:  # reversed (end before start) -> 0
            gap = -timedelta(microseconds=rng.randrange(3 * 86400 * 10**6))
        else:  # around the DST transitions
            anchor = rng.choice([utc(2026, 3, 8, 5), utc(2026, 3, 8, 7), utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)])
            start = anchor + timedelta(microseconds=rng.randrange(-86400 * 10**6, 86400 * 10**6))
            gap = timedelta(microseconds=rng.randrange(2 * 86400 * 10**6))
        pairs.append((start, start + gap))
    return pairs


def test_sql_business_seconds_matches_python(con: duckdb.DuckDBPyConnection):
    rows = register_calendar(con, RICH, date(2025, 12, 30), date(2027, 3, 31))
    assert rows > 500
    pairs = _random_pairs(600, seed=20260308)
    frame = pl.DataFrame(
        {"id": list(range(len(pairs))), "start_ts": [a for a, _ in pairs], "end_ts": [b for _, b in pairs]},
        schema={"id": pl.Int64, "start_ts": pl.Datetime("us", "UTC"), "end_ts": pl.Datetime("us", "UTC")},
    )
    con.register("pairs", frame.to_arrow())
    [(col_type,)] = con.execute("SELECT typeof(start_ts) FROM pairs LIMIT 1").fetchall()
    assert col_type == "TIMESTAMP WITH TIME ZONE"
    result = dict(con.sql(f"SELECT id, business_seconds FROM ({business_seconds_query('pairs')})").fetchall())
    assert len(result) == len(pairs)
    worst = max(abs(result[i] - business_seconds(RICH, a, b)) for i, (a, b) in enumerate(pairs))
    assert worst < 1e-3


def test_sql_deadline_matches_python(con: duckdb.DuckDBPyConnection):
    register_calendar(con, RICH, date(2025, 12, 30), date(2027, 3, 31), table="cal")
    instants_ = [a for a, _ in _random_pairs(500, seed=7)] + [
        ny(2026, 10, 19, 12, 0),
        ny(2026, 10, 19, 17, 30),
        ny(2026, 11, 25, 18),
        ny(2026, 3, 8, 1, 59),
    ]
    frame = pl.DataFrame(
        {"id": list(range(len(instants_))), "ts": instants_}, schema={"id": pl.Int64, "ts": pl.Datetime("us", "UTC")}
    )
    con.register("msgs", frame.to_arrow())
    got = dict(con.sql(f"SELECT id, deadline FROM ({deadline_query('msgs', ts_col='ts', calendar='cal')})").fetchall())
    for i, t in enumerate(instants_):
        assert got[i] == business_deadline(RICH, t), t


def test_sql_handles_nulls_and_out_of_calendar(con: duckdb.DuckDBPyConnection):
    register_calendar(con, NINE_TO_FIVE, date(2026, 10, 1), date(2026, 10, 31))
    con.execute(
        "CREATE TABLE p AS SELECT * FROM (VALUES "
        "(1, TIMESTAMPTZ '2026-10-16 20:30:00+00', TIMESTAMPTZ '2026-10-19 13:15:00+00'),"  # 2700 s
        "(2, NULL, TIMESTAMPTZ '2026-10-19 13:15:00+00'),"
        "(3, TIMESTAMPTZ '2026-09-01 00:00:00+00', TIMESTAMPTZ '2026-10-01 13:30:00+00'),"  # 30 min
        "(4, TIMESTAMPTZ '2026-09-01 00:00:00+00', TIMESTAMPTZ '2026-09-02 00:00:00+00')"  # before calendar
        ") v(id, start_ts, end_ts)"
    )
    got = dict(con.sql(f"SELECT id, business_seconds FROM ({business_seconds_query('p')})").fetchall())
    assert got == {1: 2700.0, 2: None, 3: 1800.0, 4: 0.0}
    # Deadline past the calendar end is NULL (register the calendar with a margin).
    con.execute("CREATE TABLE m AS SELECT TIMESTAMPTZ '2026-10-31 12:00:00+00' AS ts UNION ALL SELECT NULL")
    assert con.sql(f"SELECT deadline FROM ({deadline_query('m')})").fetchall() == [(None,), (None,)]


def test_register_calendar_rejects_odd_table_names(con: duckdb.DuckDBPyConnection):
    with pytest.raises(ValueError):
        register_calendar(con, NINE_TO_FIVE, date(2026, 1, 1), date(2026, 1, 31), table="x; DROP TABLE y")


def test_sql_started_in_hours_matches_python(con: duckdb.DuckDBPyConnection):
    register_calendar(con, RICH, date(2025, 12, 30), date(2027, 3, 31))
    windows = open_intervals(RICH, date(2025, 12, 30), date(2027, 3, 31))
    starts = [a for a, _ in _random_pairs(400, seed=11)]
    starts += [s for s, _, _ in windows[:50]] + [e for _, e, _ in windows[:50]]  # both edges: [start, end)
    frame = pl.DataFrame(
        {"id": list(range(len(starts))), "start_ts": starts, "end_ts": starts},
        schema={"id": pl.Int64, "start_ts": pl.Datetime("us", "UTC"), "end_ts": pl.Datetime("us", "UTC")},
    )
    con.register("starts", frame.to_arrow())
    query = business_seconds_query("starts", in_hours_alias="opened")
    got = dict(con.sql(f"SELECT id, opened FROM ({query})").fetchall())
    expected = {i: any(s <= t < e for s, e, _ in windows) for i, t in enumerate(starts)}
    assert got == expected
    assert 0 < sum(expected.values()) < len(starts)


def test_register_calendar_around_covers_the_instants_with_margins(con: duckdb.DuckDBPyConnection):
    first, last = ny(2026, 11, 20, 23, 30), ny(2026, 12, 22, 8)
    rows = register_calendar_around(con, THANKSGIVING, first, last, table="cal")
    start = date(2026, 11, 20) - timedelta(days=CALENDAR_DAYS_BEFORE)
    end = date(2026, 12, 22) + timedelta(days=CALENDAR_DAYS_AFTER)
    assert rows == calendar_frame(THANKSGIVING, start, end).height > 0
    [(low, high)] = con.execute("SELECT min(local_date), max(local_date) FROM cal").fetchall()
    assert (low, high) == (date(2026, 11, 13), date(2027, 1, 29))  # Fri 13 Nov .. Fri 29 Jan, weekdays only
    # No instants (no inquiry block yet): the table with its columns' types, and no rows.
    assert register_calendar_around(con, THANKSGIVING, None, None, table="cal") == 0
    types = dict(
        con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cal'").fetchall()
    )
    assert types == {
        "window_start": "TIMESTAMP WITH TIME ZONE",
        "window_end": "TIMESTAMP WITH TIME ZONE",
        "local_date": "DATE",
        "day_close": "TIMESTAMP WITH TIME ZONE",
        "cum_open_before": "DOUBLE",
    }
    assert con.execute("SELECT count(*) FROM cal").fetchall() == [(0,)]


# ------------------------------------------------------------------------------------------------
# Cutoffs (the inverse: how far back `seconds` of opening hours reach)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "end", "seconds", "cutoff"),
    [
        # Mon 09:15 back 2700 s: 900 s of Monday, then 1800 s of Friday before its 17:00 close -> Fri 16:30.
        (NINE_TO_FIVE, ny(2026, 10, 19, 9, 15), 2700, ny(2026, 10, 16, 16, 30)),
        # Tue 13:10 back 1200 s: 13:00-13:10 is 600 s, the lunch break none, 11:50-12:00 the other 600 s.
        (LUNCH, ny(2026, 10, 20, 13, 10), 1200, ny(2026, 10, 20, 11, 50)),
        # From Saturday (closed) back 1800 s: Friday 16:30.
        (NINE_TO_FIVE, ny(2026, 10, 17, 10), 1800, ny(2026, 10, 16, 16, 30)),
        # Fri 10:00 back 3600 s skips Thanksgiving Thursday: Wed 17:00 - (3600 - 3600 of Friday) = Fri 09:00.
        (THANKSGIVING, ny(2026, 11, 27, 10), 7200, ny(2026, 11, 25, 16)),
        # Nothing to walk back: the end itself.
        (NINE_TO_FIVE, ny(2026, 10, 19, 9, 15), 0, ny(2026, 10, 19, 9, 15)),
        # No opening hours at all: nothing is ever that old in business time but the epoch.
        (Settings(business_hours={}), ny(2026, 10, 19, 9), 60, utc(1970, 1, 1)),
    ],
)
def test_cutoff_cases(settings: Settings, end: datetime, seconds: float, cutoff: datetime):
    assert business_cutoff(settings, end, seconds) == cutoff


@hyp_settings(max_examples=150, deadline=None)
@given(end=instants, seconds=st.integers(min_value=1, max_value=30 * 86400 * 10**6).map(lambda us: us / 10**6))
def test_cutoff_is_the_latest_instant_that_old(end: datetime, seconds: float):
    cutoff = business_cutoff(RICH, end, seconds)
    assert cutoff < end
    assert business_seconds(RICH, cutoff, end) == pytest.approx(seconds, abs=1e-6)
    assert business_seconds(RICH, cutoff + timedelta(microseconds=1), end) < seconds


# ------------------------------------------------------------------------------------------------
# The derivation stores what the reference says (the SQL production runs, end to end)
# ------------------------------------------------------------------------------------------------


def test_derived_blocks_match_the_python_reference(tmp_path):
    """A load derives every inquiry block's business seconds, started-in-hours and deadline with
    business_time's SQL; each stored value equals the pure-Python reference for that block."""
    from etl.load import run_load
    from replyboard.warehouse import connect_readonly
    from sample_data.generate import generate, write

    settings = RICH.model_copy(update={"lines": []})
    write(generate(6000, seed=3, start=date(2026, 2, 25), days=60, settings=settings), tmp_path / "data")
    db = tmp_path / "w.duckdb"
    report = run_load(db, sorted((tmp_path / "data").glob("*.csv")), settings)
    assert not report.errors
    con = connect_readonly(db)
    try:
        blocks = con.execute(
            "SELECT started_at, replied_at, business_seconds, started_in_hours, deadline_at FROM inquiry_blocks"
        ).fetchall()
    finally:
        con.close()
    assert len(blocks) > 1000
    windows = open_intervals(RICH, date(2026, 2, 20), date(2026, 5, 31))
    replied = 0
    for started, replied_at, seconds, in_hours, deadline in blocks:
        assert in_hours == any(s <= started < e for s, e, _ in windows), started
        assert deadline == business_deadline(RICH, started), started
        if replied_at is None:
            assert seconds is None
        else:
            replied += 1
            assert seconds == pytest.approx(business_seconds(RICH, started, replied_at), abs=1e-6), started
    assert 0 < replied < len(blocks)
    assert {in_hours for _, _, _, in_hours, _ in blocks} == {True, False}


@given(
    st.lists(st.integers(min_value=-3 * 86400, max_value=60 * 86400), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=6 * 24),
)
@hyp_settings(max_examples=40, deadline=None)
def test_waits_until_one_end_equal_the_reference_one_by_one(ages: list[int], end_hour: int) -> None:
    """business_seconds_until (one calendar, bisection) equals business_seconds for each start."""
    from replyboard.business_time import business_seconds_until

    team = team_settings()
    end = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(hours=end_hour)  # spans the US spring-forward change
    starts = [end - timedelta(seconds=a) for a in ages]
    got = business_seconds_until(team, [*starts, None], end)
    assert got[-1] is None
    for start, wait in zip(starts, got, strict=False):
        assert wait == pytest.approx(business_seconds(team, start, end), abs=1e-6)


# ------------------------------------------------------------------------------------------------
# Schedules with effective dates (business_hours / holiday_country with from:)
# ------------------------------------------------------------------------------------------------

# 09:00-17:00 on weekdays until Sunday 2026-11-01; from Monday 2026-11-02 winter hours 10:00-16:00 and
# Saturdays 10:00-14:00. US public holidays until the end of 2026, then none.
WINTER = Settings(
    timezone="America/New_York",
    business_hours=[
        {d: ["09:00-17:00"] for d in WEEKDAYS_5},
        {"from": "2026-11-02", **{d: ["10:00-16:00"] for d in WEEKDAYS_5}, "saturday": ["10:00-14:00"]},
    ],
    holiday_country=[{"country": "US"}, {"from": "2027-01-01", "country": None}],
)


def test_a_new_schedule_applies_from_its_date_and_history_keeps_its_hours():
    # before the change: exactly the plain 9-5 figures with US holidays (Columbus Day, Oct 12, closed)
    us_nine_to_five = NINE_TO_FIVE.model_copy(update={"holiday_country": "US"})
    for a, b in [(ny(2026, 10, 9, 16, 30), ny(2026, 10, 13, 9, 15)), (ny(2026, 10, 26, 8), ny(2026, 10, 30, 18))]:
        assert business_seconds(WINTER, a, b) == business_seconds(us_nine_to_five, a, b)
    assert open_intervals(WINTER, date(2026, 10, 1), date(2026, 11, 1)) == open_intervals(
        us_nine_to_five, date(2026, 10, 1), date(2026, 11, 1)
    )
    # across it: Fri Oct 30 16:00 -> 17:00 (old hours, 3,600 s); the weekend closed (Saturdays open only from
    # Nov 2 on); Mon Nov 2 10:00 -> 11:00 (new hours, 3,600 s) = 7,200 s
    assert business_seconds(WINTER, ny(2026, 10, 30, 16), ny(2026, 11, 2, 11)) == 7200.0
    # after it: Sat Nov 7 10:00-14:00 is open; Mon Nov 9 09:30 is before the 10:00 opening
    assert business_seconds(WINTER, ny(2026, 11, 7, 9), ny(2026, 11, 9, 9, 30)) == 4 * 3600.0
    # same-business-day deadline: a text at 17:30 on Fri Oct 30 (after the close) waits for the next business
    # day's close: Sat Oct 31 is closed in the old schedule, Mon Nov 2 closes at 16:00 in the new one
    assert business_deadline(WINTER, ny(2026, 10, 30, 17, 30)) == ny(2026, 11, 2, 16)
    assert business_deadline(WINTER, ny(2026, 11, 6, 17, 30)) == ny(2026, 11, 7, 14)  # a new Saturday
    # Thanksgiving (US, 2026) is closed; New Year's Day 2027 is not (no holiday country from then on)
    assert date(2026, 11, 26) in closed_dates(WINTER, date(2026, 11, 1), date(2027, 1, 31))
    assert date(2027, 1, 1) not in closed_dates(WINTER, date(2026, 11, 1), date(2027, 1, 31))
    assert date(2027, 1, 1) in closed_dates(us_nine_to_five, date(2027, 1, 1), date(2027, 1, 1))
    # the age cutoff (the inverse) walks back over both schedules: 1 h back from Mon Nov 2 10:30 is 30 min
    # of Monday's new hours and 30 min of Friday's old ones: Fri Oct 30 16:30
    assert business_cutoff(WINTER, ny(2026, 11, 2, 10, 30), 3600) == ny(2026, 10, 30, 16, 30)


def test_the_first_schedule_also_covers_the_days_before_its_date():
    dated_first = Settings(business_hours=[{"from": "2026-06-01", "monday": ["09:00-17:00"]}, {"from": "2026-09-01"}])
    # a Monday in May, before the first schedule's own date, uses it; from September nothing is open
    assert open_intervals(dated_first, date(2026, 5, 4), date(2026, 5, 4))[0][2] == date(2026, 5, 4)
    assert open_intervals(dated_first, date(2026, 9, 7), date(2026, 9, 7)) == []
    assert dated_first.has_opening_hours


def test_sql_calendar_across_a_schedule_change_matches_python(con: duckdb.DuckDBPyConnection):
    register_calendar(con, WINTER, date(2026, 9, 1), date(2027, 2, 28))
    pairs = [(a, b) for a, b in _random_pairs(400, seed=1102) if a.date() >= date(2026, 9, 5)]
    pairs += [(ny(2026, 10, 30, 16), ny(2026, 11, 2, 11)), (ny(2026, 12, 31, 15), ny(2027, 1, 1, 11))]
    frame = pl.DataFrame(
        {"id": list(range(len(pairs))), "start_ts": [a for a, _ in pairs], "end_ts": [b for _, b in pairs]},
        schema={"id": pl.Int64, "start_ts": pl.Datetime("us", "UTC"), "end_ts": pl.Datetime("us", "UTC")},
    )
    con.register("pairs", frame.to_arrow())
    result = dict(con.sql(f"SELECT id, business_seconds FROM ({business_seconds_query('pairs')})").fetchall())
    assert max(abs(result[i] - business_seconds(WINTER, a, b)) for i, (a, b) in enumerate(pairs)) < 1e-3
    assert result[len(pairs) - 1] == 2 * 3600.0  # Dec 31 15:00-16:00 + Jan 1 10:00-11:00 (no longer a holiday)


def test_the_plain_form_keeps_its_derivation_key():
    # a warehouse derived before dated schedules existed must not be re-derived because of them
    plain = Settings(business_hours={"Monday": ["09:00-17:00"]}, holiday_country="US")
    key = plain.derivation_key()
    assert '"business_hours":{"monday":["09:00-17:00"]}' in key and '"holiday_country":"US"' in key
    # the dated form round-trips through the key (metrics.derived rebuilds the settings from it)
    assert DerivationSettings.model_validate_json(WINTER.derivation_key()) == WINTER.derivation


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([{"monday": ["09:00-17:00"]}, {"monday": ["10:00-16:00"]}], "[1]: needs a from: date"),
        (
            [{"from": "2026-11-02", "monday": ["09:00-17:00"]}, {"from": "2026-10-02"}],
            "[1]: from 2026-10-02 is not after the entry before it (2026-11-02); list them oldest first",
        ),
        ([{"monday": ["09:00-17:00"]}, {"from": "2026-11-02", "mondy": []}], "[1].mondy: unknown key"),
        ([{"monday": ["17:00-09:00"]}], "[0].monday: '17:00-09:00' ends before it starts"),
        ([], "an empty list"),
        (5, "not a mapping of weekdays to windows"),
    ],
)
def test_bad_dated_schedules_are_clear_errors(hours, message):
    with pytest.raises(ValueError, match="business_hours") as exc:
        Settings(business_hours=hours)
    assert message in str(exc.value)
