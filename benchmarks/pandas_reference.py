"""The pandas reference: every registry metric computed the way an analyst would in a notebook.

Replyboard is measured against this (issue 7: "Replyboard >= 5x faster on the whole set, with the same
numbers"). It is a second, independent implementation of the written definitions
(../shared/reference/metrics.md, README "Metric definitions", metrics/registry.py descriptions) in plain,
idiomatic, vectorised pandas (groupby, shift, cumsum, merge, merge_asof): not deliberately slow, not
heroically optimised. It shares with Replyboard only what is a *definition*, not an engine:

* ``replyboard.business_time.calendar_frame``: the table of opening windows (team timezone, several
  windows a day, holidays, DST). F(t) = open seconds before t is computed here with ``pd.merge_asof``;
  business seconds = F(reply) - F(start); the deadline is the close of the day of the first window ending
  after the block started (also a ``merge_asof``).
* ``replyboard.survey_parse.parse_score``: how a texted reply becomes a score and a parse status, applied to
  each distinct reply text.
* ``replyboard.sensitive.find_sensitive``: the Luhn / SSN rules, applied to each distinct body holding nine
  or more ASCII digits (every card or SSN has at least nine).
* ``replyboard.settings``: the team's settings (timezone, hours, survey prompts, opt-out keywords, ...).

Everything else is derived from the canonical CSVs here: message kinds (automation by flag, line or
auto-reply template; survey prompts and the answers that follow them; opt-outs; failed sends),
conversations (the source's id, else line + contact split by the session gap, except that an outbound
text to a customer still waiting continues the conversation), inquiry blocks with their first human reply,
calendar and business seconds, same-business-day deadlines, survey responses (answers to prompts and the
survey file), and then every metric over the whole data set (no filters, no grouping), in calendar hours
and, for the metrics that depend on them, in business hours (keys ``<name>@business``).

What is timed (``compare``), and why the two sides differ in what they include:

* **pandas: read + derive + metrics.** The analyst has no warehouse: each notebook run reads the CSVs,
  derives the facts and computes the metrics. Median of 3 full runs.
* **Replyboard: metrics on the warehouse.** Derivation is done once at load and timed separately as ETL
  (the "full ETL" row of the benchmark table). Each registry metric is one ``metrics.query.compute`` call,
  as in benchmarks/run.py ``bench_metrics``: run once warm, then the median of 3; the figure is the SUM
  over all metrics (and over the business-hours variants of the hours-dependent ones).

Values are compared metric by metric: counts exactly, everything else with a relative tolerance of 1e-9;
None (no data) equals only None.

One known difference, kept on purpose and reported rather than copied: an inbound text is an opt-out here
when, with whitespace and punctuation trimmed from both ends, it equals a keyword (case-insensitive) -- the
rule replyboard.survey_parse documents for opt-out replies. Replyboard's ETL (etl/derive.py) trims spaces and
strips ASCII punctuation at the end only, so "STOP…" or a STOP after a newline is an inquiry there (and a
"STOP…" answering a survey counts in survey_replies_opt_out but not in opt_outs). The generated data holds no
such text; tests/test_bench_harness.py keeps the case as an expected failure.

Assumptions (the canonical CSVs as ``sample_data.generate`` writes them): phone numbers are already E.164
(no phone normalisation here); a timestamp without a UTC offset is local time in the team timezone
(``tz_localize``: a time the clocks skipped is dropped, one they went through twice is its first, DST,
occurrence); the last row for a message / response id wins, as in the ETL; rows with an unreadable
timestamp, an unknown direction or survey kind are dropped.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
import time
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from replyboard.business_time import calendar_frame
from replyboard.sensitive import find_sensitive
from replyboard.settings import Settings, load_settings
from replyboard.survey_parse import parse_score

if TYPE_CHECKING:  # the metrics are imported where they run: the reference computes without them
    from metrics.params import Hours, Params

FAILED_STATUSES = ("failed", "undelivered", "canceled")
UNSENT_STATUSES = ("accepted", "scheduled", "queued", "sending")  # not a reply until sent or delivered
TRUE_VALUES = ("true", "t", "1", "yes", "y")
FOLLOW_UP_SECONDS = 7200
BUSINESS = "@business"
# Testimonials: what is removed from a reply before counting the letters left (written again here, not imported)
BEYOND_SCORE = (
    r"[0-9]+|\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|out of|of|i'?d say|thanks|thank you|ty)\b"
    r"|[^a-z]"
)
TOLERANCE = 1e-9
US = 1_000_000  # microseconds per second


@lru_cache(maxsize=1)
def edge_characters() -> str:
    """What may surround an opt-out keyword ("STOP.", " stop!!", "STOP…"): whitespace and punctuation,
    the rule replyboard.survey_parse documents for an opt-out reply."""
    return "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() or unicodedata.category(c)[0] == "P")


Value = float | int | None


# ----------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------


def _read(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    df.columns = df.columns.str.strip().str.lower()
    return df


def _kind(columns: Iterable[str]) -> str | None:
    cols = set(columns)
    for kind, key in (
        ("messages", "message_id"),
        ("surveys", "response_id"),
        ("agents", "agent_id"),
        ("lines", "line_number"),
    ):
        if key in cols:
            return kind
    return None


def _clean(s: pd.Series) -> pd.Series:
    """Trimmed text, empty -> missing."""
    s = s.str.strip()
    return s.mask(s == "")


def read_files(files: Iterable[Path]) -> dict[str, pd.DataFrame]:
    """The canonical CSVs by kind (several files of one kind are concatenated in order)."""
    parts: dict[str, list[pd.DataFrame]] = {}
    for path in files:
        df = _read(Path(path))
        kind = _kind(df.columns)
        if kind:
            parts.setdefault(kind, []).append(df)
    return {k: pd.concat(v, ignore_index=True) for k, v in parts.items()}


_OFFSET = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_TIME_OF_DAY = r"\d:\d\d"


def instants(text: pd.Series, zone: str) -> pd.Series:
    """UTC instants of ISO 8601 texts: with an offset as written; without one, local time in `zone`."""
    text = text.str.strip()
    offset = text.str.contains(_OFFSET, regex=True, na=False)
    out = pd.to_datetime(text.where(offset), utc=True, format="ISO8601", errors="coerce")
    naive = ~offset & text.str.contains(_TIME_OF_DAY, regex=True, na=False)
    if naive.any():
        local = pd.to_datetime(text[naive], format="ISO8601", errors="coerce")
        first = np.ones(len(local), dtype=bool)  # ambiguous: True = the DST (first) occurrence
        out[naive] = local.dt.tz_localize(zone, ambiguous=first, nonexistent="NaT").dt.tz_convert("UTC")
    return out


def _participants(contact: pd.Series) -> pd.Series:
    """A group text's participants (several numbers, comma- or semicolon-separated) as one key: the set,
    sorted and comma-joined (README "Group texts"; numbers are taken as written, like every number here)."""
    return contact.map(
        lambda c: ",".join(sorted({p.strip() for p in re.split("[,;]", c) if p.strip()})) if isinstance(c, str) else c
    )


def prepare_messages(raw: pd.DataFrame, zone: str = "UTC") -> pd.DataFrame:
    cols = {
        c: raw[c] if c in raw else pd.Series(pd.NA, index=raw.index, dtype="str")
        for c in (
            "message_id",
            "created_at",
            "direction",
            "line_number",
            "contact_number",
            "agent_id",
            "is_automated",
            "body",
            "conversation_id",
            "status",
        )
    }
    m = pd.DataFrame(
        {
            "message_id": _clean(cols["message_id"]),
            "created_at": instants(cols["created_at"], zone),
            "direction": cols["direction"].str.strip().str.lower(),
            "line_number": _clean(cols["line_number"]),
            "contact_number": _participants(_clean(cols["contact_number"])),
            "agent_id": _clean(cols["agent_id"]),
            "is_automated": cols["is_automated"].fillna("").str.strip().str.lower().isin(TRUE_VALUES),
            "body": cols["body"],
            "src_conv": _clean(cols["conversation_id"]),
            "status": _clean(cols["status"]).str.lower(),
        }
    )
    m = m.dropna(subset=["message_id", "created_at", "line_number", "contact_number"])
    m = m[m["direction"].isin(["inbound", "outbound"])]
    m = m.drop_duplicates("message_id", keep="last")  # a later row for the same id wins
    m["created_at"] = m["created_at"].dt.as_unit("us")
    return m


def prepare_surveys(raw: pd.DataFrame | None, zone: str = "UTC") -> pd.DataFrame:
    if raw is None or raw.empty:
        return pd.DataFrame({"response_id": [], "survey": [], "reply_text": []})
    s = pd.DataFrame(
        {
            "response_id": _clean(raw["response_id"]),
            "received_at": instants(raw["received_at"], zone),
            "contact_number": _clean(raw["contact_number"]),
            "survey": raw["survey"].str.strip().str.lower(),
            "reply_text": raw.get("reply_text", pd.NA),
        }
    )
    s = s.dropna(subset=["response_id", "received_at", "contact_number"])
    s = s[s["survey"].isin(["csat", "nps"])]
    return s.drop_duplicates("response_id", keep="last")


# ----------------------------------------------------------------------------------------------------
# Deriving
# ----------------------------------------------------------------------------------------------------


def _regex(patterns: list[str]) -> str | None:
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


def _matches(body: pd.Series, patterns: list[str]) -> pd.Series:
    pattern = _regex(patterns)
    if pattern is None:
        return pd.Series(False, index=body.index)
    return body.fillna("").str.contains(pattern, case=False, regex=True)


def _last_before(values: pd.Series, mask: pd.Series, group: pd.Series) -> pd.Series:
    """For each row, `values` at the latest earlier row of its group where `mask` holds (else missing)."""
    return values.where(mask).groupby(group).ffill().groupby(group).shift()


_EMOJI_TEXT = {"So", "Sk", "Mn", "Zs", "Zl", "Zp"}


def _no_reply_kind(text: str, settings: Settings) -> str | None:
    """'reaction', 'closer' or None for one customer text (README "Texts that need no reply"), written with
    Python's re and unicodedata rather than the warehouse's RE2 expressions."""
    if len(text) > 500:
        return None
    s = "".join(c for c in text if unicodedata.category(c) != "Cf").strip(" ")
    cats = [unicodedata.category(c) for c in s]
    if s and "So" in cats and all(k in _EMOJI_TEXT or c.isspace() for c, k in zip(s, cats, strict=True)):
        return "reaction"
    if any(re.fullmatch(p, s, re.IGNORECASE) for p in settings.reactions):
        return "reaction"
    if any(q in s for q in "?？¿") or not settings.closers:
        return None
    words = "".join(c if c.isalnum() or c in "'’" else " " for c in s).split()
    phrases = "(?:" + "|".join(f"(?:{p})" for p in settings.closers) + ")"
    sequence = re.compile(f"{phrases}(?: {phrases})*", re.IGNORECASE)
    if words and sequence.fullmatch(" ".join(words)):
        return "closer"
    name = words[-1] if len(words) > 1 else ""
    if len(name) > 1 and name[0].isupper() and name[1:].isalpha() and name[1:].islower():
        return "closer" if sequence.fullmatch(" ".join(words[:-1])) else None
    return None


def derive_messages(m: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Kinds, conversations and, per conversation, how many human replies came before each message."""
    m = m.sort_values(["line_number", "contact_number", "created_at", "message_id"], ignore_index=True)
    pair = m.groupby(["line_number", "contact_number"], sort=False).ngroup()
    inbound = m["direction"] == "inbound"
    outbound = ~inbound

    # What each message is.
    automated = outbound & (
        m["is_automated"]
        | m["line_number"].isin(settings.automation_numbers)
        | _matches(m["body"], settings.auto_reply_templates)
    )
    edge = edge_characters()
    keywords = [k.strip(edge).casefold() for k in settings.opt_out_keywords]
    m["is_opt_out"] = inbound & m["body"].fillna("").str.strip(edge).str.casefold().isin(keywords)
    csat_prompt = automated & _matches(m["body"], settings.survey_prompts.csat)
    nps_prompt = automated & ~csat_prompt & _matches(m["body"], settings.survey_prompts.nps)
    prompt = csat_prompt | nps_prompt
    # numpy's stubs take no None as a branch; at run time it makes the object array of kinds and None meant here
    m["prompt_kind"] = pd.Series(
        np.where(csat_prompt, "csat", np.where(nps_prompt, "nps", None)),  # type: ignore[call-overload]
        index=m.index,
    )

    # Survey answers: the first inbound text after a prompt, within the reply window.
    prompt_at = _last_before(m["created_at"], prompt, pair)
    m["answers_survey"] = _last_before(m["prompt_kind"], prompt, pair)
    m["answers_prompt"] = _last_before(m["message_id"], prompt, pair)
    prev_inbound_at = _last_before(m["created_at"], inbound, pair)
    window = pd.Timedelta(hours=settings.survey_prompts.reply_window_hours)
    answer = (
        inbound
        & prompt_at.notna()
        & (prev_inbound_at.isna() | (prev_inbound_at < prompt_at))
        & ((m["created_at"] - prompt_at) <= window)
    )
    failed = m["status"].isin(FAILED_STATUSES)
    unsent = m["status"].isin(UNSENT_STATUSES)
    no_reply = pd.Series(
        [_no_reply_kind(t, settings) if i else None for t, i in zip(m["body"].fillna(""), inbound, strict=True)],
        index=m.index,
        dtype=object,
    )
    m["kind"] = np.select(
        [answer, inbound & m["is_opt_out"], inbound & no_reply.notna(), inbound, prompt, automated, failed, unsent],
        [
            "survey_answer",
            "opt_out",
            no_reply.fillna(""),
            "inquiry",
            "survey_prompt",
            "automated",
            "failed_reply",
            "pending_reply",
        ],
        default="human_reply",
    )
    human = m["kind"] == "human_reply"

    # Conversations: the source's id, else a new one after a gap over session_gap_hours, unless the message
    # is an outbound text to a customer still waiting (Friday evening's text answered on Monday, or a
    # reminder sent before that answer): the customer's question is still open (README "Conversation").
    gap = m["created_at"].groupby(pair).diff()
    last_inquiry = _last_before(m["created_at"], m["kind"] == "inquiry", pair)
    last_human = _last_before(m["created_at"], human, pair)
    waiting = last_inquiry.notna() & (last_human.isna() | (last_inquiry > last_human))
    new = gap.isna() | ((gap > pd.Timedelta(hours=settings.session_gap_hours)) & ~(outbound & waiting))
    session = new.cumsum()
    src = m["src_conv"].groupby(pair).ffill().groupby(pair).bfill()
    if src.notna().any():
        codes, _ = pd.factorize(src)
        m["conversation"] = np.where(src.notna(), session.max() + 1 + codes, session)
        m = m.sort_values(["conversation", "created_at", "message_id"], ignore_index=True)
        human = m["kind"] == "human_reply"
    else:
        m["conversation"] = session
    m["human_before"] = human.groupby(m["conversation"]).cumsum() - human
    return m


def business_calendar(settings: Settings, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """Opening windows covering the data (and 40 days after it, for deadlines over holidays)."""
    zone = settings.zone
    start = first.tz_convert(zone).date() - timedelta(days=7)
    end = last.tz_convert(zone).date() + timedelta(days=40)
    cal = calendar_frame(settings, start, end).to_pandas()
    for col in ("window_start", "window_end", "day_close"):
        stamps = pd.to_datetime(cal[col])
        cal[col] = (stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps.dt.tz_convert("UTC")).dt.as_unit(
            "us"
        )
    length = (cal["window_end"] - cal["window_start"]) // pd.Timedelta(microseconds=1)
    cal["open_before_us"] = length.cumsum() - length  # open microseconds of all earlier windows
    return cal[["window_start", "window_end", "day_close", "open_before_us"]]


def open_microseconds(t: pd.Series, cal: pd.DataFrame) -> pd.Series:
    """F(t): open microseconds from the calendar's start to t (missing t stays missing)."""
    left = pd.DataFrame({"t": t}).dropna().sort_values("t")
    hit = pd.merge_asof(left, cal, left_on="t", right_on="window_start", direction="backward")
    inside = (hit["t"] - hit["window_start"]).clip(upper=hit["window_end"] - hit["window_start"])
    f = (hit["open_before_us"] + inside // pd.Timedelta(microseconds=1)).fillna(0)
    return pd.Series(f.to_numpy(), index=left.index).reindex(t.index)


def derive_blocks(m: pd.DataFrame, cal: pd.DataFrame) -> pd.DataFrame:
    """Inquiry blocks: a conversation's inquiries between two human replies, and the reply that ends them."""
    inquiries = m[m["kind"] == "inquiry"]
    blocks = inquiries.groupby(["conversation", "human_before"], as_index=False).agg(started_at=("created_at", "min"))
    replies = m.loc[m["kind"] == "human_reply", ["conversation", "human_before", "created_at"]].rename(
        columns={"created_at": "replied_at"}
    )
    blocks = blocks.merge(replies, on=["conversation", "human_before"], how="left")
    blocks["first"] = blocks["human_before"] == blocks.groupby("conversation")["human_before"].transform("min")
    blocks["follow_up"] = blocks["human_before"] > 0
    blocks["calendar_seconds"] = (blocks["replied_at"] - blocks["started_at"]).dt.total_seconds()
    blocks["f_start"] = open_microseconds(blocks["started_at"], cal)
    blocks["f_reply"] = open_microseconds(blocks["replied_at"], cal)
    blocks["business_seconds"] = (blocks["f_reply"] - blocks["f_start"]).clip(lower=0) / US
    # Same-business-day deadline: the close of the day of the first window that ends after the block began.
    order = blocks.sort_values("started_at")
    due = pd.merge_asof(
        order[["started_at"]],
        cal[["window_end", "day_close"]],
        left_on="started_at",
        right_on="window_end",
        direction="forward",
        allow_exact_matches=False,
    )
    blocks["deadline_at"] = pd.Series(due["day_close"].array, index=order.index).reindex(blocks.index)
    return blocks


def _score(frame: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """score and parse_status of each reply, each survey on its scale (CSAT from settings, NPS 0-10)."""
    scales = {"csat": (settings.csat.min, settings.csat.max), "nps": (0, 10)}
    keys = frame[["survey", "reply_text"]].drop_duplicates()
    parsed = [
        parse_score(None if pd.isna(text) else text, *scales[survey], settings.opt_out_keywords)
        for survey, text in zip(keys["survey"], keys["reply_text"], strict=True)
    ]
    keys = keys.assign(score=[p[0] for p in parsed], parse_status=[p[1] for p in parsed])
    return frame.merge(keys, on=["survey", "reply_text"], how="left")


def survey_responses(m: pd.DataFrame, file_surveys: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    answers = m.loc[m["kind"] == "survey_answer", ["answers_survey", "body", "answers_prompt"]]
    answers = answers.rename(columns={"answers_survey": "survey", "body": "reply_text", "answers_prompt": "prompt_id"})
    files = file_surveys[["survey", "reply_text"]].assign(prompt_id=pd.NA)
    both = pd.concat([answers, files], ignore_index=True)
    both["reply_text"] = both["reply_text"].astype(object).where(both["reply_text"].notna(), None)
    return _score(both, settings)


def sensitive_messages(body: pd.Series) -> int:
    """Messages holding a Luhn-valid card number or a US SSN."""
    candidates = body[body.fillna("").str.count(r"[0-9]") >= 9]
    hits = [text for text in candidates.unique() if find_sensitive(text)]
    return int(candidates.isin(hits).sum())


# ----------------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------------


def _none_if_nan(x: float) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _ratio(ok: int, total: int) -> float | None:
    return ok / total if total else None


def _stats(prefix: str, seconds: pd.Series, suffix: str = "") -> dict[str, Value]:
    return {
        f"{prefix}_median{suffix}": _none_if_nan(seconds.quantile(0.5)) if len(seconds) else None,
        f"{prefix}_p90{suffix}": _none_if_nan(seconds.quantile(0.9)) if len(seconds) else None,
        f"{prefix}_mean{suffix}": _none_if_nan(seconds.mean()) if len(seconds) else None,
    }


def _response_metrics(
    blocks: pd.DataFrame, secs: pd.Series, age: pd.Series, target: float, suffix: str
) -> dict[str, Value]:
    """Metrics that depend on the hours: durations in `secs`, block ages at the end of the data in `age`."""
    replied = blocks["replied_at"].notna()
    out: dict[str, Value] = {}
    out |= _stats("first_response_time", secs[replied & blocks["first"]], suffix)
    out |= _stats("reply_time", secs[replied], suffix)
    eligible = replied | (age >= target)
    out[f"response_within_target_rate{suffix}"] = _ratio(int((eligible & (secs <= target)).sum()), int(eligible.sum()))
    eligible = blocks["follow_up"] & (replied | (age >= FOLLOW_UP_SECONDS))
    ok = eligible & replied & (secs <= FOLLOW_UP_SECONDS)
    out[f"follow_up_within_2h_rate{suffix}"] = _ratio(int(ok.sum()), int(eligible.sum()))
    out[f"follow_up_gaps{suffix}"] = int((eligible & ~ok).sum())  # waited over 2 h: answered later, or not yet
    return out


def active_texting_seconds(m: pd.DataFrame, allowance: int) -> float:
    """Each human reply is a span of `allowance` s ending at its send time; one agent's spans merge."""
    replies = m.loc[m["kind"] == "human_reply", ["agent_id", "created_at"]].sort_values("created_at")
    since = replies.groupby("agent_id", dropna=False)["created_at"].diff().dt.total_seconds()
    return float(since.clip(upper=allowance).fillna(allowance).sum())


def compute_all(files: list[Path], settings: Settings) -> dict[str, Value]:
    """Every registry metric over the whole data set, from the canonical CSVs, with pandas.

    Keys are registry names (calendar hours); the hours-dependent response metrics are repeated in
    business hours as ``<name>@business``.
    """
    raw = read_files(files)
    m = derive_messages(prepare_messages(raw["messages"], settings.timezone), settings)
    file_surveys = prepare_surveys(raw.get("surveys"), settings.timezone)
    as_of = m["created_at"].max()
    kind = m["kind"]
    out: dict[str, Value] = {}

    # Volume
    automated = kind.isin(["automated", "survey_prompt"])
    out["inbound_messages"] = int((m["direction"] == "inbound").sum())
    out["inquiry_messages"] = int((kind == "inquiry").sum())
    out["no_reply_needed_messages"] = int(kind.isin(["closer", "reaction"]).sum())
    out["survey_answer_messages"] = int(((kind == "survey_answer") & ~m["is_opt_out"]).sum())
    out["outbound_messages"] = int((m["direction"] == "outbound").sum())
    out["human_replies"] = int((kind == "human_reply").sum())
    out["automated_messages"] = int(automated.sum())
    out["automated_share"] = _ratio(int(automated.sum()), int((automated | (kind == "human_reply")).sum()))
    out["opt_outs"] = int(m["is_opt_out"].sum())
    out["sensitive_data_messages"] = sensitive_messages(m["body"])
    out["sensitive_data_open"] = out["sensitive_data_messages"]  # no lead has marked anything handled here

    # Conversations and customers
    conversations = m.groupby("conversation").agg(
        messages=("message_id", "size"), contact_number=("contact_number", "first")
    )
    out["conversations"] = len(conversations)
    out["messages_per_conversation_mean"] = _none_if_nan(conversations["messages"].mean())
    per_contact = conversations["contact_number"].value_counts()
    out["repeat_customer_rate"] = _ratio(int((per_contact >= 2).sum()), len(per_contact))

    # Agents
    out["conversations_handled"] = int(m.loc[kind == "human_reply", "conversation"].nunique())
    out["active_texting_seconds"] = active_texting_seconds(m, settings.typing_allowance_seconds)

    # Response
    first, last = (m["created_at"].min(), as_of) if len(m) else (pd.Timestamp(0, tz="UTC"),) * 2
    cal = business_calendar(settings, first, last)
    blocks = derive_blocks(m, cal)
    replied = blocks["replied_at"].notna()
    out["inquiry_blocks"] = len(blocks)
    out["unanswered_inquiries"] = int((~replied).sum())
    out["inquiries_marked_no_reply_needed"] = 0  # annotations live in the dashboard's store, not in the files
    target = float(settings.response_target_minutes) * 60
    calendar_age = (as_of - blocks["started_at"]).dt.total_seconds()
    out |= _response_metrics(blocks, blocks["calendar_seconds"], calendar_age, target, "")
    f_end = open_microseconds(pd.Series([as_of]), cal).iloc[0] if len(blocks) else 0
    business_age = (f_end - blocks["f_start"]) / US
    out |= _response_metrics(blocks, blocks["business_seconds"], business_age, target, BUSINESS)
    eligible = replied | (blocks["deadline_at"] <= as_of)
    met = replied & (blocks["replied_at"] <= blocks["deadline_at"])
    out["same_business_day_response_rate"] = _ratio(int((eligible & met).sum()), int(eligible.sum()))
    out["same_day_misses"] = int((eligible & ~met).sum())

    # Satisfaction
    responses = survey_responses(m, file_surveys, settings)
    valid = responses["parse_status"] == "valid"
    csat = responses.loc[valid & (responses["survey"] == "csat"), "score"].astype(float)
    nps = responses.loc[valid & (responses["survey"] == "nps"), "score"].astype(float)
    out["csat_mean"] = _none_if_nan(csat.mean()) if len(csat) else None
    out["csat_satisfied_rate"] = _ratio(int((csat >= settings.csat.satisfied_at_least).sum()), len(csat))
    out["csat_responses"] = len(csat)
    out["nps"] = (100.0 * (int((nps >= 9).sum()) - int((nps <= 6).sum())) / len(nps)) if len(nps) else None
    out["nps_responses"] = len(nps)
    out["low_satisfaction_replies"] = int((csat < settings.csat.satisfied_at_least).sum() + (nps <= 6).sum())
    out["survey_replies"] = len(responses)
    for status in ("valid", "out_of_range", "ambiguous", "not_a_number", "opt_out", "empty"):
        out[f"survey_replies_{status}"] = int((responses["parse_status"] == status).sum())
    out["survey_replies_not_parsed"] = int((~responses["parse_status"].isin(["valid", "opt_out"])).sum())
    high = ((responses["survey"] == "csat") & (responses["score"] >= settings.csat.satisfied_at_least)) | (
        (responses["survey"] == "nps") & (responses["score"] >= 9)
    )
    # the letters left once digits, number words, thanks and punctuation are removed (the registry's rule)
    beyond = responses["reply_text"].fillna("").str.lower().str.replace(BEYOND_SCORE, "", regex=True).str.len()
    out["testimonial_replies"] = int((valid & high & (beyond >= 3)).sum())
    prompts = m[kind == "survey_prompt"]
    answered = prompts["message_id"].isin(responses["prompt_id"].dropna())
    closed = prompts["created_at"] <= as_of - pd.Timedelta(hours=settings.survey_prompts.reply_window_hours)
    out["survey_response_rate"] = _ratio(int(answered.sum()), int((answered | closed).sum()))
    return out


# ----------------------------------------------------------------------------------------------------
# Replyboard's side and the comparison
# ----------------------------------------------------------------------------------------------------


def hours_dependent(name: str) -> bool:
    """A registry metric whose value depends on calendar vs business hours: its SQL reads business seconds,
    or it binds an age cutoff (measured in business time with business hours)."""
    from metrics.compiler import compile_metrics
    from metrics.registry import REGISTRY

    calendar, business = (compile_metrics(REGISTRY, [name], hours=h) for h in ("calendar", "business"))
    cutoffs = {"target_cutoff", "follow_up_cutoff"}
    return [q.sql for q in calendar] != [q.sql for q in business] or any(cutoffs & q.needs for q in calendar)


def metric_runs(settings: Settings) -> list[tuple[str, str, Params]]:
    """(key, registry name, Params): every registry metric in calendar hours, hours-dependent ones also in
    business hours."""
    from metrics.params import Params
    from metrics.registry import METRICS

    def options(hours: Hours) -> Params:
        return Params.from_settings(settings, hours=hours)

    runs = [(name, name, options("calendar")) for name in METRICS]
    runs += [(name + BUSINESS, name, options("business")) for name in METRICS if hours_dependent(name)]
    return runs


def replyboard_values(
    con, settings: Settings, repeats: int = 0, keys: Iterable[str] | None = None
) -> tuple[dict[str, Value], float]:
    """Replyboard's value of every metric (one compute call each; of `keys` only, when given) and, with repeats,
    the summed median time."""
    from metrics.query import compute

    values: dict[str, Value] = {}
    total = 0.0
    wanted = set(keys) if keys is not None else None
    for key, name, options in metric_runs(settings):
        if wanted is not None and key not in wanted:
            continue
        values[key] = compute(con, [name], params=options).row(0, named=True)[name]  # also the warm-up
        if repeats:
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                compute(con, [name], params=options)
                times.append(time.perf_counter() - t0)
            total += statistics.median(times)
    return values, total


def _same(ours: Value, theirs: Value, exact: bool) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if exact:
        return ours == theirs
    return math.isclose(float(ours), float(theirs), rel_tol=TOLERANCE, abs_tol=1e-12)


def mismatches(ours: dict[str, Value], theirs: dict[str, Value]) -> list[tuple[str, Value | str, Value | str]]:
    """(key, Replyboard, pandas) for every key whose values differ or that one side lacks."""
    from metrics.registry import CATALOG, METRICS

    out: list[tuple[str, Value | str, Value | str]] = []  # "missing" for a side that lacks the key
    for key in ours.keys() | theirs.keys():
        name = key.removesuffix(BUSINESS)
        exact = name in CATALOG and CATALOG[name].aggregation in ("count", "count distinct")
        if key not in ours or key not in theirs or not _same(ours[key], theirs[key], exact):
            out.append((key, ours.get(key, "missing"), theirs.get(key, "missing")))
    order = {key: i for i, key in enumerate([*METRICS, *(n + BUSINESS for n in METRICS)])}
    return sorted(out, key=lambda row: (order.get(row[0], len(order)), row[0]))


def compare(db: Path, files: list[Path]) -> tuple[float, float, bool, str]:
    """(Replyboard seconds, pandas seconds, same numbers, note); see the module docstring for what is timed."""
    from metrics.query import derived_settings
    from replyboard.warehouse import connect_readonly

    settings = load_settings()
    con = connect_readonly(db)
    try:
        ours, ours_seconds = replyboard_values(con, settings, repeats=3)
        stale = derived_settings(con) != settings.derivation
    finally:
        con.close()
    times, theirs = [], {}
    for _ in range(3):
        t0 = time.perf_counter()
        theirs = compute_all(files, settings)
        times.append(time.perf_counter() - t0)
    pandas_seconds = statistics.median(times)
    diff = mismatches(ours, theirs)
    note = (
        f"{len(ours)} metric values ({sum(k.endswith(BUSINESS) for k in ours)} in business hours); "
        "pandas: read CSVs + derive + metrics, median of 3; Replyboard: metrics on the warehouse, sum of "
        "per-metric warm medians (derivation done at load, timed separately as ETL)"
    )
    if stale:
        note += "; WARNING: the warehouse was derived with other settings than settings.yaml"
    if diff:
        shown = "; ".join(f"{k}: ours {a!r} vs pandas {b!r}" for k, a, b in diff[:5])
        note += f"; {len(diff)} DIFFER: {shown}"
    return ours_seconds, pandas_seconds, not diff, note


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.pandas_reference", description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a warehouse loaded from FILES")
    parser.add_argument("files", type=Path, nargs="+", help="the canonical CSVs the warehouse was loaded from")
    args = parser.parse_args(argv)
    ours, theirs, equal, note = compare(args.db, args.files)
    print(
        f"Replyboard {ours:.3f} s, pandas {theirs:.3f} s, speed-up {theirs / ours:.1f}x, "
        f"{'same numbers' if equal else 'NUMBERS DIFFER'}\n{note}"
    )
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
