"""Golden examples and properties for texted survey reply parsing (CSAT 1-9 and NPS 0-10)."""

from __future__ import annotations

import re

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from replyboard.survey_parse import STATUSES, parse_score, parse_scores_frame

OPT_OUTS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"]

# text -> (expected on CSAT 1-9, expected on NPS 0-10)
GOLDEN: dict[str | None, tuple[tuple[int | None, str], tuple[int | None, str]]] = {
    "9": ((9, "valid"), (9, "valid")),
    "9/10": ((9, "valid"), (9, "valid")),
    "9 / 10": ((9, "valid"), (9, "valid")),
    "I'd say 8": ((8, "valid"), (8, "valid")),
    "ten!": ((10, "out_of_range"), (10, "valid")),
    "Ten": ((10, "out_of_range"), (10, "valid")),
    "7 out of 9": ((7, "valid"), (7, "valid")),
    "8 of 9": ((8, "valid"), (8, "valid")),
    "9 - great service, thanks Sam!": ((9, "valid"), (9, "valid")),
    "a solid 8": ((8, "valid"), (8, "valid")),
    "eight": ((8, "valid"), (8, "valid")),
    "10!!!": ((10, "out_of_range"), (10, "valid")),
    "10/10": ((10, "out_of_range"), (10, "valid")),
    "💯": ((None, "not_a_number"), (None, "not_a_number")),
    "8.5": ((None, "ambiguous"), (None, "ambiguous")),
    "between 6 and 8": ((None, "ambiguous"), (None, "ambiguous")),
    "6 or 7": ((None, "ambiguous"), (None, "ambiguous")),
    "7-8": ((None, "ambiguous"), (None, "ambiguous")),
    "7–8": ((None, "ambiguous"), (None, "ambiguous")),  # en dash
    "6 to 8": ((None, "ambiguous"), (None, "ambiguous")),
    "0": ((0, "out_of_range"), (0, "valid")),
    "zero": ((0, "out_of_range"), (0, "valid")),
    "15": ((15, "out_of_range"), (15, "out_of_range")),
    "idk": ((None, "not_a_number"), (None, "not_a_number")),
    "thanks!": ((None, "not_a_number"), (None, "not_a_number")),
    "great": ((None, "not_a_number"), (None, "not_a_number")),
    "my order 12345": ((None, "not_a_number"), (None, "not_a_number")),
    "order 12345, I'd give 8": ((None, "not_a_number"), (None, "not_a_number")),
    "8 - order 12345 was late": ((8, "valid"), (8, "valid")),
    "9/10 even though order 12345 was late": ((9, "valid"), (9, "valid")),
    "call me at 555-010-0199": ((None, "not_a_number"), (None, "not_a_number")),
    "9/10/2024": ((None, "not_a_number"), (None, "not_a_number")),
    "STOP": ((None, "opt_out"), (None, "opt_out")),
    "stop.": ((None, "opt_out"), (None, "opt_out")),
    " Unsubscribe! ": ((None, "opt_out"), (None, "opt_out")),
    "stop texting me, 2": ((2, "valid"), (2, "valid")),  # a keyword inside a sentence is not an opt-out
    "": ((None, "empty"), (None, "empty")),
    "   \n\t": ((None, "empty"), (None, "empty")),
    "\u200b": ((None, "empty"), (None, "empty")),
    None: ((None, "empty"), (None, "empty")),
    "8, 8!": ((8, "valid"), (8, "valid")),
    "8.0": ((8, "valid"), (8, "valid")),
    "８": ((8, "valid"), (8, "valid")),  # full-width digit
    "8️⃣": ((8, "valid"), (8, "valid")),  # keycap emoji
    "seven out of ten": ((7, "valid"), (7, "valid")),
    "no one helped me": ((None, "not_a_number"), (None, "not_a_number")),
    "one of the best, 9": ((9, "valid"), (9, "valid")),
    "Score 9: great": ((9, "valid"), (9, "valid")),
    "came at 3:30, took 2nd try": ((None, "not_a_number"), (None, "not_a_number")),
    "-1": ((-1, "out_of_range"), (-1, "out_of_range")),
    "95 out of 100": ((95, "out_of_range"), (95, "out_of_range")),
    # a number alone is that number, however long: beyond the scale like "10!!" (issue 13)
    "100": ((100, "out_of_range"), (100, "out_of_range")),
    "100!!": ((100, "out_of_range"), (100, "out_of_range")),
    "(100) 💯": ((100, "out_of_range"), (100, "out_of_range")),
    "-100": ((-100, "out_of_range"), (-100, "out_of_range")),
    "12345": ((12345, "out_of_range"), (12345, "out_of_range")),
    "1" + "0" * 20: ((None, "out_of_range"), (None, "out_of_range")),  # no 64-bit score holds it
    "100%": ((None, "not_a_number"), (None, "not_a_number")),  # a percentage, as "9%" is
    "$100": ((None, "not_a_number"), (None, "not_a_number")),
    "I'd give it 100": ((None, "not_a_number"), (None, "not_a_number")),  # inside a sentence: an identifier
}


@pytest.mark.parametrize("text", list(GOLDEN), ids=repr)
def test_golden_csat_scale(text: str | None) -> None:
    assert parse_score(text, 1, 9, OPT_OUTS) == GOLDEN[text][0]


@pytest.mark.parametrize("text", list(GOLDEN), ids=repr)
def test_golden_nps_scale(text: str | None) -> None:
    assert parse_score(text, 0, 10, OPT_OUTS) == GOLDEN[text][1]


def test_opt_out_keywords_come_from_settings() -> None:
    assert parse_score("STOP", 1, 9, []) == (None, "not_a_number")
    assert parse_score("basta!", 1, 9, ["BASTA"]) == (None, "opt_out")
    assert parse_score("stop", 1, 9, iter(["Stop."])) == (None, "opt_out")


def test_parse_scores_frame_maps_every_row_in_order() -> None:
    texts = ["9", None, "STOP", "9", "between 6 and 8", "ten!", "idk", "0", "9"]
    df = pl.DataFrame({"id": range(len(texts)), "body": texts})
    out = parse_scores_frame(df, "body", 1, 9, OPT_OUTS)
    assert out.columns == ["id", "body", "score", "parse_status"]
    assert out.schema["score"] == pl.Int64
    assert out.schema["parse_status"] == pl.String
    assert out["id"].to_list() == list(range(len(texts)))
    assert out["score"].to_list() == [9, None, None, 9, None, 10, None, 0, 9]
    expected = "valid empty opt_out valid ambiguous out_of_range not_a_number out_of_range valid"
    assert out["parse_status"].to_list() == expected.split()


def test_parse_scores_frame_empty_and_all_null() -> None:
    empty = parse_scores_frame(pl.DataFrame({"body": []}, schema={"body": pl.String}), "body", 0, 10, OPT_OUTS)
    assert empty.height == 0
    assert empty.schema["score"] == pl.Int64
    nulls = parse_scores_frame(pl.DataFrame({"body": [None, None]}), "body", 0, 10, OPT_OUTS)
    assert nulls["parse_status"].to_list() == ["empty", "empty"]
    assert nulls["score"].to_list() == [None, None]


def test_parse_scores_frame_agrees_with_parse_score() -> None:
    texts = [t for t in GOLDEN]
    out = parse_scores_frame(pl.DataFrame({"t": texts}), "t", 0, 10, OPT_OUTS)
    assert list(zip(out["score"].to_list(), out["parse_status"].to_list(), strict=True)) == [
        GOLDEN[t][1] for t in texts
    ]


scales = st.sampled_from([(1, 9), (0, 10), (1, 5), (1, 10)])


@settings(max_examples=400)
@given(text=st.one_of(st.none(), st.text()), scale=scales)
@example(text="0" * 19, scale=(1, 9))  # found by Hypothesis: a lone number too long for the score column
def test_never_raises_and_status_is_known(text: str | None, scale: tuple[int, int]) -> None:
    score, status = parse_score(text, *scale, OPT_OUTS)
    assert status in STATUSES
    if status == "valid":
        assert score is not None and scale[0] <= score <= scale[1]
    if status == "out_of_range":  # a score beyond the scale, or none for a number too long to store (rule 3)
        assert (score is not None and not scale[0] <= score <= scale[1]) or (
            score is None and re.search(r"\d{19}", text or "") is not None
        )
    if status in {"ambiguous", "not_a_number", "opt_out", "empty"}:
        assert score is None


# Replies mixing rating-like pieces with arbitrary text exercise the number paths more than st.text() alone.
_pieces = st.sampled_from(
    ["9", "10", "/", " out of ", " or ", "-", ".", "5", "12345", "ten", "one", " ", "!", ":", "%", "$", "8.5"]
)


@settings(max_examples=400)
@given(parts=st.lists(st.one_of(_pieces, st.text(max_size=3)), max_size=8), scale=scales)
def test_never_raises_on_rating_like_text(parts: list[str], scale: tuple[int, int]) -> None:
    score, status = parse_score("".join(parts), *scale, OPT_OUTS)
    assert status in STATUSES
    if status == "valid":
        assert score is not None and scale[0] <= score <= scale[1]


@given(n=st.integers(0, 10), lo_hi=scales, dec=st.sampled_from(["{n}", "{n}/10", "{n} out of 10", "{n}!"]))
def test_plain_numbers_on_the_scale_are_valid(n: int, lo_hi: tuple[int, int], dec: str) -> None:
    lo, hi = lo_hi
    score, status = parse_score(dec.format(n=n), lo, hi, OPT_OUTS)
    assert score == n
    assert status == ("valid" if lo <= n <= hi else "out_of_range")
