"""Alerts: rules in the settings (``alerts:``) checked on a schedule; each fires once per episode and clears with
a "resolved" notice.

Rules, each read through the read layer at the instant ``at`` (now, in the team timezone):
- ``kr_status``: a key result of the OKR period running today is at risk or off track (``statuses``), as the
  OKR page evaluates it (store check-ins and annotations applied); one episode per key result.
- ``customer_waiting``: an inquiry nobody has answered has waited more than ``minutes`` (business minutes by
  default) at ``at``: the work queue "Waiting now" behind it (unanswered_inquiries' rows, leads' "no reply
  needed" marks applied), blocks that started in the last ``lookback_days``.
- ``same_day_rate``: today's same_business_day_response_rate so far is below ``below`` once ``min_n`` of
  today's inquiries can be judged; one episode per day (the day's end resolves it).
- ``stale_data``: the newest message loaded is older than ``max_age_hours`` (a sync or webhook that stopped).

An episode opens when its condition starts to hold and closes when it stops (a reading that cannot be judged,
e.g. too few inquiries yet, leaves it as it is). The store (replyboard.appstate, alert_episodes) keeps episodes
and the delivery of their two notices; a notice that could not be delivered is tried again on the next runs
(at most MAX_NOTICE_ATTEMPTS attempts in all).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

from digests import links, render
from digests.build import kr_target_text, kr_value_text, span_text
from digests.deliver import DeliveryError, Outcome, RetryPolicy, Sender, with_retries
from etl.sync.run import secrets_path
from etl.sync.secrets import Credentials
from metrics import health, okr
from metrics.annotations import checkins_for, overlay_for
from metrics.compiler import Filters
from metrics.derived import derived_settings
from metrics.params import Params
from metrics.query import business_cutoff, compute
from metrics.rows import MAX_PAGE, rows
from metrics.scope import AccessError, load_access
from replyboard.appstate import AppState, Episode, state_path
from replyboard.business_time import business_seconds
from replyboard.formats import fmt_duration, fmt_rate
from replyboard.phones import mask_number
from replyboard.settings import (
    AlertRule,
    CustomerWaitingAlert,
    KeyResultStatusAlert,
    SameDayRateAlert,
    Settings,
    StaleDataAlert,
)
from replyboard.warehouse import connect_readonly

MAX_NOTICE_ATTEMPTS = 9  # three runs of three attempts


class AlertError(Exception):
    """An alerts run that cannot go on as asked (an unknown rule)."""


@dataclass(frozen=True)
class Reading:
    """One rule (and scope) at one instant."""

    rule: str
    scope: str
    known: bool  # False: cannot be judged now; an open episode stays open, none opens
    firing: bool
    title: str  # what a notice's subject says when it fires
    text: str  # what crossed what
    link: str
    values: dict
    resolved_title: str = ""
    resolved_text: str = ""


@dataclass
class AlertRequest:
    db: Path
    settings: Settings
    settings_dir: Path | None = None
    names: Sequence[str] = ()
    at: datetime | None = None
    dry_run: bool = False
    definitions: Path = okr.DEFINITIONS_DIR
    env: dict[str, str] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class AlertResult:
    fired: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "fired": len(self.fired),
            "resolved": len(self.resolved),
            "failed": len(self.failed),
            "errors": self.failed,
        }


def chosen(settings: Settings, names: Sequence[str]) -> list[AlertRule]:
    if not names:
        return list(settings.alerts)
    by_name = {r.name: r for r in settings.alerts}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        valid = ", ".join(by_name) or "none (add them under alerts: in the settings)"
        raise AlertError(f"no alert rule {', '.join(unknown)} in the settings; rules: {valid}")
    return [by_name[n] for n in dict.fromkeys(names)]


# ---- readings --------------------------------------------------------------------------------------------------


def read(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    settings: Settings,
    rule: AlertRule,
    at: datetime,
    definitions: Path = okr.DEFINITIONS_DIR,
) -> list[Reading]:
    """What the rule says at ``at`` (aware): one reading per scope it watches."""
    if isinstance(rule, KeyResultStatusAlert):
        return _key_results(con, db, settings, rule, at, definitions)
    if isinstance(rule, CustomerWaitingAlert):
        return [_waiting(con, db, settings, rule, at)]
    if isinstance(rule, SameDayRateAlert):
        return [_same_day(con, db, settings, rule, at)]
    return [_stale(con, settings, rule, at)]


def _key_results(
    con: duckdb.DuckDBPyConnection,
    db: Path,
    settings: Settings,
    rule: KeyResultStatusAlert,
    at: datetime,
    definitions: Path,
) -> list[Reading]:
    today = at.astimezone(settings.zone).date()
    periods, _ = okr.load_definitions(definitions, con)  # files with errors are left out, as on the OKR page
    period = okr.pick_period(periods, today)
    if period is None or not period.start <= today <= period.end:
        return []  # no period running: its episodes close ("no longer measured")
    objectives = okr.evaluate(
        con, okr.with_checkins(period, checkins_for(db, period.period)), settings, today, overlay=overlay_for(db)
    )
    link = links.page(settings.dashboard_url, "okrs", {"okr_period": period.period})
    out = []
    for obj in objectives:
        for kr in obj.key_results:
            figures = (
                f"{kr_value_text(kr, kr.current)} against a target of {kr_target_text(kr)}; "
                f"progress {_pct(kr.progress)} where {_pct(kr.expected_progress)} is expected by {today.isoformat()}"
            )
            out.append(
                Reading(
                    rule=rule.name,
                    scope=f"{period.period}/{kr.id}",
                    known=kr.status not in ("no data", "not started"),
                    firing=kr.status in rule.statuses,
                    title=f"{kr.id} is {kr.status}",
                    text=f'Key result "{kr.title}" ({period.period}) is {kr.status}: {figures}.',
                    link=link,
                    values={
                        "period": period.period,
                        "key_result": kr.id,
                        "status": kr.status,
                        "current": kr.current,
                        "target": kr.target,
                        "progress": kr.progress,
                        "expected_progress": kr.expected_progress,
                    },
                    resolved_title=f"{kr.id} is {kr.status} again",
                    resolved_text=f'Key result "{kr.title}" ({period.period}) is {kr.status} again: {figures}.',
                )
            )
    return out


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _waiting(
    con: duckdb.DuckDBPyConnection, db: Path, settings: Settings, rule: CustomerWaitingAlert, at: datetime
) -> Reading:
    calendar = derived_settings(con)  # the opening hours the facts were derived with, as the queue uses
    today = at.astimezone(settings.zone).date()
    window = (today - timedelta(days=rule.lookback_days - 1), today)
    seconds = rule.minutes * 60
    cutoff = business_cutoff(calendar, at, seconds) if rule.hours == "business" else at - timedelta(seconds=seconds)
    params = Params.from_settings(settings, hours=rule.hours, overlay=overlay_for(db))
    found = rows(
        con,
        "unanswered_inquiries",
        filters=Filters(*window, lines=tuple(rule.lines)),
        params=params,
        order="time",
        limit=MAX_PAGE,
    )
    starts = found.frame["started_at"].to_list()  # aware datetimes: compared across zones in Python
    waiting = found.frame[[i for i, t in enumerate(starts) if t is not None and t <= cutoff]]  # oldest first
    count = waiting.height
    unit = "business minutes" if rule.hours == "business" else "minutes"
    threshold = f"{rule.minutes:g} {unit}"
    labels = health.line_labels(con)
    query = links.view(window, links.Labels(labels, {}), lines=rule.lines, hours=rule.hours)
    link = links.page(settings.dashboard_url, "queues", {"queue": "waiting", **query})
    values: dict = {"waiting": count, "threshold_minutes": rule.minutes, "hours": rule.hours, "at": at.isoformat()}
    if count == 0:
        return Reading(
            rule.name,
            "",
            True,
            False,
            f"No customer waiting over {threshold}",
            "",
            link,
            values,
            resolved_title=f"No customer is waiting over {threshold} now",
            resolved_text=f"Every customer who texted has a reply, or has waited less than {threshold} ({_clock(at, settings)}).",
        )
    oldest = waiting.row(0, named=True)
    started = oldest["started_at"]
    waited = business_seconds(calendar, started, at) if rule.hours == "business" else (at - started).total_seconds()
    line = labels.get(oldest["line_number"], mask_number(oldest["line_number"]))
    who = oldest["contact_number"] or "a customer"  # rows() masks it to its last four digits
    values.update({"longest_seconds": waited, "longest_started_at": started.isoformat(), "line": line})
    customers = "1 customer has" if count == 1 else f"{count:,} customers have"
    return Reading(
        rule=rule.name,
        scope="",
        known=True,
        firing=True,
        title=f"{customers} waited over {threshold} for a reply",
        text=(
            f"{customers} waited more than {threshold} with no reply ({_clock(at, settings)}). The longest: "
            f"{who} on {line}, waiting {fmt_duration(waited)}{' of opening time' if rule.hours == 'business' else ''} "
            f"since {_clock(started, settings)}. Threshold: {threshold}."
        ),
        link=link,
        values=values,
        resolved_title=f"No customer is waiting over {threshold} now",
        resolved_text=f"Every customer who texted has a reply, or has waited less than {threshold} ({_clock(at, settings)}).",
    )


def _same_day(
    con: duckdb.DuckDBPyConnection, db: Path, settings: Settings, rule: SameDayRateAlert, at: datetime
) -> Reading:
    today = at.astimezone(settings.zone).date()
    params = Params.from_settings(settings, hours="business", overlay=overlay_for(db))
    metric = "same_business_day_response_rate"
    filters = Filters(today, today, lines=tuple(rule.lines), teams=tuple(rule.teams))
    row = compute(con, [metric], filters=filters, params=params).row(0, named=True)
    rate, n = row[metric], int(row[f"{metric}_n"] or 0)
    query = links.view((today, today), links.Labels(health.line_labels(con), {}), lines=rule.lines, teams=rule.teams)
    link = links.page(settings.dashboard_url, "queues", {"queue": "same-day", **query, "hours": "business"})
    judged = f"{n:,} inquir{'y' if n == 1 else 'ies'} of {today.isoformat()} judged so far"
    known = n >= rule.min_n and rate is not None
    return Reading(
        rule=rule.name,
        scope=today.isoformat(),
        known=known,
        firing=known and rate < rule.below,
        title=f"Same-business-day rate {fmt_rate(rate)} today, under {fmt_rate(rule.below)}",
        text=(
            f"{fmt_rate(rate)} of the {judged} were answered within the same business day; the alert is set at "
            f"{fmt_rate(rule.below)} (at least {rule.min_n} judged)."
        ),
        link=link,
        values={"day": today.isoformat(), "rate": rate, "n": n, "below": rule.below, "min_n": rule.min_n},
        resolved_title=f"Same-business-day rate {fmt_rate(rate)} today, back over {fmt_rate(rule.below)}",
        resolved_text=f"{fmt_rate(rate)} of the {judged} were answered within the same business day.",
    )


def _stale(con: duckdb.DuckDBPyConnection, settings: Settings, rule: StaleDataAlert, at: datetime) -> Reading:
    newest = health.freshness(con).newest_message
    link = links.page(settings.dashboard_url, "data-health")
    limit = f"{rule.max_age_hours:g} hours" + (" of opening time" if rule.hours == "business" else "")
    if newest is None:
        return Reading(
            rule.name,
            "",
            True,
            True,
            "No data loaded",
            "The warehouse holds no message yet.",
            link,
            {"newest": None},
            resolved_title="Data is arriving",
            resolved_text="Messages have been loaded.",
        )
    age = (
        business_seconds(derived_settings(con), newest, at)
        if rule.hours == "business"
        else max(0.0, (at - newest).total_seconds())
    )
    values = {"newest": newest.isoformat(), "age_seconds": age, "max_age_hours": rule.max_age_hours}
    return Reading(
        rule=rule.name,
        scope="",
        known=True,
        firing=age > rule.max_age_hours * 3600,
        title=f"No new messages for {fmt_duration(age)}",
        text=(
            f"The newest message loaded is from {_clock(newest, settings)}, {fmt_duration(age)} before "
            f"{_clock(at, settings)}; the alert is set at {limit}. Check the sync (etl serve's log) and Data health."
        ),
        link=link,
        values=values,
        resolved_title="Data is arriving again",
        resolved_text=f"The newest message loaded is from {_clock(newest, settings)}.",
    )


def _clock(value: datetime, settings: Settings) -> str:
    local = value.astimezone(settings.zone)
    return f"{span_text(local.date(), local.date())} {local:%H:%M} ({settings.timezone})"


# ---- episodes and notices --------------------------------------------------------------------------------------


def run_alerts(request: AlertRequest, say: Callable[[str], None], warn: Callable[[str], None]) -> AlertResult:
    settings = request.settings
    at = (request.at or datetime.now(settings.zone)).astimezone(settings.zone)
    rules = chosen(settings, request.names)
    result = AlertResult()
    if not rules:
        say("no alert rules in the settings (alerts:)")
        return result
    rules = [_for_everything(rule, settings, warn) for rule in rules]
    path = state_path(request.db)
    store = AppState(path) if not request.dry_run or path.exists() else None
    sender = Sender(settings, Credentials(request.env, secrets_path(settings, request.settings_dir)))
    con = connect_readonly(request.db)
    try:
        readings = {rule.name: read(con, request.db, settings, rule, at, request.definitions) for rule in rules}
    finally:
        con.close()
    for rule in rules:
        open_now = {e.scope: e for e in store.episodes(rule.name, only_open=True)} if store else {}
        _apply(rule, readings[rule.name], open_now, store, at, request.dry_run, say)
        if rule.channel == "email" and not rule.recipients:
            continue  # every recipient was left out (said above): the episodes are kept, nothing is sent
        if store is not None and not request.dry_run:
            _notify(rule, store, sender, request.retry, result, say, warn)
    return result


def _for_everything(rule: AlertRule, settings: Settings, warn: Callable[[str], None]) -> AlertRule:
    """Alerts are measured over every team and line: with an access file, their emails go only to the people it
    lets see everything (managers, analysts); a lead or agent gets none (their digest is built in their scope),
    nor does anyone the file does not name. Each one left out is said."""
    if rule.channel != "email" or not settings.access_file:
        return rule
    try:
        access = load_access(settings.access_file)
    except AccessError as exc:
        raise AlertError(str(exc)) from None
    kept = []
    for email in rule.recipients:
        try:
            scope = access.scope_for(email)
        except AccessError:
            warn(f"warning: {rule.name}: {email} is not in the access file ({settings.access_file}): no alert to them")
            continue
        if scope.unrestricted:
            kept.append(email)
        else:
            warn(
                f"warning: {rule.name}: {email} is a {scope.role}, and alerts count every team and line: no alert "
                "to them (their digests are built in their scope)"
            )
    return rule.model_copy(update={"recipients": kept})


def _apply(
    rule: AlertRule,
    readings: list[Reading],
    open_now: dict[str, Episode],
    store: AppState | None,
    at: datetime,
    dry_run: bool,
    say: Callable[[str], None],
) -> None:
    """Open an episode where a condition started to hold, close one where it stopped."""
    seen = set()
    for r in readings:
        seen.add(r.scope)
        episode = open_now.get(r.scope)
        notice = {"title": r.title, "text": r.text, "link": r.link, "values": r.values}
        if r.known and r.firing and episode is None:
            if dry_run:
                say(f"{rule.name}: would fire: {r.title} -> {_target(rule)}")
            else:
                assert store is not None
                store.open_episode(rule.name, r.scope, notice, now=at)
        elif r.known and not r.firing and episode is not None:
            resolved = {"title": r.resolved_title, "text": r.resolved_text, "link": r.link, "values": r.values}
            if dry_run:
                say(f"{rule.name}: would resolve: {r.resolved_title} -> {_target(rule)}")
            else:
                assert store is not None
                store.close_episode(episode.id, resolved, now=at)
        elif dry_run:
            state = "firing since " + episode.opened_at if episode else ("ok" if r.known else "not judged yet")
            say(f"{rule.name}{'/' + r.scope if r.scope else ''}: {state}: {r.title if r.firing else r.resolved_title}")
    for scope, episode in open_now.items():
        if scope in seen:
            continue
        title = episode.opened_detail.get("title", rule.name)
        ended = {
            "title": f"{title}: no longer measured",
            "text": f"{scope or rule.name} is no longer watched (its period or day is over).",
            "link": episode.opened_detail.get("link", ""),
            "values": {},
        }
        if dry_run:
            say(f"{rule.name}: would resolve: {ended['title']} -> {_target(rule)}")
        elif store is not None:
            store.close_episode(episode.id, ended, now=at)


def _target(rule: AlertRule) -> str:
    return (
        f"email to {', '.join(rule.recipients)}" if rule.channel == "email" else f"{rule.channel} ({rule.url_variable})"
    )


def _notify(
    rule: AlertRule,
    store: AppState,
    sender: Sender,
    retry: RetryPolicy,
    result: AlertResult,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    """Deliver the notices still owed: an episode's firing notice, then (once it went out) its resolution."""
    for episode in reversed(store.episodes(rule.name, limit=200)):  # oldest first: a firing before its resolution
        if episode.fired != "sent":
            if episode.fired_attempts >= MAX_NOTICE_ATTEMPTS:
                continue
            if not episode.open:  # it ended before anyone was told: a late "firing" would only confuse
                continue
            _deliver(rule, episode, "fired", store, sender, retry, result, say, warn)
        elif episode.resolved in ("pending", "failed") and episode.resolved_attempts < MAX_NOTICE_ATTEMPTS:
            _deliver(rule, episode, "resolved", store, sender, retry, result, say, warn)


def _deliver(
    rule: AlertRule,
    episode: Episode,
    notice: str,
    store: AppState,
    sender: Sender,
    retry: RetryPolicy,
    result: AlertResult,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> None:
    detail = episode.opened_detail if notice == "fired" else (episode.closed_detail or {})
    firing = notice == "fired"
    subject = f"[Replyboard] {'' if firing else 'Resolved: '}{detail.get('title', rule.name)}"
    try:
        send = _sender_for(rule, episode, detail, subject, firing, sender)
    except DeliveryError as exc:
        outcome = Outcome(False, 1, str(exc))
    else:
        outcome = with_retries(send, retry, lambda text: warn(f"{rule.name}: {sender.mask(text)}"))
    error = None if outcome.delivered else sender.mask(outcome.error or "unknown error")
    store.record_notice(episode.id, notice, delivered=outcome.delivered, attempts=outcome.attempts, error=error)
    label = f"{rule.name}: {subject.removeprefix('[Replyboard] ')}"
    if outcome.delivered:
        (result.fired if firing else result.resolved).append(label)
        say(f"{label} -> {_target(rule)}")
        return
    message = (
        f"{label} -> {_target(rule)}: not delivered after {outcome.attempts} attempts: {error}; tried again next run"
    )
    result.failed.append(message)
    warn(f"error: {message}")


def _sender_for(
    rule: AlertRule, episode: Episode, detail: dict, subject: str, firing: bool, sender: Sender
) -> Callable[[], None]:
    title, text, link = detail.get("title", rule.name), detail.get("text", ""), detail.get("link", "")
    since = episode.opened_at
    if rule.channel == "email":
        body = f"{text}\n\nOpen it on the dashboard: {link}\n\n--\nAlert rule {rule.name} ({rule.rule}); episode since {since}.\n"
        html = render.alert_html(
            title=title,
            text=text,
            link=link,
            firing=firing,
            footer=f"Alert rule {rule.name} ({rule.rule}); episode since {since}.",
        )
        message = render.email_message(
            subject=subject, sender=sender.smtp.sender, recipients=rule.recipients, text_body=body, html_body=html
        )
        return lambda: sender.email(message)
    if rule.channel == "slack":
        payload = render.alert_slack(title=title, text=text, link=link, firing=firing, rule=rule.name)
        return lambda: sender.slack(rule, payload)
    payload = {
        "type": f"replyboard.alert.{'firing' if firing else 'resolved'}",
        "rule": rule.name,
        "kind": rule.rule,
        "scope": episode.scope,
        "title": title,
        "text": text,
        "link": link,
        "values": detail.get("values", {}),
        "opened_at": episode.opened_at,
        "closed_at": episode.closed_at,
    }
    return lambda: sender.webhook(rule, payload, f"msg_alert_{episode.id}_{'firing' if firing else 'resolved'}")
