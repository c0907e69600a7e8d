"""Parse texted survey replies ("9", "9/10", "I'd say eight", "STOP") into a score and a status.

Statuses (per the metric definitions, only ``valid`` scores enter CSAT/NPS; the other counts are shown):

- ``empty``        None, or nothing but whitespace / invisible format characters.
- ``opt_out``      the whole reply, trimmed and without surrounding punctuation, equals an opt-out keyword
                   (case-insensitive): "STOP", "stop.", " Unsubscribe! ". "stop texting me, 2" is NOT an
                   opt-out (it is parsed as a rating), so a keyword inside a sentence never hides a score.
- ``valid``        exactly one candidate rating, an integer within [scale_min, scale_max].
- ``out_of_range`` exactly one candidate rating, an integer outside the scale; the score is returned as
                   parsed ("0" on 1-9 -> (0, "out_of_range")) so the raw value stays visible.
- ``ambiguous``    two or more distinct candidates ("between 6 and 8", "6 or 7", "7-8", "6 to 8"), or a
                   single non-integer ("8.5": the scale has no half points, rounding would invent data).
- ``not_a_number`` no candidate at all ("idk", "thanks!", "great", emoji such as "💯").

How candidates are found (the reply is NFKC-normalised and lower-cased first):

1. Denominator form: ``N/M``, ``N / M``, ``N out of M``, ``N of M`` gives the candidate N (the rating);
   M is ignored, whatever it is ("7 out of 9" -> 7, "9/10" -> 9). A date-like ``9/10/2024`` is not one.
2. Other numbers of 1-2 ASCII digits (optionally with a decimal part: "8.5"). A number glued to letters
   ("2nd", "3pm", "b4"), to a colon (a time, "3:30"), to a currency sign ("$5"), followed by "%", or part
   of a date ("9/10/2024") is not a rating. A minus sign directly before a number that does not follow a
   digit makes it negative ("-1" -> out_of_range), while "7-8" is a range (two candidates).
3. Numbers of 3+ digits are identifiers (order numbers, phone numbers, years), never ratings, except when
   the number is the whole reply (whitespace, punctuation and emoji around it aside): "100", "100!!",
   "(100)" are that number, beyond the scale, so out_of_range like "10!!" on 1-9 ("100%" and "$100" are
   not: rule 2; a number of 19 digits or more, too long for the score column, is out_of_range with no
   score). Otherwise, if the reply contains one, only a denominator form or a number that starts the reply
   counts ("8 - order 12345 was late" -> 8), anything else is not_a_number ("my order 12345" and "order
   12345, I'd give 8").
4. Only when steps 1-3 give no candidate: number words zero..twenty ("ten!", "a solid eight"). "one"
   after a determiner ("no one", "the one", "any one", "this one"...) is a pronoun, not a rating.
5. Repeats of the same value count once ("8, 8!" -> 8).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable
from fractions import Fraction

import polars as pl

STATUSES: tuple[str, ...] = ("valid", "out_of_range", "ambiguous", "not_a_number", "opt_out", "empty")

_WORDS = (
    "zero one two three four five six seven eight nine ten "
    "eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
)
NUMBER_WORDS: dict[str, int] = {word: value for value, word in enumerate(_WORDS.split())}
_WORD_ALT = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
# Words that turn a following "one" into a pronoun ("no one helped", "the one who...").
_ONE_DETERMINERS = frozenset(
    ["no", "any", "some", "every", "each", "the", "this", "that", "which", "another", "other", "only"]
)

# A number as written in a denominator form: digits (with an optional decimal part) or a number word.
_NUM = rf"(?:[0-9]{{1,3}}(?:\.[0-9]{{1,2}})?|{_WORD_ALT})"
# Lookarounds keep "9/10/2024", "x9/10" and "1.9/10.5" out; "of" needs a space on both sides.
_DENOM_RE = re.compile(rf"(?<![\w./-])(?P<n>{_NUM})(?:\s*/\s*|\s+out\s+of\s+|\s+of\s+)(?P<m>{_NUM})(?![\w/]|\.[0-9])")
_DIGITS_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_WORD_RE = re.compile(rf"\b(?:{_WORD_ALT})\b")
_CURRENCY = frozenset("$£€¥₹#")
# A whole reply that is one integer once what surrounds it is trimmed ("100", "-100", "100!!").
_LONE_INTEGER_RE = re.compile(r"-?[0-9]+")
_MAX_SCORE_DIGITS = 18  # the score column is a 64-bit integer
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d", "-"))


def _normalize(text: str) -> str:
    # NFKC maps full-width digits ("８") to ASCII; the keycap-ten emoji has no decomposition.
    norm = unicodedata.normalize("NFKC", text).translate(_DASHES).replace("\U0001f51f", " 10 ")
    return norm.lower()


# The same trimming in DuckDB's RE2 syntax, for the warehouse's opt-out detection (etl.derive).
STRIP_PUNCT_SQL_REGEX = r"^[\pP\pZ\s]+|[\pP\pZ\s]+$"


def _strip_punct(text: str) -> str:
    """Trim whitespace and punctuation at both ends ("Stop!!" -> "Stop")."""
    start, end = 0, len(text)
    while start < end and (text[start].isspace() or unicodedata.category(text[start]).startswith("P")):
        start += 1
    while end > start and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[start:end]


def _trim_around(text: str) -> str:
    """Trim whitespace, punctuation and symbols (emoji) at both ends, but keep a leading minus sign and a
    trailing "%" or a currency sign ("100%", "$100", "#100" are never ratings, rule 2)."""
    start, end = 0, len(text)

    def edge(ch: str) -> bool:
        return ch != "%" and ch not in _CURRENCY and (ch.isspace() or unicodedata.category(ch)[0] in "PS")

    while start < end and edge(text[start]) and not (text[start] == "-" and text[start + 1 : start + 2].isdigit()):
        start += 1
    while end > start and edge(text[end - 1]):
        end -= 1
    return text[start:end]


def _lone_integer(norm: str) -> tuple[int | None] | None:
    """(value,) when the whole reply is one integer of 3+ digits ((None,) when too long to store), else None."""
    core = _trim_around(norm)
    if _LONE_INTEGER_RE.fullmatch(core) is None or len(core.lstrip("-")) < 3:
        return None
    return (int(core),) if len(core.lstrip("-")) <= _MAX_SCORE_DIGITS else (None,)


def _is_blank(text: str) -> bool:
    # Zero-width spaces and other format characters (category Cf) are invisible: only those = empty.
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in text)


def _number_value(token: str) -> Fraction:
    if token in NUMBER_WORDS:
        return Fraction(NUMBER_WORDS[token])
    return Fraction(token)


def _is_time(norm: str, start: int, end: int) -> bool:
    # "3:30" is a time; "Score 9: great" is a rating followed by a colon.
    return (start >= 2 and norm[start - 1] == ":" and norm[start - 2].isdigit()) or (
        norm[end : end + 1] == ":" and norm[end + 1 : end + 2].isdigit()
    )


def _inside(spans: list[tuple[int, int]], starts: list[int], pos: int) -> bool:
    """Whether pos lies in one of the sorted, disjoint spans (a bisection: replies can be megabytes)."""
    i = bisect.bisect_right(starts, pos) - 1
    return i >= 0 and pos < spans[i][1]


def _digit_candidates(norm: str, consumed: list[tuple[int, int]]) -> tuple[list[tuple[int, Fraction]], bool]:
    """(start, value) of each usable 1-2 digit number outside ``consumed``; whether a 3+ digit one exists."""
    found: list[tuple[int, Fraction]] = []
    has_long = False
    starts = [s for s, _ in consumed]
    for match in _DIGITS_RE.finditer(norm):
        start, end = match.span()
        if _inside(consumed, starts, start):
            continue
        token = match.group()
        integer_part = token.split(".")[0]
        before = norm[start - 1] if start > 0 else ""
        after = norm[end] if end < len(norm) else ""
        if len(integer_part) >= 3:
            has_long = True
            continue
        if before.isalpha() or after.isalpha() or before == "_" or after == "_":
            continue  # "2nd", "3pm", "b4": not a rating
        after_digit = norm[start - 2 : start - 1].isdigit()
        if (before == "." and after_digit) or _is_time(norm, start, end):
            continue  # version-like tails ("1.2.3") and times ("3:30")
        if before in _CURRENCY or after == "%":
            continue  # money and percentages
        if (before == "/" and after_digit) or (after == "/" and norm[end + 1 : end + 2].isdigit()):
            continue  # part of a date such as "9/10/2024" (real "N/M" forms were consumed already)
        value = Fraction(token)
        if before == "-" and (start < 2 or not norm[start - 2].isalnum()):
            value = -value
        found.append((start, value))
    return found, has_long


def _word_before(text: str, pos: int) -> str:
    """The whitespace-separated word that ends before pos (what text[:pos].split()[-1] is, or ""), found
    by scanning back over it only: splitting the whole prefix for every "one" was quadratic."""
    end = pos
    while end > 0 and text[end - 1].isspace():
        end -= 1
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end]


def _word_after(text: str, pos: int) -> str:
    """The whitespace-separated word that starts after pos (text[pos:].split()[0], or "")."""
    start = pos
    while start < len(text) and text[start].isspace():
        start += 1
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def _word_candidates(norm: str) -> list[tuple[int, Fraction]]:
    found: list[tuple[int, Fraction]] = []
    for match in _WORD_RE.finditer(norm):
        word = match.group()
        if word == "one":
            if _word_before(norm, match.start()).strip("'\".,!?") in _ONE_DETERMINERS:
                continue
            if _word_after(norm, match.end()) in {"of", "more", "another"}:
                continue  # "one of the best", "one more thing"
        found.append((match.start(), Fraction(NUMBER_WORDS[word])))
    return found


def _leading_offset(norm: str) -> int:
    """Offset of the first character that is not whitespace or punctuation ("(8) ..." -> 1)."""
    for offset, ch in enumerate(norm):
        if not (ch.isspace() or unicodedata.category(ch).startswith("P")):
            return offset
    return len(norm)


def parse_score(
    text: str | None, scale_min: int, scale_max: int, opt_out_keywords: Iterable[str]
) -> tuple[int | None, str]:
    """Return (score, status) for one texted survey reply; never raises for any string.

    The full rules are in the module docstring. In short: STOP-like replies are ``opt_out``; "N/M" and
    "N out of M" use N; 1-2 digit numbers, then (only if there are none) the words zero..twenty are the
    candidate ratings; numbers of 3+ digits are identifiers; one distinct integer candidate is ``valid`` or
    ``out_of_range`` (score kept), several or a fraction ("8.5") are ``ambiguous`` (score None), none is
    ``not_a_number``. Only ``valid`` scores satisfy ``scale_min <= score <= scale_max``.
    """
    if text is None or _is_blank(text):
        return None, "empty"
    keywords = {_strip_punct(k).casefold() for k in opt_out_keywords}
    keywords.discard("")
    if _strip_punct(text).casefold() in keywords:
        return None, "opt_out"

    norm = _normalize(text)
    lone = _lone_integer(norm)
    if lone is not None:  # "100": a number beyond the scale, not an identifier
        (value,) = lone
        return value, ("valid" if value is not None and scale_min <= value <= scale_max else "out_of_range")
    lead = _leading_offset(norm)
    consumed: list[tuple[int, int]] = []
    denominators: list[tuple[int, Fraction]] = []
    for match in _DENOM_RE.finditer(norm):
        n_token = match.group("n")
        if "." not in n_token and n_token not in NUMBER_WORDS and len(n_token) >= 3:
            continue  # "123/456" is an identifier, not "123 out of 456"
        denominators.append((match.start("n"), _number_value(n_token)))
        consumed.append(match.span())

    digits, has_long = _digit_candidates(norm, consumed)
    if has_long:
        # An order or phone number is present: only a clear rating form counts.
        candidates = denominators + [c for c in digits if c[0] == lead]
        if not candidates:
            candidates = [c for c in _word_candidates(norm) if c[0] == lead]
    else:
        candidates = denominators + digits
        if not candidates:
            candidates = _word_candidates(norm)

    values = {value for _, value in candidates}
    if not values:
        return None, "not_a_number"
    if len(values) > 1:
        return None, "ambiguous"
    (fraction,) = values
    if fraction.denominator != 1:
        return None, "ambiguous"
    score = int(fraction)
    return score, ("valid" if scale_min <= score <= scale_max else "out_of_range")


def parse_scores_frame(
    df: pl.DataFrame, text_col: str, scale_min: int, scale_max: int, opt_outs: Iterable[str]
) -> pl.DataFrame:
    """Add ``score`` (Int64) and ``parse_status`` (String) columns parsed from ``text_col``.

    Each distinct text is parsed once (survey replies repeat a lot: "9", "10", "STOP"), then mapped back.
    Existing ``score`` / ``parse_status`` columns are replaced.
    """
    keywords = list(opt_outs)
    texts = df.get_column(text_col).cast(pl.String)
    unique = texts.unique().to_list()
    parsed = [parse_score(t, scale_min, scale_max, keywords) for t in unique]
    scores = [score for score, _ in parsed]
    statuses = [status for _, status in parsed]
    return df.with_columns(
        texts.replace_strict(unique, scores, default=None, return_dtype=pl.Int64).alias("score"),
        texts.replace_strict(unique, statuses, default="empty", return_dtype=pl.String).alias("parse_status"),
    )
