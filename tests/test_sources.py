"""Source adapters: OpenPhone REST + webhooks, Twilio API + console CSV, SMS Backup & Restore XML, mapped CSV.

Real samples are copies in tests/fixtures (see README there); *_handmade.* files hold the oddities no public
sample shows. Tests never read /work/shared.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from etl.sources import mapped_csv, openphone, sms_backup, twilio
from etl.sources.base import MESSAGE_COLUMNS, SourceError, SourceFrame
from etl.sources.detect import detect_kind
from etl.sources.registry import ADAPTERS
from replyboard.settings import Settings

FIX = Path(__file__).resolve().parent / "fixtures"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_MAPPING = ROOT / "etl" / "sources" / "mappings" / "example_helpdesk.yaml"
WEBHOOK_EXAMPLES = FIX / "openphone_quo_webhook_payload_examples.json"
OPENPHONE_SCHEMA = FIX / "quo_openphone_messages_calls_conversations_schema_excerpt.json"
TWILIO_FIXTURES = FIX / "twilio_python_test_message_fixtures.json"
TWILIO_HEADER_NOTE = FIX / "twilio_console_message_log_csv_export_header.md"
TWILIO_CSV = FIX / "twilio_console_export_handmade.csv"
MEMACS_XML = FIX / "sms_backup_restore_sample_memacs.xml"
SMS_HANDMADE = FIX / "sms_backup_handmade.xml"
OP_API = FIX / "openphone_api_messages_handmade.json"
OP_HOOKS = FIX / "openphone_webhooks_handmade.jsonl"
HELPDESK = FIX / "helpdesk_export_handmade.csv"
CANONICAL_MESSAGES = FIX / "canonical" / "golden_messages.csv"

EXPECTED_SCHEMA = {**{c: pl.String for c in MESSAGE_COLUMNS}, "source_line": pl.Int64}


def plain() -> Settings:
    return Settings()


def with_lines(*lines: tuple[str, str | None], **kw: Any) -> Settings:
    return Settings(lines=[{"number": n, "name": f"line {i}", "source_id": s} for i, (n, s) in enumerate(lines)], **kw)


def by_id(frame: SourceFrame, column: str = "message_id") -> dict[str, dict[str, Any]]:
    table = frame.messages if column == "message_id" else frame.calls
    assert table is not None
    return {row[column]: row for row in table.to_dicts()}


def reasons(frame: SourceFrame) -> dict[int | None, str]:
    return {r.line: r.reason for r in frame.rejects}


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def webhook_events() -> list[dict[str, Any]]:
    """All 14 real payloads of the examples file, in file order, as one array."""
    groups = json.loads(WEBHOOK_EXAMPLES.read_text(encoding="utf-8"))
    return [event for key, events in groups.items() if key != "_provenance" for event in events]


def twilio_body(name: str) -> dict[str, Any]:
    return json.loads(TWILIO_FIXTURES.read_text(encoding="utf-8"))[name]["body"]


def assert_schema(frame: SourceFrame) -> None:
    assert frame.messages is not None
    assert dict(frame.messages.schema) == EXPECTED_SCHEMA


# ---------------------------------------------------------------------------------------------- detection


def test_detect_each_kind(tmp_path: Path) -> None:
    twilio_page = write_json(tmp_path / "page.json", twilio_body("test_read_full_page1_response"))
    hooks = write_json(tmp_path / "hooks.json", webhook_events())
    assert detect_kind(OP_API) == "openphone_api"
    assert detect_kind(OP_HOOKS) == "openphone_webhook"
    assert detect_kind(hooks) == "openphone_webhook"
    assert detect_kind(twilio_page) == "twilio_api"
    assert detect_kind(TWILIO_CSV) == "twilio_csv"
    assert detect_kind(MEMACS_XML) == "sms_backup_xml"
    assert detect_kind(SMS_HANDMADE) == "sms_backup_xml"


def test_detect_sniffs_content_not_extension(tmp_path: Path) -> None:
    pairs = {"a.txt": TWILIO_CSV, "b.csv": OP_HOOKS, "c.xml": OP_API, "d.json": MEMACS_XML}
    expected = {
        "a.txt": "twilio_csv",
        "b.csv": "openphone_webhook",
        "c.xml": "openphone_api",
        "d.json": "sms_backup_xml",
    }
    for name, source in pairs.items():
        shutil.copyfile(source, tmp_path / name)
        assert detect_kind(tmp_path / name) == expected[name]


def test_detect_single_objects_and_empty_pages(tmp_path: Path) -> None:
    single_hook = write_json(tmp_path / "one.json", webhook_events()[8])
    single_twilio = write_json(tmp_path / "sm.json", twilio_body("test_fetch_response"))
    empty_twilio = write_json(tmp_path / "e.json", twilio_body("test_read_empty_sentdate_less_response"))
    empty_openphone = write_json(tmp_path / "o.json", {"data": [], "totalItems": 0, "nextPageToken": None})
    assert detect_kind(single_hook) == "openphone_webhook"
    assert detect_kind(single_twilio) == "twilio_api"
    assert detect_kind(empty_twilio) == "twilio_api"
    assert detect_kind(empty_openphone) == "openphone_api"
    assert ADAPTERS["twilio_api"](empty_twilio, plain()).messages.height == 0
    assert ADAPTERS["openphone_api"](empty_openphone, plain()).rows_read == 0


def test_detect_returns_none_for_what_it_does_not_know(tmp_path: Path) -> None:
    """Canonical CSVs are left to the lead's header detector; mapped CSVs need --mapping."""
    assert detect_kind(CANONICAL_MESSAGES) is None
    assert detect_kind(HELPDESK) is None
    assert detect_kind(FIX / "sms_backup_calls_handmade.xml") is None
    assert detect_kind(WEBHOOK_EXAMPLES) is None  # the curated collection itself is no vendor format
    assert detect_kind(write_json(tmp_path / "x.json", {"hello": "world"})) is None
    (tmp_path / "blank.csv").write_text("", encoding="utf-8")
    assert detect_kind(tmp_path / "blank.csv") is None


def test_detect_raises_only_for_unreadable_or_broken_json(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        detect_kind(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"data": [{"id": "AC1", "direction": "incoming",}\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"broken\.json: not valid JSON .* line 1 column"):
        detect_kind(broken)


def test_adapters_table() -> None:
    assert set(ADAPTERS) == {
        "openphone_api",
        "openphone_webhook",
        "twilio_api",
        "twilio_webhook",
        "twilio_csv",
        "sms_backup_xml",
        "mapped_csv",
    }


# ---------------------------------------------------------------------------------------- OpenPhone REST


def test_openphone_rest_page() -> None:
    settings = with_lines(("+15550100100", "PNsupport01"), ("+15550100999", "PNsales02"))
    frame = openphone.read_api(OP_API, settings)
    assert_schema(frame)
    assert frame.kind == "openphone_api"
    assert frame.rows_read == 7
    rows = by_id(frame)
    assert set(rows) == {"AC0001", "AC0002", "AC0003", "AC0005"}
    incoming = rows["AC0001"]
    assert (incoming["direction"], incoming["line_number"], incoming["contact_number"]) == (
        "inbound",
        "+15550100100",
        "+15550100201",
    )
    assert incoming["agent_id"] is None and incoming["is_automated"] == "false"
    assert incoming["conversation_id"] is None  # the REST API has no conversation id
    assert incoming["created_at"] == "2026-03-02T14:00:00Z"
    # the same id twice (overlapping pages): one row, the newer status, the newer record's position
    assert rows["AC0002"]["status"] == "delivered" and rows["AC0002"]["source_line"] == 7
    assert rows["AC0002"]["agent_id"] == "USalice01" and rows["AC0002"]["is_automated"] == "false"
    # outgoing with no userId: automated, no agent
    assert rows["AC0003"]["is_automated"] == "true" and rows["AC0003"]["agent_id"] is None
    # our number missing from `to`: found through phoneNumberId -> settings.lines source_id
    assert rows["AC0005"]["line_number"] == "+15550100999"
    assert reasons(frame) == {4: "record is a JSON int, not an object", 5: "no direction; no createdAt"}


def test_openphone_rest_unmapped_phone_number_id_is_rejected_with_reason() -> None:
    frame = openphone.read_api(OP_API, plain())
    assert "AC0005" not in by_id(frame)
    assert reasons(frame)[6] == (
        "no line number: 'to' is empty and phoneNumberId 'PNsales02' is not a source_id in settings.lines"
    )


def _schema_example(schema: dict[str, Any]) -> dict[str, Any]:
    """A record built from the `examples` of every property of an OpenAPI object schema."""
    out: dict[str, Any] = {}
    for name, prop in schema["properties"].items():
        options = prop.get("anyOf", [prop])
        example = next((o["examples"][0] for o in options if o.get("examples")), None)
        if prop.get("type") == "array":
            example = [prop["items"]["examples"][0]]
        out[name] = example
    return out


def test_openphone_rest_shapes_from_the_real_schema(tmp_path: Path) -> None:
    spec = json.loads(OPENPHONE_SCHEMA.read_text(encoding="utf-8"))
    item = spec["GET /v1/messages"]["responses"]["200"]["properties"]["data"]["items"]
    message = _schema_example(item)
    assert set(item["required"]) <= set(message)
    outgoing = {**message, "id": "AC456def", "direction": "outgoing", "to": ["+15555550123"]}
    settings = with_lines(("+15555555555", "PN123abc"))
    # a JSON Lines file of bare messages, a GET-by-id body and a plain array all load
    lines = tmp_path / "m.jsonl"
    lines.write_text(json.dumps(message) + "\n\n" + json.dumps(outgoing) + "\n", encoding="utf-8")
    frame = openphone.read_api(lines, settings)
    rows = by_id(frame)
    assert rows["AC123abc"]["source_line"] == 1 and rows["AC456def"]["source_line"] == 3
    assert rows["AC456def"]["agent_id"] == "US123abc" and rows["AC456def"]["contact_number"] == "+15555550123"
    assert rows["AC123abc"]["agent_id"] is None  # userId on incoming is not who answered
    single = openphone.read_api(write_json(tmp_path / "one.json", {"data": message}), settings)
    assert single.messages.height == 1 and single.rows_read == 1
    array = openphone.read_api(write_json(tmp_path / "arr.json", [message, outgoing]), settings)
    assert array.messages.height == 2
    # GET /v1/calls page: loaded as calls (participants + phoneNumberId, no from/to)
    call_item = spec["GET /v1/calls"]["responses"]["200"]["properties"]["data"]["items"]
    call = _schema_example(call_item)
    assert call["participants"] == ["+15555555555"]
    call["participants"] = ["+15555550123"]
    calls = openphone.read_api(
        write_json(tmp_path / "calls.json", {"data": [call], "nextPageToken": None}),
        with_lines(("+15555555555", call["phoneNumberId"])),
    )
    assert calls.messages.height == 0 and calls.rejects == []
    row = by_id(calls, "call_id")[call["id"]]
    assert row["line_number"] == "+15555555555" and row["contact_number"] == "+15555550123"
    assert row["duration_seconds"] == str(call["duration"]) and row["created_at"] == "2022-01-01T00:00:00Z"


def test_openphone_rest_wrong_kind_and_broken_file(tmp_path: Path) -> None:
    with pytest.raises(
        SourceError,
        match=r"openphone_webhooks_handmade\.jsonl: looks like OpenPhone webhook "
        r"events, not OpenPhone REST API messages",
    ):
        openphone.read_api(OP_HOOKS, plain())
    with pytest.raises(SourceError, match="looks like a Twilio console messaging-log CSV"):
        openphone.read_api(TWILIO_CSV, plain())
    broken = tmp_path / "broken.json"
    broken.write_text('[{"id": "AC1"}, {"id": ', encoding="utf-8")
    with pytest.raises(SourceError, match=r"broken\.json: not valid JSON"):
        openphone.read_api(broken, plain())
    (tmp_path / "empty.json").write_text("  \n", encoding="utf-8")
    with pytest.raises(SourceError, match="file is empty"):
        openphone.read_api(tmp_path / "empty.json", plain())


# ------------------------------------------------------------------------------------ OpenPhone webhooks


def test_openphone_webhooks_real_samples(tmp_path: Path) -> None:
    path = write_json(tmp_path / "hooks.json", webhook_events())
    frame = openphone.read_webhook(path, plain())
    assert_schema(frame)
    assert frame.rows_read == 14
    rows = by_id(frame)
    # AC24a8... appears as a v4 doc sample and a v2 legacy sample with the same event time: one message,
    # the later record wins field by field (v2 `body` and v4 `text` are the same field)
    assert set(rows) == {
        "AC24a8b8321c4f4cf2be110f4250793d51",
        "ACcdcc2668c4134c3cbfdacb9e273cac6f",
        "ACdab71744ad3a4414a584fd45d61b80f2",
    }
    received = rows["AC24a8b8321c4f4cf2be110f4250793d51"]
    assert received["body"] == "af" and received["line_number"] == "+18885550101"
    assert received["contact_number"] == "+18005550100" and received["agent_id"] is None
    assert received["conversation_id"] == "CN78ba0373683c48fd8fd96bc836c51f79"
    delivered = rows["ACcdcc2668c4134c3cbfdacb9e273cac6f"]
    assert (delivered["direction"], delivered["line_number"], delivered["contact_number"]) == (
        "outbound",
        "+18005550100",
        "+18885550101",
    )
    assert delivered["agent_id"] == "USu5AsEHuQ" and delivered["status"] == "delivered"
    assert delivered["created_at"] == "2022-01-23T17:05:45.195Z"
    # v3 capture: `to` is ONE comma-joined string of five numbers -> one row, first number as our line; a group
    # text: its contact is every other participant, the sender first (etl.validate sorts them into one key)
    group = rows["ACdab71744ad3a4414a584fd45d61b80f2"]
    assert group["line_number"] == "+15032601493"
    assert group["contact_number"] == "+12243068171,+15036576960,+15039665948,+15039990213,+15093611926"
    assert group["body"].startswith("While going about your daily activities")
    # call.* events are calls, merged per call id; the latest event (recording.completed) wins
    calls = by_id(frame, "call_id")
    assert set(calls) == {"ACbaee66e137f0467dbed5ad4bc8d60800"}
    call = calls["ACbaee66e137f0467dbed5ad4bc8d60800"]
    assert call["status"] == "completed" and call["direction"] == "inbound"
    assert call["duration_seconds"] == "10" and call["agent_id"] == "USu5AsEHuQ"
    # summaries/transcripts: neither rows nor rejects; records with blank ids and the v4 call whose line is
    # only a phoneNumberId: rejects with reasons
    assert sorted(reasons(frame)) == [1, 11, 12, 13, 14]
    assert "phoneNumberId 'PN1ZmRMzlx' is not a source_id" in reasons(frame)[1]
    assert reasons(frame)[11].startswith("no message id ('id')")
    assert reasons(frame)[12] == "no call id ('id')"


def test_openphone_webhook_settings_pick_the_line(tmp_path: Path) -> None:
    settings = with_lines(("+15039665948", "PNzT5bK17C"), ("+15550100100", "PN1ZmRMzlx"))
    frame = openphone.read_webhook(write_json(tmp_path / "hooks.json", webhook_events()), settings)
    assert by_id(frame)["ACdab71744ad3a4414a584fd45d61b80f2"]["line_number"] == "+15039665948"
    # v4 call: no from/to, only participants (the other side) and phoneNumberId (our line)
    v4_call = by_id(frame, "call_id")["ACsXlF0"]
    assert (v4_call["line_number"], v4_call["contact_number"]) == ("+15550100100", "+15555555555")
    assert (v4_call["direction"], v4_call["agent_id"], v4_call["duration_seconds"]) == ("outbound", "USlHhXmRMz", "60")
    assert 1 not in reasons(frame)


def test_openphone_webhook_single_payload_file(tmp_path: Path) -> None:
    frame = openphone.read_webhook(write_json(tmp_path / "one.json", webhook_events()[8]), plain())
    assert frame.rows_read == 1 and frame.messages.height == 1 and frame.rejects == []
    assert frame.calls is None


def test_openphone_webhook_oddities() -> None:
    settings = with_lines(("+15550100100", "PNsupport01"))
    frame = openphone.read_webhook(OP_HOOKS, settings)
    assert frame.rows_read == 8
    rows = by_id(frame)
    # message.received and message.delivered of one id: ONE row, latest status by event time (the
    # delivered event comes first in the file but is newer)
    assert list(frame.messages["message_id"]).count("ACdup") == 1
    assert rows["ACdup"]["status"] == "delivered" and rows["ACdup"]["source_line"] == 1
    # comma-joined `to`: our configured line is picked out of the three numbers
    assert rows["ACgroup"]["line_number"] == "+15550100100"
    assert rows["ACgroup"]["contact_number"] == "+15550100209,+15550100301,+15550100302"  # the group's others
    assert frame.calls is not None and frame.calls.height == 1
    call = frame.calls.row(0, named=True)
    assert call["duration_seconds"] == "120" and call["agent_id"] == "USalice01"
    assert reasons(frame) == {
        4: "not valid JSON (Expecting ',' delimiter at column 101)",
        7: "event type 'contact.updated' is not a message or call event",
        8: "record is a JSON int, not an object",
    }


def test_openphone_webhook_wrong_kind() -> None:
    with pytest.raises(SourceError, match="looks like OpenPhone REST API messages, not OpenPhone webhook events"):
        openphone.read_webhook(OP_API, plain())
    with pytest.raises(SourceError, match="looks like an SMS Backup & Restore XML backup"):
        openphone.read_webhook(MEMACS_XML, plain())


# ------------------------------------------------------------------------------------------ Twilio API


def test_twilio_api_every_real_fixture_loads_or_rejects_with_reason(tmp_path: Path) -> None:
    bodies = json.loads(TWILIO_FIXTURES.read_text(encoding="utf-8"))
    loaded = rejected = 0
    for name, item in bodies.items():
        path = write_json(tmp_path / f"{name}.json", item["body"])
        assert detect_kind(path) == "twilio_api", name
        frame = twilio.read_api(path, plain())
        assert_schema(frame)
        loaded += frame.messages.height
        rejected += len(frame.rejects)
        for r in frame.rejects:  # only messages sent through a Messaging Service lack a `from`
            assert "sent through messaging service 'MG" in r.reason
    assert (loaded, rejected) == (7, 5)


def test_twilio_api_list_page(tmp_path: Path) -> None:
    frame = twilio.read_api(write_json(tmp_path / "p.json", twilio_body("test_read_full_page1_response")), plain())
    assert frame.rows_read == 2
    rows = by_id(frame)
    out = rows["SMded05904ccb347238880ca9264e8fe1c"]
    assert (out["direction"], out["line_number"], out["contact_number"]) == ("outbound", "+12019235161", "+18182008801")
    assert out["created_at"] == "2019-05-24T17:44:50Z"  # date_sent, RFC 2822 -> ISO UTC
    assert out["agent_id"] is None and out["is_automated"] == "false" and out["conversation_id"] is None
    inbound = rows["MMc26223853f8c46b4ab7dfaa6abba0a26"]
    assert (inbound["direction"], inbound["line_number"], inbound["contact_number"]) == (
        "inbound",
        "+18182008801",
        "+12019235161",
    )
    assert inbound["status"] == "received" and inbound["body"] == "look mom I have media!"
    assert [r["source_line"] for r in frame.messages.to_dicts()] == [1, 2]
    assert "price" not in frame.messages.columns  # the negative price string is ignored, not an error


def test_twilio_api_oddities(tmp_path: Path) -> None:
    redacted = twilio.read_api(write_json(tmp_path / "r.json", twilio_body("test_redact_body_response")), plain())
    assert redacted.messages["body"].to_list() == [""]  # redacted body: row kept, body ""
    emoji = twilio.read_api(write_json(tmp_path / "e.json", twilio_body("test_create_response")), plain())
    assert emoji.messages["body"].to_list() == ["Hello! 👍"]
    queued = twilio.read_api(
        write_json(tmp_path / "q.json", twilio_body("test_create_with_queued_status_response")), plain()
    )
    assert queued.messages["status"].to_list() == ["queued"]
    # scheduled WhatsApp message: no from (Messaging Service), no date_sent
    settings = with_lines(
        ("whatsapp:+14155238886", "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("+15550100100", "MGdeadbeefdeadbeefdeadbeefdeadbeef"),
    )
    path = write_json(tmp_path / "w.json", twilio_body("test_create_scheduled_message_whatsapp_response"))
    row = twilio.read_api(path, settings).messages.row(0, named=True)
    assert row["contact_number"] == "whatsapp:+15558675310"  # raw, the validator strips the prefix
    assert row["channel"] == "whatsapp" and row["status"] == "scheduled"
    assert row["created_at"] == "2021-11-29T22:40:10Z"  # date_created: date_sent is null
    canceled = twilio.read_api(
        write_json(tmp_path / "c.json", twilio_body("test_cancel_message_response")), settings
    ).messages.row(0, named=True)
    assert canceled["status"] == "canceled" and canceled["line_number"] == "+15550100100"


def test_twilio_api_automation(tmp_path: Path) -> None:
    base = twilio_body("test_fetch_response")
    records = [
        {**base, "sid": "SM1", "direction": "outbound-api"},
        {**base, "sid": "SM2", "direction": "outbound-reply"},
        {**base, "sid": "SM3", "direction": "outbound-call", "body": "We're closed right now, back at 9"},
        {**base, "sid": "SM4", "direction": "inbound"},
    ]
    frame = twilio.read_api(write_json(tmp_path / "a.json", records), plain())
    flags = {r["message_id"]: r["is_automated"] for r in frame.messages.to_dicts()}
    # only what Twilio itself says (outbound-reply); templates and automation numbers are applied in
    # etl.derive (tests/test_sources_load.py::test_automation_rules_apply_in_derive_for_every_source)
    assert flags == {"SM1": "false", "SM2": "true", "SM3": "false", "SM4": "false"}
    assert frame.messages["agent_id"].null_count() == 4


def test_twilio_api_broken_record_loads_the_rest(tmp_path: Path) -> None:
    good = twilio_body("test_fetch_response")
    page = {
        "messages": [
            good,
            7,
            {"sid": "SMbad", "direction": "outbound-api"},
            {**good, "sid": "SMdate", "date_sent": "last Tuesday"},
        ],
        "page_size": 4,
    }
    frame = twilio.read_api(write_json(tmp_path / "p.json", page), plain())
    assert frame.rows_read == 4 and frame.messages.height == 1
    assert reasons(frame) == {
        2: "record is a JSON int, not an object",
        3: "date_created is empty; no line number: 'from' is empty; no contact number: 'to' is empty",
        4: "date_sent 'last Tuesday' is not a date this loader understands "
        "(expected e.g. Thu, 30 Jul 2015 20:12:31 +0000)",
    }


def test_twilio_api_json_lines_with_iso_dates(tmp_path: Path) -> None:
    """Bulk Export "Day" files: one message per line, ISO 8601 UTC dates."""
    base = {
        "account_sid": "ACx",
        "from": "+14155550123",
        "to": "+14155550100",
        "body": "hi",
        "status": "received",
        "direction": "inbound",
        "num_segments": "1",
    }
    lines = [
        json.dumps({**base, "sid": "SMa", "date_sent": "2024-01-15T14:23:05Z"}),
        "{not json",
        json.dumps({**base, "sid": "SMb", "date_sent": "2024-01-15T14:24:05.5Z"}),
    ]
    path = tmp_path / "day.json"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert detect_kind(path) == "twilio_api"
    frame = twilio.read_api(path, plain())
    assert frame.messages["created_at"].to_list() == ["2024-01-15T14:23:05Z", "2024-01-15T14:24:05.500Z"]
    assert frame.messages["source_line"].to_list() == [1, 3]
    assert list(reasons(frame)) == [2]


def test_twilio_api_wrong_kind() -> None:
    with pytest.raises(SourceError, match="looks like OpenPhone REST API messages, not Twilio Messages API JSON"):
        twilio.read_api(OP_API, plain())


# ----------------------------------------------------------------------------------------- Twilio CSV


def test_twilio_csv_header_is_the_attested_one() -> None:
    note = TWILIO_HEADER_NOTE.read_text(encoding="utf-8")
    attested = re.search(r"^\s+(From,To,Body,\S+)$", note, re.MULTILINE).group(1)
    assert TWILIO_CSV.read_text(encoding="utf-8").splitlines()[0] == attested


def test_twilio_csv_handmade_export() -> None:
    frame = twilio.read_csv(TWILIO_CSV, plain())
    assert_schema(frame)
    assert frame.kind == "twilio_csv"
    assert frame.rows_read == 12  # the blank line is not a record
    rows = by_id(frame)
    assert len(rows) == 9
    created = {k[-2:]: v["created_at"] for k, v in rows.items()}
    assert created == {
        "01": "2024-01-15T14:23:05Z",  # ISO with Z
        "02": "2024-01-15T14:25:10",  # naive: the validator reads it in the team timezone
        "03": "2024-01-15T14:30:00Z",  # RFC 2822
        "04": "2024-01-15T14:35:05",  # US 24-hour (date_order MDY: default_region US), naive
        "05": "2024-01-15T14:40:05",  # US 12-hour, naive
        "06": "2024-01-15T14:45:05.250Z",  # offset + fraction
        "07": "2024-01-15T14:50:05.123456",  # naive with microseconds
        "11": "2024-01-15T15:10:00Z",  # trailing UTC
        "12": "2024-01-16T09:05:00",  # "1/16/2024, 9:05 AM", naive
    }
    line = {k[-2:]: v["source_line"] for k, v in rows.items()}
    assert line["05"] == 6 and line["06"] == 8 and line["11"] == 14  # multi-line body, blank line
    assert rows["SM00000000000000000000000000000005"]["body"] == "Line one\nline two, still the same body"
    automated = {k[-2:]: v["is_automated"] for k, v in rows.items() if v["direction"] == "outbound"}
    assert automated == {  # outbound-reply only: the templates ("03", "11") are applied in etl.derive
        "02": "false",
        "03": "false",
        "04": "true",
        "06": "false",
        "07": "false",
        "11": "false",
        "12": "false",
    }
    assert rows["SM00000000000000000000000000000006"]["body"] == ""
    whatsapp = rows["SM00000000000000000000000000000007"]
    assert whatsapp["line_number"] == "whatsapp:+14155238886" and whatsapp["channel"] == "whatsapp"
    assert rows["SM00000000000000000000000000000011"]["status"] == "undelivered"
    assert reasons(frame) == {
        10: "SentDate 'yesterday afternoon' is not a date this loader understands (expected e.g. 2024-01-15T14:23:05Z)",
        11: "has 12 fields but the header has 13",
        # day first: read month first (date_order MDY) it has no month 15, and it is never swapped
        12: "SentDate '15/01/2024 14:23:05' is not a valid month/day/year date (date_order MDY); read day/month/year "
        "it would be 15 January 2024, so the file may write dates in another order: set date_order to DMY if it does",
    }


def test_twilio_csv_older_column_order(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        "Body,Status,SentDate,ApiVersion,NumSegments,AccountSid,Sid,Direction,From,To,Price,PriceUnit\n"
        "hello,received,2024-01-15 14:23:05,2010-04-01,1,ACx,SMold,inbound,+14155550123,+14155550100,-0.0079,USD\n",
        encoding="utf-8",
    )
    assert detect_kind(path) == "twilio_csv"
    row = twilio.read_csv(path, plain()).messages.row(0, named=True)
    assert row["line_number"] == "+14155550100" and row["created_at"] == "2024-01-15T14:23:05"  # naive


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T14:23:05Z", "2024-01-15T14:23:05Z"),
        ("2024-01-15T14:23:05+0000", "2024-01-15T14:23:05Z"),
        ("2024-01-15 14:23:05", "2024-01-15T14:23:05"),  # naive stays naive (the team timezone's, at validation)
        ("2024-01-15 14:23", "2024-01-15T14:23:00"),
        ("2024-01-15T16:23:05.5+02:00", "2024-01-15T14:23:05.500Z"),
        ("2019-06-11 22:05:25.000", "2019-06-11T22:05:25"),
        ("Mon, 15 Jan 2024 14:23:05 +0000", "2024-01-15T14:23:05Z"),
        ("Wed, 19 Jun 2019 22:04:00 -0000", "2019-06-19T22:04:00Z"),
        ("Thu, 30 Jul 2015 20:12:31 GMT", "2015-07-30T20:12:31Z"),
        ("01/15/2024 14:23:05", "2024-01-15T14:23:05"),
        ("1/15/2024 2:23:05 PM", "2024-01-15T14:23:05"),
        ("1/15/2024 12:00:00 AM", "2024-01-15T00:00:00"),
        ("01/15/2024 14:23:05.250", "2024-01-15T14:23:05.250"),
        ("01/15/2024 14:23:05 -0500", "2024-01-15T19:23:05Z"),
        ("06/11/2019 22:05:25 MST", "2019-06-12T05:05:25Z"),
        ("2024-01-15 09:23:05 EST", "2024-01-15T14:23:05Z"),
    ],
)
def test_twilio_dates_accepted(text: str, expected: str) -> None:
    assert twilio.to_utc_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "15/01/2024 14:23:05",
        "2024-01-15",
        "2024-13-01 00:00:00",
        "1/15/2024 13:00 PM",
        "2024-01-15 14:23:05 CET",
        "2024-01-15T14:23:05Z UTC",
        "32 Jan 2024 10:00:00 +0000",
        "1705328585",
    ],
)
def test_twilio_dates_refused(text: str) -> None:
    assert twilio.to_utc_text(text) is None


def test_twilio_csv_wrong_kind() -> None:
    with pytest.raises(
        SourceError,
        match=r"golden_messages\.csv: looks like a Replyboard messages CSV, not a "
        r"Twilio console messaging-log CSV",
    ):
        twilio.read_csv(CANONICAL_MESSAGES, plain())
    with pytest.raises(
        SourceError,
        match=r"helpdesk_export_handmade\.csv: not a Twilio console messaging-log "
        r"CSV \(not a format Replyboard knows\)",
    ):
        twilio.read_csv(HELPDESK, plain())


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("message_id,created_at,body", "messages"),  # the id column, not every required column
        ("Agent_ID,Name", "agents"),  # no team column; names are matched without case
        ("response_id,survey,reply_text", "surveys"),
        ("line_number,name", "lines"),
        ("message_id,agent_id,line_number", "messages"),  # a messages file holds the other kinds' ids too
    ],
)
def test_one_rule_names_a_canonical_csv_for_the_load_and_for_errors(tmp_path: Path, header: str, kind: str) -> None:
    """The loader's choice of kind and the "looks like" of an adapter's error come from one rule
    (etl.canonical.detect_canonical), so a file is never loaded as one kind and described as another."""
    from etl.load import detect_kind as load_kind

    path = tmp_path / "file.csv"
    path.write_text(f"{header}\nx,y,z\n", encoding="utf-8")
    assert load_kind(path) == kind
    with pytest.raises(SourceError, match=rf"file\.csv: looks like a Replyboard {kind} CSV, not a Twilio console"):
        twilio.read_csv(path, plain())


# ---------------------------------------------------------------------------------- SMS Backup & Restore


def test_sms_backup_real_sample() -> None:
    frame = sms_backup.read(MEMACS_XML, plain())
    assert_schema(frame)
    assert frame.rows_read == 4 and frame.rejects == []
    rows = frame.messages.to_dicts()
    assert [r["direction"] for r in rows] == ["inbound", "outbound", "outbound", "outbound"]
    assert rows[0]["created_at"] == "2011-08-04T10:05:53Z"  # 1312452353000 ms
    assert rows[1]["created_at"] == "2011-08-04T16:04:55.759Z"
    assert {r["line_number"] for r in rows} == {"device"}
    assert [r["agent_id"] for r in rows] == [None, "device-owner", "device-owner", "device-owner"]
    assert rows[0]["contact_number"] == "+436812314123" and rows[0]["body"] == "did you see the new sms memacs module?"
    assert all(r["message_id"].startswith("smsbr-") for r in rows)
    again = sms_backup.read(MEMACS_XML, plain())
    assert again.messages["message_id"].to_list() == frame.messages["message_id"].to_list()  # stable ids
    assert len(set(frame.messages["message_id"])) == 4
    configured = sms_backup.read(MEMACS_XML, with_lines(("+436641234567", None)))
    assert set(configured.messages["line_number"]) == {"+436641234567"}
    explicit = sms_backup.read(MEMACS_XML, plain(), line_number="+436640000000")
    assert set(explicit.messages["line_number"]) == {"+436640000000"}


def test_sms_backup_oddities() -> None:
    frame = sms_backup.read(SMS_HANDMADE, plain())
    assert frame.rows_read == 9
    assert reasons(frame) == {
        3: "type 3 (draft) is not a sent or received message",
        4: "type 5 (failed) is not a sent or received message",
        5: "date 'yesterday' is not epoch milliseconds",
        6: "no address (contact number)",
    }
    rows = {r["source_line"]: r for r in frame.messages.to_dicts()}
    assert rows[1]["body"] == "Is the shop open today? 😀"  # surrogate-pair references joined
    assert rows[2]["status"] == "delivered" and rows[7]["status"] == "failed"
    assert rows[7]["is_automated"] == "false"  # the backup does not say; its template match is etl.derive's
    mms = rows[8]
    assert mms["message_id"].startswith("smsbr-mms-") and mms["direction"] == "outbound"
    assert mms["body"] == "Photos of the new stock" and mms["contact_number"] == "+15550100206"
    assert rows[9]["body"] == "lone \ufffd surrogate and a \ufffd control"


def test_sms_backup_char_refs_split_across_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream fixer must not cut a surrogate pair in two, whatever the chunk boundaries."""
    body = "a &#55357;&#56832; b &#xD83D;&#xDE00; c &#128512;"
    doc = f'<smses><sms address="+1" date="0" type="1" body="{body}"/></smses>'.encode()
    for size in range(1, 40):
        monkeypatch.setattr(sms_backup, "_CHUNK", size)
        reader = sms_backup._FixingReader(io.BytesIO(doc))
        out = b"".join(iter(lambda r=reader: r.read(1), b""))
        assert out.decode().count("&#x1F600;") == 2, size
        assert "&#128512;" in out.decode()


def test_sms_backup_refuses_dtd_and_wrong_kinds(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"sms_backup_doctype_handmade\.xml: contains <!DOCTYPE"):
        sms_backup.read(FIX / "sms_backup_doctype_handmade.xml", plain())
    with pytest.raises(SourceError, match="looks like an SMS Backup & Restore call log"):
        sms_backup.read(FIX / "sms_backup_calls_handmade.xml", plain())
    with pytest.raises(SourceError, match="looks like OpenPhone REST API messages, not an SMS Backup"):
        sms_backup.read(OP_API, plain())
    truncated = tmp_path / "cut.xml"
    truncated.write_bytes(MEMACS_XML.read_bytes()[:400])
    with pytest.raises(SourceError, match=r"cut\.xml: not well-formed XML"):
        sms_backup.read(truncated, plain())


# ----------------------------------------------------------------------------------------- mapped CSV


def test_mapped_csv_example_mapping() -> None:
    frame = ADAPTERS["mapped_csv"](HELPDESK, plain(), mapping=EXAMPLE_MAPPING)
    assert_schema(frame)
    assert frame.kind == "mapped_csv" and frame.rows_read == 9
    rows = by_id(frame)
    assert set(rows) == {"m-1", "m-2", "m-3", "m-4", "m-5"}
    # day-first local times, read in the mapping's zone when validated (tests/test_sources_load.py)
    assert (rows["m-1"]["created_at"], rows["m-4"]["created_at"]) == ("2024-01-15T10:00:00", "2024-07-15T10:00:00")
    assert frame.naive_timezone == "Europe/London"
    assert rows["m-4"]["direction"] == "inbound"  # "customer": values matched case-insensitively
    assert rows["m-2"]["line_number"] == "+447700900100"  # empty cell -> defaults.line_number
    assert rows["m-2"]["agent_id"] == "sam@example.com" and rows["m-2"]["is_automated"] == "false"
    assert rows["m-3"]["is_automated"] == "true"  # values.is_automated yes -> true
    assert rows["m-5"]["is_automated"] == "false"  # empty cell (its template match is etl.derive's)
    assert rows["m-1"]["is_automated"] == "false" and rows["m-1"]["agent_id"] is None
    assert rows["m-1"]["channel"] == "sms" and rows["m-1"]["conversation_id"] == "T-100"
    assert rows["m-2"]["body"] == "Sorry, let me check"
    assert reasons(frame) == {
        7: "Sent At '2024-07-15 10:00' is not a date matching date_format '%d/%m/%Y %H:%M'",
        8: "Sender Type 'System' is not in example_helpdesk.yaml values.direction (known: Customer, Agent, Bot)",
        9: "has 10 fields but the header has 11",
        10: "no message id (Message ID is empty)",
    }


def _mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "map.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_mapped_csv_iso_dates_and_derived_ids(tmp_path: Path) -> None:
    csv_path = tmp_path / "x.csv"
    csv_path.write_text(
        "when;who;dir;text\n2024-01-15 14:23:05+01:00;+15550100201;IN;hello\n"
        "2024-01-15T14:30:00;+15550100201;OUT;hi there\n",
        encoding="utf-8",
    )
    mapping = _mapping(
        tmp_path,
        "columns: {created_at: when, contact_number: who, direction: dir, body: text}\n"
        "defaults: {line_number: +15550100100}\ndelimiter: ';'\n"
        "values: {direction: {in: inbound, out: outbound}}\n",
    )
    frame = mapped_csv.read(csv_path, plain(), mapping=mapping)
    rows = frame.messages.to_dicts()
    # the offset is applied here; the naive one is read in the team timezone by the validator
    assert [r["created_at"] for r in rows] == ["2024-01-15T13:23:05Z", "2024-01-15T14:30:00"]
    assert frame.naive_timezone is None  # the mapping names no timezone: the team's
    assert rows[0]["line_number"] == "+15550100100"  # "+" kept: every YAML scalar is text
    assert all(re.fullmatch(r"mapped-[0-9a-f]{20}", r["message_id"]) for r in rows)
    assert mapped_csv.read(csv_path, plain(), mapping=mapping).messages["message_id"].to_list() == [
        r["message_id"] for r in rows
    ]
    assert rows[0]["channel"] is None  # not mapped, no default: the validator decides


def test_mapped_csv_epoch_dates(tmp_path: Path) -> None:
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("id,ts,from,line,d\n1,1705328585000,+15550100201,+15550100100,inbound\n", encoding="utf-8")
    mapping = _mapping(
        tmp_path,
        "columns: {message_id: id, created_at: ts, contact_number: from,"
        " line_number: line, direction: d}\ndate_format: epoch_ms\n",
    )
    assert mapped_csv.read(csv_path, plain(), mapping=mapping).messages["created_at"].to_list() == [
        "2024-01-15T14:23:05Z"
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("columns: {created_at: a}\nfoo: 1\n", r"map\.yaml: invalid mapping\n  foo: unknown key"),
        ("columns: {created_at: a, sender: b}\n", r"columns: 'sender' is not a canonical field"),
        (
            "columns: {created_at: a, contact_number: b, line_number: c}\n",
            r"direction needs a column \(columns\.direction\) or a default",
        ),
        ("columns: {contact_number: b, line_number: c, direction: d}\n", r"columns\.created_at is required"),
        (
            "columns: {created_at: a, contact_number: b, line_number: c, direction: d}\n"
            "values: {direction: {x: sideways}}\n",
            r"values: direction values must map to inbound or outbound",
        ),
        (
            "columns: {created_at: a, contact_number: b, line_number: c, direction: d}\ntimezone: Mars/Olympus\n",
            r"timezone: 'Mars/Olympus' is not an IANA timezone",
        ),
        (
            "columns: {created_at: a, contact_number: b, line_number: c, direction: d}\ndefaults: {message_id: x}\n",
            r"defaults: message_id cannot have a default",
        ),
        ("- just\n- a list\n", r"must be a YAML mapping"),
        ("columns: [unclosed\n", r"not valid YAML"),
    ],
)
def test_mapped_csv_mapping_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        mapped_csv.read(HELPDESK, plain(), mapping=_mapping(tmp_path, text))


def test_mapped_csv_missing_column_and_missing_mapping(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        "columns: {created_at: Sent At, contact_number: Phone, line_number: Team Number, direction: Sender Type}\n",
    )
    with pytest.raises(
        SourceError,
        match=r"column 'Phone' \(map\.yaml columns\.contact_number\) is not in the "
        r"header; the header has: Ticket ID, Message ID",
    ):
        mapped_csv.read(HELPDESK, plain(), mapping=mapping)
    with pytest.raises(SourceError, match="needs a mapping file"):
        mapped_csv.read(HELPDESK, plain())
    with pytest.raises(SourceError, match="mapping file not found"):
        mapped_csv.read(HELPDESK, plain(), mapping=tmp_path / "nope.yaml")


def test_example_mapping_is_valid() -> None:
    spec = mapped_csv.load_mapping(EXAMPLE_MAPPING)
    assert spec.values["is_automated"] == {"yes": "true", "no": "false"}
    assert spec.defaults["line_number"] == "+447700900100"


# --------------------------------------------------------------------------------- robustness (all kinds)

READERS = {
    "openphone_api": openphone.read_api,
    "openphone_webhook": openphone.read_webhook,
    "twilio_api": twilio.read_api,
    "twilio_csv": twilio.read_csv,
    "sms_backup_xml": sms_backup.read,
}

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "sid",
                    "type",
                    "data",
                    "object",
                    "to",
                    "from",
                    "direction",
                    "createdAt",
                    "date_sent",
                    "body",
                    "text",
                    "messages",
                    "participants",
                    "phoneNumberId",
                ]
            ),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_json_values)
def test_json_readers_only_raise_source_error(tmp_path: Path, value: Any) -> None:
    path = write_json(tmp_path / "f.json", value)
    for name in ("openphone_api", "openphone_webhook", "twilio_api"):
        try:
            frame = READERS[name](path, plain())
        except SourceError:
            continue
        assert_schema(frame)


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_readers_on_garbage_only_raise_source_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "g.dat"
    path.write_bytes(data)
    with contextlib.suppress(SourceError):
        detect_kind(path)
    for reader in READERS.values():
        with contextlib.suppress(SourceError):
            reader(path, plain())
    with contextlib.suppress(SourceError):
        mapped_csv.read(path, plain(), mapping=EXAMPLE_MAPPING)
