"""CSV/formula injection protection for every CSV download and export (OWASP "CSV Injection").

A spreadsheet treats a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return as a formula, so
a customer texting ``=HYPERLINK("http://evil")`` could run it on an agent's machine. Such text cells get a
leading single quote, which spreadsheets show as plain text. Plain numbers and phone numbers
(``+15550100``, ``-0.0075``, ``+1 555 010 0199``: regex ``^[+-]?[0-9][0-9 .]*$``) stay as they are:
they are not formulas and must stay readable.
"""

from __future__ import annotations

import io
import re
from typing import Any

import polars as pl

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TRIGGER_REGEX = r"^[=+\-@\t\r]"
_SAFE_NUMBER_REGEX = r"^[+-]?[0-9][0-9 .]*$"  # Rust regex: "$" is end of text, no trailing-newline slack
_SAFE_NUMBER_RE = re.compile(r"[+-]?[0-9][0-9 .]*")  # used with fullmatch for the same meaning in Python


def neutralize_cell(value: Any) -> Any:
    """Prefix "'" to a string a spreadsheet would run as a formula; anything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(_TRIGGERS) and not _SAFE_NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def _neutralize_expr(name: str) -> pl.Expr:
    col = pl.col(name).cast(pl.String)  # no-op for String; Categorical/Enum labels are written as text
    risky = col.str.contains(_TRIGGER_REGEX) & ~col.str.contains(_SAFE_NUMBER_REGEX)
    return pl.when(risky).then(pl.lit("'") + col).otherwise(col).alias(name)


def neutralize_frame(df: pl.DataFrame) -> pl.DataFrame:
    """``neutralize_cell`` on every String column, vectorised; Categorical/Enum columns become String.

    Nulls and non-text columns are untouched.
    """
    exprs = [
        _neutralize_expr(name)
        for name, dtype in df.schema.items()
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
    ]
    return df.with_columns(exprs) if exprs else df


def to_safe_csv_bytes(df: pl.DataFrame) -> bytes:
    """The frame as neutralised CSV in plain UTF-8 (no BOM), with a header row."""
    buffer = io.BytesIO()
    neutralize_frame(df).write_csv(buffer)
    return buffer.getvalue()
