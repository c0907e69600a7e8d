"""Running digests: which subscriptions, which day, written to a folder or sent, and every send recorded.

- ``--out DIR``: digest.html (its images beside it), digest.txt, the charts as PNG and the tables as CSV; a
  folder per subscription when several are written.
- ``--send``: each subscription through its channel. A scheduled send is recorded in the app-state store
  (digest_sends: who, when, what, result) and goes out once per (subscription, period): a second run for the
  same period says it was sent and sends nothing. A send that fails is retried (deliver.RetryPolicy), recorded as
  failed and reported; the next run tries it again.
- ``--dry-run``: what would be written or sent, to whom; nothing is written, sent or recorded.

With an access file (settings ``access_file``), an email digest is built for each recipient's scope, as the
dashboard shows it to them: recipients of one scope get one digest (a lead's holds only their teams, an agent's
only their own work), each recorded as its own send; a recipient the access file does not name gets nothing and
the run reports it. Slack and webhook channels have no person to scope by: they get the subscription's filters.

Without ``--as-of`` a subscription covers the day before its latest cadence time (digests.schedule). A scheduled
sweep (``etl serve``'s task, or ``digest --send`` with neither ``--as-of`` nor ``--subscription``, as cron runs it)
sends only the subscriptions whose latest cadence time is due and not sent yet, and prints nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import duckdb

from digests import images, render, schedule
from digests.build import build
from digests.deliver import DeliveryError, Outcome, RetryPolicy, Sender, with_retries
from digests.model import Digest
from etl.sync.run import secrets_path
from etl.sync.secrets import Credentials
from metrics import okr
from metrics.scope import EVERYTHING, AccessError, Scope, load_access
from replyboard.appstate import AppState, SendRecord, state_path
from replyboard.settings import DigestSubscription, ReportFilters, Settings, SmtpSettings
from replyboard.warehouse import connect_readonly

# The digest `digest --out` / `--send --to` writes when the settings hold no subscription: the weekly OKR digest.
DEFAULT_SUBSCRIPTION = DigestSubscription.model_construct(
    name="okr-digest",
    report="okr",
    cadence="0 8 * * 1",
    channel="email",
    recipients=[],
    url_env=None,
    secret_env=None,
    filters=ReportFilters(),
    hours="calendar",
    skip_if_empty=True,
)


class DigestError(Exception):
    """A digest run that cannot go on as asked (an unknown subscription, no recipients...)."""


@dataclass
class Request:
    db: Path
    settings: Settings
    settings_dir: Path | None = None
    names: Sequence[str] = ()
    as_of: date | None = None
    out: Path | None = None
    send: bool = False
    dry_run: bool = False
    to: Sequence[str] = ()  # a one-off email to these addresses instead of the subscription's channel
    smtp: SmtpSettings | None = None  # --smtp-host / --smtp-port applied
    definitions: Path = okr.DEFINITIONS_DIR
    scheduled: bool = False  # a sweep: only subscriptions due now (etl serve, cron)
    now: datetime | None = None
    env: dict[str, str] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class Result:
    written: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # one clear message each

    def as_json(self) -> dict:
        return {
            "sent": len(self.sent),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "errors": self.failed,
        }


def subscriptions(settings: Settings, names: Sequence[str]) -> list[DigestSubscription]:
    configured = list(settings.digests) or [DEFAULT_SUBSCRIPTION]
    if not names:
        return configured
    by_name = {s.name: s for s in configured}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        valid = ", ".join(by_name)
        raise DigestError(f"no subscription {', '.join(unknown)} in the settings (digests:); subscriptions: {valid}")
    return [by_name[n] for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class Audience:
    """Recipients who see the same scope, and the key their sends are recorded under."""

    scope: Scope
    recipients: tuple[str, ...]
    key: str  # the subscription's name, with the scope when the recipients do not all see everything


def describe(scope: Scope) -> str:
    if scope.unrestricted:
        return "everything"
    if scope.role == "agent":
        return f"agent {scope.agent}"
    return "lead of " + ", ".join([*scope.teams, *scope.lines])


def audiences(request: Request, name: str, recipients: Sequence[str]) -> tuple[list[Audience], list[str]]:
    """The recipients grouped by the scope the access file gives them (one group seeing everything without an
    access file), and those it does not name."""
    if not request.settings.access_file:
        return [Audience(EVERYTHING, tuple(recipients), name)], []
    try:
        access = load_access(request.settings.access_file)
    except AccessError as exc:
        raise DigestError(str(exc)) from None
    groups: dict[Scope, list[str]] = {}
    unknown = []
    for email in recipients:
        try:
            scope = access.scope_for(email)
        except AccessError:
            unknown.append(email)
            continue
        # one digest per scope, not per person; managers and analysts alike see everything
        groups.setdefault(EVERYTHING if scope.unrestricted else replace(scope, person=None), []).append(email)
    # the unrestricted digest keeps the subscription's own name: its record stays the same as without the file
    return [
        Audience(s, tuple(r), name if s.unrestricted else f"{name} [{describe(s)}]") for s, r in groups.items()
    ], unknown


def run(request: Request, say: Callable[[str], None], warn: Callable[[str], None]) -> Result:
    settings = request.settings
    now = (request.now or datetime.now(settings.zone)).astimezone(settings.zone)
    if request.send and not request.to and not settings.digests:
        if request.scheduled:
            return Result()  # etl serve's sweep with nothing subscribed: nothing to do
        raise DigestError("no subscriptions in the settings (digests:): add one, or send a one-off with --to ADDR")
    chosen = subscriptions(settings, request.names)
    result = Result()
    work: list[tuple[DigestSubscription, date]] = []
    for sub in chosen:
        if request.as_of is not None:
            work.append((sub, request.as_of))
            continue
        due = schedule.due(sub.cadence, now) if request.scheduled else None
        if request.scheduled and due is None:  # its latest cadence time is more than a day old: the next one sends
            if request.dry_run:
                upcoming = schedule.next_occurrence(sub.cadence, now)
                say(f"{sub.name}: nothing due now; it goes out next {upcoming:%Y-%m-%d %H:%M} ({settings.timezone})")
            continue
        work.append((sub, due or schedule.as_of_for(schedule.latest_occurrence(sub.cadence, now))))
    if not work:
        return result
    store = AppState(state_path(request.db)) if request.send and not request.dry_run else None
    sender = Sender(settings, Credentials(request.env, secrets_path(settings, request.settings_dir)), request.smtp)
    con = connect_readonly(request.db)
    try:
        for sub, as_of in work:
            if request.out is not None:
                folder = request.out if len(work) == 1 else request.out / sub.name
                _write(con, request, sub, as_of, folder, result, say, warn)
            elif (request.to or sub.channel == "email") and request.settings.access_file:
                wanted = list(request.to) if request.to else list(sub.recipients)
                groups, unknown = audiences(request, sub.name, wanted)
                for email in unknown:
                    message = (
                        f"{sub.name} (as of {as_of.isoformat()}): {email} is not in the access file "
                        f"({request.settings.access_file}): nothing sent to them"
                    )
                    result.failed.append(message)
                    warn(f"error: {message}")
                for audience in groups:
                    _send(con, request, sub, as_of, store, sender, result, say, warn, audience)
            else:
                _send(con, request, sub, as_of, store, sender, result, say, warn)
    finally:
        con.close()
    return result


def _build(
    con: duckdb.DuckDBPyConnection, request: Request, sub: DigestSubscription, as_of: date, scope: Scope = EVERYTHING
) -> Digest:
    previous = schedule.previous_as_of(sub.cadence, as_of, request.settings.zone)
    return build(
        con,
        request.db,
        request.settings,
        sub,
        as_of,
        previous_as_of=previous,
        definitions=request.definitions,
        scope=scope,
    )


def _pngs(digest: Digest, warn: Callable[[str], None]) -> dict[str, bytes]:
    try:
        return images.render_png(digest.charts)
    except images.ChartError as exc:  # a digest without its charts beats no digest
        warn(f"warning: {digest.subscription}: {exc}; the digest goes without its charts")
        return {}


def _footer(request: Request, sub: DigestSubscription, recipients: Sequence[str], channel: str) -> str:
    return render.footer_text(sub.name, sub.cadence, request.settings.timezone, recipients, channel)


def _write(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    sub: DigestSubscription,
    as_of: date,
    folder: Path,
    result: Result,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    digest = _build(con, request, sub, as_of)
    csvs = render.csv_files(digest)
    files = ["digest.html", "digest.txt", *(f"{c.id}.png" for c in digest.charts), *csvs]
    if request.dry_run:
        say(f"would write {folder}: {', '.join(files)}" + (" (empty window)" if digest.empty else ""))
        return
    pngs = _pngs(digest, warn)
    footer = _footer(request, sub, sub.recipients, sub.channel)
    contents: dict[str, bytes] = {
        "digest.html": render.html(digest, footer, lambda chart: f"{chart}.png" if chart in pngs else "").encode(),
        "digest.txt": render.text(digest, footer).encode(),
        **{f"{chart}.png": png for chart, png in pngs.items()},
        **csvs,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in contents.items():
            (folder / name).write_bytes(data)
    except OSError as exc:  # a file where the folder should be, no permission, a full disk
        raise DigestError(f"{folder}: cannot write the digest there ({exc.strerror or exc})") from None
    result.written.append(str(folder))
    say(
        f"wrote {folder}: {digest.title}; digest.html, digest.txt, {len(pngs)} PNG, {len(csvs)} CSV"
        + (" (nothing happened in the window)" if digest.empty else "")
    )


def _send(
    con: duckdb.DuckDBPyConnection,
    request: Request,
    sub: DigestSubscription,
    as_of: date,
    store: AppState | None,
    sender: Sender,
    result: Result,
    say: Callable[[str], None],
    warn: Callable[[str], None],
    audience: Audience | None = None,
) -> None:
    one_off = bool(request.to)
    channel = "email" if one_off else sub.channel
    recipients = list(audience.recipients) if audience else list(request.to) if one_off else list(sub.recipients)
    scope, key = (audience.scope, audience.key) if audience else (EVERYTHING, sub.name)
    whom = _whom(channel, recipients, sub)
    label = f"{key} (as of {as_of.isoformat()})"
    period = as_of.isoformat()
    if not one_off:
        done = store.delivered(key, period) if store else _delivered_read_only(request.db, key, period)
        if done is not None:
            if not request.scheduled or request.dry_run:  # a sweep stays quiet: cron mails what a job prints
                state = "sent" if done.status == "sent" else "skipped (empty)"
                say(
                    f"{label}: already {state} {done.finished_at} to {', '.join(done.recipients) or whom}; not sent again"
                )
            return
    digest = _build(con, request, sub, as_of, scope)
    empty = digest.empty and sub.skip_if_empty and not one_off
    if request.dry_run:
        what = f"{len(digest.charts)} charts, {len(digest.tables)} CSV" if channel == "email" else "the figures"
        say(
            f"{label}: would skip: nothing happened in {digest.window[0]} to {digest.window[1]} (skip_if_empty)"
            if empty
            else f'{label}: would send "{digest.title}" by {channel} to {whom} ({what})'
        )
        return
    assert store is not None
    claim = store.claim_send(key, period, channel=channel, recipients=recipients, scheduled=not one_off)
    if claim is None:
        say(f"{label}: another run is sending it (or just sent it); not sent again")
        return
    if empty:
        store.finish_send(claim, "skipped", attempts=0, summary=digest.summary())
        result.skipped.append(label)
        say(f"{label}: skipped: nothing happened in {digest.window[0]} to {digest.window[1]} (skip_if_empty)")
        return
    try:
        send = _sender_for(digest, request, sub, channel, recipients, sender, warn)
    except DeliveryError as exc:  # a setting or credential missing: retrying cannot help
        outcome = Outcome(False, 0, str(exc))
    except BaseException as exc:  # a bug or an interrupt: the claim must not stay 'sending'
        store.finish_send(claim, "failed", attempts=0, error=f"{type(exc).__name__} while preparing the send")
        raise
    else:
        outcome = with_retries(send, request.retry, lambda text: warn(f"{label}: {sender.mask(text)}"))
    summary = {**digest.summary(), "subject": digest.title}
    if outcome.delivered:
        store.finish_send(claim, "sent", attempts=outcome.attempts, summary=summary)
        result.sent.append(label)
        say(f'{label}: sent "{digest.title}" by {channel} to {whom}')
        return
    error = sender.mask(outcome.error or "unknown error")
    store.finish_send(claim, "failed", attempts=outcome.attempts, error=error, summary=summary)
    tries = f" after {outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}" if outcome.attempts else ""
    message = f"{label} by {channel} to {whom}: not sent{tries}: {error}" + (
        "" if one_off else "; recorded as failed, the next run tries again"
    )
    result.failed.append(message)
    warn(f"error: {message}")


def _whom(channel: str, recipients: Sequence[str], sub: DigestSubscription) -> str:
    if channel == "email":
        return ", ".join(recipients) if recipients else "nobody"
    return f"the {channel} URL in {sub.url_variable}"


def _delivered_read_only(db: Path, subscription: str, period: str) -> SendRecord | None:
    """A dry run reads the store without creating it."""
    path = state_path(db)
    return AppState(path).delivered(subscription, period) if path.exists() else None


def _sender_for(
    digest: Digest,
    request: Request,
    sub: DigestSubscription,
    channel: str,
    recipients: Sequence[str],
    sender: Sender,
    warn: Callable[[str], None],
) -> Callable[[], None]:
    """The one call that delivers the digest (built once; each retry repeats only the network part)."""
    if channel == "email":
        if not recipients:
            raise DeliveryError("no recipients: give the subscription recipients, or pass --to ADDR", permanent=True)
        pngs = _pngs(digest, warn)
        footer = _footer(request, sub, recipients, channel)
        message = render.email_message(
            subject=digest.title,
            sender=sender.smtp.sender,
            recipients=recipients,
            text_body=render.text(digest, footer),
            html_body=render.html(digest, footer, lambda c: f"cid:{render.content_id(c)}" if c in pngs else ""),
            images=pngs,
            attachments=render.csv_files(digest),
        )
        return lambda: sender.email(message)
    if channel == "slack":
        payload = render.slack_blocks(digest)
        return lambda: sender.slack(sub, payload)
    payload = digest.as_json()
    message_id = f"msg_digest_{sub.name}_{digest.as_of.isoformat()}"  # the same on every retry: receivers dedupe
    return lambda: sender.webhook(sub, payload, message_id)
