"""Printing frames from the CLIs: JSON-ready values and an aligned text table (one helper for all)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import polars as pl


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


def format_table(frame: pl.DataFrame, float_digits: int | None = None, null: str = "NULL") -> str:
    """An aligned text table: numbers right-aligned (floats rounded when float_digits is given)."""
    numeric = [dtype.is_numeric() for dtype in frame.dtypes]

    def cell(v: object) -> str:
        if v is None:
            return null
        if isinstance(v, float) and float_digits is not None:
            return f"{v:,.{float_digits}f}"
        return str(v)

    cells = [list(frame.columns)]
    cells += [[cell(v) for v in row] for row in frame.iter_rows()]
    widths = [max(len(r[i]) for r in cells) for i in range(frame.width)]

    def line(row: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(r) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
