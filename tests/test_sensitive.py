"""Card / SSN detection and redaction, and the DuckDB prefilter regexes being a superset of the Python check."""

from __future__ import annotations

import re

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replyboard.sensitive import (
    CARD_CANDIDATE_REGEX,
    MASK_CHAR,
    SSN_REGEX,
    find_sensitive,
    find_sensitive_spans,
    kinds_label,
    luhn_ok,
    mask_sensitive,
    redact,
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
    "4111.1111.1111.1111": ["card"],  # dots (never found before issue 11)
    "4111\u00a01111\u00a01111\u00a01111": ["card"],  # NBSP
    "4111\u20091111\u202f1111\u30001111": ["card"],  # thin, narrow no-break and ideographic spaces
    "4111\u20131111\u20141111\u22121111": ["card"],  # en dash, em dash, minus sign
    "my card\n4111\n1111\n1111\n1111": ["card"],  # one group per line
    "4111 - 1111 - 1111 - 1111": ["card"],
    "4111\r\n1111\r\n1111\r\n1111": ["card"],
    "card 4111111111111111 exp 12/29 cvv 957": ["card"],
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
    "4111/1111/1111/1111",  # a slash is not a group separator (dates use it)
    "4111    1111    1111    1111",  # four spaces end a run: groups this far apart are separate numbers
    "４１１１ １１１１ １１１１ １１１１",  # full-width digits are not ASCII digits
    "cvv 957 exp 12/29",  # a security code or expiry alone is not a card
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
    assert mask_sensitive("card 4111111111111111 123") == "card ••••••••••••1111 •••"  # the CVV too
    assert mask_sensitive("nothing here 4111 1111 1111 1112") == "nothing here 4111 1111 1111 1112"


def test_spans_point_at_the_numbers() -> None:
    text = "a 123-45-6789 b 4111 1111 1111 1111 c"
    assert [(k, text[s:e]) for k, s, e in find_sensitive_spans(text)] == [
        ("ssn", "123-45-6789"),
        ("card", "4111 1111 1111 1111"),
    ]


# Issue 11: every card of a run is found, and expiry dates and security codes next to a card are masked.
REDACTED = {
    "my cards are 4111 1111 1111 1111 5500 0000 0000 0004": "my cards are •••• •••• •••• 1111 •••• •••• •••• 0004",
    "4111.1111.1111.1111": "••••.••••.••••.1111",
    "4111\u00a01111\u00a01111\u00a01111": "••••\u00a0••••\u00a0••••\u00a01111",
    "cards:\n4111 1111 1111 1111\n378282246310005": "cards:\n•••• •••• •••• 1111\n•••••••••••0005",
    "here's my card: 6011-6483-3173-9698 exp 08/27": "here's my card: ••••-••••-••••-9698 exp ••/••",
    "Card is 3732-851180-58649, cvv 957": "Card is ••••-••••••-•8649, cvv •••",
    "4111111111111111 cvc: 123, security code 957": "••••••••••••1111 cvc: •••, security code •••",
    "4111-1111-1111-1111 expires 12/2029": "••••-••••-••••-1111 expires ••/••••",
    "exp 0829 for 4111111111111111": "exp •••• for ••••••••••••1111",
    "12/29 4111 1111 1111 1111": "••/•• •••• •••• •••• 1111",  # bare expiry before the card
    "card 4111 1111 1111 1111 12 27": "card •••• •••• •••• 1111 •• ••",  # expiry in the same run
    "4111 1111 1111 1111 111": "•••• •••• •••• 1111 •••",  # a 16-digit card is preferred to a 19-digit split
    "ssn 123-45-6789, card 5555555555554444": "ssn •••-••-6789, card ••••••••••••4444",
    "see you 12/29/2026, card 4111111111111111": "see you 12/29/2026, card ••••••••••••1111",  # a date stays
    "2026-10-19T14:00:00Z,4111111111111111,exp 10/29": "2026-10-19T14:00:00Z,••••••••••••1111,exp ••/••",
    "cvv 957 exp 12/29": "cvv 957 exp 12/29",  # nothing to redact without a card
}


@pytest.mark.parametrize("text", list(REDACTED))
def test_redaction_examples(text: str) -> None:
    redacted, label = redact(text)
    assert redacted == REDACTED[text]
    assert label == kinds_label(find_sensitive(text))
    assert redact(redacted) == (redacted, None), "redacted text holds nothing left to find"


def test_several_cards_in_one_run_are_all_found() -> None:
    text = "my cards are 4111 1111 1111 1111 5500 0000 0000 0004"
    assert [text[s:e] for _, s, e in find_sensitive_spans(text)] == ["4111 1111 1111 1111", "5500 0000 0000 0004"]
    three = "4111111111111111 378282246310005 5555555555554444"
    assert [three[s:e] for _, s, e in find_sensitive_spans(three)] == three.split()


def test_kinds_label_is_what_messages_sensitive_stores() -> None:
    assert kinds_label(["ssn", "card", "card"]) == "card,ssn"
    assert kinds_label([]) is None
    assert redact("ssn 123-45-6789 and 4111 1111 1111 1111")[1] == "card,ssn"
    assert redact(None) == ("", None)
    assert redact("nothing here") == ("nothing here", None)


def test_hostile_long_runs_are_linear_not_stuck() -> None:
    # A run of 200,000 one-digit groups has ~1.4M card candidates: checked in O(1) each, not re-summed.
    text = "1 " * 200_000
    assert redact(text) == (text, None)
    cards = "4111 1111 1111 1111 " * 20_000
    redacted, label = redact(cards)
    assert label == "card"
    assert redacted.count("1111") == 20_000 and redacted.count(MASK_CHAR) == 20_000 * 12


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


SEPARATORS = ["", " ", "-", ".", "\u00a0", "\u2009", "\u202f", "\u2013", "\n", "\r\n", " - ", "  "]


no_digits = st.text(alphabet=st.characters(blacklist_characters="0123456789"), max_size=30)


@settings(max_examples=300)
@given(
    number=card_numbers(),
    prefix=no_digits,
    suffix=no_digits,
    sep=st.sampled_from(SEPARATORS),
    size=st.sampled_from([4, 3, 5, 6]),
)
def test_generated_card_embedded_in_text_is_found_and_masked(
    number: str, prefix: str, suffix: str, sep: str, size: int
) -> None:
    assert luhn_ok(number)
    written = _format(number, sep, size) if sep else number
    text = f"{prefix} {written} {suffix}"
    assert "card" in find_sensitive(text)
    masked = mask_sensitive(text)
    # Four digits of the number survive (the surrounding text has none): its last four, unless a shorter,
    # more usual card length also passes Luhn (a 17-digit number whose first 15 digits are a valid card).
    kept = "".join(ch for ch in masked if ch in "0123456789")
    assert len(kept) == 4 and kept in number
    if len(number) in (15, 16) or not sep:
        assert kept == number[-4:]
    assert find_sensitive(masked) == []


@settings(max_examples=500)
@given(digits=st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_one_group_is_a_card_exactly_when_it_passes_luhn(digits: str) -> None:
    # The run scanner's O(1) prefix-sum Luhn agrees with the plain check.
    assert find_sensitive(f"no. {digits}.") == (["card"] if luhn_ok(digits) else [])


@settings(max_examples=200)
@given(
    numbers=st.lists(card_numbers(), min_size=2, max_size=4),
    seps=st.lists(st.sampled_from(SEPARATORS[1:]), min_size=4, max_size=4),
)
def test_several_generated_cards_in_one_run_keep_only_each_last_four(numbers: list[str], seps: list[str]) -> None:
    # Cards written one after the other in 4-digit groups: the run splits into at least as many cards (the
    # split as written is one way; another with as many cards may be preferred), and only four digits of
    # each card found survive.
    text = seps[0].join(_format(n, seps[1 + i % 3], 4) for i, n in enumerate(numbers))
    spans = find_sensitive_spans(text)
    assert len(spans) >= len(numbers)
    redacted, label = redact(text)
    assert label == "card"
    assert sum(ch in "0123456789" for ch in redacted) <= 4 * len(spans)
    for _, start, end in spans:
        assert sum(ch in "0123456789" for ch in redacted[start:end]) == 4
    assert find_sensitive(redacted) == []


@settings(max_examples=300)
@given(text=st.text(alphabet=st.sampled_from("0123456789 -x/.\u00a0\n"), max_size=40) | st.text(max_size=40))
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


@st.composite
def written_cards(draw: st.DrawFn) -> str:
    """A card in any grouping and separators, among words, other digits and other cards."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        number = draw(card_numbers())
        parts.append(_format(number, draw(st.sampled_from(SEPARATORS[1:])), draw(st.integers(1, 6))))
        parts.append(draw(st.sampled_from(["", " ", " exp 12/29 ", " cvv 957 ", "\n", " and ", " 123 "])))
    return "".join(parts)


@settings(max_examples=300)
@given(
    text=st.text(alphabet=st.sampled_from("0123456789 -.a\u00a0\u2013\n"), max_size=48)
    | card_numbers().map(lambda n: f"x {n} y")
    | written_cards()
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
