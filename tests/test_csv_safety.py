"""CSV/formula injection: risky text cells get a leading quote, numbers and phone numbers stay readable."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replyboard.csv_safety import neutralize_cell, neutralize_frame, to_safe_csv_bytes

NEUTRALISED = [
    '=HYPERLINK("http://x")',
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "=1+1",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "+",
    "-",
    "+1 (555) 010-0199",  # parentheses are not part of the safe number form
    "+15550100\n",  # a trailing newline is not a plain number
]
UNTOUCHED = ["+15550100", "-0.0075", "+1 555 010 0199", "-12", "hello", "", "a=b", " =1", "'=1", "100%"]


@pytest.mark.parametrize("value", NEUTRALISED)
def test_risky_cells_are_neutralised(value: str) -> None:
    assert neutralize_cell(value) == "'" + value


@pytest.mark.parametrize("value", UNTOUCHED)
def test_safe_cells_are_untouched(value: str) -> None:
    assert neutralize_cell(value) == value


@pytest.mark.parametrize("value", [None, 12, -0.5, 3.0, True, date(2026, 1, 2), b"=1", ["=1"]])
def test_non_strings_are_untouched(value: object) -> None:
    assert neutralize_cell(value) is value


def test_neutralize_frame_only_touches_text_columns() -> None:
    df = pl.DataFrame(
        {
            "body": ['=HYPERLINK("http://x")', "+15550100", "-0.0075", "@SUM(1)", "\t=1", None, "fine"],
            "price": [-0.0075, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "n": [-1, 2, 3, 4, 5, 6, 7],
        }
    ).with_columns(label=pl.col("body").cast(pl.Categorical))
    out = neutralize_frame(df)
    expected = ['\'=HYPERLINK("http://x")', "+15550100", "-0.0075", "'@SUM(1)", "'\t=1", None, "fine"]
    assert out["body"].to_list() == expected
    assert out["label"].to_list() == expected
    assert out["price"].to_list() == df["price"].to_list()
    assert out["n"].to_list() == df["n"].to_list()
    assert out.schema["price"] == pl.Float64 and out.schema["n"] == pl.Int64
    assert out.columns == df.columns


def test_neutralize_frame_without_text_columns_is_identity() -> None:
    df = pl.DataFrame({"n": [1, -2]})
    assert neutralize_frame(df).equals(df)
    assert neutralize_frame(pl.DataFrame()).shape == (0, 0)


def test_to_safe_csv_bytes_round_trips_as_plain_utf8() -> None:
    df = pl.DataFrame({"from": ["+15550100", "AMAZON"], "body": ["=cmd|' /C calc'!A0", "Grüße 👋, 9/10"]})
    data = to_safe_csv_bytes(df)
    assert not data.startswith(b"\xef\xbb\xbf")  # no BOM
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows == [["from", "body"], ["+15550100", "'=cmd|' /C calc'!A0"], ["AMAZON", "Grüße 👋, 9/10"]]


@settings(max_examples=300)
@given(
    values=st.lists(
        st.none() | st.text() | st.from_regex(r"[=+\-@\t\r]?[0-9 .a-z()=]{0,8}\n?", fullmatch=True),
        max_size=20,
    )
)
def test_vectorised_frame_agrees_with_cell_function(values: list[str | None]) -> None:
    out = neutralize_frame(pl.DataFrame({"v": values}, schema={"v": pl.String}))
    assert out["v"].to_list() == [neutralize_cell(v) for v in values]


@given(value=st.text())
def test_neutralised_cells_never_start_with_a_trigger_unless_numeric(value: str) -> None:
    result = neutralize_cell(value)
    if result != value:
        assert result == "'" + value
    elif value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        # Only a plain signed number / phone number may keep its leading + or -.
        assert re.fullmatch(r"[+-][0-9][0-9 .]*", value), f"{value!r} left as a formula"
