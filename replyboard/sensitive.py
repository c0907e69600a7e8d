"""Find and mask payment card numbers and US SSNs in message bodies (SOP: never ask for payment data by text).

Rules (ASCII digits only, so the Python check and the DuckDB prefilter agree):

- **card**: 13-19 digits, optionally split into groups by single spaces or dashes ("4111 1111 1111 1111",
  "4111-1111-1111-1111", "378282246310005"), passing the Luhn check. A "run" is a maximal sequence of
  digit groups joined by single spaces/dashes. The whole run is tried first; if it has too many digits or
  fails Luhn, its leading and trailing whole groups are tried too, so a card written next to an expiry or
  CVV ("4111111111111111 123") is still found. A card is never cut out of the middle of a digit group, so
  a digit run longer than 19 digits ("12345678901234567890") is not a card.
- **ssn**: ddd-dd-dddd or "ddd dd dddd" (the same separator twice), not touching other digits, with the
  invalid ranges excluded: area 000, 666 and 900-999, group 00, serial 0000.

The warehouse prefilters bodies with ``regexp_matches(body, CARD_CANDIDATE_REGEX)`` and
``regexp_matches(body, SSN_REGEX)`` in DuckDB (RE2 syntax, no lookarounds); every text in which
``find_sensitive`` reports a kind matches that kind's regex, so only the candidates need Python.
"""

from __future__ import annotations

import re

MASK_CHAR = "•"

# Any 13+ digits joined by optional single spaces/dashes: a superset of what find_sensitive calls a card.
CARD_CANDIDATE_REGEX = r"[0-9](?:[ -]?[0-9]){12,}"

_SSN_AREA = r"(?:00[1-9]|0[1-9][0-9]|[1-578][0-9]{2}|6[0-57-9][0-9]|66[0-57-9])"
_SSN_GROUP = r"(?:0[1-9]|[1-9][0-9])"
_SSN_SERIAL = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_SSN_CORE = rf"{_SSN_AREA}(?:-{_SSN_GROUP}-| {_SSN_GROUP} ){_SSN_SERIAL}"
# RE2 has no lookarounds: "not touching other digits" is spelt with explicit boundaries.
SSN_REGEX = rf"(?:^|[^0-9]){_SSN_CORE}(?:[^0-9]|$)"

# Python versions: lookarounds also reject a digit across one separator ("1-123-45-6789" is a longer number).
_SSN_RE = re.compile(rf"(?<![0-9])(?<![0-9][ -]){_SSN_CORE}(?![0-9])(?![ -][0-9])")
_RUN_RE = re.compile(r"[0-9]+(?:[ -][0-9]+)*")
_GROUP_RE = re.compile(r"[0-9]+")
_CARD_MIN, _CARD_MAX = 13, 19


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (ASCII digits only, at least 2) passes the Luhn mod-10 check."""
    if len(digits) < 2 or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card_in_run(text: str, start: int, end: int) -> tuple[int, int] | None:
    """Span of the card in one digit run, or None: whole run first, then its longest prefix/suffix groups."""
    groups = [m.span() for m in _GROUP_RE.finditer(text, start, end)]
    counts = [e - s for s, e in groups]
    if sum(counts) < _CARD_MIN:
        return None

    def check(first: int, last: int) -> tuple[int, int] | None:
        n = sum(counts[first : last + 1])
        if _CARD_MIN <= n <= _CARD_MAX:
            digits = "".join(text[s:e] for s, e in groups[first : last + 1])
            if luhn_ok(digits):
                return groups[first][0], groups[last][1]
        return None

    whole = check(0, len(groups) - 1)
    if whole:
        return whole
    # Drop trailing groups (expiry, CVV) or leading groups (a quantity), longest candidate first.
    for dropped in range(1, len(groups)):
        for first, last in ((0, len(groups) - 1 - dropped), (dropped, len(groups) - 1)):
            found = check(first, last)
            if found:
                return found
    return None


def find_sensitive_spans(text: str | None) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every card / SSN in ``text``, in order of position, never overlapping."""
    if not text:
        return []
    spans: list[tuple[str, int, int]] = []
    for run in _RUN_RE.finditer(text):
        card = _card_in_run(text, *run.span())
        if card:
            spans.append(("card", *card))
    for match in _SSN_RE.finditer(text):
        start, end = match.span()
        if not any(s < end and start < e for _, s, e in spans):
            spans.append(("ssn", start, end))
    return sorted(spans, key=lambda span: span[1])


def find_sensitive(text: str | None) -> list[str]:
    """The kinds of sensitive data in ``text`` ("card", "ssn"), each once, in order of first occurrence."""
    kinds: list[str] = []
    for kind, _, _ in find_sensitive_spans(text):
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def _mask_span(piece: str) -> str:
    # Keep separators and the last four digits, so the shape stays recognisable ("•••• •••• •••• 1111").
    digit_count = sum(ch.isdigit() for ch in piece)
    keep_from = digit_count - 4
    out: list[str] = []
    seen = 0
    for ch in piece:
        if ch.isdigit():
            out.append(ch if seen >= keep_from else MASK_CHAR)
            seen += 1
        else:
            out.append(ch)
    return "".join(out)


def mask_sensitive(text: str | None) -> str:
    """``text`` with every card / SSN masked but its last four digits; None gives ""."""
    if not text:
        return text or ""
    parts: list[str] = []
    position = 0
    for _, start, end in find_sensitive_spans(text):
        parts.append(text[position:start])
        parts.append(_mask_span(text[start:end]))
        position = end
    parts.append(text[position:])
    return "".join(parts)
