"""Team settings (settings.yaml): timezone, business hours, scales, survey prompts, opt-outs.

Validated with Pydantic; unknown keys are rejected so a typo never silently falls back to a default.

settings.yaml keeps one flat format; inside, its keys fall in three groups by when they take effect:

- derivation settings (`Settings.derivation`, a frozen DerivationSettings): everything etl.derive reads to
  turn stored messages and survey replies into facts (kinds, conversations, inquiry blocks, business
  seconds, survey scores). Its JSON is the warehouse's derivation key; a load with other derivation settings
  re-derives what they affect, so the warehouse never depends on the settings of earlier loads.
- reading settings (`Settings.reading`): applied to each file as it is read (phone normalisation, the
  source ids of lines). They are not part of the key: a stored row cannot be read again without its file,
  so a change applies to files loaded from then on (the load says so).
- reporting settings (targets, the satisfied threshold, the typing allowance): read only by
  metrics.params.Params.from_settings, at query time; changing them needs no load.
"""

from __future__ import annotations

import re
from datetime import date, time
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, ValidationError, field_validator, model_validator

from replyboard.dates import DateOrder, default_date_order
from replyboard.files import NotARegularFile, read_text
from replyboard.no_reply import DEFAULT_CLOSERS, DEFAULT_REACTIONS
from replyboard.phones import normalize_number
from replyboard.schedules import (
    WEEKDAYS,
    BusinessHours,
    HolidayCountry,
    any_opening_hours,
    normalise_business_hours,
    normalise_holiday_country,
    parse_window,
    week_for,
)

DEFAULT_SETTINGS_PATH = Path(__file__).resolve().parent.parent / "settings.yaml"
HOURS_IN_A_YEAR = 8760  # bounds for durations in hours (an infinite gap cannot be written into SQL)
MINUTES_IN_A_YEAR = HOURS_IN_A_YEAR * 60  # the longest response target (--target and the setting)


class SettingsError(Exception):
    """A settings file that cannot be used; the message names the file and key."""


class Strict(BaseModel):
    # allow_inf_nan=False: .inf and .nan are YAML floats, but no duration or target can be infinite or NaN
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def check_patterns(patterns: list[str]) -> list[str]:
    """Each pattern must compile in Python and in the warehouse's engine (RE2: no lookaround, no backreferences)."""
    if not patterns:
        return patterns
    with duckdb.connect() as con:  # one in-memory engine for all (each costs ~20 ms to open)
        for p in patterns:
            try:
                re.compile(p)
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"pattern {p!r} is not a valid regular expression: {exc}") from None
            try:
                con.execute("SELECT regexp_matches('', ?, 'i')", [p]).fetchall()
            except duckdb.Error as exc:
                raise ValueError(
                    f"pattern {p!r} is not supported by the warehouse's regular expressions (RE2: no lookahead, "
                    f"lookbehind or backreferences): {str(exc).splitlines()[0]}"
                ) from None
    return patterns


class ScoreScale(Strict):
    """A survey's scale: a reply's one number outside it is out_of_range (derivation)."""

    min: int
    max: int


NPS_SCALE = ScoreScale(min=0, max=10)  # fixed by the definition of NPS, not a setting


class CsatScale(Strict):
    min: int = 1
    max: int = 9
    satisfied_at_least: int = 8  # reporting: a threshold over stored scores

    @model_validator(mode="after")
    def _ordered(self) -> CsatScale:
        if not self.min < self.max:
            raise ValueError("min must be below max")
        if not self.min <= self.satisfied_at_least <= self.max:
            raise ValueError("satisfied_at_least must lie between min and max")
        return self


class SurveyPrompts(Strict):
    """Regexes (case-insensitive) that mark an automated outbound as a survey prompt."""

    csat: list[str] = Field(
        default_factory=lambda: [r"on a scale of 1\s*(?:-|to)\s*9", r"rate (?:your|our|the) .*1\s*(?:-|to)\s*9"]
    )
    nps: list[str] = Field(default_factory=lambda: [r"scale of 0\s*(?:-|to)\s*10", r"recommend .* 0\s*(?:-|to)\s*10"])
    reply_window_hours: float = Field(24, gt=0, le=HOURS_IN_A_YEAR)

    @field_validator("csat", "nps")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        return check_patterns(patterns)


class LineSetting(Strict):
    number: str
    name: str
    source_id: str | None = None  # e.g. OpenPhone phoneNumberId (PN...)
    team: str | None = None  # the team that owns the line: owner of its conversations no agent owns


# etl.serve.TASKS runs them; "digests" and "alerts" are registered by the digests package (issue 17)
SCHEDULE_TASKS = ("sync quo", "sync twilio", "load spool", "digests", "alerts")


class ScheduleJob(Strict):
    """One line of `schedule:`: a task and the cron expression (in the team timezone) it runs on."""

    run: str
    cron: str

    @field_validator("run")
    @classmethod
    def _known_task(cls, run: str) -> str:
        task = " ".join(run.split()).lower()
        if task not in SCHEDULE_TASKS:
            raise ValueError(f"{run!r} is not a task; use one of {', '.join(SCHEDULE_TASKS)}")
        return task

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        return check_cron(cron)


def check_cron(cron: str) -> str:
    from croniter import croniter  # only when a schedule is configured

    if not croniter.is_valid(cron):
        raise ValueError(f"{cron!r} is not a cron expression like '*/15 * * * *' (minute hour day month weekday)")
    return cron


class SyncSettings(Strict):
    """API sync and webhook receiver. Credentials are never here: they come from the environment or the
    git-ignored `secrets_file` (KEY=VALUE lines, relative to the settings file)."""

    folder: str | None = None  # where fetched API pages wait for their load (default: <warehouse dir>/sync)
    keep_pages: bool = False  # keep each run's pages under <folder>/.../loaded/ after the publish
    spool: str | None = None  # the webhook receiver's spool (default: <warehouse dir>/spool)
    secrets_file: str | None = None
    reread_hours: float = Field(24, gt=0, le=HOURS_IN_A_YEAR)  # each run re-reads this far before its mark
    timeout_seconds: float = Field(30, gt=0, le=600)
    quo_api_version: str | None = None  # e.g. "2026-03-30": also use the dated API where it answers
    host: str = "127.0.0.1"
    port: int = Field(8788, ge=1, le=65535)
    public_url: str | None = None  # the URL Twilio calls when the receiver sits behind a proxy


# ---- digests and alerts (issue 17): who gets which report, how, and when ------------------------------------

_SLUG = r"^[a-z0-9][a-z0-9_-]*$"
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
Channel = Literal["email", "slack", "webhook"]
DEFAULT_URL_ENV = {"slack": "SLACK_WEBHOOK_URL", "webhook": "DIGEST_WEBHOOK_URL"}
DEFAULT_SECRET_ENV = "DIGEST_WEBHOOK_SECRET"


def check_address(text: str) -> str:
    """One mail address ("lead@example.com" or "Dana Lee <lead@example.com>")."""
    found = getaddresses([text])
    if len(found) != 1 or "@" not in found[0][1] or found[0][1].startswith("@") or found[0][1].endswith("@"):
        raise ValueError(f"{text!r} is not one mail address like lead@example.com")
    return text


class Delivery(Strict):
    """Where a digest or an alert goes. Addresses are in settings; webhook URLs and signing secrets are not
    (they are credentials): each names the environment variable (or secrets_file line) that holds it."""

    channel: Channel = "email"
    recipients: list[str] = Field(default_factory=list)  # email: mail addresses
    url_env: str | None = Field(None, pattern=_ENV_NAME)  # slack/webhook (default SLACK_WEBHOOK_URL/DIGEST_WEBHOOK_URL)
    secret_env: str | None = Field(None, pattern=_ENV_NAME)  # webhook: the whsec_ signing secret

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, recipients: list[str]) -> list[str]:
        return [check_address(r) for r in recipients]

    @model_validator(mode="after")
    def _fits_channel(self) -> Delivery:
        if self.channel == "email" and not self.recipients:
            raise ValueError("an email delivery needs recipients (mail addresses)")
        if self.channel != "email" and self.recipients:
            raise ValueError(f"recipients are for email; a {self.channel} post goes to the URL in url_env")
        if self.channel == "email" and (self.url_env or self.secret_env):
            raise ValueError("url_env and secret_env are for slack and webhook deliveries")
        if self.channel == "slack" and self.secret_env:
            raise ValueError("secret_env is for webhook deliveries (a Slack URL is its own secret)")
        return self

    @property
    def url_variable(self) -> str:
        return self.url_env or DEFAULT_URL_ENV.get(self.channel, "")

    @property
    def secret_variable(self) -> str:
        return self.secret_env or DEFAULT_SECRET_ENV


class ReportFilters(Strict):
    """The slice of the team a report covers (values as in the dashboard's sidebar: line numbers, team names,
    agent ids); empty lists mean everyone."""

    lines: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)


class DigestSubscription(Delivery):
    """One scheduled report: `okr` (the weekly OKR digest), `yesterday` (the daily summary) or `team` (a team
    lead's week: the team's agents and figures). A digest covers the complete days before its cadence fires."""

    name: str = Field(pattern=_SLUG)
    report: Literal["okr", "yesterday", "team"] = "okr"
    cadence: str = "0 8 * * 1"  # cron in the team timezone; default Monday 08:00
    filters: ReportFilters = Field(default_factory=ReportFilters)
    hours: Literal["calendar", "business"] = "calendar"  # response times in the headline, as the sidebar's
    skip_if_empty: bool = True  # nothing happened in the window (no texts): nothing is sent

    @field_validator("cadence")
    @classmethod
    def _cadence(cls, cron: str) -> str:
        return check_cron(cron)


class SmtpSettings(Strict):
    """The mail server digests and alerts are sent through; SMTP_USER / SMTP_PASSWORD come from the environment
    (or sync.secrets_file), never from here."""

    host: str = "localhost"
    port: int = Field(587, ge=1, le=65535)
    sender: str = "Replyboard <replyboard@localhost>"
    security: Literal["starttls", "ssl", "none"] = "starttls"
    timeout_seconds: float = Field(30, gt=0, le=600)

    @field_validator("sender")
    @classmethod
    def _sender(cls, sender: str) -> str:
        return check_address(sender)


class _AlertBase(Delivery):
    name: str = Field(pattern=_SLUG)


KrAlertStatus = Literal["at risk", "off track"]
KR_ALERT_STATUSES: tuple[KrAlertStatus, ...] = ("at risk", "off track")


class KeyResultStatusAlert(_AlertBase):
    """A key result of the running OKR period goes to at risk or off track (one episode per key result)."""

    rule: Literal["kr_status"]
    statuses: list[KrAlertStatus] = Field(default_factory=lambda: list(KR_ALERT_STATUSES))


class CustomerWaitingAlert(_AlertBase):
    """A customer has waited more than `minutes` (business minutes by default) for a first human reply."""

    rule: Literal["customer_waiting"]
    minutes: float = Field(gt=0, le=MINUTES_IN_A_YEAR)
    hours: Literal["calendar", "business"] = "business"
    lookback_days: int = Field(7, ge=1, le=366)  # blocks that started this many days back at most
    lines: list[str] = Field(default_factory=list)  # agent and team filters do not apply: nobody replied yet


class SameDayRateAlert(_AlertBase):
    """The same-business-day response rate of the day so far drops below `below` (0-1), once `min_n`
    inquiries of the day can be judged."""

    rule: Literal["same_day_rate"]
    below: float = Field(gt=0, le=1)
    min_n: int = Field(5, ge=1)
    lines: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)


class StaleDataAlert(_AlertBase):
    """No message has arrived for `max_age_hours` (a sync or webhook that stopped)."""

    rule: Literal["stale_data"]
    max_age_hours: float = Field(gt=0, le=HOURS_IN_A_YEAR)
    hours: Literal["calendar", "business"] = "calendar"  # business: only opening hours count


AlertRule = Annotated[
    KeyResultStatusAlert | CustomerWaitingAlert | SameDayRateAlert | StaleDataAlert, Discriminator("rule")
]


def _dashboard_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) address like https://replyboard.example.com")
    return url.rstrip("/")


class BusinessCalendarMixin:
    """What business time reads of settings (Settings and DerivationSettings alike): the zone and the opening
    windows in force on a day."""

    timezone: str
    business_hours: BusinessHours

    def windows_for(self, weekday: int, day: date | None = None) -> list[tuple[time, time]]:
        """Opening windows for weekday 0=Monday, sorted, in the schedule in force on local date `day` (None:
        the first schedule; the plain form has only one)."""
        return list(week_for(self.business_hours, day)[weekday])

    def week_for(self, day: date) -> list[list[tuple[time, time]]]:
        """The opening windows of every weekday (Monday first) in the schedule in force on local date `day`."""
        return [list(w) for w in week_for(self.business_hours, day)]

    @property
    def has_opening_hours(self) -> bool:
        return any_opening_hours(self.business_hours)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Settings(BusinessCalendarMixin, Strict):
    timezone: str = "America/New_York"
    # a weekday -> windows map, or dated schedules (replyboard.schedules)
    business_hours: BusinessHours = Field(default_factory=lambda: {d: ["09:00-17:00"] for d in WEEKDAYS[:5]})
    holidays: list[date] = Field(default_factory=list)
    holiday_country: HolidayCountry = None  # a code, or dated codes (replyboard.schedules)
    session_gap_hours: float = Field(24, gt=0, le=HOURS_IN_A_YEAR)
    typing_allowance_seconds: int = Field(120, ge=0)
    csat: CsatScale = Field(default_factory=CsatScale)
    survey_prompts: SurveyPrompts = Field(default_factory=SurveyPrompts)
    opt_out_keywords: list[str] = Field(
        default_factory=lambda: ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE"]
    )
    auto_reply_templates: list[str] = Field(
        default_factory=lambda: [r"^Thanks for reaching out!", r"^We're closed right now"]
    )
    automation_numbers: list[str] = Field(default_factory=list)
    # texts that need no reply (replyboard.no_reply): closer phrases and whole-text reaction patterns
    closers: list[str] = Field(default_factory=lambda: list(DEFAULT_CLOSERS))
    reactions: list[str] = Field(default_factory=lambda: list(DEFAULT_REACTIONS))
    default_region: str = "US"
    date_order: DateOrder | None = None  # reading: slash dates' order; None: from default_region (replyboard.dates)
    lines: list[LineSetting] = Field(default_factory=list)
    response_target_minutes: float = Field(120, gt=0, le=MINUTES_IN_A_YEAR)
    min_n: int = Field(5, ge=1, le=1_000_000)  # reporting: a rate or score of fewer rows is flagged "low n"
    # reporting: the dashboard warns on every page when the newest message is older than this
    stale_after_hours: float = Field(48, gt=0, le=HOURS_IN_A_YEAR)
    access_file: str | None = None  # access.yaml: who sees what (metrics.scope); relative to the settings file
    sync: SyncSettings = Field(default_factory=SyncSettings)
    schedule: list[ScheduleJob] = Field(default_factory=list)
    dashboard_url: str = "http://127.0.0.1:8501"  # links in digests and alerts open the dashboard here
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    digests: list[DigestSubscription] = Field(default_factory=list)
    alerts: list[AlertRule] = Field(default_factory=list)

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, url: str) -> str:
        return _dashboard_url(url)

    @field_validator("digests", "alerts")
    @classmethod
    def _unique_names(cls, items: list) -> list:
        names = [item.name for item in items]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"names must be unique; given more than once: {', '.join(twice)}")
        return items

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, tz: str) -> str:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{tz!r} is not an IANA timezone such as 'America/New_York'") from exc
        return tz

    @field_validator("holiday_country", mode="before")
    @classmethod
    def _known_country(cls, value: object) -> object:
        return normalise_holiday_country(value)

    @field_validator("auto_reply_templates", "closers", "reactions")
    @classmethod
    def _templates_compile(cls, patterns: list[str]) -> list[str]:
        return check_patterns(patterns)

    @field_validator("business_hours", mode="before")
    @classmethod
    def _windows(cls, value: object) -> object:
        return normalise_business_hours(value)

    @property
    def slash_date_order(self) -> DateOrder:
        """The order slash dates are read in: date_order, else what default_region writes."""
        return self.date_order or default_date_order(self.default_region)

    @property  # not cached: model_copy(update=...) would carry a cached value over to the copy
    def derivation(self) -> DerivationSettings:
        """The derivation settings (see the module docstring), in one canonical form: settings that derive
        the same facts (weekdays or holidays in another order) give the same key."""
        region = self.default_region
        normalised = (normalize_number(n, region)[0] for n in self.automation_numbers)
        return DerivationSettings(
            timezone=self.timezone,
            business_hours=_canonical_hours(self.business_hours),
            holidays=tuple(sorted(set(self.holidays))),
            holiday_country=self.holiday_country,
            session_gap_hours=self.session_gap_hours,
            csat=ScoreScale(min=self.csat.min, max=self.csat.max),
            survey_prompts=self.survey_prompts,
            opt_out_keywords=tuple(self.opt_out_keywords),
            auto_reply_templates=tuple(self.auto_reply_templates),
            closers=tuple(self.closers),
            reactions=tuple(self.reactions),
            # as stored lines are: normalised like every line ("(201) 923-5161" is +12019235161), and as
            # written too, for sender ids and short codes; so default_region counts here only through them
            automation_numbers=tuple(sorted({*self.automation_numbers, *(n for n in normalised if n)})),
        )

    def derivation_key(self) -> str:
        """What the materialised facts depend on: the derivation model itself, never a hand-kept list."""
        return self.derivation.model_dump_json()

    @property
    def reading(self) -> ReadingSettings:
        return ReadingSettings(
            default_region=self.default_region,
            date_order=self.slash_date_order,
            local_timezone=self.timezone,
            line_sources=tuple(LineSource(number=line.number, source_id=line.source_id) for line in self.lines),
        )


def _canonical_hours(hours: BusinessHours) -> BusinessHours:
    """One form for the same hours: weekdays in order, each day's windows sorted, days without hours left out
    (dated schedules likewise, each in its own entry)."""
    if isinstance(hours, dict):
        by_day = {d.lower(): w for d, w in hours.items()}
        return {d: sorted(by_day[d], key=parse_window) for d in WEEKDAYS if by_day.get(d)}
    return tuple(
        entry.model_copy(update={d: tuple(sorted(getattr(entry, d), key=parse_window)) for d in WEEKDAYS})
        for entry in hours
    )


class DerivationSettings(BusinessCalendarMixin, Strict):
    """Everything that shapes the stored facts; etl.derive reads nothing else. Built by Settings.derivation
    (already validated there) and rebuilt from a warehouse's derivation key by metrics.query."""

    timezone: str
    business_hours: BusinessHours  # weekday -> windows (or dated schedules of them), one canonical form
    holidays: tuple[date, ...]
    holiday_country: HolidayCountry
    session_gap_hours: float
    csat: ScoreScale
    nps: ScoreScale = NPS_SCALE
    survey_prompts: SurveyPrompts
    opt_out_keywords: tuple[str, ...]
    auto_reply_templates: tuple[str, ...]
    automation_numbers: tuple[str, ...]  # lines whose outbound texts are automation, as stored lines are
    closers: tuple[str, ...]  # texts that need no reply (replyboard.no_reply)
    reactions: tuple[str, ...]

    def changed_fields(self, other: DerivationSettings) -> set[str]:
        """The derivation settings that differ between two models (what a re-derivation must redo)."""
        return {name for name in type(self).model_fields if getattr(self, name) != getattr(other, name)}


BusinessCalendar = Settings | DerivationSettings  # what business time needs: zone, windows_for, holidays


class LineSource(Strict):
    number: str
    source_id: str | None


class ReadingSettings(Strict):
    """Settings applied to each file as it is read (see the module docstring): not in the derivation key."""

    default_region: str
    date_order: DateOrder
    local_timezone: str  # times written without a UTC offset are read in it (also a derivation setting)
    line_sources: tuple[LineSource, ...]

    def changes_since(self, before: ReadingSettings) -> list[str]:
        """What a load should tell the user changed since `before` (empty when nothing did)."""
        out = []
        if self.default_region != before.default_region:
            out.append(f"default_region {before.default_region} -> {self.default_region}")
        if self.date_order != before.date_order:
            out.append(f"date_order {before.date_order} -> {self.date_order}")
        if self.local_timezone != before.local_timezone:
            out.append(
                f"timezone {before.local_timezone} -> {self.local_timezone}: times without a UTC offset in files "
                "loaded before stay as they were read"
            )
        if self.line_sources != before.line_sources:
            out.append("the lines' numbers or source ids (settings.lines)")
        return out


def _format_errors(path: Path, exc: ValidationError) -> str:
    """One line for one problem ("FILE: invalid settings: key: what"), else one line per problem."""
    lines = [f"{path}: invalid settings"]
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = (
                f"unknown key; valid keys here: {', '.join(sorted(Settings.model_fields))}"
                if len(err["loc"]) == 1
                else "unknown key"
            )
        elif isinstance(err.get("input"), int | float) and not isinstance(err["input"], bool):
            msg = f"{msg} (got {err['input']!r})"  # .inf, .nan, -5: say which value was refused
        lines.append(f"  {where}: {msg}")
    if len(lines) == 2:
        return f"{lines[0]}: {lines[1].strip()}"
    return "\n".join(lines)


def load_settings(path: str | Path | None = None) -> Settings:
    """Read settings.yaml (the repo's shipped file when path is None, defaults if that is missing)."""
    if path is None:
        if not DEFAULT_SETTINGS_PATH.exists():
            return Settings()
        path = DEFAULT_SETTINGS_PATH
    path = Path(path)
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except NotARegularFile as exc:
        raise SettingsError(f"{path}: settings file is {exc.strerror}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read settings ({exc})") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    except ValueError as exc:  # PyYAML builds dates itself: "2026-02-30" raises "day is out of range for month"
        raise SettingsError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise SettingsError(f"{path}: not valid YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: settings must be a mapping of keys, got {type(raw).__name__}")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(_format_errors(path, exc)) from None
    if settings.access_file and not Path(settings.access_file).is_absolute():  # beside the settings file
        settings = settings.model_copy(update={"access_file": str(path.parent / settings.access_file)})
    return settings
