"""python -m etl receive: the webhook receiver (Starlette on Uvicorn) that spools Quo and Twilio events.

POST /webhooks/quo     Quo events, signed with Standard Webhooks (QUO_WEBHOOK_SECRET, whsec_...) or, for
                       legacy webhooks, openphone-signature (QUO_WEBHOOK_LEGACY_KEY, else QUO_WEBHOOK_SECRET)
POST /webhooks/twilio  Twilio incoming-message and status-callback webhooks, X-Twilio-Signature
                       (TWILIO_AUTH_TOKEN); --public-url is the URL Twilio called when a proxy sits in between
GET  /healthz          "ok"
A missing signature is 401, a wrong one 403, a body over 1 MB 413, a route whose secret is not configured 503
(the vendor retries later, so nothing is lost while it is being set up); nothing is stored for any of them.
An accepted event is on disk (etl.spool, fsync and atomic rename) before the 2xx answer; a redelivery of one
still waiting in the spool is answered 200 and not stored twice. `python -m etl load --db DB SPOOL` loads the
spool (etl serve does it on its schedule).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from etl import spool
from etl.signatures import SignatureError, verify_legacy, verify_standard, verify_twilio
from etl.sources.twilio_webhook import spool_record

MAX_BODY = 1024 * 1024
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class TooLarge(Exception):
    pass


@dataclass(frozen=True)
class ReceiverConfig:
    spool: Path
    quo_secret: str | None = None
    quo_legacy_key: str | None = None
    twilio_token: str | None = None
    public_url: str | None = None

    @classmethod
    def from_env(cls, spool_dir: Path, env: Mapping[str, str], public_url: str | None = None) -> ReceiverConfig:
        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value and value.strip() else None

        return cls(
            spool=Path(spool_dir),
            quo_secret=get("QUO_WEBHOOK_SECRET"),
            quo_legacy_key=get("QUO_WEBHOOK_LEGACY_KEY") or get("QUO_WEBHOOK_SECRET"),
            twilio_token=get("TWILIO_AUTH_TOKEN"),
            public_url=public_url,
        )


async def _body(request: Request) -> bytes:
    """The raw body, refused past MAX_BODY without reading the rest (a declared length is checked first)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _refuse(status: int, reason: str, log: Callable[[str], None], where: str) -> Response:
    log(f"receive: {where}: {status} {reason}")
    return PlainTextResponse(reason, status_code=status)


def create_app(config: ReceiverConfig, *, log: Callable[[str], None] | None = None, clock=None) -> Starlette:
    """The ASGI app; `clock()` (Unix seconds) is for tests of the timestamp window."""
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    spool.prepare(config.spool)

    async def quo(request: Request) -> Response:
        try:
            body = await _body(request)
        except TooLarge:
            return _refuse(413, "body over 1 MB", say, "quo")
        now = clock() if clock else None
        headers = request.headers
        try:
            if headers.get("webhook-signature") or headers.get("webhook-id"):
                if not config.quo_secret:
                    return _refuse(503, "QUO_WEBHOOK_SECRET is not configured", say, "quo")
                verify_standard(
                    config.quo_secret,
                    headers.get("webhook-id"),
                    headers.get("webhook-timestamp"),
                    headers.get("webhook-signature"),
                    body,
                    now,
                )
                delivery = headers.get("webhook-id")
            elif headers.get("openphone-signature"):
                if not config.quo_legacy_key:
                    return _refuse(503, "QUO_WEBHOOK_LEGACY_KEY is not configured", say, "quo")
                verify_legacy(config.quo_legacy_key, headers.get("openphone-signature"), body, now)
                delivery = None
            else:
                return _refuse(401, "missing signature", say, "quo")
        except SignatureError as exc:
            return _refuse(403, str(exc), say, "quo")
        try:
            event = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return _refuse(400, "body is not JSON", say, "quo")
        if not isinstance(event, dict):
            return _refuse(400, "body is not a JSON object", say, "quo")
        event_id = event.get("id") if isinstance(event.get("id"), str) else None
        # a legacy redelivery repeats the event id; a current one the webhook-id
        key = spool.event_key(delivery or event_id or hashlib.sha256(body).hexdigest())
        path, stored = await run_in_threadpool(spool.store, config.spool, "quo", key, body)
        say(f"receive: quo {event.get('type')!s:.40}: {'stored' if stored else 'duplicate'} {path.name}")
        return PlainTextResponse("ok", status_code=200)

    async def twilio(request: Request) -> Response:
        try:
            body = await _body(request)
        except TooLarge:
            return _refuse(413, "body over 1 MB", say, "twilio")
        if not config.twilio_token:
            return _refuse(503, "TWILIO_AUTH_TOKEN is not configured", say, "twilio")
        try:
            params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return _refuse(400, "body is not form-encoded UTF-8", say, "twilio")
        url = _called_url(request, config.public_url)
        try:
            verify_twilio(config.twilio_token, url, params, request.headers.get("x-twilio-signature"))
        except SignatureError as exc:
            code = 401 if "missing" in str(exc) else 403
            return _refuse(code, str(exc), say, "twilio")
        values = dict(params)
        sid = values.get("MessageSid") or values.get("SmsMessageSid") or values.get("SmsSid")
        if not sid:
            return _refuse(400, "no MessageSid: not a messaging webhook", say, "twilio")
        status = values.get("MessageStatus") or values.get("SmsStatus") or "unknown"
        record = spool_record(_now_iso(), url, values)
        data = json.dumps(record, ensure_ascii=False).encode("utf-8")
        path, stored = await run_in_threadpool(spool.store, config.spool, "twilio", spool.event_key(sid, status), data)
        say(f"receive: twilio {status:.20}: {'stored' if stored else 'duplicate'} {path.name}")
        return Response(EMPTY_TWIML, status_code=200, media_type="text/xml")

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/webhooks/quo", quo, methods=["POST"]),
            Route("/webhooks/twilio", twilio, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def _called_url(request: Request, public_url: str | None) -> str:
    """The URL Twilio signed: --public-url (a base, or the full URL of this route), else what we were called on."""
    query = request.url.query
    if public_url:
        base = public_url.rstrip("/")
        path = request.url.path
        url = base if base.endswith(path) else base + path
        return f"{url}?{query}" if query else url
    return str(request.url)


def uvicorn_server(app: Starlette, host: str, port: int):
    """A Uvicorn server that, on SIGTERM/SIGINT, shuts down and returns (Uvicorn itself re-raises the signal
    afterwards, which would end the process before `etl serve` lets a running job finish)."""
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):
            originals = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in originals.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(app, host=host, port=port, log_level="warning", proxy_headers=False, server_header=False)
    return Server(config)


def serve_forever(config: ReceiverConfig, host: str, port: int) -> None:
    uvicorn_server(create_app(config), host, port).run()
