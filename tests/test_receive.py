"""The webhook receiver on a real port (Uvicorn) driven with httpx: signatures checked against the vendors'
reference implementations (standardwebhooks, twilio's RequestValidator), 401/403/413, the durable spool and
its load; and the same Quo data through sync, webhooks and files giving identical metrics."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator

from etl import spool
from etl.__main__ import main as etl_main
from etl.receive import MAX_BODY, ReceiverConfig, create_app
from etl.signatures import SignatureError, twilio_signature, verify_legacy, verify_standard, verify_twilio
from tests.fake_vendors import ACCOUNT, TOKEN, FakeQuo, FakeTwilio, quo_workload, serve
from tests.test_sync import DAY, message_fingerprint, metrics, quo_sync, rows, twilio_sync

SECRET = "whsec_" + base64.b64encode(b"quo-standard-webhooks-secret-32b").decode()
LEGACY_KEY = base64.b64encode(b"legacy-openphone-signing-key").decode()


@contextlib.contextmanager
def receiver(spool_dir: Path, **config) -> Iterator[str]:
    """The receiver app under Uvicorn on a free local port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(
        ReceiverConfig(
            spool=spool_dir,
            quo_secret=config.get("quo_secret", SECRET),
            quo_legacy_key=config.get("quo_legacy_key", LEGACY_KEY),
            twilio_token=config.get("twilio_token", TOKEN),
            public_url=config.get("public_url"),
        ),
        log=lambda _: None,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def signed_quo(body: bytes, msg_id: str, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(SECRET).sign(msg_id, at, body.decode())  # the reference implementation signs
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def legacy_header(body: bytes, at_ms: int | None = None, key: str = LEGACY_KEY) -> str:
    """openphone-signature as Quo documents it: hmac;1;<ms>;<base64 HMAC-SHA256 of "<ms>.<body>">."""
    at_ms = at_ms if at_ms is not None else int(time.time() * 1000)
    digest = hmac.new(base64.b64decode(key), f"{at_ms}.".encode() + body, hashlib.sha256).digest()
    return f"hmac;1;{at_ms};{base64.b64encode(digest).decode()}"


def twilio_post(base: str, params: dict[str, str], *, token: str = TOKEN, url: str | None = None) -> httpx.Response:
    target = f"{base}/webhooks/twilio"
    signature = RequestValidator(token).compute_signature(url or target, params)
    return httpx.post(target, data=params, headers={"X-Twilio-Signature": signature})


def quo_event(message: dict, conversation_id: str, n: int) -> dict:
    kind = "message.received" if message["direction"] == "incoming" else "message.delivered"
    return {
        "id": f"EV{n:030d}",
        "object": "event",
        "apiVersion": "v3",
        "createdAt": message["updatedAt"],
        "type": kind,
        "data": {"object": {**message, "object": "message", "conversationId": conversation_id}},
    }


def spooled(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


# ------------------------------------------------------------------------ signatures vs the references


def test_standard_webhooks_check_agrees_with_the_reference_package():
    rng = random.Random(16)
    now = time.time()
    for i in range(200):
        body = json.dumps({"n": i, "text": "é" * rng.randint(0, 40)}).encode()
        msg_id = f"msg_{rng.getrandbits(64):x}"
        at = datetime.fromtimestamp(now + rng.choice([-400, -200, 0, 200, 400]), UTC)
        headers = signed_quo(body, msg_id, at)
        if rng.random() < 0.3:
            headers["webhook-signature"] = headers["webhook-signature"][:-4] + "AAA="
        if rng.random() < 0.2:
            body = body + b" "
        try:
            Webhook(SECRET).verify(body, headers)
            reference = True
        except Exception:
            reference = False
        try:
            verify_standard(
                SECRET, headers["webhook-id"], headers["webhook-timestamp"], headers["webhook-signature"], body, now
            )
            ours = True
        except SignatureError:
            ours = False
        assert ours == reference, (i, headers)


def test_twilio_check_agrees_with_requestvalidator_with_and_without_the_port():
    validator = RequestValidator(TOKEN)
    params = [("Body", "Hi & bye"), ("From", "+15550300001"), ("MessageSid", "SM" + "a" * 32), ("To", "+15550100010")]
    for url in (
        "https://hooks.example.com/webhooks/twilio",
        "https://hooks.example.com:443/webhooks/twilio",
        "http://127.0.0.1:8788/webhooks/twilio?x=1",
    ):
        for signed_url in {
            url,
            url.replace(":443", ""),
            url.replace("https://hooks.example.com/", "https://hooks.example.com:443/"),
        }:
            signature = validator.compute_signature(signed_url, dict(params))
            assert twilio_signature(TOKEN, signed_url, params) == signature
            reference = validator.validate(url, dict(params), signature)
            try:
                verify_twilio(TOKEN, url, params, signature)
                ours = True
            except SignatureError:
                ours = False
            assert ours == reference, (url, signed_url)
    with pytest.raises(SignatureError):
        verify_twilio(
            "other-token",
            "https://hooks.example.com/webhooks/twilio",
            params,
            validator.compute_signature("https://hooks.example.com/webhooks/twilio", dict(params)),
        )


def test_legacy_openphone_signature_format_and_window():
    body = b'{"type":"message.received"}'
    now_ms = int(time.time() * 1000)
    verify_legacy(LEGACY_KEY, legacy_header(body, now_ms), body)
    verify_legacy(LEGACY_KEY, "hmac;1;1;AAAA," + legacy_header(body, now_ms), body)  # several entries
    with pytest.raises(SignatureError, match="does not match"):
        verify_legacy(LEGACY_KEY, legacy_header(body + b" ", now_ms), body)
    with pytest.raises(SignatureError, match="5 minutes"):
        verify_legacy(LEGACY_KEY, legacy_header(body, now_ms - 6 * 60 * 1000), body)


# ------------------------------------------------------------------------------ the receiver on a port


def test_quo_webhook_is_spooled_durably_once_and_bad_signatures_store_nothing(tmp_path):
    folder = tmp_path / "spool"
    body = json.dumps(quo_event(FakeQuo().add_message("PNsupport01", "+15550200000", "incoming", DAY, "hi"), "CN1", 1))
    raw = body.encode()
    with receiver(folder) as base:
        url = f"{base}/webhooks/quo"
        ok = httpx.post(url, content=raw, headers=signed_quo(raw, "msg_1"))
        assert ok.status_code == 200
        (stored,) = spooled(folder)
        assert stored.read_bytes() == raw  # exactly the bytes Quo sent
        again = httpx.post(url, content=raw, headers=signed_quo(raw, "msg_1"))  # a redelivery
        assert again.status_code == 200 and spooled(folder) == [stored]
        assert httpx.post(url, content=raw, headers={"content-type": "application/json"}).status_code == 401
        tampered = signed_quo(raw, "msg_2")
        assert httpx.post(url, content=raw.replace(b"hi", b"ho"), headers=tampered).status_code == 403
        old = signed_quo(raw, "msg_3", datetime.now(UTC) - timedelta(minutes=6))
        assert httpx.post(url, content=raw, headers=old).status_code == 403
        legacy = httpx.post(url, content=raw, headers={"openphone-signature": legacy_header(raw)})
        assert legacy.status_code == 200  # a legacy delivery is keyed on the event id: a file of its own
        bad_legacy = httpx.post(
            url,
            content=raw,
            headers={"openphone-signature": legacy_header(raw, key=base64.b64encode(b"x" * 20).decode())},
        )
        assert bad_legacy.status_code == 403
        big = b"{" + b" " * MAX_BODY + b"}"
        assert httpx.post(url, content=big, headers=signed_quo(big, "msg_4")).status_code == 413

        def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(20):
                yield b" " * 65536

        assert httpx.post(url, content=chunks(), headers=signed_quo(b"", "msg_5")).status_code == 413
        assert httpx.get(f"{base}/healthz").text == "ok"
    assert len(spooled(folder)) == 2  # the current and the legacy delivery; nothing from the refused ones


def test_unconfigured_secret_answers_503_so_the_vendor_retries(tmp_path):
    with receiver(tmp_path / "spool", quo_secret=None, quo_legacy_key=None, twilio_token=None) as base:
        raw = b"{}"
        assert httpx.post(f"{base}/webhooks/quo", content=raw, headers=signed_quo(raw, "m")).status_code == 503
        assert httpx.post(f"{base}/webhooks/twilio", data={"MessageSid": "SM1"}).status_code == 503
    assert spooled(tmp_path / "spool") == []


def test_twilio_webhooks_signed_behind_a_proxy_and_refused_when_wrong(tmp_path):
    folder = tmp_path / "spool"
    params = {
        "MessageSid": "SM" + "b" * 32,
        "SmsStatus": "received",
        "From": "+15550300001",
        "To": "+15550100010",
        "Body": "Hi",
    }
    public = "https://hooks.example.com"
    with receiver(folder, public_url=public) as base:
        ok = twilio_post(base, params, url=f"{public}/webhooks/twilio")
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/xml")
        assert "<Response>" in ok.text  # empty TwiML: no automatic reply to the customer
        assert twilio_post(base, params).status_code == 403  # signed for the local URL, not the public one
        assert httpx.post(f"{base}/webhooks/twilio", data=params).status_code == 401
        assert twilio_post(base, params, url=f"{public}/webhooks/twilio", token="wrong-token").status_code == 403
    (stored,) = spooled(folder)
    record = json.loads(stored.read_text())
    assert record["params"] == params and record["url"] == f"{public}/webhooks/twilio"


def test_spool_loads_with_etl_load_and_archives_what_it_loaded(tmp_path):
    folder = tmp_path / "spool"
    fake = FakeQuo()
    messages = quo_workload(fake, DAY)
    with receiver(folder) as base:
        for n, m in enumerate(messages):
            raw = json.dumps(quo_event(m, "CN1", n)).encode()
            assert (
                httpx.post(f"{base}/webhooks/quo", content=raw, headers=signed_quo(raw, f"msg_{n}")).status_code == 200
            )
    (folder / "stray.txt").write_text("not an event")
    db = tmp_path / "w.duckdb"
    assert etl_main(["load", "--db", str(db), "--quiet", str(folder)]) == 2  # the stray file is an error line
    assert rows(db, "SELECT count(*) FROM messages") == [(26,)]
    assert spooled(folder) == []
    assert len(list((folder / spool.LOADED).iterdir())) == 26
    assert [p.name for p in (folder / spool.FAILED).iterdir()] == ["stray.txt"]
    assert etl_main(["load", "--db", str(db), "--quiet", str(folder)]) == 0  # nothing waiting: not an error


def test_twilio_status_callback_updates_status_and_keeps_text_and_time(tmp_path):
    fake = FakeTwilio()
    at = DAY.replace(hour=15)
    sent = fake.add("outbound-api", "+15550100010", "+15550300001", at, "Your order shipped", status="sent")
    server, url = serve(fake)
    db = tmp_path / "w.duckdb"
    try:
        twilio_sync(db, url)
    finally:
        server.stop()
    before = rows(db, "SELECT created_at, body, status FROM messages")
    assert before[0][2] == "sent"
    folder = tmp_path / "spool"
    callback = {
        "MessageSid": sent["sid"],
        "MessageStatus": "delivered",
        "AccountSid": ACCOUNT,
        "From": "+15550100010",
        "To": "+15550300001",
        "ApiVersion": "2010-04-01",
    }
    late_sent = {**callback, "MessageStatus": "sent"}  # an older callback arriving after the newer one
    with receiver(folder) as base:
        assert twilio_post(base, callback).status_code == 200
        assert twilio_post(base, callback).status_code == 200  # duplicate: harmless
        assert twilio_post(base, late_sent).status_code == 200
    assert len(spooled(folder)) == 2
    assert etl_main(["load", "--db", str(db), "--quiet", str(folder)]) == 0
    assert rows(db, "SELECT created_at, body, status FROM messages") == [(before[0][0], before[0][1], "delivered")]
    assert rows(db, "SELECT count(*) FROM messages") == [(1,)]


def test_twilio_incoming_webhook_loads_as_an_inbound_message(tmp_path):
    folder = tmp_path / "spool"
    params = {
        "MessageSid": "SM" + "c" * 32,
        "SmsStatus": "received",
        "From": "+15550300002",
        "To": "+15550100010",
        "Body": "Is the store open?",
        "NumMedia": "0",
        "AccountSid": ACCOUNT,
    }
    with receiver(folder) as base:
        assert twilio_post(base, params).status_code == 200
    db = tmp_path / "w.duckdb"
    assert etl_main(["load", "--db", str(db), "--quiet", str(folder)]) == 0
    (row,) = rows(db, "SELECT direction, line_number, contact_number, body, status, kind, source FROM messages")
    assert row == (
        "inbound",
        "+15550100010",
        "+15550300002",
        "Is the store open?",
        "received",
        "inquiry",
        "twilio_webhook",
    )


# --------------------------------------------------------------------- one data set, three ways, same numbers


def test_same_data_through_sync_webhooks_and_files_gives_identical_metrics(tmp_path):
    fake = FakeQuo(max_page=5)
    messages = quo_workload(fake, DAY)
    server, url = serve(fake)
    synced = tmp_path / "synced.duckdb"
    try:
        from tests.test_sync import settings

        quo_sync(synced, url, settings(keep_pages=True, folder=str(tmp_path / "pages")))
    finally:
        server.stop()
    files = tmp_path / "files.duckdb"
    assert (
        etl_main(
            ["load", "--db", str(files), "--quiet", *map(str, sorted((tmp_path / "pages").rglob("*-messages.json")))]
        )
        == 0
    )

    folder = tmp_path / "spool"
    conv = {(c["phoneNumberId"], c["participants"][0]): c["id"] for c in fake.conversations}
    with receiver(folder) as base:
        for n, m in enumerate(messages):
            other = m["from"] if m["direction"] == "incoming" else m["to"][0]
            raw = json.dumps(quo_event(m, conv[(m["phoneNumberId"], other)], n)).encode()
            assert (
                httpx.post(f"{base}/webhooks/quo", content=raw, headers=signed_quo(raw, f"msg_{n}")).status_code == 200
            )
    hooked = tmp_path / "hooked.duckdb"
    assert etl_main(["load", "--db", str(hooked), "--quiet", str(folder)]) == 0

    reference = metrics(synced)
    assert reference["inbound_messages"] == 13 and reference["human_replies"] == 6
    assert metrics(files) == reference
    assert metrics(hooked) == reference
    strip = [r[:9] for r in message_fingerprint(synced)]
    assert [r[:9] for r in message_fingerprint(hooked)] == strip


def test_twilio_webhook_file_with_bad_records_rejects_them_with_reasons_and_loads_the_rest(tmp_path):
    from etl.sources.detect import detect_kind
    from etl.sources.twilio_webhook import read, spool_record
    from tests.helpers import team_settings

    good = spool_record(
        "2026-09-14T15:00:00Z",
        "u",
        {
            "MessageSid": "SM" + "d" * 32,
            "SmsStatus": "received",
            "From": "+15550300003",
            "To": "+15550100010",
            "Body": "hi",
        },
    )
    no_sid = spool_record("2026-09-14T15:01:00Z", "u", {"SmsStatus": "received", "Body": "?"})
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([json.dumps(good), '{"twilio_webhook": "form", "params": {', json.dumps(no_sid), "42"]))
    assert detect_kind(path) == "twilio_webhook"
    frame = read(path, team_settings())
    assert frame.rows_read == 4 and frame.messages.height == 1
    reasons = {r.line: r.reason for r in frame.rejects}
    assert "not valid JSON" in reasons[2] and "no MessageSid" in reasons[3] and "not a spooled" in reasons[4]


def test_archived_events_keep_no_card_number_in_clear(tmp_path):
    folder = tmp_path / "spool"
    card = "4111 1111 1111 1111"
    params = {
        "MessageSid": "SM" + "e" * 32,
        "SmsStatus": "received",
        "From": "+15550300004",
        "To": "+15550100010",
        "Body": f"my card is {card} exp 12/29",
        "AccountSid": ACCOUNT,
    }
    with receiver(folder) as base:
        assert twilio_post(base, params).status_code == 200
    assert card in spooled(folder)[0].read_text()  # waiting to be loaded: as received
    assert etl_main(["load", "--db", str(tmp_path / "w.duckdb"), "--quiet", str(folder)]) == 0
    (archived,) = (folder / spool.LOADED).iterdir()
    text = archived.read_text()
    assert card not in text and "1111" in text and json.loads(text)["params"]["MessageSid"] == params["MessageSid"]
