"""Phone / sender normalisation: real-log numbers load even when libphonenumber calls them invalid."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replyboard import phones
from replyboard.phones import (
    CHANNELS,
    E164_SQL_REGEX,
    mask_number,
    mask_phone_numbers,
    normalize_many,
    normalize_number,
)

GOLDEN: list[tuple[str | None, str, tuple[str | None, str, str | None]]] = [
    # Possible but not valid by metadata: they still load (fiction range, placeholders, Austrian numbers).
    ("+44 7700 900123", "US", ("+447700900123", "sms", None)),
    ("+447700900123", "GB", ("+447700900123", "sms", None)),
    ("(555) 010-0199", "US", ("+15550100199", "sms", None)),
    ("555.010.0199", "US", ("+15550100199", "sms", None)),
    ("1 555 010 0199", "US", ("+15550100199", "sms", None)),
    ("+18005550100", "US", ("+18005550100", "sms", None)),
    ("+19876543210", "US", ("+19876543210", "sms", None)),
    ("+43 6123 41234", "US", ("+43612341234", "sms", None)),
    ("+4312341234", "US", ("+4312341234", "sms", None)),
    ("0612341234", "AT", ("+43612341234", "sms", None)),
    ("  +15550100  ", "US", ("+15550100", "sms", None)),
    # Channels.
    ("whatsapp:+14155238886", "US", ("+14155238886", "whatsapp", None)),
    ("WhatsApp: +1 415 523 8886", "US", ("+14155238886", "whatsapp", None)),
    ("messenger:1234567890123456", "US", ("1234567890123456", "messenger", None)),
    ("sms:+15550100199", "US", ("+15550100199", "sms", None)),
    ("tel:+1-555-010-0199", "US", ("+15550100199", "sms", None)),
    # Short codes and alphanumeric sender ids are real senders: kept as written.
    ("22395", "US", ("22395", "sms", None)),
    ("whatsapp:22395", "US", ("22395", "whatsapp", None)),
    ("AMAZON", "US", ("AMAZON", "sms", None)),
    ("Uber", "US", ("Uber", "sms", None)),
    ("Uber Eats", "US", ("Uber Eats", "sms", None)),
]

REJECTED: list[tuple[str | None, str]] = [
    ("not-a-number", "sms"),
    ("", "sms"),
    ("   ", "sms"),
    (None, "sms"),
    ("+", "sms"),
    ("12", "sms"),
    ("++1 abc def ghi jkl", "sms"),
    ("abc def ghi jkl", "sms"),  # letters are not read as a vanity number
    ("AMAZONPRIME12", "sms"),  # 13 characters: too long for a sender id
    ("+0123456789", "sms"),
    ("555-0199", "sms"),  # no area code: "+15550199" would be invented
    ("whatsapp:", "whatsapp"),
    ("messenger:  ", "messenger"),
    ("whatsapp:not a number!", "whatsapp"),
]


@pytest.mark.parametrize(("raw", "region", "expected"), GOLDEN)
def test_golden(raw: str, region: str, expected: tuple[str | None, str, str | None]) -> None:
    assert normalize_number(raw, region) == expected


@pytest.mark.parametrize(("raw", "channel"), REJECTED)
def test_rejected_with_reason(raw: str | None, channel: str) -> None:
    normalized, got_channel, error = normalize_number(raw)
    assert normalized is None
    assert got_channel == channel
    assert error and len(error) < 120


def test_reason_names_the_value() -> None:
    assert normalize_number("not-a-number") == (
        None,
        "sms",
        "'not-a-number' is not a phone number, short code or sender id",
    )
    assert "empty" in (normalize_number("")[2] or "")


def test_fast_path_skips_phonenumbers() -> None:
    with mock.patch.object(phones.phonenumbers, "parse", side_effect=AssertionError("called")):
        assert normalize_number("+447700900123") == ("+447700900123", "sms", None)
        assert normalize_number("whatsapp:+14155238886") == ("+14155238886", "whatsapp", None)


def test_normalize_many_parses_each_distinct_value_once() -> None:
    values = ["+15550100199", "(555) 010-0199", None, "(555) 010-0199", "AMAZON", "not-a-number"] * 1000
    with mock.patch.object(phones.phonenumbers, "parse", wraps=phones.phonenumbers.parse) as parse:
        out = normalize_many(values, "US")
    assert parse.call_count == 1  # only "(555) 010-0199": E.164, sender ids and non-phone text skip it
    assert set(out) == {"+15550100199", "(555) 010-0199", None, "AMAZON", "not-a-number"}
    assert out["(555) 010-0199"] == ("+15550100199", "sms", None)
    assert out[None][0] is None


def test_mask_number() -> None:
    assert mask_number("+15550100199") == "•••0199"
    assert mask_number("+447700900123") == "•••0123"
    assert mask_number(None) == ""
    assert mask_number("") == ""
    assert mask_number("AMAZON") == "AMAZON"


# Rejected rows' reasons quote raw values (issue 11): phone numbers in them are masked, the rest kept.
MENTIONS = {
    "direction '+16465550100' is not inbound or outbound": "direction '•••0100' is not inbound or outbound",
    "contact_number: '555-0199' is a local number without an area code": (
        "contact_number: '•••0199' is a local number without an area code"
    ),
    "is_automated '(646) 555-0100' is not true or false": "is_automated '•••0100' is not true or false",
    "from '+44 7700 900123' and '6465550100'": "from '•••0123' and '•••0100'",
    "contact_number: '+1 646 555 01001234567' is not a phone number": "contact_number: '•••4567' is not a phone number",
    "direction 'abc+16465550100x'": "direction 'abc•••0100x'",
    # timestamps, counts and short numbers are not phone numbers
    "created_at '2026-08-02 10:00:00' has no UTC offset": "created_at '2026-08-02 10:00:00' has no UTC offset",
    "created_at '2026-08-02T10:00:00Z' is outside 2000-2100": "created_at '2026-08-02T10:00:00Z' is outside 2000-2100",
    "wrong column count (12 fields, the header has 11)": "wrong column count (12 fields, the header has 11)",
    "order 12345, short code 22395": "order 12345, short code 22395",
}


@pytest.mark.parametrize("text", list(MENTIONS))
def test_mask_phone_numbers_in_free_text(text: str) -> None:
    assert mask_phone_numbers(text) == MENTIONS[text]
    assert mask_phone_numbers(MENTIONS[text]) == MENTIONS[text]  # masking twice changes nothing


def test_mask_phone_numbers_uses_the_region_for_national_numbers() -> None:
    assert mask_phone_numbers("contact '020 7946 0958' unknown", "GB") == "contact '•••0958' unknown"
    assert mask_phone_numbers(None) == ""


@settings(max_examples=300)
@given(text=st.text(max_size=60), number=st.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True))
def test_an_e164_number_never_survives_in_free_text(text: str, number: str) -> None:
    masked = mask_phone_numbers(f"{text} '{number}' {text}")
    assert number not in masked and number[-7:] not in masked.replace("•", "")


def test_sql_regex_matches_python_fast_path() -> None:
    for value in ["+15550100199", "+447700900123", "+15550100"]:
        assert re.fullmatch(E164_SQL_REGEX, value)
    for value in ["15550100199", "+0123456", "+1555", "+1 555 010 0199", "+1234567890123456"]:
        assert not re.fullmatch(E164_SQL_REGEX, value)


def test_sql_regex_in_duckdb() -> None:
    duckdb = pytest.importorskip("duckdb")
    rows = duckdb.sql(
        f"SELECT v, regexp_full_match(v, '{E164_SQL_REGEX}') FROM (SELECT unnest(['+15550100199', "
        "'(555) 010-0199', '+15550100199x', '22395']) AS v)"
    ).fetchall()
    assert dict(rows) == {
        "+15550100199": True,
        "(555) 010-0199": False,
        "+15550100199x": False,
        "22395": False,
    }


phone_like = st.from_regex(r"(whatsapp:|tel:|sms:|messenger:)?\+?[0-9 ()\-.]{0,18}", fullmatch=True)
regions = st.sampled_from(["US", "GB", "AT", "DE", "IN", "FR"])


@settings(max_examples=500)
@given(raw=st.none() | st.text() | phone_like, region=regions)
def test_never_raises_and_result_is_consistent(raw: str | None, region: str) -> None:
    normalized, channel, error = normalize_number(raw, region)
    assert channel in CHANNELS
    assert (normalized is None) == (error is not None)
    if normalized is not None and normalized.startswith("+") and channel != "messenger":
        assert re.fullmatch(E164_SQL_REGEX, normalized)


@settings(max_examples=500)
@given(raw=st.text() | phone_like, region=regions)
def test_output_is_idempotent(raw: str, region: str) -> None:
    normalized, channel, _ = normalize_number(raw, region)
    if normalized is None:
        return
    prefix = "" if channel == "sms" else f"{channel}:"
    assert normalize_number(prefix + normalized, region) == (normalized, channel, None)
    assert normalize_number(normalized, region)[0] == normalized or channel == "messenger"
