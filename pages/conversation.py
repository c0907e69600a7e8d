"""Conversation: one transcript as a lead reads it (URL ?id=...): every message with its time in the team timezone,
who wrote it, what it is and whether it was delivered; each inquiry block with its reply time (calendar and
business), the same-day deadline and whether it was met, 2-hour gaps after the first reply, closed hours shaded;
the survey score and who it went to; the customer's other conversations; annotations with their history."""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from metrics.conversation import ConversationNotFound, Transcript, TranscriptBlock, TranscriptMessage
from pages import annotating, common
from replyboard.appstate import Action, Target
from replyboard.sensitive import mask_mentions

CLOSED_SHADE = "#eef0f3"
DIRECTION_TINT = {"inbound": "#ddf4ff", "outbound": "#fbefff"}


def _badge(colour: str, text: str) -> str:
    return f":{colour}-badge[{text}]"


def _hm(t: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %H:%M") -> str:
    return t.astimezone(zone).strftime(fmt) if t is not None else "–"


def block_summary(b: TranscriptBlock, zone: ZoneInfo) -> tuple[str, str]:
    """(badges, detail) of an inquiry block: met/missed, gaps, marks; reply times and the deadline."""
    badges = [f"**Inquiry block {b.seq}**", f"{b.inquiries} text{'s' if b.inquiries > 1 else ''}"]
    if b.is_follow_up:
        badges.append("follow-up")
    verdict = {True: ("green", "same day: met"), False: ("red", "same day: missed"), None: ("gray", "not yet due")}
    if b.no_reply_needed:  # out of every rate, as the figures count it
        badges.append(_badge("violet", "marked: no reply needed, left out of the rates"))
    else:
        badges.append(_badge(*verdict[b.same_day_met]))
        if b.gap_over_2h:
            both = " (business hours too)" if b.gap_over_2h_business else " (calendar only)"
            badges.append(_badge("orange", "waited over 2 h after the first reply" + both))
    if b.replied_at is not None:
        detail = (
            f"Reply time **{common.fmt_duration(b.calendar_seconds)}** calendar · "
            f"**{common.fmt_duration(b.business_seconds)}** business · by {b.reply_agent or 'unknown'} at "
            f"{_hm(b.replied_at, zone)}"
        )
    else:
        detail = "**Not answered yet**"
    detail += f" · same-day deadline {_hm(b.deadline_at, zone)}"
    return " · ".join(badges), detail


def messages_html(messages: list[TranscriptMessage], zone: ZoneInfo, region: str) -> str:
    """Messages as a table: closed-hours rows shaded and tagged, bodies escaped and masked (cards, SSNs, phones)."""
    rows = []
    for m in messages:
        shade = CLOSED_SHADE if not m.in_hours else "#ffffff"
        closed = '<span style="color:#57606a;font-size:0.8em"> closed</span>' if not m.in_hours else ""
        arrow = "→ in" if m.direction == "inbound" else "← out"
        status = html.escape(m.status or "") if m.direction == "outbound" else ""
        flags = ""
        if m.sensitive:
            state = "handled" if m.handled else "not handled"
            flags = (
                f'<br><span style="color:#cf222e;font-size:0.8em">held {html.escape(m.sensitive)} '
                f"(stored redacted) · {state}</span>"
            )
        body = html.escape(mask_mentions(m.body, region)) or '<span style="color:#8c959f">(no text)</span>'
        rows.append(
            f'<tr style="background:{shade}">'
            f'<td style="white-space:nowrap;padding:4px 8px">{m.local_time:%a %d %b %H:%M}{closed}</td>'
            f'<td style="white-space:nowrap;padding:4px 8px;background:{DIRECTION_TINT.get(m.direction, shade)}">'
            f"{arrow}</td>"
            f'<td style="padding:4px 8px;overflow-wrap:anywhere"><b>{html.escape(m.author)}</b></td>'
            f'<td style="white-space:nowrap;padding:4px 8px">{html.escape(m.kind_label)}</td>'
            f'<td style="white-space:nowrap;padding:4px 8px;color:#57606a">{status}</td>'
            f'<td style="padding:4px 8px">{body}{flags}</td></tr>'
        )
    head = "".join(
        f'<th style="text-align:left;padding:4px 8px;color:#57606a;font-weight:500">{h}</th>'
        for h in ("time", "", "author", "kind", "status", "message")
    )
    widths = "".join(f'<col style="width:{w}">' for w in ("150px", "64px", "140px", "130px", "90px", "auto"))
    return (  # fixed widths: every block's table lines up with the others
        '<table style="width:100%;border-collapse:collapse;font-size:0.9em;table-layout:fixed">'
        f"<colgroup>{widths}</colgroup><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def segments(t: Transcript) -> list[tuple[TranscriptBlock | None, list[TranscriptMessage]]]:
    """The messages cut at each inquiry block's first message: (block, its messages and what follows it)."""
    blocks = {b.block_id: b for b in t.blocks}
    out: list[tuple[TranscriptBlock | None, list[TranscriptMessage]]] = [(None, [])]
    for m in t.messages:
        b = blocks.get(m.block_id or "")
        if b is not None and (out[-1][0] is None or out[-1][0].block_id != b.block_id):
            out.append((b, []))
        out[-1][1].append(m)
    return [s for s in out if s[1]]


def compliance_controls(messages: list[TranscriptMessage], zone: ZoneInfo) -> None:
    for m in (m for m in messages if m.sensitive):
        st.markdown(
            f"Compliance hit: the {_hm(m.sent_at, zone)} message from {m.author} held **{m.sensitive}** "
            f"(the SOP: never by text)."
            + (" " + _badge("green", "handled") if m.handled else " " + _badge("red", "not handled"))
        )
        if not m.handled:
            annotating.mark_control(
                Target.MESSAGE,
                m.message_id,
                Action.HANDLED,
                label="Mark handled",
                placeholder="what was done (e.g. told the customer, sent the payment link)",
            )
        annotating.history(common.annotation_history(Target.MESSAGE, ids=[m.message_id]), key=f"hist-{m.message_id}")


def show_block(b: TranscriptBlock, zone: ZoneInfo) -> None:
    badges, detail = block_summary(b, zone)
    st.markdown(badges)
    st.caption(detail)
    if not b.no_reply_needed:
        annotating.mark_control(
            Target.BLOCK,
            b.block_id,
            Action.NO_REPLY_NEEDED,
            label="Mark: no reply needed",
            placeholder="why (e.g. the customer only said thanks)",
        )
    annotating.history(common.annotation_history(Target.BLOCK, ids=[b.block_id]), key=f"hist-{b.block_id}")


def show_surveys(t: Transcript) -> None:
    if not t.surveys:
        return
    st.subheader("Survey")
    scale = common.settings().csat
    for s in t.surveys:
        with st.container(border=True):
            score = s.score if s.score is not None else "–"
            status = _badge("green" if s.parse_status == "valid" else "orange", s.parse_status.replace("_", " "))
            rescored = " " + _badge("violet", "re-scored") if s.rescored else ""
            st.markdown(
                f"**{s.survey.upper()} {score}** {status}{rescored} · attributed to "
                f"**{s.agent or 'nobody'}** (the last human reply before the survey)"
            )
            st.caption(f"Reply: “{mask_mentions(s.reply_text, common.settings().default_region)}”")
            low, high = (scale.min, scale.max) if s.survey == "csat" else (0, 10)
            annotating.mark_control(
                Target.SURVEY_REPLY,
                s.response_id,
                Action.RESCORED,
                label="Re-score",
                score_range=(low, high),
                placeholder="why (e.g. 'between 6 and 8': the customer meant 7)",
            )
            annotating.history(
                common.annotation_history(Target.SURVEY_REPLY, ids=[s.response_id]), key=f"hist-{s.response_id}"
            )


def back_links() -> None:
    came_from = st.session_state.get("last_rows_query")
    queue = st.session_state.get("last_queue")
    cols = st.columns(4)
    if came_from:
        with cols[0]:
            st.page_link(
                common.ROWS_PAGE, label="Back to the rows", icon=":material/arrow_back:", query_params=came_from
            )
    if queue:
        with cols[1]:
            st.page_link(common.QUEUES_PAGE, label="Back to the queue", icon=":material/inbox:", query_params=queue)


def open_by_id() -> None:
    st.info("Open a conversation from any list of rows or a work queue, or enter its id.")
    entered = st.text_input("Conversation id", key="conversation_id_entry", placeholder="c_22B2BF42F924511F")
    if entered:
        st.query_params["id"] = entered.strip()
        st.rerun()


def show(t: Transcript) -> None:
    zone = ZoneInfo(t.timezone)
    region = common.settings().default_region
    st.subheader(f"{t.line} · {t.contact} · {t.channel or 'sms'}")
    st.caption(
        f"{len(t.messages)} messages, {_hm(t.started_at, zone, '%a %d %b %Y %H:%M')} to "
        f"{_hm(t.ended_at, zone, '%a %d %b %Y %H:%M')}; times in {t.timezone}. Shaded rows: sent or received while "
        f"the team was closed (business hours in settings.yaml). Conversation `{t.conversation_id}`."
    )
    judged = [b for b in t.blocks if not b.no_reply_needed]  # what the rates count
    cols = st.columns(5)
    cols[0].metric(
        "Inquiry blocks",
        len(t.blocks),
        help=f"{len(t.blocks) - len(judged)} marked 'no reply needed'" if len(judged) < len(t.blocks) else None,
    )
    cols[1].metric("Unanswered", sum(1 for b in judged if b.replied_at is None))
    cols[2].metric("Same-day missed", sum(1 for b in judged if b.same_day_met is False))
    cols[3].metric("Waited over 2 h", sum(1 for b in judged if b.gap_over_2h))
    first = t.blocks[0] if t.blocks else None
    cols[4].metric(
        "First response",
        common.fmt_duration(first.business_seconds if common.params().hours == "business" else first.calendar_seconds)
        if first
        else "–",
        help=f"In {common.hours_label()} (the sidebar switch).",
    )
    for block, messages in segments(t):
        with st.container(border=True):
            if block is not None:
                show_block(block, zone)
            st.html(messages_html(messages, zone, region))
            compliance_controls(messages, zone)
    show_surveys(t)
    if t.other_conversations:
        st.subheader("The customer's other conversations")
        for other in t.other_conversations:
            st.page_link(
                common.CONVERSATION_PAGE,
                label=f"{_hm(other['started_at'], zone, '%a %d %b %Y %H:%M')} · {other['messages']} messages",
                icon=":material/forum:",
                query_params={"id": other["conversation_id"]},
            )


st.title("Conversation")
if common.require_data():
    annotating.feedback()
    back_links()
    wanted = st.query_params.get("id")
    if not wanted:
        open_by_id()
    else:
        try:
            show(common.transcript(wanted))
        except ConversationNotFound:
            st.warning(f"No conversation {wanted!r} in this warehouse (a reload may have split it differently).")
            open_by_id()
