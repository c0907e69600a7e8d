"""Business hours and holiday countries that change over time: settings.yaml's `business_hours` and
`holiday_country`, in their plain form or as a list of schedules with effective dates (`from:`).

Plain form (as always)::

    business_hours:
      monday: ["09:00-12:00", "13:00-17:00"]
      friday: ["09:00-15:00"]
    holiday_country: US

Dated form: schedules oldest first, each a whole week (a weekday it leaves out is closed) in force from its
local date on; the first needs no `from` and also covers every day before the second's::

    business_hours:
      - monday: ["09:00-17:00"]
        tuesday: ["09:00-17:00"]
      - from: 2026-11-02           # winter hours from this local date on
        monday: ["10:00-16:00"]
        tuesday: ["10:00-16:00"]
    holiday_country:
      - country: US
      - from: 2027-01-01
        country: GB              # or null: no public holidays from then on

A change applies from its date on and history keeps the hours it had (as Zendesk's schedule changes do):
a day is measured with the schedule in force on it, so adding a schedule from next month leaves every figure
before it as it was. Each local day takes its windows from one schedule (windows never cross midnight), so
business seconds across a change add the old hours before it and the new ones after.
"""

from __future__ import annotations

import itertools
import re
from bisect import bisect_right
from datetime import date, time
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_RE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Window = tuple[time, time]
Week = tuple[tuple[Window, ...], ...]  # seven days, Monday first, each its sorted windows


def parse_window(text: str) -> Window:
    """'09:00-17:00' -> (09:00, 17:00); '24:00' is allowed as an end."""
    m = _WINDOW_RE.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a window like '09:00-17:00'")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} has an impossible time")
    start = time(h1, m1)
    end_minutes = h2 * 60 + m2
    if end_minutes <= h1 * 60 + m1:
        raise ValueError(f"{text!r} ends before it starts (windows cannot cross midnight; split them)")
    end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    return start, end


def check_week(hours: dict[str, list[str]]) -> dict[str, list[str]]:
    """A plain weekday -> windows map: weekdays known, windows valid and not overlapping; keys lower-cased."""
    for day, windows in hours.items():
        if day.lower() not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a weekday; use one of {', '.join(WEEKDAYS)}")
        parsed = sorted(parse_window(w) for w in windows)
        for (_, end), (start, _) in itertools.pairwise(parsed):
            if start < end:
                raise ValueError(f"windows on {day} overlap: {windows}")
    return {d.lower(): w for d, w in hours.items()}


class _Dated(BaseModel):
    # `from` is a Python keyword: the field is from_, read and written as "from"
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True, allow_inf_nan=False
    )

    from_: date | None = Field(None, alias="from")


class DatedHours(_Dated):
    """One schedule of the dated form: the windows of each weekday from a local date on."""

    monday: tuple[str, ...] = ()
    tuesday: tuple[str, ...] = ()
    wednesday: tuple[str, ...] = ()
    thursday: tuple[str, ...] = ()
    friday: tuple[str, ...] = ()
    saturday: tuple[str, ...] = ()
    sunday: tuple[str, ...] = ()

    @field_validator(*WEEKDAYS)
    @classmethod
    def _windows(cls, windows: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        assert info.field_name is not None  # a field validator's: the weekday
        check_week({info.field_name: list(windows)})
        return windows

    def weekly(self) -> dict[str, list[str]]:
        return {d: list(getattr(self, d)) for d in WEEKDAYS if getattr(self, d)}


class DatedCountry(_Dated):
    """One entry of the dated holiday_country: whose public holidays close the team from a local date on."""

    country: str | None

    @field_validator("country")
    @classmethod
    def _known(cls, code: str | None) -> str | None:
        return check_country(code)


def check_country(code: str | None) -> str | None:
    if code is not None:
        import holidays  # only when a country is configured: the package is large

        try:
            holidays.country_holidays(code)
        except NotImplementedError:
            raise ValueError(f"{code!r} is not a country code the holidays package knows (e.g. US, GB)") from None
    return code


def _entry_problem(i: int, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key; use from and the weekdays ({', '.join(WEEKDAYS)})"
        parts.append(f"[{i}]{'.' + where if where else ''}: {msg}")
    return "; ".join(parts)


def _dated_list(value: list[Any], model: type[_Dated], what: str) -> tuple[Any, ...]:
    """Validate the entries of a dated list: each one a model, the dates rising, only the first without."""
    if not value:
        raise ValueError(f"an empty list; give {what} as a mapping, or a list of them with from: dates")
    entries = []
    for i, raw in enumerate(value):
        if not isinstance(raw, dict | model):
            raise ValueError(f"[{i}]: {raw!r} is not a mapping (from: and {what})")
        try:
            entries.append(raw if isinstance(raw, model) else model.model_validate(raw))
        except ValidationError as exc:
            raise ValueError(_entry_problem(i, exc)) from None
    for i, (before, entry) in enumerate(itertools.pairwise(entries), start=1):
        if entry.from_ is None:
            raise ValueError(f"[{i}]: needs a from: date (only the first entry may leave it out)")
        if before.from_ is not None and entry.from_ <= before.from_:
            raise ValueError(
                f"[{i}]: from {entry.from_} is not after the entry before it ({before.from_}); list them oldest first"
            )
    return tuple(entries)


BusinessHours = dict[str, list[str]] | tuple[DatedHours, ...]
HolidayCountry = str | None | tuple[DatedCountry, ...]


def normalise_business_hours(value: Any) -> Any:
    """settings.business_hours as given: a plain map (checked, keys lower-cased) or dated schedules."""
    if isinstance(value, list | tuple):
        return _dated_list(list(value), DatedHours, "weekday windows")
    if isinstance(value, dict):
        return check_week(value)
    raise ValueError("not a mapping of weekdays to windows, nor a list of schedules with from: dates")


def normalise_holiday_country(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return _dated_list(list(value), DatedCountry, "country")
    if value is None or isinstance(value, str):
        return check_country(value)
    raise ValueError("not a country code (e.g. US), nor a list of them with from: dates")


def _sorted_week(hours: dict[str, list[str]]) -> tuple[tuple[Window, ...], ...]:
    return tuple(tuple(sorted(parse_window(w) for w in hours.get(day, []))) for day in WEEKDAYS)


@lru_cache(maxsize=64)
def _weeks(key: tuple[str, tuple]) -> tuple[tuple[date | None, ...], tuple[Week, ...]]:
    """(each schedule's from, each schedule's week) of a setting's hashable key (_key)."""
    form, items = key
    if form == "dated":
        return tuple(e.from_ for e in items), tuple(_sorted_week(e.weekly()) for e in items)
    return (None,), (_sorted_week({d: list(w) for d, w in items}),)


def _key(hours: BusinessHours) -> tuple[str, tuple]:
    """A hashable stand-in for the setting, for the cache (a plain map becomes its items)."""
    if isinstance(hours, dict):
        return "plain", tuple(sorted((d, tuple(w)) for d, w in hours.items()))
    return "dated", tuple(hours)


def week_for(hours: BusinessHours, day: date | None = None) -> Week:
    """The opening windows of each weekday (Monday first) in force on local date `day` (None: the first
    schedule). Before the second schedule's date the first applies, whatever its own `from`."""
    starts, weeks = _weeks(_key(hours))
    if day is None or len(weeks) == 1:
        return weeks[0]
    return weeks[bisect_right([d or date.min for d in starts[1:]], day)]


def any_opening_hours(hours: BusinessHours) -> bool:
    """Whether any schedule opens at all (with none, nothing has a same-business-day deadline)."""
    _, weeks = _weeks(_key(hours))
    return any(any(day) for week in weeks for day in week)


def country_spans(country: HolidayCountry, start: date, end: date) -> list[tuple[str, date, date]]:
    """(country code, first day, last day) of each holiday country in force between local dates start..end."""
    if country is None or isinstance(country, str):
        return [(country, start, end)] if country and start <= end else []
    spans = []
    for i, entry in enumerate(country):
        lo = start if i == 0 else max(start, entry.from_ or start)
        nxt = country[i + 1].from_ if i + 1 < len(country) else None
        hi = min(end, date.fromordinal(nxt.toordinal() - 1)) if nxt else end
        if entry.country and lo <= hi:
            spans.append((entry.country, lo, hi))
    return spans
