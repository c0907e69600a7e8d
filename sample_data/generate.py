"""Synthetic Replyboard data: ``python -m sample_data.generate --messages N --seed S --out DIR``.

Writes the canonical CSVs (messages, surveys, agents, lines) of an SMS customer-service team with three
lines (the guide's Swoop example: "Support", "Rides today", "Rides in the future") and twelve agents in
two teams. Everything is vectorised with numpy: conversations are arrays (start time, line, agent, number
of exchanges...), each stage of a conversation is one array operation over all conversations that reach
it, and a single sort orders the message log. Ten million messages take well under a minute.

What the data holds (so that every dashboard figure has something to show):

* Inquiries follow an hourly profile in the team timezone (late-morning and early-afternoon peaks, a lunch
  dip, quiet nights), Mondays busiest, weekends and holidays quiet, a slight trend and day-to-day noise.
* A customer opens with one to three texts. When the team is closed (settings.yaml business hours and
  holidays) an automated auto-reply ("Thanks for reaching out! ...", ``is_automated=true``, no agent) is
  sent within seconds. An agent of the line's team answers after a delay that depends on the agent, the
  line, the load of that hour and the opening hours (closed -> next opening plus a delay, counted in
  business time, the overnight queue worked through in the first morning hours). When the wait would
  exceed 18 h (weekends, holidays) an on-call agent usually answers within hours instead, so few
  conversations are split by the 24 h session gap. About 3% of inquiries are never answered.
* Threads continue for 0-4 exchanges, sometimes 5-20; follow-up replies mostly come within two hours,
  a tail is slower; some conversations are handed to a second agent.
* Automated reminders (``is_automated=true``) go out every day; some customers confirm, ask to
  reschedule (an agent answers) or text STOP (an automated opt-out confirmation follows).
* Some answered conversations end with an automated CSAT prompt (1-9), an NPS prompt (0-10) or both;
  replies are messy free text ("8", "9/10", "I'd say 8", "between 6 and 8", "STOP", "idk", ...).
* Contacts are drawn from a pool so that roughly a third of them have two or more conversations, always
  more than ``session_gap_hours`` apart. About 3% of contacts use WhatsApp.
* About one message in 5,000 holds a Luhn-valid card number or an SSN (at least one card in any file of
  5,000+ messages), and now and then an agent asks for a card number.
* surveys.csv: web-form survey answers (about 1% of the message count) for answered conversations.

The texts (first messages by line, replies, reminders, survey answers, payment data...) are templates in
sample_data/corpora.yaml and chatter in sample_data/bodies.txt, read by sample_data.corpora; the opening
hours are replyboard.business_time's.

Exactly ``--messages`` rows are written to messages.csv: conversations are drawn in random order until the
count is reached and the last one drawn is cut after the needed number of messages. All messages fall in
the period [start, start + days) in the team timezone. Same arguments -> byte-identical files.
"""

from __future__ import annotations

import argparse
import random
import sys
import time as _time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from replyboard.business_time import closed_dates, open_intervals
from replyboard.sensitive import luhn_ok
from replyboard.settings import Settings, load_settings
from sample_data import corpora

DEFAULT_START = date(2026, 8, 1)
ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# fmt: off
MESSAGE_COLUMNS = (
    "message_id", "created_at", "direction", "line_number", "contact_number", "agent_id", "is_automated",
    "body", "channel", "conversation_id", "status",
)
# fmt: on
SURVEY_COLUMNS = ("response_id", "received_at", "contact_number", "survey", "reply_text", "line_number")

# (number, name, team handling it): fictional 555-01xx numbers, so no contact can collide with a line.
LINES = (
    ("+16465550100", "Support", 0),
    ("+16465550101", "Rides today", 1),
    ("+16465550102", "Rides in the future", 1),
)
TEAMS = ("Care", "Rides")
# (agent_id, name, team, speed factor (>1 slower), share of the team's conversations, quality 0 good 1 poor)
AGENTS = (
    ("ag_01", "Sam Rivera", 0, 0.55, 1.4, 0),
    ("ag_02", "Priya Shah", 0, 0.85, 1.2, 0),
    ("ag_03", "Marcus Lee", 0, 1.0, 1.0, 0),
    ("ag_04", "Elena Petrova", 0, 1.3, 1.0, 0),
    ("ag_05", "Jordan Blake", 0, 2.4, 0.6, 1),
    ("ag_06", "Aisha Okafor", 0, 1.1, 0.9, 0),
    ("ag_07", "Diego Alvarez", 1, 0.5, 1.3, 0),
    ("ag_08", "Hannah Kim", 1, 0.8, 1.2, 0),
    ("ag_09", "Tom Becker", 1, 1.0, 1.0, 0),
    ("ag_10", "Grace Nguyen", 1, 1.2, 1.0, 0),
    ("ag_11", "Luis Moreno", 1, 2.6, 0.7, 1),
    ("ag_12", "Olivia Brooks", 1, 0.9, 0.9, 0),
)
AGENT_TEAM = np.array([a[2] for a in AGENTS])
AGENT_SPEED = np.array([a[3] for a in AGENTS])
AGENT_QUALITY = np.array([a[5] for a in AGENTS])
LINE_TEAM = np.array([ln[2] for ln in LINES])
LINE_SPEED = np.array([1.0, 0.55, 1.2])  # "Rides today" is triaged first
# fmt: off
AREA_CODES = (
    201, 212, 267, 305, 312, 347, 404, 415, 516, 617, 646, 718, 732, 857, 862, 908, 914, 917, 929, 973,
)
# fmt: on

# Inquiry intensity by local hour (0-23) and weekday (Mon..Sun).
HOUR_PROFILE = np.array(
    [
        0.06,
        0.04,
        0.03,
        0.03,
        0.04,
        0.07,
        0.16,
        0.36,
        0.75,
        1.5,
        2.8,
        3.1,
        1.5,
        2.5,
        2.8,
        2.25,
        1.9,
        0.95,
        0.62,
        0.5,
        0.4,
        0.3,
        0.18,
        0.1,
    ]
)
WEEKDAY_FACTOR = np.array([1.85, 1.1, 1.0, 0.95, 0.9, 0.3, 0.24])
HOLIDAY_FACTOR = 0.45
REMINDER_SHARE = 0.14
WHATSAPP_SHARE = 0.03

# Message kinds (internal).
K_OPEN, K_BURST, K_AUTO, K_AGENT_FIRST, K_AGENT_FIRST2, K_FOLLOW, K_FOLLOW2, K_AGENT, K_AGENT2 = range(9)
K_NUDGE, K_REMINDER, K_REM_REPLY, K_REM_ACK, K_STOP, K_OPTOUT, K_CSAT_PROMPT, K_CSAT_REPLY = range(9, 17)
K_NPS_PROMPT, K_NPS_REPLY = 17, 18
_INBOUND = {K_OPEN, K_BURST, K_FOLLOW, K_FOLLOW2, K_NUDGE, K_REM_REPLY, K_STOP, K_CSAT_REPLY, K_NPS_REPLY}
_AUTOMATED = {K_AUTO, K_REMINDER, K_OPTOUT, K_CSAT_PROMPT, K_NPS_PROMPT}
KIND_INBOUND = np.array([k in _INBOUND for k in range(19)])
KIND_AUTOMATED = np.array([k in _AUTOMATED for k in range(19)])

HOUR = 3600
DAY = 86400
ON_CALL_AFTER = 18 * HOUR


def _log(msg: str, t0: float) -> None:
    print(f"[sample_data] {msg} ({_time.perf_counter() - t0:.1f}s)", file=sys.stderr, flush=True)


def _utc_offset(moment: datetime) -> float:
    """An aware time's offset from UTC, in seconds."""
    offset = moment.utcoffset()
    assert offset is not None  # made with a zone
    return offset.total_seconds()


# --------------------------------------------------------------------------------------------- calendar
@dataclass
class Calendar:
    """replyboard.business_time's opening windows (the ones derivation and the metrics use) laid on a minute
    grid from the period start, so the generator can ask "open at t?" and "F(t)" for millions of instants at
    once: F(t) = open seconds since the start, exact for windows that begin and end on whole minutes."""

    start: int  # UTC epoch seconds of local midnight of the first day
    end: int  # UTC epoch seconds of local midnight after the last day
    first_local_day: int  # local epoch day number of the first day
    offsets: np.ndarray  # UTC offset (s) per UTC hour since start
    open_min: np.ndarray  # bool per minute since start
    cum: np.ndarray  # open minutes before minute i (len n + 1)
    open_index: np.ndarray  # minute index of the k-th open minute
    holiday_days: np.ndarray  # local epoch day numbers that are holidays

    @classmethod
    def build(cls, settings: Settings, start: date, days: int, slack_days: int = 21) -> Calendar:
        zone = settings.zone
        t_start = int(datetime(start.year, start.month, start.day, tzinfo=zone).timestamp())
        last = start + timedelta(days=days)
        t_end = int(datetime(last.year, last.month, last.day, tzinfo=zone).timestamp())
        grid_end = t_end + slack_days * DAY
        n_hours = (grid_end - t_start) // HOUR + 1
        offsets = np.array(
            [int(_utc_offset(datetime.fromtimestamp(t_start + h * HOUR, zone))) for h in range(n_hours)],
            dtype=np.int64,
        )
        grid_last_day = start + timedelta(days=days + slack_days - 1)
        n_min = (grid_end - t_start) // 60
        open_min = np.zeros(n_min, dtype=bool)
        for w_start, w_end, _ in open_intervals(settings, start, grid_last_day):
            a, b = int(w_start.timestamp()), int(w_end.timestamp())
            lo, hi = (a - t_start) // 60, -(-(b - t_start) // 60)
            open_min[max(lo, 0) : max(min(hi, n_min), 0)] = True
        cum = np.zeros(n_min + 1, dtype=np.int64)
        np.cumsum(open_min, out=cum[1:])
        epoch = date(1970, 1, 1)
        holidays = closed_dates(settings, start, grid_last_day)
        hol = np.array(sorted((h - epoch).days for h in holidays), dtype=np.int64)
        open_index = np.flatnonzero(open_min)
        return cls(t_start, t_end, (start - epoch).days, offsets, open_min, cum, open_index, hol)

    def _minute(self, t: np.ndarray) -> np.ndarray:
        return np.clip((t - self.start) // 60, 0, len(self.open_min) - 1)

    def is_open(self, t: np.ndarray) -> np.ndarray:
        return self.open_min[self._minute(t)]

    def f(self, t: np.ndarray) -> np.ndarray:
        i = self._minute(t)
        within = np.clip(t - self.start - i * 60, 0, 60)
        return self.cum[i] * 60 + self.open_min[i] * within

    def f_inv(self, x: np.ndarray) -> np.ndarray:
        m, r = np.divmod(x, 60)
        i = self.open_index[np.minimum(m, len(self.open_index) - 1)]
        return self.start + i * 60 + r

    def local(self, t: np.ndarray) -> np.ndarray:
        h = np.clip((t - self.start) // HOUR, 0, len(self.offsets) - 1)
        return t + self.offsets[h]


# ------------------------------------------------------------------------------------------------ texts
class Pool:
    """All message bodies, deduplicated; groups are arrays of indices into the pool."""

    def __init__(self) -> None:
        self.strings: list[str] = []
        self._index: dict[str, int] = {}

    def add(self, s: str) -> int:
        i = self._index.get(s)
        if i is None:
            i = self._index[s] = len(self.strings)
            self.strings.append(s)
        return i

    def group(self, strings) -> np.ndarray:
        return np.array([self.add(s) for s in strings], dtype=np.int32)


def _first(agent: int) -> str:
    return AGENTS[agent][1].split()[0]


def _survey_formats(scale_max: int, survey: corpora.Survey) -> list[tuple[float, Callable[[int, str], str]]]:
    """(weight, fn(score, agent_first_name) -> text) for texted survey replies."""
    words = survey.number_words

    def comment(s: int, a: str) -> str:
        group = survey.high if s >= scale_max - 1 else survey.mid if s >= scale_max // 2 else survey.low
        return group[(s + len(a)) % len(group)].format(a=a)

    top = scale_max
    return [
        (0.38, lambda s, a: f"{s}"),
        (0.04, lambda s, a: f"{s}!"),
        (0.04, lambda s, a: f"{s}/10"),
        (0.03, lambda s, a: f"{s}/{top}"),
        (0.05, lambda s, a: f"I'd say {s}"),
        (0.04, lambda s, a: f"{words[s]}!"),
        (0.04, lambda s, a: f"{s} out of {top}"),
        (0.10, lambda s, a: f"{s} - {comment(s, a)}"),
        (0.04, lambda s, a: f"{s}."),
        (0.04, lambda s, a: f"{s} thanks"),
        (0.02, lambda s, a: words[s].capitalize()),
        (0.03, lambda s, a: f"between {max(s - 1, 0)} and {min(s + 1, top)}"),
        (0.02, lambda s, a: f"{max(s - 1, 0)} or {s}"),
        (0.03, lambda s, a: survey.unsure[s % len(survey.unsure)]),
        (0.02, lambda s, a: ("10!!", "11", "100")[s % 3] if top == 9 else ("11", "100", "-1")[s % 3]),
        (0.01, lambda s, a: ""),
        (0.03, lambda s, a: survey.remarks[s % len(survey.remarks)]),
        (0.01, lambda s, a: "👍"),
    ]


@dataclass
class Texts:
    pool: Pool
    open: list[np.ndarray]
    burst: np.ndarray
    follow: np.ndarray
    closing: np.ndarray  # (template, agent)
    agent_first: np.ndarray  # (template, agent)
    agent_follow: np.ndarray
    agent_closing: np.ndarray  # (template, agent)
    reminder: list[np.ndarray]
    confirm: np.ndarray
    question: np.ndarray
    ack: np.ndarray
    stop: np.ndarray
    nudge: np.ndarray
    ham: np.ndarray
    auto: int
    optout: int
    csat_prompt: int
    nps_prompt: int
    csat_reply: np.ndarray  # (format, score - 1, agent)
    csat_p: np.ndarray
    nps_reply: np.ndarray  # (format, score, agent)
    nps_p: np.ndarray
    card: list[str]  # templates filled per message ({cc} {mm} {yy} {cvv})
    ssn: list[str]  # ({ssn})
    agent_ask: list[str]
    web_comments: list[str]


def build_texts(texts: corpora.Corpora | None = None) -> Texts:
    """Every text the generator writes, pooled: sample_data/corpora.yaml's templates filled in."""
    c = texts or corpora.load()
    pool = Pool()
    line_names = [name for _, name, _ in LINES]
    r = random.Random(20260801)  # fixed: the pool is the same for every seed
    v = c.fill

    def fill(template: str, **extra: str) -> str:
        return template.format(
            day=r.choice(v.day),
            time=r.choice(v.time),
            time2=r.choice(v.time),
            place=r.choice(v.place),
            airport=r.choice(v.airport),
            item=r.choice(v.item),
            code=r.choice(v.code),
            name=r.choice(v.name),
            weekday=r.choice(v.day[:5]),
            ref=f"SW-{r.randint(10000, 99999)}",
            n=r.randint(3, 25),
            amt=f"{r.randint(8, 90)}.{r.randint(0, 99):02d}",
            amt2=f"{r.randint(8, 60)}.{r.randint(0, 99):02d}",
            **extra,
        )

    def variants(templates, k: int = 6) -> np.ndarray:
        out: list[str] = []
        for t in templates:
            out.extend(fill(t) for _ in range(k if "{" in t else 1))
        return pool.group(out)

    def per_agent(templates) -> np.ndarray:
        return np.array(
            [[pool.add(fill(t, agent=_first(a))) for a in range(len(AGENTS))] for t in templates],
            dtype=np.int32,
        )

    def survey_table(scale_min: int, scale_max: int) -> tuple[np.ndarray, np.ndarray]:
        formats = _survey_formats(scale_max, c.survey)
        table = np.array(
            [
                [[pool.add(fn(s, _first(a))) for a in range(len(AGENTS))] for s in range(scale_min, scale_max + 1)]
                for _, fn in formats
            ],
            dtype=np.int32,
        )
        p = np.array([w for w, _ in formats])
        return table, p / p.sum()

    csat_reply, csat_p = survey_table(1, 9)
    nps_reply, nps_p = survey_table(0, 10)
    return Texts(
        pool=pool,
        open=[variants(t, 8) for t in c.by_line(c.open, "open", line_names)],
        burst=variants(c.burst),
        follow=variants(c.follow),
        closing=per_agent(c.closing),
        agent_first=per_agent(c.agent_first),
        agent_follow=variants(c.agent_follow),
        agent_closing=per_agent(c.agent_closing),
        reminder=[
            variants(t, 20) if t else np.zeros(0, np.int32) for t in c.by_line(c.reminder, "reminder", line_names)
        ],
        confirm=pool.group(c.confirm),
        question=variants(c.question, 4),
        ack=pool.group(c.ack),
        stop=pool.group(c.stop),
        nudge=pool.group(c.nudge),
        ham=pool.group(c.ham),
        auto=pool.add(c.automated.auto_reply),
        optout=pool.add(c.automated.opt_out_confirmation),
        csat_prompt=pool.add(c.automated.csat_prompt),
        nps_prompt=pool.add(c.automated.nps_prompt),
        csat_reply=csat_reply,
        csat_p=csat_p,
        nps_reply=nps_reply,
        nps_p=nps_p,
        card=list(c.card),
        ssn=list(c.ssn),
        agent_ask=list(c.agent_ask),
        web_comments=list(c.survey.web_comments),
    )


def luhn_complete(digits: str) -> str:
    """The digits with the check digit appended that makes them pass replyboard.sensitive's Luhn check."""
    return next(digits + d for d in "0123456789" if luhn_ok(digits + d))


def _card_text(r: np.random.Generator, templates: list[str]) -> str:
    kind = int(r.integers(0, 4))
    prefix, length = (
        ("4", 16),
        ("5" + str(int(r.integers(1, 6))), 16),
        ("3" + "47"[int(r.integers(0, 2))], 15),
        ("6011", 16),
    )[kind]
    body = prefix + "".join(str(int(d)) for d in r.integers(0, 10, length - len(prefix) - 1))
    cc = luhn_complete(body)
    sep = (" ", "-", "")[int(r.integers(0, 3))]
    groups = (cc[:4], cc[4:10], cc[10:]) if length == 15 else (cc[:4], cc[4:8], cc[8:12], cc[12:])
    template = templates[int(r.integers(0, len(templates)))]
    return template.format(
        cc=sep.join(groups),
        mm=f"{int(r.integers(1, 13)):02d}",
        yy=int(r.integers(27, 32)),
        cvv=f"{int(r.integers(100, 1000))}",
    )


def _ssn_text(r: np.random.Generator, templates: list[str]) -> str:
    area = int(r.integers(1, 900))
    while area == 666:
        area = int(r.integers(1, 900))
    ssn = f"{area:03d}-{int(r.integers(1, 100)):02d}-{int(r.integers(1, 10000)):04d}"
    return templates[int(r.integers(0, len(templates)))].format(ssn=ssn)


# ------------------------------------------------------------------------------------------ generation
class MessageLog:
    """Messages as parallel arrays, appended one stage at a time."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, conv, t, kind: int, body, agent=None, ex: int = -1) -> None:
        """Store copies: callers keep updating their time arrays after logging a stage."""
        n = len(conv)
        if n == 0:
            return
        self.parts.append(
            (
                np.array(conv, np.int32),
                np.array(t, np.int64),
                np.full(n, kind, np.int8),
                np.array(body, np.int32),
                np.full(n, -1, np.int8) if agent is None else np.array(agent, np.int8),
                np.full(n, ex, np.int8),
            )
        )

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate([p[i] for p in self.parts]) for i in range(6))


@dataclass
class Model:
    cal: Calendar
    texts: Texts
    inquiry_cdf: np.ndarray  # per UTC hour since start
    reminder_cdf: np.ndarray
    load: np.ndarray  # per UTC hour since start: agent slowdown from volume


def _weights(cal: Calendar, rng: np.random.Generator, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_hours = (cal.end - cal.start) // HOUR
    t = cal.start + np.arange(n_hours, dtype=np.int64) * HOUR
    loc = cal.local(t)
    local_day = loc // DAY
    wd = (local_day + 3) % 7
    hr = (loc % DAY) // HOUR
    day_i = np.clip(local_day - cal.first_local_day, 0, days - 1)
    day_noise = np.exp(rng.normal(0, 0.1, days)) * np.linspace(0.94, 1.06, days)
    holiday = np.isin(local_day, cal.holiday_days)
    w = HOUR_PROFILE[hr] * WEEKDAY_FACTOR[wd] * day_noise[day_i] * np.where(holiday, HOLIDAY_FACTOR, 1.0)
    rem = ((hr >= 8) & (hr < 20)) * np.where(wd < 5, 1.0, 0.5)
    open_hours = cal.is_open(t + HOUR // 2)
    mean_open = w[open_hours].mean() if open_hours.any() else w.mean()
    load = np.clip((w / mean_open) ** 0.7, 0.6, 1.8)
    return np.cumsum(w), np.cumsum(rem), load


def _sample_times(rng: np.random.Generator, cal: Calendar, cdf: np.ndarray, n: int) -> np.ndarray:
    h = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return cal.start + np.minimum(h, len(cdf) - 1) * HOUR + rng.integers(0, HOUR, n)


def _pick(rng: np.random.Generator, group: np.ndarray, n: int) -> np.ndarray:
    return group[rng.integers(0, len(group), n)]


def _pick_agent(rng: np.random.Generator, team: np.ndarray) -> np.ndarray:
    out = np.empty(len(team), dtype=np.int64)
    for k in range(len(TEAMS)):
        members = np.flatnonzero(np.equal(AGENT_TEAM, k))
        w = np.array([AGENTS[i][4] for i in members])
        m = team == k
        out[m] = members[np.searchsorted(np.cumsum(w) / w.sum(), rng.random(m.sum()), side="right")]
    return out


def _lognormal(rng: np.random.Generator, median, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(rng.normal(0.0, sigma, n))


def _reply_after(rng, model: Model, t_from, t_floor, median, sigma, tail_p, calendar_mask, queue=0) -> np.ndarray:
    """Time of an agent's reply to a message at t_from: the delay (plus `queue`, business seconds spent
    on earlier conversations) is counted in business time (closed -> next opening plus the delay) unless
    calendar_mask (someone answering out of hours). When that would leave the customer waiting more than
    ON_CALL_AFTER (weekends, holidays), the on-call agent usually answers within a few hours instead, so
    few conversations are split by the session gap."""
    n = len(t_from)
    d = _lognormal(rng, median, sigma, n)
    tail = rng.random(n) < tail_p
    d[tail] *= rng.uniform(6, 25, tail.sum())
    d = np.clip(d, 20, 3 * DAY).astype(np.int64)
    t_bus = model.cal.f_inv(model.cal.f(t_from) + d + queue)
    t = np.where(calendar_mask, t_from + d, t_bus)
    on_call = (t - t_from > ON_CALL_AFTER) & (rng.random(n) < 0.93)
    wait = np.clip(_lognormal(rng, 1.5 * HOUR, 0.8, n), 300, ON_CALL_AFTER).astype(np.int64)
    t_on_call = t_from + wait
    # the on-call agent sleeps 22:00-08:00 (local): night messages are answered from 08:00
    hour = (model.cal.local(t_on_call) % DAY) // HOUR
    t_on_call += np.where(hour < 8, 8 - hour, np.where(hour >= 22, 32 - hour, 0)) * HOUR
    t = np.where(on_call, t_on_call, t)
    return np.maximum(t, t_floor + rng.integers(15, 90, n))


def _load_at(model: Model, t: np.ndarray) -> np.ndarray:
    return model.load[np.clip((t - model.cal.start) // HOUR, 0, len(model.load) - 1)]


def _survey_replies(rng, texts: Texts, kind: str, agent: np.ndarray) -> np.ndarray:
    n = len(agent)
    poor = AGENT_QUALITY[agent] == 1
    if kind == "csat":
        good_p = np.array([0.012, 0.012, 0.02, 0.03, 0.05, 0.09, 0.17, 0.26, 0.356])
        poor_p = np.array([0.04, 0.05, 0.07, 0.09, 0.12, 0.16, 0.2, 0.16, 0.11])
        table, fmt_p = texts.csat_reply, texts.csat_p
    else:
        good_p = np.array([0.015, 0.01, 0.01, 0.015, 0.02, 0.04, 0.05, 0.1, 0.15, 0.25, 0.34])
        poor_p = np.array([0.05, 0.04, 0.05, 0.06, 0.07, 0.1, 0.12, 0.16, 0.15, 0.11, 0.09])
        table, fmt_p = texts.nps_reply, texts.nps_p
    cg, cp = np.cumsum(good_p), np.cumsum(poor_p)
    u = rng.random(n) * np.where(poor, cp[-1], cg[-1])
    score = np.where(poor, np.searchsorted(cp, u, side="right"), np.searchsorted(cg, u, side="right"))
    score = np.minimum(score, table.shape[1] - 1)
    fmt = np.searchsorted(np.cumsum(fmt_p), rng.random(n) * fmt_p.sum(), side="right")
    return table[np.minimum(fmt, table.shape[0] - 1), score, agent]


def generate_batch(rng: np.random.Generator, model: Model, n_conv: int, offset: int, log: MessageLog) -> dict:
    """n_conv conversations with ids offset..offset+n_conv-1; returns per-conversation arrays."""
    tx = model.texts
    cal = model.cal
    cid = np.arange(offset, offset + n_conv, dtype=np.int64)
    is_rem = rng.random(n_conv) < REMINDER_SHARE
    line = np.where(
        is_rem,
        rng.choice([0, 2], p=[0.25, 0.75], size=n_conv),
        rng.choice(3, p=[0.45, 0.35, 0.20], size=n_conv),
    )
    team = LINE_TEAM[line]
    agent = _pick_agent(rng, team)
    agent2 = _pick_agent(rng, team)
    handoff_at = np.where(rng.random(n_conv) < 0.06, rng.integers(1, 4, n_conv), 10_000)
    t_start = np.empty(n_conv, dtype=np.int64)
    t_start[~is_rem] = _sample_times(rng, cal, model.inquiry_cdf, int((~is_rem).sum()))
    t_start[is_rem] = _sample_times(rng, cal, model.reminder_cdf, int(is_rem.sum()))
    t_last = t_start.copy()
    answered = np.zeros(n_conv, dtype=bool)
    last_agent = agent.copy()

    # --- reminders: automated outbound, some answered
    ri = np.nonzero(is_rem)[0]
    rem_body = np.empty(len(ri), dtype=np.int32)
    for ln in (0, 2):
        m = line[ri] == ln
        rem_body[m] = _pick(rng, tx.reminder[ln], int(m.sum()))
    log.add(cid[ri], t_start[ri], K_REMINDER, rem_body)
    replied = rng.random(len(ri)) < 0.42
    rtype = rng.choice(4, p=[0.52, 0.30, 0.08, 0.10], size=len(ri))  # confirm, question, stop, other
    t_rep = t_start[ri] + np.clip(_lognormal(rng, 900, 1.3, len(ri)), 30, 20 * HOUR).astype(np.int64)
    m = replied & (rtype == 0)
    conf = ri[m]
    log.add(cid[conf], t_rep[m], K_REM_REPLY, _pick(rng, tx.confirm, len(conf)))
    t_last[conf] = t_rep[m]
    ack = rng.random(len(conf)) < 0.5
    ca = conf[ack]
    t_ack = _reply_after(
        rng,
        model,
        t_rep[m][ack],
        t_rep[m][ack],
        600 * AGENT_SPEED[agent[ca]],
        0.9,
        0.03,
        np.zeros(len(ca), bool),
    )
    log.add(cid[ca], t_ack, K_REM_ACK, _pick(rng, tx.ack, len(ca)), agent[ca])
    t_last[ca] = t_ack
    answered[ca] = True
    m = replied & (rtype == 2)
    st = ri[m]
    log.add(cid[st], t_rep[m], K_STOP, _pick(rng, tx.stop, len(st)))
    t_opt = t_rep[m] + rng.integers(1, 5, len(st))
    log.add(cid[st], t_opt, K_OPTOUT, np.full(len(st), tx.optout))
    t_last[st] = t_opt

    # --- engaged conversations: inquiries, and reminders answered with a question
    m = replied & ((rtype == 1) | (rtype == 3))
    e = np.concatenate([np.nonzero(~is_rem)[0], ri[m]])
    ne = len(e)
    e_rem = is_rem[e]
    t_c = np.where(e_rem, 0, t_start[e])
    t_c[e_rem] = t_rep[m]
    first_body = np.empty(ne, dtype=np.int32)
    for ln in range(3):
        mm = ~e_rem & (line[e] == ln)
        first_body[mm] = _pick(rng, tx.open[ln], int(mm.sum()))
    q = np.nonzero(e_rem)[0]
    first_body[q] = np.where(rtype[m] == 1, _pick(rng, tx.question, len(q)), _pick(rng, tx.ham, len(q)))
    log.add(cid[e[~e_rem]], t_c[~e_rem], K_OPEN, first_body[~e_rem])
    log.add(cid[e[e_rem]], t_c[e_rem], K_REM_REPLY, first_body[e_rem])
    tl = t_c.copy()
    b0 = np.where(e_rem, 1, rng.choice([1, 2, 3], p=[0.72, 0.2, 0.08], size=ne))
    for k in (1, 2):
        mm = np.nonzero(b0 > k)[0]
        tl[mm] += rng.integers(8, 50, len(mm))
        log.add(cid[e[mm]], tl[mm], K_BURST, _pick(rng, tx.burst, len(mm)))
    closed = ~cal.is_open(t_c)
    t_auto = t_c + rng.integers(1, 5, ne)
    auto = np.nonzero(closed & ~cal.is_open(t_auto))[0]
    log.add(cid[e[auto]], t_auto[auto], K_AUTO, np.full(len(auto), tx.auto))

    unanswered = rng.random(ne) < 0.03
    nudge = np.nonzero(unanswered & (rng.random(ne) < 0.4))[0]
    tl[nudge] += rng.integers(2 * HOUR, 20 * HOUR, len(nudge))
    log.add(cid[e[nudge]], tl[nudge], K_NUDGE, _pick(rng, tx.nudge, len(nudge)))

    # first human reply
    a = np.nonzero(~unanswered)[0]
    ag = agent[e[a]]
    speed = AGENT_SPEED[ag] * LINE_SPEED[line[e[a]]]
    cl = closed[a]
    median = np.where(cl, 900.0, 540.0 * _load_at(model, t_c[a])) * speed
    on_call = cl & (rng.random(len(a)) < 0.05)
    # the overnight queue is worked through during the first morning hours, slower agents take longer
    queue = np.where(cl & ~on_call, rng.uniform(0, 3 * HOUR, len(a)) * np.sqrt(speed), 0).astype(np.int64)
    t_r = _reply_after(rng, model, t_c[a], tl[a], median, 0.9, 0.02, on_call, queue)
    n_first = len(tx.agent_first)
    log.add(cid[e[a]], t_r, K_AGENT_FIRST, tx.agent_first[rng.integers(0, n_first, len(a)), ag], ag)
    two = rng.random(len(a)) < 0.15
    t_r2 = t_r[two] + rng.integers(15, 120, int(two.sum()))
    log.add(cid[e[a[two]]], t_r2, K_AGENT_FIRST2, _pick(rng, tx.agent_follow, len(t_r2)), ag[two])
    t_r[two] = t_r2
    tl[a] = t_r
    t_agent = np.zeros(ne, dtype=np.int64)
    t_agent[a] = t_r
    last_is_agent = np.zeros(ne, dtype=bool)
    last_is_agent[a] = True
    answered[e[a]] = True

    # exchanges
    n_ex = np.where(
        e_rem,
        rng.choice(3, p=[0.5, 0.3, 0.2], size=ne),
        rng.choice(6, p=[0.22, 0.28, 0.2, 0.12, 0.06, 0.12], size=ne),
    )
    long = n_ex == 5
    n_ex[long] = rng.integers(5, 21, int(long.sum()))
    n_ex[unanswered] = 0
    final_unanswered = rng.random(ne) < 0.025
    e_agent = agent[e].copy()
    for j in range(int(n_ex.max()) if ne else 0):
        idx = np.nonzero(n_ex > j)[0]
        n = len(idx)
        d = np.clip(_lognormal(rng, 150, 1.2, n), 10, 6 * HOUR)
        slow = rng.random(n) < 0.04
        d[slow] = rng.uniform(1 * HOUR, 14 * HOUR, int(slow.sum()))
        tc = tl[idx] + d.astype(np.int64)
        is_last = n_ex[idx] == j + 1
        closing = is_last & (rng.random(n) < 0.55)
        e_agent[idx] = np.where(handoff_at[e[idx]] <= j + 1, agent2[e[idx]], e_agent[idx])
        ag = e_agent[idx]
        body = np.where(rng.random(n) < 0.3, _pick(rng, tx.ham, n), _pick(rng, tx.follow, n))
        body = np.where(closing, tx.closing[rng.integers(0, len(tx.closing), n), ag], body)
        log.add(cid[e[idx]], tc, K_FOLLOW, body, ex=min(j, 127))
        twice = np.nonzero(~closing & (rng.random(n) < 0.15))[0]  # indices of the follow-ups sent in two texts
        tc_end = tc.copy()
        tc_end[twice] += rng.integers(8, 60, len(twice))
        log.add(cid[e[idx[twice]]], tc_end[twice], K_FOLLOW2, _pick(rng, tx.follow, len(twice)), ex=min(j, 127))
        tl[idx] = tc_end
        last_is_agent[idx] = False
        reply = ~(is_last & final_unanswered[idx])
        r_i, ag_r, tc_r, cl_r = idx[reply], ag[reply], tc[reply], closing[reply]
        nr = len(r_i)
        closed_c = ~cal.is_open(tc_r)
        late = closed_c & (tc_r - t_agent[r_i] < 2700) & (rng.random(nr) < 0.5)
        speed = AGENT_SPEED[ag_r] ** 0.8 * LINE_SPEED[line[e[r_i]]]
        median = np.where(closed_c, 600.0, 300.0 * _load_at(model, tc_r)) * speed
        t_r = _reply_after(rng, model, tc_r, tl[r_i], median, 1.0, 0.06, late)
        body = np.where(
            cl_r,
            tx.agent_closing[rng.integers(0, len(tx.agent_closing), nr), ag_r],
            _pick(rng, tx.agent_follow, nr),
        )
        log.add(cid[e[r_i]], t_r, K_AGENT, body, ag_r, ex=min(j, 127))
        two = ~cl_r & (rng.random(nr) < 0.1)
        t_r2 = t_r[two] + rng.integers(15, 90, int(two.sum()))
        log.add(
            cid[e[r_i[two]]],
            t_r2,
            K_AGENT2,
            _pick(rng, tx.agent_follow, len(t_r2)),
            ag_r[two],
            ex=min(j, 127),
        )
        t_r[two] = t_r2
        tl[r_i] = t_r
        t_agent[r_i] = t_r
        last_is_agent[r_i] = True

    # surveys at the end of answered conversations
    p_survey = np.where(e_rem, 0.15, 0.35)
    s = np.nonzero(last_is_agent & (rng.random(ne) < p_survey))[0]
    ns = len(s)
    stype = rng.choice(3, p=[0.75, 0.10, 0.15], size=ns)  # csat, nps, csat then nps
    tp = tl[s] + rng.integers(180, 2400, ns)
    first_is_csat = stype != 1
    log.add(
        cid[e[s[first_is_csat]]],
        tp[first_is_csat],
        K_CSAT_PROMPT,
        np.full(int(first_is_csat.sum()), tx.csat_prompt),
    )
    log.add(
        cid[e[s[~first_is_csat]]],
        tp[~first_is_csat],
        K_NPS_PROMPT,
        np.full(int((~first_is_csat).sum()), tx.nps_prompt),
    )
    tl[s] = tp
    ag = e_agent[s]
    resp = rng.random(ns) < np.where(first_is_csat, 0.55, 0.45)
    stop = resp & (rng.random(ns) < 0.03)
    t_sr = tp + np.clip(_lognormal(rng, 240, 1.3, ns), 20, 20 * HOUR).astype(np.int64)
    csat_body = _survey_replies(rng, tx, "csat", ag)
    nps_body = _survey_replies(rng, tx, "nps", ag)
    m = resp & ~stop & first_is_csat
    log.add(cid[e[s[m]]], t_sr[m], K_CSAT_REPLY, csat_body[m])
    m = resp & ~stop & ~first_is_csat
    log.add(cid[e[s[m]]], t_sr[m], K_NPS_REPLY, nps_body[m])
    log.add(cid[e[s[stop]]], t_sr[stop], K_STOP, _pick(rng, tx.stop, int(stop.sum())))
    t_opt = t_sr[stop] + rng.integers(1, 5, int(stop.sum()))
    log.add(cid[e[s[stop]]], t_opt, K_OPTOUT, np.full(int(stop.sum()), tx.optout))
    tl[s[resp]] = t_sr[resp]
    tl[s[stop]] = t_opt
    both = np.nonzero(resp & ~stop & (stype == 2))[0]
    tp2 = t_sr[both] + rng.integers(20, 180, len(both))
    log.add(cid[e[s[both]]], tp2, K_NPS_PROMPT, np.full(len(both), tx.nps_prompt))
    tl[s[both]] = tp2
    resp2 = rng.random(len(both)) < 0.5
    t_sr2 = tp2[resp2] + np.clip(_lognormal(rng, 120, 1.2, int(resp2.sum())), 15, 20 * HOUR).astype(np.int64)
    log.add(cid[e[s[both[resp2]]]], t_sr2, K_NPS_REPLY, _survey_replies(rng, tx, "nps", ag[both[resp2]]))
    tl[s[both[resp2]]] = t_sr2

    t_last[e] = tl
    last_agent[e] = e_agent
    return {"line": line, "t_start": t_start, "t_last": t_last, "answered": answered, "agent": last_agent}


# ------------------------------------------------------------------------------------ contacts, output
def _contact_numbers(rng: np.random.Generator, k: int) -> np.ndarray:
    """k distinct +1 numbers with real area codes and exchanges (never 555, never N11)."""
    out = np.zeros(0, dtype=np.int64)
    while len(out) < k:
        n = int((k - len(out)) * 1.05) + 16
        area = np.array(AREA_CODES)[rng.integers(0, len(AREA_CODES), n)]
        exch = rng.integers(200, 1000, n)
        bad = (exch == 555) | (exch % 100 == 11)
        nums = 10_000_000_000 + area * 10_000_000 + exch * 10_000 + rng.integers(0, 10_000, n)
        nums = np.concatenate([out, nums[~bad]])
        _, first = np.unique(nums, return_index=True)
        out = nums[np.sort(first)]
    return out[:k]


def _assign_contacts(rng: np.random.Generator, start: np.ndarray, end: np.ndarray, gap: int) -> np.ndarray:
    """Contact index per conversation; a contact's conversations are always more than `gap` apart.

    Contacts get 1-8 conversations (about a third get two or more); a conversation that would start
    within `gap` of an earlier one of the same contact goes to a new contact instead.
    """
    c = len(start)
    counts = rng.choice(8, p=[0.7, 0.17, 0.06, 0.035, 0.02, 0.008, 0.004, 0.003], size=c + 8) + 1
    k = int(np.searchsorted(np.cumsum(counts), c)) + 1
    counts = counts[:k]
    counts[-1] -= counts.sum() - c
    contact = rng.permutation(np.repeat(np.arange(k), counts))
    order = np.lexsort((start, contact))
    cs, st, en = contact[order], start[order], end[order]
    same = np.r_[False, cs[1:] == cs[:-1]]
    run = np.cumsum(~same) - 1
    shift = run.astype(np.int64) << 40  # later runs dominate, so a plain running max stays inside each run
    run_max = np.maximum.accumulate((en - en.min()) + shift) - shift + en.min()
    prev_max = np.r_[np.int64(0), run_max[:-1]]
    conflict = same & (st - prev_max <= gap)
    contact[order[conflict]] = k + np.arange(int(conflict.sum()))
    _, contact = np.unique(contact, return_inverse=True)
    return contact


def default_days(n_messages: int) -> int:
    return int(min(365, max(60, round(n_messages / 500))))


def generate(
    n_messages: int,
    seed: int,
    start: date = DEFAULT_START,
    days: int | None = None,
    settings: Settings | None = None,
    progress: bool = False,
) -> dict[str, pl.DataFrame]:
    """Build the four tables in memory (messages, surveys, agents, lines)."""
    t0 = _time.perf_counter()
    say = (lambda msg: _log(msg, t0)) if progress else (lambda msg: None)
    if n_messages < 1:
        raise ValueError("--messages must be at least 1")
    settings = settings or load_settings()
    days = days or default_days(n_messages)
    rng = np.random.Generator(np.random.PCG64(seed))
    cal = Calendar.build(settings, start, days)
    inquiry_cdf, reminder_cdf, load = _weights(cal, rng, days)
    model = Model(cal, build_texts(), inquiry_cdf, reminder_cdf, load)
    last_day = start + timedelta(days=days - 1)
    say(f"calendar {start}..{last_day} ({days} days), {len(model.texts.pool.strings)} texts")

    log = MessageLog()
    per_conv: list[dict] = []
    total_convs, in_window, per_conv_avg = 0, 0, 8.2
    while in_window < n_messages:
        n_conv = int((n_messages - in_window) / per_conv_avg * 1.04) + 20
        before = len(log.parts)
        per_conv.append(generate_batch(rng, model, n_conv, total_convs, log))
        total_convs += n_conv
        got = sum(int((p[1] < cal.end).sum()) for p in log.parts[before:])
        in_window += got
        per_conv_avg = max(got / n_conv, 1.0)
        say(f"conversations {total_convs:,}, messages in period {in_window:,}")
    conv, t, kind, body, agent, ex = log.arrays()
    log.parts.clear()
    info = {k: np.concatenate([p[k] for p in per_conv]) for k in per_conv[0]}

    # exactly n_messages: conversations in random order, the last one cut short
    keep = t < cal.end
    conv, t, kind, body, agent, ex = conv[keep], t[keep], kind[keep], body[keep], agent[keep], ex[keep]
    counts = np.bincount(conv, minlength=total_convs)
    perm = rng.permutation(total_convs)
    cs = np.cumsum(counts[perm])
    k = int(np.searchsorted(cs, n_messages, side="right"))
    chosen = np.zeros(total_convs, dtype=bool)
    chosen[perm[:k]] = True
    keep = chosen[conv]
    rest = n_messages - (int(cs[k - 1]) if k else 0)
    if rest > 0:
        partial = perm[k]
        pm = np.nonzero(conv == partial)[0]
        keep[pm[np.argsort(t[pm], kind="stable")[:rest]]] = True
        chosen[partial] = True
    conv, t, kind, body, agent, ex = conv[keep], t[keep], kind[keep], body[keep], agent[keep], ex[keep]
    say(f"selected {len(conv):,} messages from {int(chosen.sum()):,} conversations")

    # contacts
    kept = np.nonzero(chosen)[0]
    end = np.minimum(info["t_last"][kept], cal.end)
    contact_of = np.full(total_convs, -1, dtype=np.int64)
    contact_of[kept] = _assign_contacts(rng, info["t_start"][kept], end, int(settings.session_gap_hours * HOUR))
    n_contacts = int(contact_of.max()) + 1
    numbers = _contact_numbers(rng, n_contacts)
    whatsapp = rng.random(n_contacts) < WHATSAPP_SHARE
    say(f"contacts {n_contacts:,}")

    # sensitive data for the compliance metrics
    pool = model.texts.pool
    body = _add_sensitive(rng, model.texts, n_messages, conv, kind, body, ex)

    # final order: time, then conversation (times within a conversation are strictly increasing)
    rel = t - cal.start
    bits = int(total_convs).bit_length()
    if int(rel.max()).bit_length() + bits <= 62:
        order = np.argsort((rel << bits) | conv.astype(np.int64))
    else:
        order = np.lexsort((conv, t))
    conv, t, kind, body, agent = conv[order], t[order], kind[order], body[order], agent[order]
    say("sorted")

    messages = _messages_frame(rng, pool, info, contact_of, numbers, whatsapp, conv, t, kind, body, agent)
    surveys = _web_surveys(rng, cal, info, kept, contact_of, numbers, n_messages, model.texts.web_comments)
    agents = pl.DataFrame(
        {
            "agent_id": [a[0] for a in AGENTS],
            "name": [a[1] for a in AGENTS],
            "team": [TEAMS[a[2]] for a in AGENTS],
        }
    )
    lines = pl.DataFrame(
        {
            "line_number": [ln[0] for ln in LINES],
            "name": [ln[1] for ln in LINES],
            "team": [TEAMS[ln[2]] for ln in LINES],  # the team that owns what no agent owns on the line
        }
    )
    say("tables built")
    return {"messages": messages, "surveys": surveys, "agents": agents, "lines": lines}


def _add_sensitive(rng, texts: Texts, n_messages: int, conv, kind, body, ex) -> np.ndarray:
    pool = texts.pool
    body = body.copy()
    follow = np.nonzero(kind == K_FOLLOW)[0]
    if len(follow) == 0:
        return body
    n_card = max(int(n_messages >= 5000), int(rng.binomial(n_messages, 1 / 6000)))
    n_ssn = max(int(n_messages >= 10000), int(rng.binomial(n_messages, 1 / 15000)))
    n_ask = max(int(n_messages >= 20000), int(rng.binomial(n_messages, 1 / 60000)))
    # an agent asks for a card number in the first reply; the customer's next text holds one
    f0 = follow[ex[follow] == 0]
    two = np.unique(conv[kind == K_AGENT_FIRST2])
    cand = np.unique(conv[f0])
    cand = cand[~np.isin(cand, two)]
    asked = rng.choice(cand, size=min(n_ask, len(cand)), replace=False) if len(cand) else cand
    asked.sort()
    if len(asked):
        m = np.nonzero((kind == K_AGENT_FIRST) & np.isin(conv, asked))[0]
        body[m] = pool.group(texts.agent_ask[int(i)] for i in rng.integers(0, 2, len(m)))
        m = f0[np.isin(conv[f0], asked)]
        body[m] = pool.group(_card_text(rng, texts.card) for _ in range(len(m)))
    free = follow[~np.isin(conv[follow], asked)]
    pos = rng.choice(free, size=min(n_card + n_ssn, len(free)), replace=False)
    found = [_card_text(rng, texts.card) for _ in range(min(n_card, len(pos)))]
    found += [_ssn_text(rng, texts.ssn) for _ in range(len(pos) - len(found))]
    body[pos] = pool.group(found)
    return body


def _messages_frame(rng, pool: Pool, info, contact_of, numbers, whatsapp, conv, t, kind, body, agent) -> pl.DataFrame:
    n = len(conv)
    inbound = KIND_INBOUND[kind]
    u = rng.random(n)
    status = np.where(inbound, 0, np.where(u < 0.01, 2, np.where(u < 0.025, 3, 1))).astype(np.uint32)
    contact = contact_of[conv]
    width = max(7, len(str(n)))
    contact_series = pl.DataFrame({"n": numbers}).select(pl.format("+{}", pl.col("n"))).to_series()
    lines = [ln[0] for ln in LINES]
    agent_ids = [a[0] for a in AGENTS]
    a = pl.Series(agent.astype(np.int32))
    agent_idx = pl.select(pl.when(a >= 0).then(a)).to_series().cast(pl.UInt32)
    df = pl.DataFrame(
        {
            "message_id": pl.select(
                pl.lit("m") + pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width)
            ).to_series(),
            "created_at": pl.from_epoch(pl.Series(t), time_unit="s"),
            "direction": pl.Series(["outbound", "inbound"], dtype=pl.Enum(["inbound", "outbound"])).gather(
                pl.Series(inbound.astype(np.uint32))
            ),
            "line_number": pl.Series(lines, dtype=pl.Enum(lines)).gather(
                pl.Series(info["line"][conv].astype(np.uint32))
            ),
            "contact_number": contact_series.gather(pl.Series(contact.astype(np.uint32))),
            "agent_id": pl.Series(agent_ids, dtype=pl.Enum(agent_ids)).gather(agent_idx),
            "is_automated": KIND_AUTOMATED[kind],
            "body": pl.Series(pool.strings, dtype=pl.Enum(pool.strings)).gather(pl.Series(body.astype(np.uint32))),
            "channel": pl.Series(["sms", "whatsapp"], dtype=pl.Enum(["sms", "whatsapp"])).gather(
                pl.Series(whatsapp[contact].astype(np.uint32))
            ),
            "conversation_id": pl.select(pl.repeat(None, n, dtype=pl.String)).to_series(),
            "status": pl.Series(
                ["received", "delivered", "failed", "undelivered"],
                dtype=pl.Enum(["received", "delivered", "failed", "undelivered"]),
            ).gather(pl.Series(status)),
        }
    )
    return df


def _web_surveys(
    rng, cal: Calendar, info, kept, contact_of, numbers, n_messages: int, comments: list[str]
) -> pl.DataFrame:
    n_web = max(1, round(n_messages * 0.01))
    elig = kept[info["answered"][kept]]
    if len(elig) == 0:
        return pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in SURVEY_COLUMNS})
    pick = rng.choice(elig, size=min(len(elig), int(n_web * 1.5) + 5), replace=False)
    received = info["t_last"][pick] + np.clip(_lognormal(rng, 3 * HOUR, 1.0, len(pick)), 300, 3 * DAY).astype(np.int64)
    ok = received < cal.end
    pick, received = pick[ok][:n_web], received[ok][:n_web]
    order = np.argsort(received, kind="stable")
    pick, received = pick[order], received[order]
    n = len(pick)
    survey = np.where(rng.random(n) < 0.75, "csat", "nps")
    csat = np.clip(
        np.searchsorted(np.cumsum([0.02, 0.02, 0.03, 0.04, 0.06, 0.1, 0.18, 0.25, 0.3]), rng.random(n), side="right")
        + 1,
        1,
        9,
    )
    nps = np.clip(
        np.searchsorted(
            np.cumsum([0.02, 0.01, 0.01, 0.02, 0.02, 0.04, 0.06, 0.1, 0.15, 0.25, 0.32]),
            rng.random(n),
            side="right",
        ),
        0,
        10,
    )
    score = np.where(survey == "csat", csat, nps)
    u = rng.random(n)
    texts = [
        ""
        if u[i] < 0.02
        else "n/a"
        if u[i] < 0.04
        else f"{score[i]} - {comments[i % len(comments)]}"
        if u[i] < 0.12
        else str(score[i])
        for i in range(n)
    ]
    return pl.DataFrame(
        {
            "response_id": [f"r{i + 1:06d}" for i in range(n)],
            "received_at": pl.from_epoch(pl.Series(received, dtype=pl.Int64), time_unit="s"),
            "contact_number": ["+" + str(numbers[contact_of[c]]) for c in pick],
            "survey": survey.tolist(),
            "reply_text": texts,
            "line_number": [LINES[int(info["line"][c])][0] for c in pick],
        }
    )


def write(frames: dict[str, pl.DataFrame], out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name in ("messages", "surveys", "agents", "lines"):
        df = frames[name]
        df.write_csv(out / f"{name}.csv", datetime_format=ISO_FORMAT)
        rows[name] = df.height
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sample_data.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, required=True, help="exact number of rows in messages.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="directory for the CSVs (created)")
    parser.add_argument("--start", type=date.fromisoformat, default=DEFAULT_START, help="first day (team timezone)")
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help="length of the period; default max(60, messages/500), at most 365",
    )
    parser.add_argument("--settings", type=Path, default=None, help="settings.yaml (default: the repo's)")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be at least 1")
    if args.days is not None and args.days < 1:
        parser.error("--days must be at least 1")
    t0 = _time.perf_counter()
    frames = generate(args.messages, args.seed, args.start, args.days, load_settings(args.settings), progress=True)
    rows = write(frames, args.out)
    _log(f"wrote {args.out}", t0)
    parts = ", ".join(f"{name}.csv {n:,} rows" for name, n in rows.items())
    print(f"wrote {args.out}: {parts} in {_time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
