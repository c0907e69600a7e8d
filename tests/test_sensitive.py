"""Card / SSN detection and masking, and the DuckDB prefilter regexes being a superset of the Python check."""

from __future__ import annotations

import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replyboard.sensitive import (
    CARD_CANDIDATE_REGEX,
    SSN_REGEX,
    find_sensitive,
    find_sensitive_spans,
    luhn_ok,
    mask_sensitive,
)

POSITIVES = {
    "my card is 4111 1111 1111 1111 thanks": ["card"],
    "4111-1111-1111-1111": ["card"],
    "4111111111111111": ["card"],
    "amex 378282246310005": ["card"],
    "amex 3782 822463 10005": ["card"],
    "mc 5555555555554444, exp 12/27": ["card"],
    "card 4111111111111111 123": ["card"],  # CVV written after the number
    "card 4111 1111 1111 1111 12 27": ["card"],  # expiry written after the number
    "SSN 123-45-6789": ["ssn"],
    "ssn 123 45 6789.": ["ssn"],
    "123-45-6789 and 4111 1111 1111 1111": ["ssn", "card"],
}
NEGATIVES = [
    "4111 1111 1111 1112",  # Luhn fails
    "call me at 555-010-0199",  # phone number
    "+1 (415) 555 2671",
    "5550100199",
    "order 1234567890123 4",  # 14 digits, Luhn fails either way
    "order #12345 shipped",
    "12345678901234567890",  # 20-digit run: longer than any card, Luhn-valid prefixes inside don't count
    "000-12-3456",  # area 000
    "666-12-3456",  # area 666
    "900-12-3456",  # area 9xx
    "123-00-6789",  # group 00
    "123-45-0000",  # serial 0000
    "123-45 6789",  # mixed separators
    "1123-45-6789",  # part of a longer number
    "123456789",  # undelimited 9 digits: too ambiguous to call an SSN
    "",
]


@pytest.mark.parametrize("text", list(POSITIVES))
def test_positives(text: str) -> None:
    assert find_sensitive(text) == POSITIVES[text]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives(text: str) -> None:
    assert find_sensitive(text) == []


def test_none_is_clean() -> None:
    assert find_sensitive(None) == []
    assert mask_sensitive(None) == ""


def test_twenty_digit_run_with_a_luhn_valid_prefix_is_not_a_card() -> None:
    assert luhn_ok("4111111111111111")
    assert find_sensitive("41111111111111110000") == []


def test_luhn() -> None:
    assert luhn_ok("4111111111111111")
    assert luhn_ok("378282246310005")
    assert luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("")
    assert not luhn_ok("4111 1111 1111 1111")
    assert not luhn_ok("４１")  # full-width digits are not ASCII


def test_mask_examples() -> None:
    assert mask_sensitive("card 4111 1111 1111 1111 ok") == "card •••• •••• •••• 1111 ok"
    assert mask_sensitive("4111-1111-1111-1111") == "••••-••••-••••-1111"
    assert mask_sensitive("378282246310005") == "•••••••••••0005"
    assert mask_sensitive("ssn 123-45-6789") == "ssn •••-••-6789"
    assert mask_sensitive("card 4111111111111111 123") == "card ••••••••••••1111 123"
    assert mask_sensitive("nothing here 4111 1111 1111 1112") == "nothing here 4111 1111 1111 1112"


def test_spans_point_at_the_numbers() -> None:
    text = "a 123-45-6789 b 4111 1111 1111 1111 c"
    assert [(k, text[s:e]) for k, s, e in find_sensitive_spans(text)] == [
        ("ssn", "123-45-6789"),
        ("card", "4111 1111 1111 1111"),
    ]


def _with_check_digit(body: list[int]) -> str:
    # Luhn: double every second digit from the right, counting the (future) check digit as position 0.
    total = 0
    for index, digit in enumerate(reversed(body)):
        value = digit * 2 if index % 2 == 0 else digit
        total += value - 9 if value > 9 else value
    return "".join(map(str, body)) + str((10 - total % 10) % 10)


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    body = draw(st.lists(st.integers(0, 9), min_size=length - 1, max_size=length - 1))
    return _with_check_digit(body)


def _format(number: str, sep: str, size: int) -> str:
    return sep.join(number[i : i + size] for i in range(0, len(number), size))


no_digits = st.text(alphabet=st.characters(blacklist_characters="0123456789"), max_size=30)


@settings(max_examples=300)
@given(number=card_numbers(), prefix=no_digits, suffix=no_digits, sep=st.sampled_from(["", " ", "-"]))
def test_generated_card_embedded_in_text_is_found_and_masked(number: str, prefix: str, suffix: str, sep: str) -> None:
    assert luhn_ok(number)
    written = _format(number, sep, 4) if sep else number
    text = f"{prefix} {written} {suffix}"
    assert "card" in find_sensitive(text)
    masked = mask_sensitive(text)
    # Only the last four digits of the number survive; the surrounding text has no digits at all.
    assert sum(ch in "0123456789" for ch in masked) == 4
    assert "".join(ch for ch in masked if ch in "0123456789") == number[-4:]
    assert find_sensitive(masked) == []


@settings(max_examples=300)
@given(text=st.text(alphabet=st.sampled_from("0123456789 -x/."), max_size=40) | st.text(max_size=40))
def test_mask_never_leaves_more_than_four_digits_of_a_match(text: str) -> None:
    spans = find_sensitive_spans(text)
    masked = mask_sensitive(text)
    assert len(masked) == len(text)  # one mask character per digit: spans line up
    for _, start, end in spans:
        assert sum(ch in "0123456789" for ch in masked[start:end]) <= 4
    assert find_sensitive(masked) == []


_CON = duckdb.connect()


def _duck_matches(text: str, pattern: str) -> bool:
    row = _CON.execute("SELECT regexp_matches(?, ?)", [text, pattern]).fetchone()
    assert row is not None
    return bool(row[0])


@settings(max_examples=200)
@given(
    text=st.text(alphabet=st.sampled_from("0123456789 -a"), max_size=40)
    | card_numbers().map(lambda n: f"x {n} y")
    | st.from_regex(r"[0-9]{3}[- ][0-9]{2}[- ][0-9]{4}", fullmatch=True)
)
def test_sql_prefilter_is_a_superset(text: str) -> None:
    kinds = find_sensitive(text)
    if "card" in kinds:
        assert _duck_matches(text, CARD_CANDIDATE_REGEX)
        assert re.search(CARD_CANDIDATE_REGEX, text)
    if "ssn" in kinds:
        assert _duck_matches(text, SSN_REGEX)
        assert re.search(SSN_REGEX, text)


def test_sql_regexes_in_duckdb_on_golden_texts() -> None:
    rows = _CON.execute(
        "SELECT t, regexp_matches(t, $card), regexp_matches(t, $ssn) FROM (SELECT unnest($texts) AS t)",
        {"card": CARD_CANDIDATE_REGEX, "ssn": SSN_REGEX, "texts": [*POSITIVES, *NEGATIVES]},
    ).fetchall()
    by_text = {t: (card, ssn) for t, card, ssn in rows}
    for text, kinds in POSITIVES.items():
        assert by_text[text][0] >= ("card" in kinds)
        assert by_text[text][1] >= ("ssn" in kinds)
    # The SSN regex encodes the invalid ranges too, so it already drops them in SQL.
    for text in ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-6789", "123-45-0000"]:
        assert by_text[text][1] is False
