"""Printing frames from the CLIs: JSON-ready values, an aligned text table and a CSV (one helper for each).

JSON keeps raw numbers; the table and the CSV write figures as replyboard.formats does on the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import polars as pl

from metrics.registry import METRICS
from replyboard.csv_safety import to_safe_csv_bytes
from replyboard.formats import csv_frame, fmt_value

# Columns of the rows behind a number that hold durations (a reply's seconds, a wait, a typing span).
_DURATION_COLUMNS = frozenset({"seconds", "span"})


def column_units(columns: Iterable[str]) -> dict[str, str]:
    """The unit of each column a read-layer frame can have: a metric's (from the registry), its n (a count), a
    row's own duration (seconds), a share of a total (ratio). Other columns are left out."""
    units: dict[str, str] = {}
    for column in columns:
        if column in METRICS:
            units[column] = METRICS[column].unit
        elif column.endswith("_n") and column[:-2] in METRICS:
            units[column] = "count"
        elif column in _DURATION_COLUMNS or column.endswith("_seconds"):
            units[column] = "seconds"
        elif column.startswith("share_of_") or column.endswith("_share"):
            units[column] = "ratio"
    return units


def csv_bytes(frame: pl.DataFrame, units: Mapping[str, str] | None = None) -> bytes:
    """A frame as a CSV people open in a spreadsheet: numbers with their unit in the header (durations in
    minutes, shares in percent), rounded; cells that look like formulas neutralised."""
    return to_safe_csv_bytes(csv_frame(frame, column_units(frame.columns) if units is None else units))


def json_value(value: object, float_digits: int | None = None) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and float_digits is not None:
        return round(value, float_digits)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): json_value(v, float_digits) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_value(v, float_digits) for v in value]
    return value


def rows_as_json(frame: pl.DataFrame, float_digits: int | None = None) -> list[dict]:
    return [{k: json_value(v, float_digits) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def format_table(
    frame: pl.DataFrame, float_digits: int | None = None, null: str = "NULL", units: Mapping[str, str] | None = None
) -> str:
    """An aligned text table: numbers right-aligned; a column with a unit (``units``: column -> seconds, ratio,
    score, nps, count) written as the dashboard writes it (19 min, 95.7%), other floats rounded to
    float_digits when given."""
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]
    column_unit = [(units or {}).get(c) for c in frame.columns]

    def cell(v: object, unit: str | None) -> str:
        if v is None:
            return null
        if unit is not None and isinstance(v, int | float) and not isinstance(v, bool):
            return fmt_value(unit, v)
        if isinstance(v, float) and float_digits is not None:
            return f"{v:,.{float_digits}f}"
        return str(v)

    cells = [list(frame.columns)]
    cells += [[cell(v, u) for v, u in zip(row, column_unit, strict=True)] for row in frame.iter_rows()]
    widths = [max(len(r[i]) for r in cells) for i in range(frame.width)]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(r) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
