"""The Polars peer of the core derivation: conversations, inquiry blocks and their first human replies.

A third implementation of the written definitions (README "How the numbers are defined"), beside Replyboard's
(DuckDB SQL at load) and the pandas reference's: the same rules as benchmarks/pandas_reference.py, written as
an analyst would in idiomatic, lazy Polars (window expressions over each line/contact pair, ``join_asof`` for
business time). It shares only definitions with the others: the settings, and the table of opening windows
(``replyboard.business_time.calendar_frame``). What is timed (``compare``): read the messages CSV, derive,
and compute the core figures below; Replyboard's side is the same figures read from the warehouse (derivation
done at load, timed as ETL), as for pandas.

The rule for texts that need no reply (closers, reactions) is the pandas reference's own function, applied to
each distinct customer text. The figures: conversations, conversations_handled, human_replies, inquiry_blocks, unanswered_inquiries, and the
first-response and reply-time median, p90 and mean in calendar and business hours (``@business``).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import polars as pl

from benchmarks.pandas_reference import (
    BUSINESS,
    FAILED_STATUSES,
    TRUE_VALUES,
    UNSENT_STATUSES,
    Value,
    _no_reply_kind,
    edge_characters,
    mismatches,
    replyboard_values,
)
from replyboard.business_time import calendar_frame
from replyboard.settings import Settings, load_settings

FIGURES = (
    "conversations",
    "conversations_handled",
    "human_replies",
    "inquiry_blocks",
    "unanswered_inquiries",
    *(f"{p}_{s}" for p in ("first_response_time", "reply_time") for s in ("median", "p90", "mean")),
)
HOURS_FIGURES = tuple(f for f in FIGURES if f.startswith(("first_response_time", "reply_time")))
PAIR = ("line_number", "contact_number")
_OFFSET = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"


def _regex(patterns: tuple[str, ...] | list[str]) -> str | None:
    return "(?i)" + "|".join(f"(?:{p})" for p in patterns) if patterns else None


def _matches(column: str, patterns: tuple[str, ...] | list[str]) -> pl.Expr:
    pattern = _regex(patterns)
    return pl.lit(False) if pattern is None else pl.col(column).fill_null("").str.contains(pattern)


def _clean(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    return pl.when(text != "").then(text).alias(column)


def _instants(column: str, zone: str) -> pl.Expr:
    """UTC instants: a time with an offset as written, one without in the team's zone (first of a repeated hour)."""
    text = pl.col(column).str.strip_chars()
    offset = text.str.contains(_OFFSET)
    with_offset = pl.when(offset).then(text).str.to_datetime(strict=False, time_unit="us", time_zone="UTC")
    naive = (
        pl.when(~offset)
        .then(text)
        .str.to_datetime(strict=False, time_unit="us")
        .dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    return pl.when(offset).then(with_offset).otherwise(naive).alias(column)


def _participants(contact: pl.Expr) -> pl.Expr:
    """A group text's participants (several numbers, comma- or semicolon-separated) as one key: the set, sorted
    and comma-joined (README "Group texts"; numbers taken as written)."""
    parts = contact.str.replace_all(";", ",", literal=True).str.split(",")
    joined = parts.list.eval(pl.element().str.strip_chars()).list.eval(pl.element().filter(pl.element() != ""))
    return joined.list.unique().list.sort().list.join(",").alias("contact_number")


def read_messages(path: Path, zone: str) -> pl.LazyFrame:
    raw = pl.scan_csv(path, infer_schema=False)
    return (
        raw.select(
            _clean("message_id"),
            _instants("created_at", zone),
            pl.col("direction").str.strip_chars().str.to_lowercase(),
            _clean("line_number"),
            _participants(_clean("contact_number")),
            _clean("agent_id"),
            pl.col("is_automated").fill_null("").str.strip_chars().str.to_lowercase().is_in(TRUE_VALUES),
            pl.col("body"),
            _clean("conversation_id").alias("src_conv"),
            _clean("status").str.to_lowercase(),
        )
        .drop_nulls(["message_id", "created_at", "line_number", "contact_number"])
        .filter(pl.col("direction").is_in(["inbound", "outbound"]))
        .unique("message_id", keep="last", maintain_order=True)  # a later row for the same id wins
    )


def _last_before(values: pl.Expr, mask: pl.Expr, over: str | tuple[str, ...]) -> pl.Expr:
    """For each row, `values` at the latest earlier row of its group where `mask` holds (else null)."""
    return pl.when(mask).then(values).forward_fill().shift(1).over(over)


def derive_messages(m: pl.LazyFrame, settings: Settings) -> pl.LazyFrame:
    """Kinds, conversations and, per conversation, how many human replies came before each message."""
    edge = edge_characters()
    keywords = [k.strip(edge).casefold() for k in settings.opt_out_keywords]
    # whitespace and punctuation trimmed from both ends (edge_characters, as one regex: Polars' strip_chars with
    # thousands of characters per row was most of this peer's time)
    trimmed = pl.col("body").fill_null("").str.replace_all(r"^[\s\p{P}]+|[\s\p{P}]+$", "")
    inbound = pl.col("direction") == "inbound"
    automated = ~inbound & (
        pl.col("is_automated")
        | pl.col("line_number").is_in(list(settings.automation_numbers))
        | _matches("body", settings.auto_reply_templates)
    )
    changed_pair = (pl.col("line_number") != pl.col("line_number").shift()) | (
        pl.col("contact_number") != pl.col("contact_number").shift()
    )
    m = m.sort([*PAIR, "created_at", "message_id"]).with_columns(
        # an integer id per line/contact pair (rows are sorted by pair): windows over it, not over two strings
        pair=changed_pair.fill_null(True).cum_sum(),
        automated=automated,
        is_opt_out=inbound & trimmed.str.to_lowercase().is_in(keywords),
    )
    csat = pl.col("automated") & _matches("body", settings.survey_prompts.csat)
    nps = pl.col("automated") & ~csat & _matches("body", settings.survey_prompts.nps)
    m = m.with_columns(prompt_kind=pl.when(csat).then(pl.lit("csat")).when(nps).then(pl.lit("nps")))
    prompt = pl.col("prompt_kind").is_not_null()
    window = pl.duration(hours=settings.survey_prompts.reply_window_hours)
    prompt_at = _last_before(pl.col("created_at"), prompt, "pair")
    prev_inbound_at = _last_before(pl.col("created_at"), inbound, "pair")
    answer = (
        inbound
        & prompt_at.is_not_null()
        & (prev_inbound_at.is_null() | (prev_inbound_at < prompt_at))
        & ((pl.col("created_at") - prompt_at) <= window)
    )
    # texts that need no reply (closers, reactions): the pandas reference's rule (Python re and unicodedata, not the
    # warehouse's RE2), applied once per distinct customer text
    texts = m.filter(inbound).select(pl.col("body").fill_null("").unique()).collect()["body"].to_list()
    no_reply_of = {t: k for t in texts if (k := _no_reply_kind(t, settings)) is not None}
    no_reply = pl.col("body").fill_null("").replace_strict(no_reply_of, default=None, return_dtype=pl.String)
    kind = (
        pl.when(answer)
        .then(pl.lit("survey_answer"))
        .when(inbound & pl.col("is_opt_out"))
        .then(pl.lit("opt_out"))
        .when(inbound & no_reply.is_not_null())
        .then(no_reply)
        .when(inbound)
        .then(pl.lit("inquiry"))
        .when(prompt)
        .then(pl.lit("survey_prompt"))
        .when(pl.col("automated"))
        .then(pl.lit("automated"))
        .when(pl.col("status").is_in(FAILED_STATUSES))
        .then(pl.lit("failed_reply"))
        .when(pl.col("status").is_in(UNSENT_STATUSES))
        .then(pl.lit("pending_reply"))
        .otherwise(pl.lit("human_reply"))
    )
    m = m.with_columns(kind=kind)
    # Conversations: the source's id, else a new one after a gap over session_gap_hours, unless the message is an
    # outbound text to a customer still waiting (the customer's question is still open).
    human = pl.col("kind") == "human_reply"
    last_inquiry = _last_before(pl.col("created_at"), pl.col("kind") == "inquiry", "pair")
    last_human = _last_before(pl.col("created_at"), human, "pair")
    waiting = last_inquiry.is_not_null() & (last_human.is_null() | (last_inquiry > last_human))
    gap = pl.col("created_at").diff().over("pair")
    new = gap.is_null() | ((gap > pl.duration(hours=settings.session_gap_hours)) & ~(~inbound & waiting))
    src = pl.col("src_conv").forward_fill().backward_fill().over("pair")
    m = m.with_columns(session=new.cum_sum(), src=src)
    m = m.with_columns(
        conversation=pl.when(pl.col("src").is_not_null())
        .then(pl.lit("s:") + pl.col("src"))
        .otherwise(pl.lit("c:") + pl.col("session").cast(pl.String))
    ).sort(["conversation", "created_at", "message_id"])
    is_human = human.cast(pl.Int64)
    return m.with_columns(human_before=(is_human.cum_sum() - is_human).over("conversation"))


def business_calendar(settings: Settings, first, last) -> pl.DataFrame:
    """Opening windows covering the data (and 40 days after it), with F at each window's start in microseconds."""
    from datetime import timedelta

    zone = settings.zone
    cal = calendar_frame(
        settings, first.astimezone(zone).date() - timedelta(days=7), last.astimezone(zone).date() + timedelta(days=40)
    )
    cal = cal.with_columns(pl.col("window_start", "window_end").dt.convert_time_zone("UTC").dt.cast_time_unit("us"))
    length = (pl.col("window_end") - pl.col("window_start")).dt.total_microseconds()
    return cal.select("window_start", "window_end", open_before_us=length.cum_sum() - length).sort("window_start")


def _open_us(blocks: pl.DataFrame, column: str, cal: pl.DataFrame) -> pl.Series:
    """F(t): open microseconds from the calendar's start to each block's `column` (null stays null)."""
    hit = blocks.select(pl.int_range(pl.len()).alias("i"), pl.col(column).alias("t")).sort("t")
    hit = hit.join_asof(cal, left_on="t", right_on="window_start", strategy="backward")
    inside = pl.min_horizontal(
        (pl.col("t") - pl.col("window_start")).dt.total_microseconds(),
        (pl.col("window_end") - pl.col("window_start")).dt.total_microseconds(),
    )
    f = pl.when(pl.col("t").is_not_null()).then((pl.col("open_before_us") + inside).fill_null(0))
    return hit.with_columns(f=f).sort("i")["f"]


def derive_blocks(m: pl.DataFrame, cal: pl.DataFrame) -> pl.DataFrame:
    """Inquiry blocks: a conversation's inquiries between two human replies, and the reply that ends them."""
    blocks = (
        m.filter(pl.col("kind") == "inquiry")
        .group_by("conversation", "human_before")
        .agg(started_at=pl.col("created_at").min())
    )
    replies = m.filter(pl.col("kind") == "human_reply").select(
        "conversation", "human_before", replied_at=pl.col("created_at")
    )
    blocks = blocks.join(replies, on=["conversation", "human_before"], how="left").with_columns(
        first=pl.col("human_before") == pl.col("human_before").min().over("conversation"),
        calendar_seconds=(pl.col("replied_at") - pl.col("started_at")).dt.total_microseconds() / 1e6,
    )
    f_start, f_reply = _open_us(blocks, "started_at", cal), _open_us(blocks, "replied_at", cal)
    business = ((f_reply - f_start).clip(lower_bound=0) / 1e6).alias("business_seconds")
    return blocks.with_columns(business)


def _stats(prefix: str, seconds: pl.Series, suffix: str) -> dict[str, Value]:
    if seconds.is_empty():
        return {f"{prefix}_{s}{suffix}": None for s in ("median", "p90", "mean")}
    values = (
        seconds.quantile(0.5, interpolation="linear"),
        seconds.quantile(0.9, interpolation="linear"),
        seconds.mean(),
    )
    return {
        f"{prefix}_{s}{suffix}": None if v is None else float(v)  # type: ignore[arg-type]  # a Float64 series
        for s, v in zip(("median", "p90", "mean"), values, strict=True)
    }


def compute_core(messages_csv: Path, settings: Settings) -> dict[str, Value]:
    """The core figures (FIGURES, and the hours-dependent ones in business hours) from the messages CSV."""
    m = derive_messages(read_messages(messages_csv, settings.timezone), settings).collect()
    human = m.filter(pl.col("kind") == "human_reply")
    out: dict[str, Value] = {
        "conversations": m["conversation"].n_unique(),
        "conversations_handled": human["conversation"].n_unique(),
        "human_replies": human.height,
    }
    if m.is_empty():
        return out | {f: 0 for f in ("inquiry_blocks", "unanswered_inquiries")}
    cal = business_calendar(settings, m["created_at"].min(), m["created_at"].max())
    blocks = derive_blocks(m, cal)
    replied = blocks.filter(pl.col("replied_at").is_not_null())
    out["inquiry_blocks"] = blocks.height
    out["unanswered_inquiries"] = blocks.height - replied.height
    for column, suffix in (("calendar_seconds", ""), ("business_seconds", BUSINESS)):
        out |= _stats("first_response_time", replied.filter(pl.col("first"))[column], suffix)
        out |= _stats("reply_time", replied[column], suffix)
    return out


def keys() -> list[str]:
    return [*FIGURES, *(f + BUSINESS for f in HOURS_FIGURES)]


def compare(db: Path, messages_csv: Path) -> tuple[float, float, bool, str]:
    """(Replyboard seconds, Polars seconds, same numbers, note). Replyboard: the core figures on the warehouse,
    the sum of per-figure warm medians (as for pandas); Polars: the median of 3 runs of compute_core."""
    from replyboard.warehouse import connect_readonly

    settings = load_settings()
    con = connect_readonly(db)
    try:
        ours, ours_seconds = replyboard_values(con, settings, repeats=3, keys=keys())
    finally:
        con.close()
    times, theirs = [], {}
    for _ in range(3):
        t0 = time.perf_counter()
        theirs = compute_core(messages_csv, settings)
        times.append(time.perf_counter() - t0)
    diff = mismatches(ours, theirs)
    note = (
        f"{len(theirs)} core values (conversations, blocks, first replies); Polars: read the messages CSV + derive + "
        "figures, median of 3; Replyboard: the same figures on the warehouse"
    )
    if diff:
        note += f"; {len(diff)} DIFFER: " + "; ".join(f"{k}: ours {a!r} vs Polars {b!r}" for k, a, b in diff[:5])
    return ours_seconds, statistics.median(times), not diff, note
