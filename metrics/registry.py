"""Every metric, declared once (metrics.spec): the facts it reads, its measures, segments and dimensions.

Pages, OKRs, digests, exports and the CLI ask for metrics by name; metrics.compiler turns these declarations
into SQL with bound parameters; `python -m metrics explain NAME` prints both. Ratios are sums divided, never
averages of daily ratios.

Rates and the end of the data: an inquiry block (or survey prompt) that is still unanswered when the data ends
and whose window has not yet run out cannot be judged either way, so it is left out of the rate's denominator
(it is still counted by unanswered_inquiries). ``$target_cutoff`` / ``$follow_up_cutoff`` are the latest start
times whose block is at least the target / 2 hours old at the end of the data, in the same hours as the rate
(business time with --hours business, from the business hours the warehouse was derived with);
``$survey_cutoff`` is the end of the data minus the survey reply window.
"""

from __future__ import annotations

from dataclasses import dataclass

from metrics.spec import (
    Better,
    Col,
    Column,
    Condition,
    Dimension,
    EntityShareMetric,
    Fact,
    Join,
    Measure,
    Metric,
    NpsMetric,
    Param,
    PercentileMetric,
    RatioMetric,
    Registry,
    SimpleMetric,
    Unit,
    all_of,
    any_of,
    cmp,
    eq,
    is_null,
    is_true,
    negate,
    not_null,
    one_of,
    seg,
    validate,
)
from replyboard.contract import Direction, MessageKind, ParseStatus, SurveyType

FOLLOW_UP_SECONDS = 7200  # the guide: never leave a customer waiting two hours once a conversation started

PARAMS = {
    "as_of": "the end of the data: the newest message's time",
    "target_seconds": "the response target (--target minutes, default response_target_minutes) in seconds",
    "target_cutoff": "the latest block start at least the target old at the end of the data",
    "follow_up_cutoff": "the latest block start at least 2 hours old at the end of the data",
    "survey_cutoff": "the end of the data minus the survey reply window",
    "satisfied_at_least": "csat.satisfied_at_least of the settings",
    "typing_allowance_seconds": "typing_allowance_seconds of the settings",
    "no_reply_blocks": "inquiry blocks a lead marked 'no reply needed' (the app-state store)",
    "handled_messages": "messages with payment data a lead marked handled (the app-state store)",
    "rescored_ids": "survey replies a lead re-scored (the app-state store)",
    "rescored_scores": "the scores they were re-scored as, in the same order",
    "beyond_score_re": "what is removed from a survey reply to see whether words remain (BEYOND_SCORE_RE)",
    **{f"kind_{k.value}": f"the message kind {k.value!r}" for k in MessageKind},
    **{f"status_{s.value}": f"the survey parse status {s.value!r}" for s in ParseStatus},
}
# What is left of a reply once the rating itself is removed (digits, number words, "out of", "I'd say", thanks
# and punctuation); three letters or more means the customer wrote something beyond the number.
BEYOND_SCORE_RE = (
    r"[0-9]+|\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|out of|of|i'?d say|thanks|thank you|ty)\b"
    r"|[^a-z]"
)

_TIME = dict(reads=("t",), time=True)
DIMENSIONS: dict[str, Dimension] = {
    d.name: d
    for d in (
        Dimension(name="agent", sql="agent_id", reads=("agent_id",), label="agent"),
        Dimension(name="team", sql="team", reads=("team",), label="team"),
        Dimension(name="line", sql="line_number", reads=("line_number",), label="line"),
        Dimension(name="channel", sql="channel", reads=("channel",), label="channel"),
        Dimension(name="day", sql="CAST(t AS DATE)", label="day", period="day", **_TIME),
        Dimension(
            name="week",
            sql="CAST(date_trunc('week', t) AS DATE)",
            label="week (from Monday)",
            period="week",
            **_TIME,
        ),
        Dimension(name="month", sql="CAST(date_trunc('month', t) AS DATE)", label="month", period="month", **_TIME),
        Dimension(name="weekday", sql="isodow(t)", label="weekday", **_TIME),
        Dimension(name="hour", sql="hour(t)", label="hour (team timezone)", **_TIME),
        Dimension(name="direction", sql="direction", reads=("direction",), label="direction"),
        Dimension(name="survey", sql="survey", reads=("survey",), label="survey (csat or nps)"),
        Dimension(name="score", sql="score", reads=("score",), label="score"),
    )
}
_SPLITS = ("agent", "team", "line", "channel", "day", "week", "month", "weekday", "hour")
_MESSAGE_SPLITS = (*_SPLITS, "direction")


# Ownership (README "Ownership"; etl.ownership stores it at load): every row has an owner agent and team or
# none, and the agent and team filters, dimensions and a person's scope select by them. No owner is a group
# of its own (a null key, "Unassigned" on the pages), so the groups always sum to the unfiltered figure.
_OWNER_TEAM = "the owning team: the owner agent's team, else the team of the line (lines.team), else none (Unassigned)"


def _owner(alias: str, agent: str) -> tuple[Column, Column]:
    return (
        Column(name="agent_id", sql=f"{alias}.owner_agent_id", description=agent),
        Column(name="team", sql=f"{alias}.owner_team", description=_OWNER_TEAM),
    )


_OWNER_RULE = (
    "the agent the source assigns (Quo's assignedTo, assigned_agent_id, OpenPhone's userId on an incoming "
    "text), else the agent of the conversation's first human reply, else none (Unassigned)"
)
_CONVERSATION_OWNER = f"the conversation's owner: {_OWNER_RULE}"
_MESSAGE_OWNER = f"the agent who sent it (a human reply), else its conversation's owner: {_OWNER_RULE}"
_KINDS = {k: eq("kind", k) for k in MessageKind}

FACTS: dict[str, Fact] = {
    f.name: f
    for f in (
        Fact(
            name="messages",
            source="messages m",
            anchor="message sent or received",
            row="message",
            rows="messages",
            columns=(
                Column(name="t", sql="m.created_local"),
                Column(name="created_at", sql="m.created_at"),
                Column(name="message_id", sql="m.message_id"),
                Column(name="conversation_id", sql="m.conversation_id"),
                Column(name="line_number", sql="m.line_number"),
                Column(name="contact_number", sql="m.contact_number"),
                Column(name="channel", sql="m.channel"),
                *_owner("m", _MESSAGE_OWNER),
                Column(name="sender_agent_id", sql="m.agent_id", description="the agent who sent it (outbound)"),
                Column(name="direction", sql="m.direction"),
                Column(name="kind", sql="m.kind"),
                Column(name="is_opt_out", sql="m.is_opt_out"),
                Column(name="sensitive", sql="m.sensitive"),
                Column(name="status", sql="m.status"),
                Column(name="body", sql="m.body"),
                Column(
                    name="handled",
                    sql="hd.message_id IS NOT NULL",
                    join="hd",
                    description="a lead marked this compliance hit handled",
                ),
            ),
            joins=(
                Join(
                    alias="hd",
                    sql="LEFT JOIN (SELECT unnest($handled_messages) AS message_id) hd ON hd.message_id = m.message_id",
                ),
            ),
            dimensions=_MESSAGE_SPLITS,
            segments={
                "inbound": eq("direction", Direction.INBOUND),
                "outbound": eq("direction", Direction.OUTBOUND),
                "human_reply": _KINDS[MessageKind.HUMAN_REPLY],
                "automated": one_of("kind", MessageKind.AUTOMATED, MessageKind.SURVEY_PROMPT),
                "automated_or_human": one_of(
                    "kind", MessageKind.AUTOMATED, MessageKind.SURVEY_PROMPT, MessageKind.HUMAN_REPLY
                ),
            },
            row_id="message_id",
            row_columns=(
                "message_id",
                "created_at",
                "t",
                "line_number",
                "channel",
                "agent_id",
                "contact_number",
                "conversation_id",
                "direction",
                "kind",
                "status",
                "sensitive",
            ),
        ),
        Fact(
            name="replies",
            # Spans merge over ALL of an agent's human replies before any filter, so a filtered value (one
            # line, one day) always equals that group's value in a grouped report, and groups sum to the total:
            # each reply's gap since the agent's previous one is stored at load (replyboard.reply_gaps), so no
            # window over every human reply runs here.
            source="""(SELECT *, coalesce(least($typing_allowance_seconds, prev_reply_gap_seconds),
                                    $typing_allowance_seconds) AS span
                       FROM messages WHERE kind = $kind_human_reply) r""",
            anchor="message sent or received",
            row="human reply",
            rows="human replies",
            columns=(
                Column(name="t", sql="r.created_local"),
                Column(name="created_at", sql="r.created_at"),
                Column(name="message_id", sql="r.message_id"),
                Column(name="conversation_id", sql="r.conversation_id"),
                Column(name="line_number", sql="r.line_number"),
                Column(name="contact_number", sql="r.contact_number"),
                Column(name="channel", sql="r.channel"),
                Column(name="agent_id", sql="r.agent_id", description="the agent who sent the reply"),
                Column(name="team", sql="r.owner_team", description=_OWNER_TEAM),
                Column(name="direction", sql="r.direction"),
                Column(name="span", sql="r.span", description="seconds of typing this reply stands for"),
            ),
            dimensions=_MESSAGE_SPLITS,
            row_id="message_id",
            row_columns=(
                "message_id",
                "created_at",
                "t",
                "line_number",
                "channel",
                "agent_id",
                "contact_number",
                "conversation_id",
                "span",
            ),
        ),
        Fact(
            name="blocks",
            source="inquiry_blocks b",
            anchor="inquiry block's first message",
            row="inquiry block",
            rows="inquiry blocks",
            columns=(
                Column(name="t", sql="b.started_local"),
                Column(name="started_at", sql="b.started_at"),
                Column(name="block_id", sql="b.block_id"),
                Column(name="conversation_id", sql="b.conversation_id"),
                Column(name="line_number", sql="b.line_number"),
                Column(name="contact_number", sql="b.contact_number"),
                Column(name="channel", sql="b.channel"),
                *_owner("b", f"the block's owner, its conversation's: {_OWNER_RULE}"),
                Column(name="reply_agent_id", sql="b.reply_agent_id", description="the agent whose reply answered it"),
                Column(name="block_seq", sql="b.block_seq"),
                Column(name="is_follow_up", sql="b.is_follow_up"),
                Column(name="inquiries", sql="b.inquiries"),
                Column(name="replied_at", sql="b.replied_at"),
                Column(name="deadline_at", sql="b.deadline_at"),
                Column(
                    name="no_reply_needed",
                    sql="nr.block_id IS NOT NULL",
                    join="nr",
                    description="a lead marked the block 'no reply needed': out of the rates and the unanswered",
                ),
                Column(
                    name="waiting_seconds",
                    sql="CASE WHEN b.replied_at IS NULL THEN epoch($as_of) - epoch(b.started_at) END",
                    description="how long an unanswered block has waited at the end of the data (calendar seconds)",
                ),
                Column(
                    name="seconds",
                    sql="b.calendar_seconds",
                    business_sql="b.business_seconds",
                    description="reply time: calendar seconds, or business seconds with --hours business",
                ),
            ),
            joins=(
                Join(
                    alias="nr",
                    sql="LEFT JOIN (SELECT unnest($no_reply_blocks) AS block_id) nr ON nr.block_id = b.block_id",
                ),
            ),
            dimensions=_SPLITS,
            segments={
                "replied": not_null("replied_at"),
                "unanswered": is_null("replied_at"),
                "needs_reply": negate(is_true("no_reply_needed")),
                "first_block": eq("block_seq", 1),
                "follow_up": is_true("is_follow_up"),
            },
            row_id="block_id",
            row_columns=(
                "block_id",
                "started_at",
                "t",
                "line_number",
                "channel",
                "agent_id",
                "contact_number",
                "conversation_id",
                "block_seq",
                "inquiries",
                "replied_at",
                "deadline_at",
                "no_reply_needed",
            ),
        ),
        Fact(
            name="conversations",
            source="conversations c",
            anchor="conversation's first message",
            row="conversation",
            rows="conversations",
            columns=(
                Column(name="t", sql="c.started_local"),
                Column(name="started_at", sql="c.started_at"),
                Column(name="conversation_id", sql="c.conversation_id"),
                Column(name="line_number", sql="c.line_number"),
                Column(name="contact_number", sql="c.contact_number"),
                Column(name="channel", sql="c.channel"),
                *_owner("c", _CONVERSATION_OWNER),
                Column(name="first_agent_id", sql="c.first_agent_id", description="the agent of its first human reply"),
                Column(name="messages", sql="c.messages"),
                Column(name="inbound", sql="c.inbound"),
                Column(name="human_replies", sql="c.human_replies"),
            ),
            dimensions=_SPLITS,
            row_id="conversation_id",
            row_columns=(
                "conversation_id",
                "started_at",
                "t",
                "line_number",
                "channel",
                "agent_id",
                "contact_number",
                "messages",
                "inbound",
                "human_replies",
            ),
        ),
        Fact(
            name="surveys",
            source="survey_responses s",
            anchor="survey reply received",
            row="survey reply",
            rows="survey replies",
            columns=(
                Column(name="t", sql="s.received_local"),
                Column(name="received_at", sql="s.received_at"),
                Column(name="response_id", sql="s.response_id"),
                Column(name="conversation_id", sql="s.conversation_id"),
                Column(name="line_number", sql="s.line_number"),
                Column(name="contact_number", sql="s.contact_number"),
                Column(name="channel", sql="s.channel"),
                *_owner("s", f"the owner of the conversation it rates: {_OWNER_RULE}"),
                Column(name="rated_agent_id", sql="s.agent_id", description="the last human replier before it"),
                Column(name="survey", sql="s.survey"),
                Column(
                    name="score",
                    sql="coalesce(rs.score, s.score)",
                    join="rs",
                    description="the parsed score, or the score a lead re-scored the reply as",
                ),
                Column(
                    name="parse_status",
                    sql="CASE WHEN rs.response_id IS NULL THEN s.parse_status ELSE $status_valid END",
                    join="rs",
                ),
                Column(name="parsed_score", sql="s.score", description="the score parsed from the text"),
                Column(name="parsed_status", sql="s.parse_status"),
                Column(name="rescored", sql="rs.response_id IS NOT NULL", join="rs"),
                Column(name="reply_text", sql="s.reply_text"),
                Column(
                    name="words_beyond_score",
                    sql="length(regexp_replace(lower(coalesce(s.reply_text, '')), $beyond_score_re, '', 'g'))",
                    description="letters left once the rating itself, number words and thanks are removed",
                ),
            ),
            joins=(
                Join(
                    alias="rs",
                    sql="LEFT JOIN (SELECT unnest($rescored_ids) AS response_id, "
                    "unnest($rescored_scores) AS score) rs ON rs.response_id = s.response_id",
                ),
            ),
            dimensions=(*_SPLITS, "survey", "score"),
            segments={
                "valid_csat": all_of(eq("survey", SurveyType.CSAT), eq("parse_status", ParseStatus.VALID)),
                "valid_nps": all_of(eq("survey", SurveyType.NPS), eq("parse_status", ParseStatus.VALID)),
                **{f"status_{s.value}": eq("parse_status", s) for s in ParseStatus},
                # below satisfied on CSAT, or an NPS detractor: the replies a lead follows up
                "low_satisfaction": any_of(
                    all_of(seg("valid_csat"), cmp("score", "<", Param(name="satisfied_at_least"))),
                    all_of(seg("valid_nps"), cmp("score", "<=", 6)),
                ),
                # a high score with words beyond the number: a testimonial to bank (the guide)
                "testimonial": all_of(
                    eq("parse_status", ParseStatus.VALID),
                    any_of(
                        all_of(eq("survey", SurveyType.CSAT), cmp("score", ">=", Param(name="satisfied_at_least"))),
                        all_of(eq("survey", SurveyType.NPS), cmp("score", ">=", 9)),
                    ),
                    cmp("words_beyond_score", ">=", 3),
                ),
            },
            row_id="response_id",
            row_columns=(
                "response_id",
                "received_at",
                "t",
                "line_number",
                "channel",
                "agent_id",
                "contact_number",
                "conversation_id",
                "survey",
                "parse_status",
                "score",
                "rescored",
            ),
        ),
        Fact(
            name="prompts",
            source="""(SELECT m.*, r.prompt_message_id IS NOT NULL AS answered FROM messages m
                       LEFT JOIN (SELECT DISTINCT prompt_message_id FROM survey_responses
                                  WHERE prompt_message_id IS NOT NULL) r ON r.prompt_message_id = m.message_id
                       WHERE m.kind = $kind_survey_prompt) p""",
            anchor="survey prompt sent",
            row="survey prompt",
            rows="survey prompts",
            columns=(
                Column(name="t", sql="p.created_local"),
                Column(name="created_at", sql="p.created_at"),
                Column(name="message_id", sql="p.message_id"),
                Column(name="conversation_id", sql="p.conversation_id"),
                Column(name="line_number", sql="p.line_number"),
                Column(name="contact_number", sql="p.contact_number"),
                Column(name="channel", sql="p.channel"),
                *_owner("p", f"its conversation's owner: {_OWNER_RULE}"),
                Column(name="survey", sql="p.survey"),
                Column(name="answered", sql="p.answered"),
            ),
            dimensions=_SPLITS,
            segments={
                "answered": is_true("answered"),
                "judgeable": any_of(is_true("answered"), cmp("created_at", "<=", Param(name="survey_cutoff"))),
            },
            row_id="message_id",
            row_columns=(
                "message_id",
                "created_at",
                "t",
                "line_number",
                "channel",
                "agent_id",
                "contact_number",
                "conversation_id",
                "survey",
                "answered",
            ),
        ),
    )
}

# The blocks a rate can judge at the end of the data, per rate.
# A block a lead marked "no reply needed" is judged by no rate.
_TARGET_ELIGIBLE = all_of(
    seg("needs_reply"), any_of(seg("replied"), cmp("started_at", "<=", Param(name="target_cutoff")))
)
_SAME_DAY_ELIGIBLE = all_of(seg("needs_reply"), any_of(seg("replied"), cmp("deadline_at", "<=", Param(name="as_of"))))
_FOLLOW_UP_ELIGIBLE = all_of(
    seg("follow_up"),
    seg("needs_reply"),
    any_of(seg("replied"), cmp("started_at", "<=", Param(name="follow_up_cutoff"))),
)


def _count(name: str, fact: str, where: Condition | None = None) -> Measure:
    return Measure(name=name, fact=fact, agg="count", where=where)


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        _count("messages_inbound", "messages", seg("inbound")),
        _count("messages_outbound", "messages", seg("outbound")),
        _count("messages_inquiry", "messages", _KINDS[MessageKind.INQUIRY]),
        _count(
            "messages_survey_answer",
            "messages",
            all_of(_KINDS[MessageKind.SURVEY_ANSWER], negate(is_true("is_opt_out"))),
        ),
        _count("messages_human_reply", "messages", seg("human_reply")),
        _count("messages_automated", "messages", seg("automated")),
        _count("messages_automated_or_human", "messages", seg("automated_or_human")),
        _count("messages_opt_out", "messages", is_true("is_opt_out")),
        _count("messages_no_reply_needed", "messages", one_of("kind", MessageKind.CLOSER, MessageKind.REACTION)),
        _count("messages_sensitive", "messages", not_null("sensitive")),
        _count("messages_sensitive_open", "messages", all_of(not_null("sensitive"), negate(is_true("handled")))),
        Measure(
            name="conversations_with_human_reply",
            fact="messages",
            agg="count_distinct",
            column="conversation_id",
            where=seg("human_reply"),
        ),
        Measure(name="typing_seconds", fact="replies", agg="sum", column="span"),
        _count("replies", "replies"),
        _count("conversations", "conversations"),
        Measure(name="messages_per_conversation", fact="conversations", agg="mean", column="messages"),
        _count("blocks", "blocks"),
        _count("blocks_unanswered", "blocks", all_of(seg("unanswered"), seg("needs_reply"))),
        _count("blocks_no_reply_needed", "blocks", is_true("no_reply_needed")),
        _count("blocks_replied", "blocks", seg("replied")),
        _count("first_blocks_replied", "blocks", all_of(seg("first_block"), seg("replied"))),
        Measure(name="reply_seconds_mean", fact="blocks", agg="mean", column="seconds", where=seg("replied")),
        Measure(
            name="first_reply_seconds_mean",
            fact="blocks",
            agg="mean",
            column="seconds",
            where=all_of(seg("first_block"), seg("replied")),
        ),
        _count("blocks_target_eligible", "blocks", _TARGET_ELIGIBLE),
        _count(
            "blocks_within_target",
            "blocks",
            all_of(_TARGET_ELIGIBLE, cmp("seconds", "<=", Param(name="target_seconds"))),
        ),
        _count("blocks_same_day_eligible", "blocks", _SAME_DAY_ELIGIBLE),
        _count(
            "blocks_same_day",
            "blocks",
            all_of(_SAME_DAY_ELIGIBLE, seg("replied"), cmp("replied_at", "<=", Col(name="deadline_at"))),
        ),
        _count("follow_ups_eligible", "blocks", _FOLLOW_UP_ELIGIBLE),
        _count(
            "follow_ups_within_2h",
            "blocks",
            all_of(_FOLLOW_UP_ELIGIBLE, seg("replied"), cmp("seconds", "<=", FOLLOW_UP_SECONDS)),
        ),
        # The misses of those two rates, as queues: what a lead reads (eligible minus met).
        _count(
            "blocks_same_day_missed",
            "blocks",
            all_of(
                _SAME_DAY_ELIGIBLE,
                any_of(seg("unanswered"), is_null("deadline_at"), cmp("replied_at", ">", Col(name="deadline_at"))),
            ),
        ),
        _count(
            "follow_ups_over_2h",
            "blocks",
            all_of(_FOLLOW_UP_ELIGIBLE, any_of(seg("unanswered"), cmp("seconds", ">", FOLLOW_UP_SECONDS))),
        ),
        _count("survey_replies", "surveys"),
        _count("csat_valid", "surveys", seg("valid_csat")),
        _count(
            "csat_satisfied", "surveys", all_of(seg("valid_csat"), cmp("score", ">=", Param(name="satisfied_at_least")))
        ),
        Measure(name="csat_score_mean", fact="surveys", agg="mean", column="score", where=seg("valid_csat")),
        _count("nps_valid", "surveys", seg("valid_nps")),
        # opt-outs are their own status (survey_replies_opt_out), not replies that failed to parse
        _count(
            "survey_replies_unparsed",
            "surveys",
            negate(one_of("parse_status", ParseStatus.VALID, ParseStatus.OPT_OUT)),
        ),
        _count("testimonials", "surveys", seg("testimonial")),
        _count("low_satisfaction", "surveys", seg("low_satisfaction")),
        *(_count(f"survey_replies_{s.value}", "surveys", seg(f"status_{s.value}")) for s in ParseStatus),
        _count("prompts_judgeable", "prompts", seg("judgeable")),
        _count("prompts_answered", "prompts", all_of(seg("judgeable"), seg("answered"))),
    )
}

_STILL_OPEN = " Unanswered blocks still inside that window when the data ends are left out (they cannot be judged yet)."


def _simple(
    name: str,
    measure: str,
    unit: Unit,
    better: Better,
    description: str,
    n: str | None = None,
    value_column: str | None = None,
) -> SimpleMetric:
    return SimpleMetric(
        name=name,
        measure=measure,
        n=n or measure,
        unit=unit,
        better=better,
        description=description,
        value_column=value_column,
    )


def _response(prefix: str, first_only: bool, label: str) -> list[Metric]:
    where = all_of(seg("first_block"), seg("replied")) if first_only else seg("replied")
    n = "first_blocks_replied" if first_only else "blocks_replied"
    out: list[Metric] = []
    for stat in ("median", "p90", "mean"):
        description = (
            f"{stat.capitalize() if stat != 'p90' else '90th percentile of'} {label}: first human reply after an "
            "inquiry block's first message minus that message's time (calendar or business seconds); "
            "unanswered blocks are excluded here and counted by unanswered_inquiries."
        )
        if stat == "mean":
            measure = "first_reply_seconds_mean" if first_only else "reply_seconds_mean"
            out.append(_simple(f"{prefix}_mean", measure, "seconds", "lower", description, n, "seconds"))
        else:
            out.append(
                PercentileMetric(
                    name=f"{prefix}_{stat}",
                    fact="blocks",
                    column="seconds",
                    percentile=0.5 if stat == "median" else 0.9,
                    where=where,
                    unit="seconds",
                    better="lower",
                    description=description,
                    value_column="seconds",
                )
            )
    return out


def _rate(
    name: str, numerator: str, denominator: str, better: Better, description: str, value_column: str | None = None
) -> RatioMetric:
    return RatioMetric(
        name=name,
        numerator=numerator,
        denominator=denominator,
        unit="ratio",
        better=better,
        description=description,
        value_column=value_column,
    )


_STATUS_WORDS = {s: s.value.replace("_", " ") for s in ParseStatus}

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        # Volume
        _simple(
            "inbound_messages",
            "messages_inbound",
            "count",
            None,
            "Texts received from customers: inquiry_messages + survey_answer_messages + opt_outs + "
            "no_reply_needed_messages.",
        ),
        _simple(
            "inquiry_messages",
            "messages_inquiry",
            "count",
            None,
            "Inbound texts that are inquiries: not a survey answer, not an opt-out keyword, not a closer or a "
            "reaction (no_reply_needed_messages).",
        ),
        _simple(
            "no_reply_needed_messages",
            "messages_no_reply_needed",
            "count",
            None,
            "Inbound texts that need no reply: closers (only closer phrases such as 'thanks', 'ok', 'got it', "
            "'gracias', perhaps with emoji or a name, and no question mark) and reactions (iMessage tapbacks such "
            "as Liked “…”, Google Messages' 👍 to “…”, emoji alone); settings closers and reactions. They never open "
            "an inquiry block and do not change an open one; a closer that asks something is an inquiry.",
        ),
        _simple(
            "survey_answer_messages",
            "messages_survey_answer",
            "count",
            None,
            "Inbound texts taken as the answer to a survey prompt (the first text within the reply window), "
            "opt-out keywords excluded (a STOP answering a survey counts in opt_outs and survey_replies_opt_out).",
        ),
        _simple(
            "outbound_messages",
            "messages_outbound",
            "count",
            None,
            "Texts sent: human replies, automated messages, failed sends and sends not sent yet (queued, "
            "accepted, scheduled, sending).",
        ),
        _simple(
            "human_replies",
            "messages_human_reply",
            "count",
            "higher",
            "Outbound texts written by a person: not automated, not an auto-reply template, not a survey "
            "prompt, not failed, undelivered or canceled, and sent: one still queued, accepted, scheduled or "
            "sending is not a reply until a later status (sent, delivered) arrives. Attributed to the agent who "
            "sent them.",
        ),
        _simple(
            "automated_messages",
            "messages_automated",
            "count",
            None,
            "Outbound texts sent by automation: auto-replies, reminders, survey prompts.",
        ),
        _rate(
            "automated_share",
            "messages_automated",
            "messages_automated_or_human",
            "lower",
            "Automated texts ÷ (automated texts + human replies): how much of what customers receive is "
            "automation (the guide: automation only where it fits).",
        ),
        _simple(
            "conversations",
            "conversations",
            "count",
            None,
            "Conversations started: the source's conversation id, else one line and one contact split "
            "where the gap between messages exceeds session_gap_hours.",
        ),
        _simple(
            "unanswered_inquiries",
            "blocks_unanswered",
            "count",
            "lower",
            "Inquiry blocks with no human reply yet (a burst of customer texts is one block), all of them: also "
            "those still inside their response window at the end of the data, which the rates leave out. Blocks a "
            "lead marked 'no reply needed' are not counted (see inquiries_marked_no_reply_needed).",
            value_column="waiting_seconds",
        ),
        _simple(
            "inquiries_marked_no_reply_needed",
            "blocks_no_reply_needed",
            "count",
            None,
            "Inquiry blocks a lead marked 'no reply needed' on the dashboard (or with python -m metrics annotate): "
            "left out of every response rate's denominator and of unanswered_inquiries.",
        ),
        _simple(
            "inquiry_blocks",
            "blocks",
            "count",
            None,
            "Inquiry blocks: maximal runs of a customer's inquiries with no human reply in between (a burst of "
            "texts is one block; auto-replies do not end a block), answered or not.",
        ),
        _simple(
            "opt_outs",
            "messages_opt_out",
            "count",
            "lower",
            "Inbound texts that are an opt-out keyword (STOP, UNSUBSCRIBE, ...), never scored or counted as "
            "inquiries (a STOP answering a survey prompt is counted here too).",
        ),
        _simple(
            "messages_per_conversation_mean",
            "messages_per_conversation",
            "count",
            None,
            "Mean number of messages (both directions) per conversation.",
            n="conversations",
            value_column="messages",
        ),
        # Response
        *_response("first_response_time", True, "first response time (a conversation's first inquiry block)"),
        *_response("reply_time", False, "reply time over every inquiry block, the first included"),
        _rate(
            "response_within_target_rate",
            "blocks_within_target",
            "blocks_target_eligible",
            "higher",
            "Inquiry blocks answered within the target (minutes; --target, default from settings; business "
            "time with --hours business) ÷ blocks answered or already older than the target at the end of the "
            "data. Unanswered blocks past the target count as misses." + _STILL_OPEN,
            "seconds",
        ),
        _rate(
            "same_business_day_response_rate",
            "blocks_same_day",
            "blocks_same_day_eligible",
            "higher",
            "Blocks answered before the close of the business day they arrived in (or, when they arrived "
            "outside opening hours, before the close of the next business day) ÷ blocks answered or past "
            "that deadline at the end of the data. Unanswered blocks whose deadline is still ahead when the data "
            "ends are left out (they cannot be judged yet).",
            "seconds",
        ),
        _rate(
            "follow_up_within_2h_rate",
            "follow_ups_within_2h",
            "follow_ups_eligible",
            "higher",
            "Inquiry blocks after the conversation's first human reply that were answered within 2 hours "
            "(business time with --hours business) ÷ such blocks answered or older than 2 hours at the end of "
            "the data; unanswered ones past 2 hours count as misses." + _STILL_OPEN,
            "seconds",
        ),
        _simple(
            "same_day_misses",
            "blocks_same_day_missed",
            "count",
            "lower",
            "Inquiry blocks that missed their same-business-day deadline: answered after it, or still unanswered "
            "when it passed (the misses of same_business_day_response_rate: its n minus the blocks it counts as "
            "met). Blocks marked 'no reply needed' are not misses.",
            value_column="seconds",
        ),
        _simple(
            "follow_up_gaps",
            "follow_ups_over_2h",
            "count",
            "lower",
            "Inquiry blocks after the conversation's first human reply where the customer waited more than 2 hours "
            "(business time with --hours business): answered later than that, or unanswered and already older "
            "(the misses of follow_up_within_2h_rate; the guide: never leave a customer waiting two hours once a "
            "conversation started).",
            value_column="seconds",
        ),
        # Agents
        _simple(
            "conversations_handled",
            "conversations_with_human_reply",
            "count",
            "higher",
            "Distinct conversations in which the agent (or group) sent at least one human reply.",
            n="messages_human_reply",
        ),
        _simple(
            "active_texting_seconds",
            "typing_seconds",
            "seconds",
            None,
            "Time spent texting: each human reply stands for a span of typing_allowance_seconds ending at "
            "its send time; overlapping spans of one agent merge (so a reply 30 s after the previous "
            "adds 30 s).",
            n="replies",
            value_column="span",
        ),
        # Satisfaction
        _simple(
            "csat_mean",
            "csat_score_mean",
            "score",
            "higher",
            "Mean CSAT score of valid replies, on the settings' scale (the guide: 1-9).",
            n="csat_valid",
            value_column="score",
        ),
        _rate(
            "csat_satisfied_rate",
            "csat_satisfied",
            "csat_valid",
            "higher",
            "Valid CSAT replies at or above csat.satisfied_at_least ÷ valid CSAT replies.",
            "score",
        ),
        _simple("csat_responses", "csat_valid", "count", "higher", "Valid CSAT replies.", value_column="score"),
        NpsMetric(
            name="nps",
            fact="surveys",
            column="score",
            where=seg("valid_nps"),
            unit="nps",
            better="higher",
            description="Net Promoter Score: % promoters (9-10) − % detractors (0-6) of valid 0-10 replies "
            "(−100..100).",
            value_column="score",
        ),
        _simple("nps_responses", "nps_valid", "count", "higher", "Valid NPS replies.", value_column="score"),
        _simple("survey_replies", "survey_replies", "count", None, "Every survey reply, whatever its parse status."),
        *(
            _simple(
                f"survey_replies_{s.value}",
                f"survey_replies_{s.value}",
                "count",
                None,
                f"Survey replies whose text parsed as {_STATUS_WORDS[s]}.",
            )
            for s in ParseStatus
        ),
        _simple(
            "survey_replies_not_parsed",
            "survey_replies_unparsed",
            "count",
            None,
            "Survey replies that did not parse as one score on the scale (out of range, ambiguous, not a "
            "number, empty): not counted in CSAT or NPS. Opt-outs (STOP answering a survey) are not here: they are "
            "their own status, counted by survey_replies_opt_out.",
        ),
        _simple(
            "testimonial_replies",
            "testimonials",
            "count",
            None,
            "High scores (CSAT at or above csat.satisfied_at_least, NPS 9-10) where the customer wrote more "
            "than the number: testimonials to bank (ask before quoting).",
        ),
        _simple(
            "low_satisfaction_replies",
            "low_satisfaction",
            "count",
            "lower",
            "Valid CSAT replies below csat.satisfied_at_least and valid NPS replies from detractors (0-6): the "
            "customers a lead follows up (re-scored replies count with their new score).",
            value_column="score",
        ),
        _rate(
            "survey_response_rate",
            "prompts_answered",
            "prompts_judgeable",
            "higher",
            "Survey prompts answered by the contact within the reply window ÷ survey prompts answered or whose "
            "reply window (survey_prompts.reply_window_hours) had closed when the data ends; prompts sent too "
            "recently to judge are left out.",
        ),
        # Customers
        EntityShareMetric(
            name="repeat_customer_rate",
            fact="conversations",
            entity="contact_number",
            min_rows=2,
            unit="ratio",
            better="higher",
            description="Contacts with two or more conversations in the window ÷ contacts with one or more.",
        ),
        # Compliance
        _simple(
            "sensitive_data_messages",
            "messages_sensitive",
            "count",
            "lower",
            "Messages that held a card number passing the Luhn check or a US SSN (the SOP: never ask for "
            "payment data by text), found at load before the body was stored redacted. Split with --by direction "
            "or --by agent.",
        ),
        _simple(
            "sensitive_data_open",
            "messages_sensitive_open",
            "count",
            "lower",
            "Messages with payment data or an SSN that no lead has marked handled yet (the compliance queue).",
        ),
    )
}

REGISTRY = Registry(facts=FACTS, dimensions=DIMENSIONS, measures=MEASURES, metrics=METRICS, params=PARAMS)
_problems = validate(REGISTRY)
if _problems:  # a broken declaration must fail at import, with every problem listed
    raise RuntimeError("metric registry is inconsistent:\n  " + "\n  ".join(_problems))


@dataclass(frozen=True)
class MetricInfo:
    """What the docs, the CLI and the pages need to know of a metric, resolved through its fact."""

    name: str
    type: str
    unit: str
    aggregation: str  # count | count distinct | sum | mean | median | p90 | ratio | nps
    better: str | None
    description: str
    fact: str
    anchor: str
    row: str  # what one row behind it is (drill-downs)
    rows: str
    dimensions: tuple[str, ...]


CATALOG: dict[str, MetricInfo] = {
    name: MetricInfo(
        name=name,
        type=m.type,
        unit=m.unit,
        aggregation=REGISTRY.aggregation(m),
        better=m.better,
        description=m.description,
        fact=REGISTRY.fact_of(m).name,
        anchor=REGISTRY.fact_of(m).anchor,
        row=REGISTRY.fact_of(m).row,
        rows=REGISTRY.fact_of(m).rows,
        dimensions=REGISTRY.dimensions_of(m),
    )
    for name, m in METRICS.items()
}


def describe(name: str) -> MetricInfo:
    return CATALOG[name]
