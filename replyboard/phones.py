"""Normalise sender / recipient values from message logs: E.164 numbers, short codes, sender ids, channels.

A log records what happened, so a number loads when it is *possible* (right length for its country), even if
libphonenumber's metadata calls it invalid (+44 7700 900xxx fiction range, +1 555-01xx placeholders, some
Austrian numbers). Short codes ("22395") and alphanumeric sender ids ("AMAZON") are real senders and are
kept as written. Only values that cannot be any of these are rejected, with a reason.

``normalize_number`` returns ``(normalized, channel, error)``:

- channel: ``"sms"`` (default; also for ``sms:`` / ``tel:`` prefixes), ``"whatsapp"`` (``whatsapp:``),
  ``"messenger"`` (``messenger:``). Prefixes are case-insensitive.
- normalized: E.164 ("+15550100199"), the short code / sender id as written, the Messenger id, or None.
- error: None, or a short sentence saying why the value was rejected (normalized is then None).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

MASK_CHAR = "•"
CHANNELS: tuple[str, ...] = ("sms", "whatsapp", "messenger")

# Already E.164: returned without touching phonenumbers (the ETL's hot path). Same pattern for DuckDB.
E164_SQL_REGEX = r"^\+[1-9][0-9]{6,14}$"
_E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")  # used with fullmatch: "$" would accept a trailing newline
_SHORT_CODE_RE = re.compile(r"[0-9]{3,8}")
# Alphanumeric sender ids (Twilio/GSM rules): up to 11 ASCII letters, digits or spaces, at least one letter.
_SENDER_ID_RE = re.compile(r"(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11}")
# Characters people and systems use when writing a phone number; letters (vanity numbers) are not accepted
# because phonenumbers would turn any 3+ letter text into digits. One quantifier, so fullmatch is linear (the
# old "[...]*[0-9][...]*" backtracked quadratically on a long cell of digits ending in a letter); that a
# digit is present is checked apart.
_PHONE_CHARS_RE = re.compile(r"\+?[0-9 ()./\-]+")
_DIGIT_RE = re.compile(r"[0-9]")
_PREFIXES: dict[str, str] = {"whatsapp:": "whatsapp", "messenger:": "messenger", "sms:": "sms", "tel:": "sms"}
_MAX_SHOWN = 40


def _describe(raw: str) -> str:
    shown = raw if len(raw) <= _MAX_SHOWN else raw[: _MAX_SHOWN - 1] + "…"
    return repr(shown)


def _split_channel(text: str) -> tuple[str, str]:
    lowered = text[:10].lower()
    for prefix, channel in _PREFIXES.items():
        if lowered.startswith(prefix):
            return channel, text[len(prefix) :].strip()
    return "sms", text


def normalize_number(raw: str | None, default_region: str = "US") -> tuple[str | None, str, str | None]:
    """Normalise one From/To value to ``(normalized, channel, error)``; never raises.

    Order: strip whitespace; take a channel prefix off; Messenger ids are kept as the id; a value already in
    E.164 is returned as is; 3-8 digits are a short code and 1-11 letters/digits/spaces with a letter a
    sender id (both kept as written); anything else made of phone characters is parsed with ``phonenumbers``
    (``default_region`` when there is no "+") and accepted as E.164 when ``is_possible_number`` (not
    ``is_valid_number``); a number without "+" that is possible only locally (no area code) is rejected.
    """
    if raw is None:
        return None, "sms", "empty value: no phone number, short code or sender id"
    text = raw.strip()
    channel, value = _split_channel(text)
    if not value:
        if text:
            return None, channel, f"{_describe(text)} has a channel prefix but no number or id"
        return None, channel, "empty value: no phone number, short code or sender id"
    if channel == "messenger":
        return value, channel, None  # page-scoped ids are opaque strings
    if _E164_RE.fullmatch(value):
        return value, channel, None
    if _SHORT_CODE_RE.fullmatch(value) or _SENDER_ID_RE.fullmatch(value):
        return value, channel, None
    if _PHONE_CHARS_RE.fullmatch(value) and _DIGIT_RE.search(value):
        try:
            parsed = phonenumbers.parse(value, default_region)
        except phonenumbers.NumberParseException:
            parsed = None
        if parsed is not None and phonenumbers.is_possible_number(parsed):
            reason = phonenumbers.is_possible_number_with_reason(parsed)
            # "555-0199" is only dialable locally: turning it into "+15550199" would invent a number.
            if reason != phonenumbers.ValidationResult.IS_POSSIBLE and not value.startswith("+"):
                return None, channel, f"{_describe(text)} is a local number without an area code"
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            # Very short local numbers (Austria allows 4 digits) give "+430000": not a full E.164 number.
            if _E164_RE.fullmatch(e164):
                return e164, channel, None
    return None, channel, f"{_describe(text)} is not a phone number, short code or sender id"


GROUP_SEPARATOR = ","  # between the members of a group text's participant set (README "Group texts")
_GROUP_SPLIT_RE = re.compile(r"[,;]")


def normalize_participants(raw: str | None, default_region: str = "US") -> tuple[str | None, str, str | None]:
    """``normalize_number``, or for several numbers separated by commas or semicolons (a group text's other
    participants) their set: each normalised, duplicates dropped, sorted and joined with GROUP_SEPARATOR, so one
    set of people is one key whatever order a source lists them in (one number left is that number)."""
    if raw is None or not _GROUP_SPLIT_RE.search(raw):
        return normalize_number(raw, default_region)
    parts = [p for p in _GROUP_SPLIT_RE.split(raw) if p.strip()]
    if not parts:
        return None, "sms", f"{_describe(raw.strip())} is not a phone number, short code or sender id"
    results = [normalize_number(p, default_region) for p in parts]
    for normalized, channel, error in results:
        if normalized is None:
            return None, channel, f"a participant of the group: {error}"
    members = sorted({r[0] for r in results if r[0]})
    return GROUP_SEPARATOR.join(members), results[0][1], None


def is_group(contact: str | None) -> bool:
    return bool(contact) and GROUP_SEPARATOR in contact  # type: ignore[operator]


def normalize_many(
    values: Iterable[str | None], default_region: str = "US"
) -> dict[str | None, tuple[str | None, str, str | None]]:
    """``normalize_participants`` for each distinct value, as {raw: result}; each distinct value is parsed once."""
    results: dict[str | None, tuple[str | None, str, str | None]] = {}
    for value in values:
        if value not in results:
            results[value] = normalize_participants(value, default_region)
    return results


def mask_number(e164: str | None) -> str:
    """Mask all but the last four digits: "+15550100199" -> "•••0199"; None or "" -> "".

    The output is always three mask characters plus the last four digits, so the length does not reveal
    the country. Values with four or fewer digits (sender ids such as "AMAZON", tiny short codes) are not
    personal numbers and are returned unchanged.
    """
    if not e164:
        return ""
    if is_group(e164):  # a group text's participants: each masked
        return ", ".join(mask_number(member) for member in e164.split(GROUP_SEPARATOR))
    digits = [ch for ch in e164 if "0" <= ch <= "9"]
    if len(digits) <= 4:
        return e164
    return MASK_CHAR * 3 + "".join(digits[-4:])


# A "+" and 7+ digits with phone punctuation: an international number even when too long or too short to be
# a possible one (a typo is still someone's number), which PhoneNumberMatcher would leave as it is.
_INTERNATIONAL_RE = re.compile(r"\+[0-9][0-9 ()./\-]{5,}[0-9]")
_MIN_PHONE_DIGITS = 7


def mask_phone_numbers(text: str | None, default_region: str = "US") -> str:
    """Every phone number in free text (a rejected row's reason quoting a raw value) masked as ``mask_number``
    does, "+16465550100" -> "•••0100"; the rest of the text, timestamps included, is kept. None gives ""."""
    if not text or sum("0" <= ch <= "9" for ch in text) < _MIN_PHONE_DIGITS:
        return text or ""  # the common case, and text this function already masked
    matcher = phonenumbers.PhoneNumberMatcher(text, default_region, leniency=phonenumbers.Leniency.POSSIBLE)
    spans = [(match.start, match.end) for match in matcher]
    for match in _INTERNATIONAL_RE.finditer(text):
        start, end = match.span()
        digits = sum("0" <= ch <= "9" for ch in match.group())
        if digits >= _MIN_PHONE_DIGITS and not any(s < end and start < e for s, e in spans):
            spans.append((start, end))
    parts: list[str] = []
    position = 0
    for start, end in sorted(spans):
        parts.append(text[position:start])
        parts.append(mask_number(text[start:end]))
        position = end
    parts.append(text[position:])
    return "".join(parts)
