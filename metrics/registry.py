"""Every metric, declared once: name, unit, aggregation, time anchor, dimensions, direction, definition.

Pages, OKRs, exports and the CLI ask for metrics by name; metrics.query turns declarations into SQL.
Each metric is an aggregate over one fact (a materialised table). `value` and `n` are SQL aggregate
expressions over the fact's rows; `{secs}` stands for calendar_seconds or business_seconds, `{target}`
for the response target in seconds, `{as_of}` for the end of the data. Ratios are sums divided, never
averages of daily ratios.

Rates and the end of the data: an inquiry block (or survey prompt) that is still unanswered when the data
ends and whose window has not yet run out cannot be judged either way, so it is left out of the rate's
denominator (it is still counted by unanswered_inquiries). `{target_cutoff}` / `{follow_up_cutoff}` are the
latest start times whose block is at least the target / 2 hours old at the end of the data, measured in the
same hours as the rate (business time with --hours business, from the business hours the warehouse was
derived with); `{survey_cutoff}` is the end of the data minus the survey reply window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIMENSIONS = ("agent", "team", "line", "channel", "day", "week", "month", "weekday", "hour", "direction")


@dataclass(frozen=True)
class Fact:
    name: str
    sql: str  # rows with at least: t (local anchor), line_number, channel, agent_id, team
    anchor: str  # what t is, for the docs
    dimensions: tuple[str, ...] = DIMENSIONS[:-1]

    def rows(self, with_team: bool = True) -> str:
        """The fact's SQL; without the join to agents when no grouping or filter needs the team (a 10M-row
        hash join saved on most queries)."""
        if with_team:
            return self.sql
        sql = re.sub(r"\s*LEFT JOIN agents a ON a\.agent_id = [\w.]+", "", self.sql)
        return sql.replace("a.team", "CAST(NULL AS VARCHAR) AS team")


FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact(
            "messages",
            """SELECT m.created_local AS t, m.created_at, m.line_number, m.channel, m.agent_id, a.team, m.direction,
                      m.kind, m.is_opt_out, m.sensitive, m.conversation_id
               FROM messages m LEFT JOIN agents a ON a.agent_id = m.agent_id""",
            "message sent or received",
            DIMENSIONS,
        ),
        Fact(
            "blocks",
            """SELECT b.started_local AS t, b.started_at, b.line_number, b.channel, b.reply_agent_id AS agent_id,
                      a.team, b.block_seq, b.is_follow_up, b.calendar_seconds, b.business_seconds, b.replied_at,
                      b.deadline_at
               FROM inquiry_blocks b LEFT JOIN agents a ON a.agent_id = b.reply_agent_id""",
            "inquiry block's first message",
        ),
        Fact(
            "conversations",
            """SELECT c.started_local AS t, c.line_number, c.channel, c.first_agent_id AS agent_id, a.team,
                      c.contact_number, c.messages
               FROM conversations c LEFT JOIN agents a ON a.agent_id = c.first_agent_id""",
            "conversation's first message",
        ),
        Fact(
            "surveys",
            """SELECT s.received_local AS t, s.line_number, s.channel, s.agent_id, a.team, s.survey, s.score,
                      s.parse_status
               FROM survey_responses s LEFT JOIN agents a ON a.agent_id = s.agent_id""",
            "survey reply received",
        ),
        Fact(
            "prompts",
            """SELECT m.created_local AS t, m.created_at, m.line_number, m.channel, m.agent_id, a.team,
                      r.prompt_message_id IS NOT NULL AS answered
               FROM messages m LEFT JOIN agents a ON a.agent_id = m.agent_id
               LEFT JOIN (SELECT DISTINCT prompt_message_id FROM survey_responses
                          WHERE prompt_message_id IS NOT NULL) r ON r.prompt_message_id = m.message_id
               WHERE m.kind = 'survey_prompt'""",
            "survey prompt sent",
        ),
    )
}


@dataclass(frozen=True)
class Metric:
    name: str
    fact: str
    unit: str  # count | seconds | ratio | score | nps
    aggregation: str  # count | sum | mean | median | p90 | ratio | nps
    value: str
    n: str
    better: str | None  # higher | lower | None
    description: str
    # Metrics needing a second aggregation stage supply the inner per-row SQL here (see query.py).
    stage: str | None = None

    @property
    def anchor(self) -> str:
        return FACTS[self.fact].anchor

    @property
    def dimensions(self) -> tuple[str, ...]:
        return FACTS[self.fact].dimensions


def _count(name: str, fact: str, cond: str, better: str | None, description: str) -> Metric:
    expr = f"count(*) FILTER (WHERE {cond})"
    return Metric(name, fact, "count", "count", expr, expr, better, description)


FOLLOW_UP_SECONDS = 7200  # the guide: never leave a customer waiting two hours once a conversation started
_REPLIED = "replied_at IS NOT NULL"
_STILL_OPEN = " Unanswered blocks still inside that window when the data ends are left out (they cannot be judged yet)."
_FIRST = "block_seq = 1"
_QUANTILE = {"median": "quantile_cont({x}, 0.5)", "p90": "quantile_cont({x}, 0.9)", "mean": "avg({x})"}


def _response(prefix: str, cond: str, label: str) -> list[Metric]:
    out = []
    for stat, agg in _QUANTILE.items():
        filt = f"{cond} AND {_REPLIED}" if cond else _REPLIED
        out.append(
            Metric(
                f"{prefix}_{stat}",
                "blocks",
                "seconds",
                stat,
                agg.format(x="{secs}") + f" FILTER (WHERE {filt})",
                f"count(*) FILTER (WHERE {filt})",
                "lower",
                f"{stat.capitalize() if stat != 'p90' else '90th percentile of'} {label}: first human reply after an "
                "inquiry block's first message minus that message's time (calendar or business seconds); "
                "unanswered blocks are excluded here and counted by unanswered_inquiries.",
            )
        )
    return out


def _rate(name: str, fact: str, ok: str, eligible: str, better: str, description: str) -> Metric:
    return Metric(
        name,
        fact,
        "ratio",
        "ratio",
        f"CAST(count(*) FILTER (WHERE ({eligible}) AND ({ok})) AS DOUBLE) / nullif(count(*) FILTER (WHERE {eligible}), 0)",
        f"count(*) FILTER (WHERE {eligible})",
        better,
        description,
    )


def _parse_status_counts() -> list[Metric]:
    statuses = ("valid", "out_of_range", "ambiguous", "not_a_number", "opt_out", "empty")
    return [
        _count(
            f"survey_replies_{s}",
            "surveys",
            f"parse_status = '{s}'",
            None,
            f"Survey replies whose text parsed as {s.replace('_', ' ')}.",
        )
        for s in statuses
    ]


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        # Volume
        _count(
            "inbound_messages",
            "messages",
            "direction = 'inbound'",
            None,
            "Texts received from customers: inquiry_messages + survey_answer_messages + opt_outs.",
        ),
        _count(
            "inquiry_messages",
            "messages",
            "kind = 'inquiry'",
            None,
            "Inbound texts that are inquiries: not a survey answer, not an opt-out keyword.",
        ),
        _count(
            "survey_answer_messages",
            "messages",
            "kind = 'survey_answer' AND NOT is_opt_out",
            None,
            "Inbound texts taken as the answer to a survey prompt (the first text within the reply window), "
            "opt-out keywords excluded (a STOP answering a survey counts in opt_outs and survey_replies_opt_out).",
        ),
        _count(
            "outbound_messages",
            "messages",
            "direction = 'outbound'",
            None,
            "Texts sent: human replies, automated messages and failed sends.",
        ),
        _count(
            "human_replies",
            "messages",
            "kind = 'human_reply'",
            "higher",
            "Outbound texts written by a person: not automated, not an auto-reply template, not a survey "
            "prompt, not failed or undelivered. Attributed to the agent who sent them.",
        ),
        _count(
            "automated_messages",
            "messages",
            "kind IN ('automated', 'survey_prompt')",
            None,
            "Outbound texts sent by automation: auto-replies, reminders, survey prompts.",
        ),
        Metric(
            "automated_share",
            "messages",
            "ratio",
            "ratio",
            "CAST(count(*) FILTER (WHERE kind IN ('automated', 'survey_prompt')) AS DOUBLE) / "
            "nullif(count(*) FILTER (WHERE kind IN ('automated', 'survey_prompt', 'human_reply')), 0)",
            "count(*) FILTER (WHERE kind IN ('automated', 'survey_prompt', 'human_reply'))",
            "lower",
            "Automated texts ÷ (automated texts + human replies): how much of what customers receive is "
            "automation (the guide: automation only where it fits).",
        ),
        Metric(
            "conversations",
            "conversations",
            "count",
            "count",
            "count(*)",
            "count(*)",
            None,
            "Conversations started: the source's conversation id, else one line and one contact split "
            "where the gap between messages exceeds session_gap_hours.",
        ),
        _count(
            "unanswered_inquiries",
            "blocks",
            "replied_at IS NULL",
            "lower",
            "Inquiry blocks with no human reply yet (a burst of customer texts is one block), all of them: also "
            "those still inside their response window at the end of the data, which the rates leave out.",
        ),
        _count(
            "inquiry_blocks",
            "blocks",
            "true",
            None,
            "Inquiry blocks: maximal runs of a customer's inquiries with no human reply in between (a burst of "
            "texts is one block; auto-replies do not end a block), answered or not.",
        ),
        _count(
            "opt_outs",
            "messages",
            "is_opt_out",
            "lower",
            "Inbound texts that are an opt-out keyword (STOP, UNSUBSCRIBE, ...), never scored or counted as inquiries "
            "(a STOP answering a survey prompt is counted here too).",
        ),
        Metric(
            "messages_per_conversation_mean",
            "conversations",
            "count",
            "mean",
            "avg(messages)",
            "count(*)",
            None,
            "Mean number of messages (both directions) per conversation.",
        ),
        # Response
        *_response("first_response_time", _FIRST, "first response time (a conversation's first inquiry block)"),
        *_response("reply_time", "", "reply time over every inquiry block, the first included"),
        _rate(
            "response_within_target_rate",
            "blocks",
            "{secs} <= {target}",
            f"{_REPLIED} OR started_at <= {{target_cutoff}}",
            "higher",
            "Inquiry blocks answered within the target (minutes; --target, default from settings; business "
            "time with --hours business) ÷ blocks answered or already older than the target at the end of the "
            "data. Unanswered blocks past the target count as misses." + _STILL_OPEN,
        ),
        _rate(
            "same_business_day_response_rate",
            "blocks",
            "replied_at IS NOT NULL AND replied_at <= deadline_at",
            f"{_REPLIED} OR deadline_at <= {{as_of}}",
            "higher",
            "Blocks answered before the close of the business day they arrived in (or, when they arrived "
            "outside opening hours, before the close of the next business day) ÷ blocks answered or past "
            "that deadline at the end of the data. Unanswered blocks whose deadline is still ahead when the data "
            "ends are left out (they cannot be judged yet).",
        ),
        _rate(
            "follow_up_within_2h_rate",
            "blocks",
            f"{_REPLIED} AND {{secs}} <= {FOLLOW_UP_SECONDS}",
            f"is_follow_up AND ({_REPLIED} OR started_at <= {{follow_up_cutoff}})",
            "higher",
            "Inquiry blocks after the conversation's first human reply that were answered within 2 hours "
            "(business time with --hours business) ÷ such blocks answered or older than 2 hours at the end of "
            "the data; unanswered ones past 2 hours count as misses." + _STILL_OPEN,
        ),
        # Agents
        Metric(
            "conversations_handled",
            "messages",
            "count",
            "count distinct",
            "count(DISTINCT conversation_id) FILTER (WHERE kind = 'human_reply')",
            "count(*) FILTER (WHERE kind = 'human_reply')",
            "higher",
            "Distinct conversations in which the agent (or group) sent at least one human reply.",
        ),
        Metric(
            "active_texting_seconds",
            "messages",
            "seconds",
            "sum",
            "sum(span)",
            "count(*)",
            None,
            "Time spent texting: each human reply stands for a span of typing_allowance_seconds ending at "
            "its send time; overlapping spans of one agent merge (so a reply 30 s after the previous "
            "adds 30 s).",
            stage="replies",
        ),
        # Satisfaction
        Metric(
            "csat_mean",
            "surveys",
            "score",
            "mean",
            "avg(score) FILTER (WHERE survey = 'csat' AND parse_status = 'valid')",
            "count(*) FILTER (WHERE survey = 'csat' AND parse_status = 'valid')",
            "higher",
            "Mean CSAT score of valid replies, on the settings' scale (the guide: 1-9).",
        ),
        Metric(
            "csat_satisfied_rate",
            "surveys",
            "ratio",
            "ratio",
            "CAST(count(*) FILTER (WHERE survey = 'csat' AND parse_status = 'valid' AND score >= {satisfied}) "
            "AS DOUBLE) / nullif(count(*) FILTER (WHERE survey = 'csat' AND parse_status = 'valid'), 0)",
            "count(*) FILTER (WHERE survey = 'csat' AND parse_status = 'valid')",
            "higher",
            "Valid CSAT replies at or above csat.satisfied_at_least ÷ valid CSAT replies.",
        ),
        _count(
            "csat_responses", "surveys", "survey = 'csat' AND parse_status = 'valid'", "higher", "Valid CSAT replies."
        ),
        Metric(
            "nps",
            "surveys",
            "nps",
            "nps",
            "100.0 * (count(*) FILTER (WHERE survey = 'nps' AND parse_status = 'valid' AND score >= 9) - "
            "count(*) FILTER (WHERE survey = 'nps' AND parse_status = 'valid' AND score <= 6)) / "
            "nullif(count(*) FILTER (WHERE survey = 'nps' AND parse_status = 'valid'), 0)",
            "count(*) FILTER (WHERE survey = 'nps' AND parse_status = 'valid')",
            "higher",
            "Net Promoter Score: % promoters (9-10) − % detractors (0-6) of valid 0-10 replies (−100..100).",
        ),
        _count("nps_responses", "surveys", "survey = 'nps' AND parse_status = 'valid'", "higher", "Valid NPS replies."),
        _count("survey_replies", "surveys", "true", None, "Every survey reply, whatever its parse status."),
        *_parse_status_counts(),
        _rate(
            "survey_response_rate",
            "prompts",
            "answered",
            "answered OR created_at <= {survey_cutoff}",
            "higher",
            "Survey prompts answered by the contact within the reply window ÷ survey prompts answered or whose "
            "reply window (survey_prompts.reply_window_hours) had closed when the data ends; prompts sent too "
            "recently to judge are left out.",
        ),
        # Customers
        Metric(
            "repeat_customer_rate",
            "conversations",
            "ratio",
            "ratio",
            "CAST(count(*) FILTER (WHERE conversations >= 2) AS DOUBLE) / nullif(count(*), 0)",
            "count(*)",
            "higher",
            "Contacts with two or more conversations in the window ÷ contacts with one or more.",
            stage="contacts",
        ),
        # Compliance
        _count(
            "sensitive_data_messages",
            "messages",
            "sensitive IS NOT NULL",
            "lower",
            "Messages that held a card number passing the Luhn check or a US SSN (the SOP: never ask for "
            "payment data by text), found at load before the body was stored redacted. Split with --by direction "
            "or --by agent.",
        ),
    )
}


def describe(name: str) -> Metric:
    return METRICS[name]
