"""Dates written with slashes and the day/month order they are read in (settings and mappings: `date_order`).

"03/09/2024" is 9 March in the United States and 3 September almost everywhere else; nothing in the text
says which. The order is a setting, `date_order`: MDY, DMY or YMD (year first: "2024/03/09"). Without one it
follows `default_region` (the region phone numbers default to): MDY for the United States, its territories
and the few other places that write the month first, DMY elsewhere.

A date that parses only in the other order ("13/01/2024" read as MDY has no month 13; as DMY it would be
13 January) is rejected with that reason, never silently swapped: a file with both orders in it would
otherwise load half its dates wrong.

Times: "14:23", "14:23:05", "14:23:05.250", 12-hour with AM/PM ("2:23 PM"), an optional comma after the
date, and an optional UTC offset ("+01:00", "-0500"). A time without an offset stays naive here: etl.validate
reads it in the team's timezone (settings.timezone), DST-correct, for every source alike.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

DateOrder = Literal["MDY", "DMY", "YMD"]
DATE_ORDERS: tuple[DateOrder, ...] = ("MDY", "DMY", "YMD")
# Regions (phone-number region codes) that write the month first: the United States and its territories,
# the Federated States of Micronesia, the Marshall Islands, Palau and the Philippines.
MDY_REGIONS = frozenset({"US", "AS", "GU", "MP", "PR", "UM", "VI", "FM", "MH", "PW", "PH"})
_NAMES = {"MDY": "month/day/year", "DMY": "day/month/year", "YMD": "year/month/day"}

_TIME = (
    r",?\s+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,6}))?)?"
    r"\s*(?:(?P<half>[AaPp])\.?[Mm]\.?)?\s*(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?$"
)
_DAY_FIRST_OR_MONTH_FIRST_RE = re.compile(r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<year>\d{4})" + _TIME)
_YEAR_FIRST_RE = re.compile(r"^(?P<year>\d{4})/(?P<a>\d{1,2})/(?P<b>\d{1,2})" + _TIME)


def default_date_order(region: str | None) -> DateOrder:
    """The order slash dates are read in when no date_order is set: from the default region."""
    return "MDY" if (region or "").upper() in MDY_REGIONS else "DMY"


def _parts(text: str) -> tuple[re.Match[str], bool] | None:
    """The match of a slash date-time and whether its year comes first."""
    s = " ".join(text.strip().split())
    m = _YEAR_FIRST_RE.match(s)
    if m:
        return m, True
    m = _DAY_FIRST_OR_MONTH_FIRST_RE.match(s)
    return (m, False) if m else None


def _build(m: re.Match[str], month: int, day: int) -> datetime | None:
    hour = int(m["hour"])
    if m["half"]:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if m["half"].lower() == "p" else 0)
    tz = None
    offset = m["offset"]
    if offset and offset in "Zz":
        tz = UTC
    elif offset:
        digits = offset[1:].replace(":", "")
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    micro = int(((m["fraction"] or "") + "000000")[:6])
    try:
        return datetime(int(m["year"]), month, day, hour, int(m["minute"]), int(m["second"] or 0), micro, tzinfo=tz)
    except ValueError:
        return None


def _read(m: re.Match[str], year_first: bool, order: DateOrder) -> datetime | None:
    a, b = int(m["a"]), int(m["b"])
    if year_first:  # 2024/03/09 is year, month, day in every order people use
        return _build(m, a, b)
    if order == "YMD":
        return None  # a year-first setting does not read 03/09/2024
    month, day = (a, b) if order == "MDY" else (b, a)
    return _build(m, month, day)


def parse_slash_datetime(text: str, order: DateOrder) -> datetime | None:
    """A slash date-time read in `order` (naive unless it carries an offset), else None."""
    found = _parts(text)
    return _read(*found, order) if found else None


def other_order_problem(text: str, order: DateOrder, source: str = "date_order") -> str | None:
    """Why a slash date that does not parse in `order` is refused when it would parse in the other order
    (None when it reads in neither, or when it is not a slash date): the reason a reject carries."""
    found = _parts(text)
    if found is None or found[1] or _read(*found, order) is not None:
        return None
    if order == "YMD":
        return f"is not a {_NAMES['YMD']} date ({source} YMD); set date_order to MDY or DMY if the file writes the year last"
    other: DateOrder = "DMY" if order == "MDY" else "MDY"
    moment = _read(*found, other)
    if moment is None:
        return None
    return (
        f"is not a valid {_NAMES[order]} date ({source} {order}); read {_NAMES[other]} it would be "
        f"{moment:%d %B %Y}, so the file may write dates in another order: set date_order to {other} if it does"
    )
