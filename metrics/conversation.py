"""One conversation as a lead reads it: every message in order with who wrote it and what it is, the inquiry
blocks with their reply times and same-day deadline, gaps over two hours after the first reply (the guide's
rule), the survey score it earned, opening hours, and the customer's other conversations.

Contact numbers are masked (last four digits); bodies are stored with payment data redacted and are masked
again on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from metrics.annotations import NO_OVERLAY, Overlay
from metrics.compiler import compile_in_scope
from metrics.params import Params
from metrics.query import derived_settings, run_compiled
from metrics.registry import FOLLOW_UP_SECONDS, REGISTRY
from metrics.scope import EVERYTHING, Scope
from replyboard.appstate import Target
from replyboard.business_time import business_seconds, open_intervals
from replyboard.contract import MessageKind
from replyboard.formats import fmt_duration
from replyboard.phones import mask_number
from replyboard.sensitive import mask_sensitive

KIND_LABELS = {
    MessageKind.INQUIRY: "inquiry",
    MessageKind.HUMAN_REPLY: "human reply",
    MessageKind.FAILED_REPLY: "reply not delivered",
    MessageKind.PENDING_REPLY: "reply not sent yet",
    MessageKind.AUTOMATED: "automated",
    MessageKind.SURVEY_PROMPT: "survey prompt",
    MessageKind.SURVEY_ANSWER: "survey answer",
    MessageKind.OPT_OUT: "opt-out",
    MessageKind.CLOSER: "closer (no reply needed)",
    MessageKind.REACTION: "reaction (no reply needed)",
}


class ConversationNotFound(LookupError):
    pass


@dataclass
class TranscriptMessage:
    message_id: str
    sent_at: datetime  # UTC
    local_time: datetime  # team timezone
    direction: str
    author: str  # agent name, "automation" or "customer"
    agent_id: str | None
    kind: str
    kind_label: str
    status: str | None
    body: str
    in_hours: bool
    sensitive: str | None
    block_id: str | None = None  # the inquiry block this message opens or belongs to
    handled: bool = False  # a compliance hit a lead marked handled


@dataclass
class TranscriptBlock:
    block_id: str
    seq: int
    is_follow_up: bool
    started_at: datetime
    local_time: datetime
    inquiries: int
    replied_at: datetime | None
    reply_agent: str | None
    calendar_seconds: float | None
    business_seconds: float | None
    deadline_at: datetime | None
    same_day_met: bool | None  # None: still before its deadline, unanswered
    gap_over_2h: bool  # a follow-up the customer waited more than 2 hours for (or still waits), calendar time
    gap_over_2h_business: bool  # the same in business time (opening hours only)
    no_reply_needed: bool = False
    annotation_note: str | None = None


@dataclass
class TranscriptSurvey:
    response_id: str
    survey: str
    reply_text: str
    score: int | None
    parse_status: str
    agent: str | None  # who it was attributed to
    rescored: bool = False


@dataclass
class Transcript:
    conversation_id: str
    line: str
    line_name: str | None
    contact: str  # masked
    channel: str | None
    started_at: datetime
    ended_at: datetime
    timezone: str
    messages: list[TranscriptMessage] = field(default_factory=list)
    blocks: list[TranscriptBlock] = field(default_factory=list)
    surveys: list[TranscriptSurvey] = field(default_factory=list)
    other_conversations: list[dict[str, Any]] = field(default_factory=list)  # the same customer's, newest first
    data_end: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def visible(con: duckdb.DuckDBPyConnection, conversation_ids: Iterable[str], scope: Scope) -> set[str]:
    """The conversations among ``conversation_ids`` the person may read (the same rule as every other read)."""
    wanted = list(dict.fromkeys(conversation_ids))
    if scope.unrestricted or not wanted:
        return set(wanted)
    query = compile_in_scope(REGISTRY, "conversations", "conversation_id", wanted, scope)
    return set(run_compiled(con, query, Params(scope=scope))["value"].to_list())


def in_scope(con: duckdb.DuckDBPyConnection, conversation_id: str, scope: Scope) -> bool:
    """Whether the person may read this conversation."""
    return conversation_id in visible(con, [conversation_id], scope)


def transcript(
    con: duckdb.DuckDBPyConnection, conversation_id: str, overlay: Overlay = NO_OVERLAY, scope: Scope = EVERYTHING
) -> Transcript:
    """The conversation as a lead reads it; ConversationNotFound when it does not exist or is outside the
    person's scope (the same answer for both: out-of-scope rows are absent, not hidden)."""
    if not in_scope(con, conversation_id, scope):
        raise ConversationNotFound(f"no conversation {conversation_id!r} in this warehouse")
    head = con.execute(
        "SELECT c.conversation_id, c.line_number, l.name, c.contact_number, c.channel, c.started_at, c.ended_at "
        "FROM conversations c LEFT JOIN lines l USING (line_number) WHERE c.conversation_id = $id",
        {"id": conversation_id},
    ).fetchall()
    if not head:
        raise ConversationNotFound(f"no conversation {conversation_id!r} in this warehouse")
    cid, line, line_name, contact, channel, started, ended = head[0]
    settings = derived_settings(con)
    names = dict(con.execute("SELECT agent_id, coalesce(name, agent_id) FROM agents").fetchall())

    def who(agent: str | None) -> str | None:
        """An agent's name; to an agent, every other agent is "a colleague" (never their name)."""
        if agent is None:
            return None
        if scope.role == "agent" and agent != scope.agent:
            return "a colleague"
        return names.get(agent, agent)

    (data_end,) = con.execute("SELECT max(created_at) FROM messages").fetchall()[0]
    zone = settings.zone
    last = max(ended, data_end) if data_end is not None else ended  # unanswered blocks wait until the data's end
    windows = open_intervals(
        settings, started.astimezone(zone).date() - timedelta(days=1), last.astimezone(zone).date() + timedelta(days=1)
    )

    def in_hours(t: datetime) -> bool:
        return any(s <= t < e for s, e, _ in windows)

    def _business_wait(start: datetime) -> float:
        """Open seconds an unanswered block has waited at the end of the data."""
        return business_seconds(settings, start, data_end or start)

    handled = set(overlay.handled_messages)
    out = Transcript(
        conversation_id=cid,
        line=line_name or mask_number(line),
        line_name=line_name,
        contact=mask_number(contact),
        channel=channel,
        started_at=started,
        ended_at=ended,
        timezone=settings.timezone,
        data_end=data_end,
    )
    rows = con.execute(
        "SELECT message_id, created_at, created_local, direction, agent_id, kind, status, body, sensitive "
        "FROM messages WHERE conversation_id = $id ORDER BY created_at, message_id",
        {"id": cid},
    ).fetchall()
    for mid, at, local, direction, agent, kind, status, body, sensitive in rows:
        kind_enum = MessageKind(kind) if kind in MessageKind._value2member_map_ else None
        if direction == "inbound":
            author = "customer"
        elif kind in (MessageKind.AUTOMATED, MessageKind.SURVEY_PROMPT):
            author = "automation"
        else:
            author = who(agent) or "unknown sender"
        out.messages.append(
            TranscriptMessage(
                message_id=mid,
                sent_at=at,
                local_time=local,
                direction=direction,
                author=author,
                agent_id=agent,
                kind=kind,
                kind_label=KIND_LABELS.get(kind_enum, kind) if kind_enum else str(kind),
                status=status,
                body=mask_sensitive(body or ""),
                in_hours=in_hours(at),
                sensitive=sensitive,
                handled=mid in handled,
            )
        )
    no_reply = set(overlay.no_reply_blocks)
    blocks = con.execute(
        "SELECT block_id, block_seq, is_follow_up, started_at, started_local, inquiries, replied_at, reply_agent_id, "
        "calendar_seconds, business_seconds, deadline_at FROM inquiry_blocks WHERE conversation_id = $id "
        "ORDER BY started_at",
        {"id": cid},
    ).fetchall()
    for bid, seq, follow, b_start, b_local, inquiries, replied, agent, cal, bus, deadline in blocks:
        if replied is not None:
            met: bool | None = deadline is not None and replied <= deadline
        else:
            met = False if deadline is not None and data_end is not None and deadline <= data_end else None
        waited = cal if cal is not None else (data_end - b_start).total_seconds() if data_end else 0
        out.blocks.append(
            TranscriptBlock(
                block_id=bid,
                seq=seq,
                is_follow_up=follow,
                started_at=b_start,
                local_time=b_local,
                inquiries=inquiries,
                replied_at=replied,
                reply_agent=who(agent),
                calendar_seconds=cal,
                business_seconds=bus,
                deadline_at=deadline,
                same_day_met=met,
                gap_over_2h=bool(follow and waited > FOLLOW_UP_SECONDS),
                gap_over_2h_business=bool(
                    follow and (bus if bus is not None else _business_wait(b_start)) > FOLLOW_UP_SECONDS
                ),
                no_reply_needed=bid in no_reply,
            )
        )
    _mark_blocks(out)
    rescored = dict(overlay.rescored)
    for rid, survey, text, score, status, agent in con.execute(
        "SELECT response_id, survey, reply_text, score, parse_status, agent_id FROM survey_responses "
        "WHERE conversation_id = $id ORDER BY received_at",
        {"id": cid},
    ).fetchall():
        out.surveys.append(
            TranscriptSurvey(
                response_id=rid,
                survey=survey,
                reply_text=mask_sensitive(text or ""),
                score=rescored.get(rid, score),
                parse_status="valid" if rid in rescored else status,
                agent=who(agent),
                rescored=rid in rescored,
            )
        )
    others = con.execute(
        "SELECT conversation_id, started_at, messages FROM conversations WHERE contact_number = $contact "
        "AND conversation_id <> $id ORDER BY started_at DESC LIMIT 50",
        {"contact": contact, "id": cid},
    ).fetchall()
    allowed = visible(con, [o[0] for o in others], scope)
    for other_id, o_start, o_messages in others:
        if other_id in allowed:
            out.other_conversations.append({"conversation_id": other_id, "started_at": o_start, "messages": o_messages})
    return out


_TARGET_TABLES = {
    Target.BLOCK: ("inquiry_blocks", "block_id"),
    Target.MESSAGE: ("messages", "message_id"),
    Target.SURVEY_REPLY: ("survey_responses", "response_id"),
}


def conversations_of(
    con: duckdb.DuckDBPyConnection, target: Target, ids: list[str], scope: Scope = EVERYTHING
) -> dict[str, str]:
    """The conversation each annotated block, message or survey reply belongs to (ids the warehouse no longer
    holds, and those in conversations outside the person's scope, are left out), so a list of annotations can
    open each one in the viewer and shows only what the person may read."""
    table, column = _TARGET_TABLES[target]
    found = dict(
        con.execute(
            f"SELECT {column}, conversation_id FROM {table} WHERE list_contains($ids, {column}) "
            "AND conversation_id IS NOT NULL",
            {"ids": list(ids)},
        ).fetchall()
    )
    allowed = visible(con, found.values(), scope)
    return {k: v for k, v in found.items() if v in allowed}


def _mark_blocks(t: Transcript) -> None:
    """Point each inquiry at its block: the last block started at or before it."""
    starts = sorted((b.started_at, b.block_id) for b in t.blocks)
    for m in t.messages:
        if m.kind != MessageKind.INQUIRY:
            continue
        owner = None
        for start, bid in starts:
            if start <= m.sent_at:
                owner = bid
        m.block_id = owner


def as_text(t: Transcript) -> str:
    """A plain-text transcript (the CLI's --format text)."""
    lines = [
        f"Conversation {t.conversation_id} on {t.line} with {t.contact} ({t.channel or 'sms'}), "
        f"{len(t.messages)} messages, times in {t.timezone}",
    ]
    blocks = {b.block_id: b for b in t.blocks}
    shown: set[str] = set()
    for m in t.messages:
        hours = "" if m.in_hours else " [closed]"
        status = f" ({m.status})" if m.status and m.direction == "outbound" else ""
        lines.append(f"{m.local_time:%a %Y-%m-%d %H:%M}{hours}  {m.author:<14} {m.kind_label}{status}: {m.body}")
        b = blocks.get(m.block_id or "")
        if b is not None and b.block_id not in shown:
            shown.add(b.block_id)
            verdict = {True: "met", False: "missed", None: "not yet due"}[b.same_day_met]
            flag = "  ! over 2 h after the first reply" if b.gap_over_2h else ""
            flag += " (in business hours too)" if b.gap_over_2h and b.gap_over_2h_business else ""
            marked = "  (marked: no reply needed)" if b.no_reply_needed else ""
            lines.append(
                f"    block {b.seq}: {b.inquiries} text(s), reply time {fmt_duration(b.calendar_seconds)} calendar / "
                f"{fmt_duration(b.business_seconds)} business, same-day deadline "
                f"{b.deadline_at.astimezone(ZoneInfo(t.timezone)).strftime('%a %H:%M') if b.deadline_at else '–'} {verdict}"
                f"{flag}{marked}"
            )
    for s in t.surveys:
        score = s.score if s.score is not None else "–"
        lines.append(
            f"survey {s.survey}: {s.reply_text!r} -> {score} ({s.parse_status}), attributed to {s.agent or 'nobody'}"
        )
    if t.other_conversations:
        lines.append(f"the customer's other conversations: {len(t.other_conversations)}")
    return "\n".join(lines)
