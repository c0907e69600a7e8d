"""Find and redact payment card numbers and US SSNs in texts (SOP: never ask for payment data by text).

Rules (ASCII digits only, so the Python check and the DuckDB prefilter agree):

- **card**: 13-19 digits passing the Luhn check, written in one piece or in groups joined by 1-3 separator
  characters: spaces (also NBSP and the other Unicode spaces, tabs, newlines), dots, dashes (also the
  Unicode hyphens and dashes). A "run" is a maximal sequence of digit groups joined that way. A card is
  made of whole consecutive groups of a run, never cut out of the middle of a group (so a 20-digit run such
  as "12345678901234567890" is not a card). One run can hold several cards ("4111 1111 1111 1111 5500 0000
  0000 0004"): the run is split into as many Luhn-valid cards as it holds, preferring the common lengths
  (16, then 15, 19, 14, 13, 17, 18) where several splits would do, so an expiry or CVV written after the
  number ("4111111111111111 123") is not taken for its last digits.
- **ssn**: ddd-dd-dddd or "ddd dd dddd" (the same separator twice), not touching other digits, with the
  invalid ranges excluded: area 000, 666 and 900-999, group 00, serial 0000.

Redaction (``redact``, ``mask_sensitive``) keeps the text's length and shape and the last four digits of
each card and SSN ("•••• •••• •••• 1111", "•••-••-6789"). In a text holding a card it also masks every other
digit of the card's run (a CVV or an expiry written after the number) and expiry dates ("exp 12/29",
"12/2029") and security codes ("cvv 957", "cvc: 123", "security code 957") anywhere in the text.

The warehouse prefilters texts with ``regexp_matches(text, CARD_CANDIDATE_REGEX)`` and
``regexp_matches(text, SSN_REGEX)`` in DuckDB (RE2 syntax, no lookarounds); every text in which
``find_sensitive`` reports a kind matches that kind's regex, so only the candidates need Python. Every
step is linear in the text's length (no backtracking regex, a bounded number of card candidates per group).
"""

from __future__ import annotations

import re

from replyboard.phones import mask_phone_numbers

MASK_CHAR = "•"

# Separator characters between digit groups. Written as literal characters so the same class works in Python
# `re` and in RE2 (which reads UTF-8 and has neither \u escapes nor Python's Unicode \s).
_SEPARATORS = (
    " \t\n\r\f\v.-"
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b"
    "\u2028\u2029\u202f\u205f\u3000"  # Unicode spaces (Zs), zero-width space, line/paragraph separators
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"  # hyphens, dashes, minus signs
)
# escaped inside the character class (typed as str.maketrans takes it: the dict's values are invariant)
_CLASS_ESCAPES: dict[str, str | int | None] = {
    "-": r"\-",
    "\t": r"\t",
    "\n": r"\n",
    "\r": r"\r",
    "\f": r"\f",
    "\v": r"\v",
}
_SEP_CLASS = "[" + _SEPARATORS.translate(str.maketrans(_CLASS_ESCAPES)) + "]"
_MAX_SEP = 3  # "4111 - 1111", "\r\n" between lines

# Any 13+ digits joined by up to three separator characters: a superset of what find_sensitive calls a card.
CARD_CANDIDATE_REGEX = rf"[0-9](?:{_SEP_CLASS}{{0,{_MAX_SEP}}}[0-9]){{12,}}"

_SSN_AREA = r"(?:00[1-9]|0[1-9][0-9]|[1-578][0-9]{2}|6[0-57-9][0-9]|66[0-57-9])"
_SSN_GROUP = r"(?:0[1-9]|[1-9][0-9])"
_SSN_SERIAL = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_SSN_CORE = rf"{_SSN_AREA}(?:-{_SSN_GROUP}-| {_SSN_GROUP} ){_SSN_SERIAL}"
# RE2 has no lookarounds: "not touching other digits" is spelt with explicit boundaries.
SSN_REGEX = rf"(?:^|[^0-9]){_SSN_CORE}(?:[^0-9]|$)"

# The DuckDB prefilter: candidate_sql(column) with PREFILTER_PARAMS as the query's parameters.
PREFILTER_PARAMS = {"card_re": CARD_CANDIDATE_REGEX, "ssn_re": SSN_REGEX}


def candidate_sql(column: str) -> str:
    """SQL condition true for every text in `column` that may hold a card or SSN (and a few that do not)."""
    text = f"coalesce({column}, '')"
    return f"(regexp_matches({text}, $card_re) OR regexp_matches({text}, $ssn_re))"


# Python versions: lookarounds also reject a digit across one separator ("1-123-45-6789" is a longer number).
_SSN_RE = re.compile(rf"(?<![0-9])(?<![0-9][ -]){_SSN_CORE}(?![0-9])(?![ -][0-9])")
# Digits and separators are disjoint classes, so matching a run never backtracks more than _MAX_SEP steps.
_RUN_RE = re.compile(rf"[0-9]+(?:{_SEP_CLASS}{{1,{_MAX_SEP}}}[0-9]+)*")
_GROUP_RE = re.compile(r"[0-9]+")
_CARD_MIN, _CARD_MAX = 13, 19
# Lower is preferred when a run can be split into the same number of cards in several ways.
_LENGTH_RANK = {16: 0, 15: 1, 19: 2, 14: 3, 13: 4, 17: 5, 18: 6}

# Only looked for in a text that holds a card. Keyword forms take "exp 1229" and "exp 12 29"; bare dates need
# a slash or dash ("12/29", "08-2027") and no digit, slash or dash around them ("12/29/2026", "2026-10-19": dates).
_EXPIRY_RE = re.compile(
    r"\b(?:exp(?:iry|ires|iration)?|valid\s{0,3}(?:thru|through|until)|good\s{0,3}thru)\.?(?:\s{0,3}date)?\W{0,3}"
    r"(?:0?[1-9]|1[0-2])\s?[/\-. ]?\s?(?:20)?[0-9]{2}(?![0-9])"
    r"|(?<![0-9/\-])(?:0?[1-9]|1[0-2])\s?[/\-]\s?(?:20)?[0-9]{2}(?![0-9/\-])",
    re.IGNORECASE,
)
_CVV_RE = re.compile(
    r"\b(?:cvv2?|cvc2?|cvn|cid|csc|sec(?:urity)?\.?\s{0,3}code|card\s{0,3}code|verification\s{0,3}(?:code|number))"
    r"\W{0,3}(?:is\W{1,3})?[0-9]{3,4}(?![0-9])",
    re.IGNORECASE,
)


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


def _luhn_prefix_sums(digits: str) -> tuple[bytearray, bytearray]:
    """Prefix sums mod 10 for an O(1) Luhn check of any slice: sums[p][k] covers digits[:k], doubling the
    digits at even (p=0) or odd (p=1) positions. A slice [a, b) doubles the digits whose index has the
    parity of b (every second digit counted from its right end), so its Luhn sum is sums[b % 2][b] - [a]."""
    even, odd = bytearray(len(digits) + 1), bytearray(len(digits) + 1)
    for index, char in enumerate(digits):
        value = ord(char) - 48
        doubled = value * 2 - 9 if value > 4 else value * 2
        even[index + 1] = (even[index] + (doubled if index % 2 == 0 else value)) % 10
        odd[index + 1] = (odd[index] + (value if index % 2 == 0 else doubled)) % 10
    return even, odd


def _cards_in_run(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Spans of the cards in one run of digit groups: the most cards, then the most usual lengths.

    A dynamic programme over the groups; each group has at least one digit, so at most seven candidate
    cards (13-19 digits) end at any group, each checked in O(1): linear in the run's length.
    """
    groups = [m.span() for m in _GROUP_RE.finditer(text, start, end)]
    offsets = [0]  # digits before each group
    for group_start, group_end in groups:
        offsets.append(offsets[-1] + group_end - group_start)
    if offsets[-1] < _CARD_MIN:
        return []
    sums = _luhn_prefix_sums("".join(text[s:e] for s, e in groups))
    n = len(groups)
    best: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # per prefix of k groups: (cards, -rank sum)
    first_of: list[int] = [-1] * (n + 1)  # first group of the card ending at group k-1; -1: none chosen
    for k in range(1, n + 1):
        best[k] = best[k - 1]
        b = offsets[k]
        i = k - 1
        while i >= 0 and b - offsets[i] <= _CARD_MAX:
            a = offsets[i]
            if b - a >= _CARD_MIN and (sums[b % 2][b] - sums[b % 2][a]) % 10 == 0:
                option = (best[i][0] + 1, best[i][1] - _LENGTH_RANK[b - a])
                if option > best[k]:  # ties keep the earlier choice: a card ending sooner
                    best[k], first_of[k] = option, i
            i -= 1
    cards: list[tuple[int, int]] = []
    k = n
    while k > 0:
        if first_of[k] >= 0:
            cards.append((groups[first_of[k]][0], groups[k - 1][1]))
            k = first_of[k]
        else:
            k -= 1
    return cards[::-1]


def _scan(text: str) -> tuple[list[tuple[str, int, int]], list[tuple[int, int]]]:
    """(kind, start, end) of every card and SSN, and the spans whose digits are masked."""
    found: list[tuple[str, int, int]] = []
    masks: list[tuple[int, int]] = []
    for run in _RUN_RE.finditer(text):
        if run.end() - run.start() < _CARD_MIN:
            continue
        cards = _cards_in_run(text, *run.span())
        if cards:
            found.extend(("card", s, e) for s, e in cards)
            masks.append(run.span())  # the whole run: its other groups may be a CVV, an expiry, a quantity
    for match in _SSN_RE.finditer(text):
        start, end = match.span()
        masks.append((start, end))
        if not any(s < end and start < e for kind, s, e in found if kind == "card"):
            found.append(("ssn", start, end))
    if any(kind == "card" for kind, _, _ in found):
        for pattern in (_EXPIRY_RE, _CVV_RE):
            masks.extend(m.span() for m in pattern.finditer(text))
    return sorted(found, key=lambda span: span[1]), masks


def find_sensitive_spans(text: str | None) -> list[tuple[str, int, int]]:
    """(kind, start, end) of every card / SSN in ``text``, in order of position, never overlapping."""
    return _scan(text)[0] if text else []


def find_sensitive(text: str | None) -> list[str]:
    """The kinds of sensitive data in ``text`` ("card", "ssn"), each once, in order of first occurrence."""
    kinds: list[str] = []
    for kind, _, _ in find_sensitive_spans(text):
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def kinds_label(kinds: list[str]) -> str | None:
    """The value stored in messages.sensitive: "card", "ssn" or "card,ssn"; None when nothing was found."""
    return ",".join(sorted(set(kinds))) or None


def _apply_masks(text: str, found: list[tuple[str, int, int]], masks: list[tuple[int, int]]) -> str:
    # Digits only, one mask character each: separators, letters and the length stay, so spans line up.
    # The last four digits of each card and SSN are kept, whatever other span covers them.
    masked = bytearray(len(text))
    for start, end in masks:
        for i in range(start, end):
            if "0" <= text[i] <= "9":
                masked[i] = 1
    for _, start, end in found:
        kept = 0
        for i in range(end - 1, start - 1, -1):
            if kept == 4:
                break
            if "0" <= text[i] <= "9":
                masked[i] = 0
                kept += 1
    return "".join(MASK_CHAR if masked[i] else ch for i, ch in enumerate(text))


def redact(text: str | None) -> tuple[str, str | None]:
    """``text`` with every card / SSN masked but its last four digits (and, with a card, expiry dates,
    security codes and the rest of the card's digit run masked whole), and the kinds found (kinds_label).
    None gives ("", None); a text with nothing to redact comes back unchanged."""
    if not text:
        return text or "", None
    found, masks = _scan(text)
    if not found:
        return text, None
    return _apply_masks(text, found, masks), kinds_label([kind for kind, _, _ in found])


def mask_sensitive(text: str | None) -> str:
    """``text`` redacted as by ``redact``; None gives ""."""
    return redact(text)[0]


def mask_mentions(text: str | None, default_region: str = "US") -> str:
    """Free text quoting raw values (a rejected row's reason) with card numbers, SSNs and phone numbers masked."""
    return mask_phone_numbers(mask_sensitive(text), default_region)


def redact_reject(raw: str | None, reason: str, default_region: str = "US") -> tuple[str | None, str]:
    """A rejected row as stored: raw text without card numbers or SSNs (it stays the one raw export, phone
    numbers included) and its reason through ``mask_mentions``."""
    return (mask_sensitive(raw) if raw else raw), mask_mentions(reason, default_region)
