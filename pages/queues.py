"""Work queues (team leads, URL ?queue=...): who is waiting now, same-day misses, 2-hour gaps after a first reply,
low CSAT and detractors, compliance hits, survey replies that could not be parsed. Each row opens the
conversation; each queue lists its annotations (who marked what, when) with undo."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import streamlit as st

from pages import annotating, common
from replyboard.appstate import Action, Target

LIMIT = 100


@dataclass(frozen=True)
class Queue:
    slug: str
    title: str
    metric: str
    what: str  # what the list holds and how it is sorted
    target: Target  # whose annotations it shows
    action: Action
    extra: tuple[str, ...] = ()
    descending: bool = True  # newest first
    everyone: bool = False  # agent and team filters do not apply (nobody has replied yet)
    texts: tuple[str, ...] = ()  # free-text columns (masked)


QUEUES = (
    Queue(
        "waiting",
        "Waiting now",
        "unanswered_inquiries",
        "Inquiry blocks nobody has answered, oldest first. Waiting is counted to the newest message loaded (an "
        "old export is not judged against today), in the hours the sidebar says. Agent and team filters do not "
        "apply: nobody has replied yet.",
        Target.BLOCK,
        Action.NO_REPLY_NEEDED,
        descending=False,
        everyone=True,
    ),
    Queue(
        "same-day",
        "Same-day misses",
        "same_day_misses",
        "Blocks answered after their same-business-day deadline, or still unanswered past it; newest first.",
        Target.BLOCK,
        Action.NO_REPLY_NEEDED,
        extra=("waiting_seconds",),
    ),
    Queue(
        "gaps",
        "2-hour gaps",
        "follow_up_gaps",
        "Follow-ups (after the conversation's first human reply) the customer waited more than 2 hours for, "
        "answered late or not yet (business time when the sidebar says business hours); newest first.",
        Target.BLOCK,
        Action.NO_REPLY_NEEDED,
        extra=("waiting_seconds",),
    ),
    Queue(
        "low-satisfaction",
        "Low CSAT / detractors",
        "low_satisfaction_replies",
        "Valid CSAT replies below the satisfied threshold and NPS detractors (0-6), newest first: the customers "
        "to follow up.",
        Target.SURVEY_REPLY,
        Action.RESCORED,
        extra=("reply_text",),
        texts=("reply_text",),
    ),
    Queue(
        "compliance",
        "Compliance hits",
        "sensitive_data_messages",
        "Messages that held a card number or an SSN (stored redacted), newest first; handled ones stay listed, "
        "marked as such.",
        Target.MESSAGE,
        Action.HANDLED,
        extra=("body", "handled"),
        texts=("body",),
    ),
    Queue(
        "unparsed",
        "Unparsed survey replies",
        "survey_replies_not_parsed",
        "Survey replies that did not read as one score on the scale (ambiguous, out of range, words only, "
        "empty, STOP), newest first; re-score one in its conversation and it counts as valid.",
        Target.SURVEY_REPLY,
        Action.RESCORED,
        extra=("reply_text",),
        texts=("reply_text",),
    ),
)
BY_SLUG = {q.slug: q for q in QUEUES}


def _filters(q: Queue):
    return common.without_agent_filters() if q.everyone else common.filters()


def counts() -> None:
    """Every queue's size, each a link to that queue."""
    cols = st.columns(len(QUEUES))
    for col, q in zip(cols, QUEUES, strict=True):
        value = common.metrics([q.metric], f=_filters(q)).row(0, named=True)[q.metric]
        with col:
            st.metric(q.title, common.fmt_number(value))
            st.page_link(common.QUEUES_PAGE, label="open", icon=":material/inbox:", query_params={"queue": q.slug})


def listing(frame: pl.DataFrame, q: Queue) -> pl.DataFrame:
    """The queue's rows as a lead reads them: durations first (numbers, written in one unit per column by the
    table), lines and agents named."""
    out = frame.rename(
        {"line_number": "line", "agent_id": "agent", "local_time": "time", "seconds": "reply time"}, strict=False
    ).rename({"waiting_seconds": "waiting"}, strict=False)
    drop: list[str] = [
        c
        for c in ("started_at", "created_at", "received_at", "t", "no_reply_needed", "rescored", "block_seq")
        if c in out.columns
    ]
    empty: list[str] = [c for c in ("replied_at", "score") if c in out.columns and out[c].null_count() == out.height]
    shown = common.named(common.masked(out.drop(drop + empty), texts=q.texts))
    return common.readable(shown, first=("time", "waiting", "reply time", "survey", "score", "sensitive", "handled"))


LABELS = {
    "time": common.Col("time", "time", pinned=True),
    "waiting": common.Col("waiting", "wait"),
    "reply time": common.Col("reply time", "wait"),
    "survey": common.Col("survey", width="small"),
    "score": common.Col("score", "count", width="small"),
    "sensitive": common.Col("found", width="small"),
    "handled": common.Col("handled", width="small"),
    "body": common.Col("message (masked)", width="large"),
    "reply_text": common.Col("reply", width="large"),
    "contact_number": common.Col("contact"),
    "name": common.Col("agent"),
    "agent": common.Col("agent id"),
    "inquiries": common.Col("texts", "count", width="small"),
    "replied_at": common.Col("replied", "time"),
    "deadline_at": common.Col("same-day deadline", "time"),
}


def _columns(frame: pl.DataFrame) -> dict[str, common.Col]:
    """Every column the listing has, in its order, labelled (the key ones as LABELS says)."""
    return {c: LABELS.get(c, common.Col(c.replace("_", " "))) for c in frame.columns}


def show(q: Queue) -> None:
    st.subheader(q.title)
    st.caption(q.what + f" Response times in {common.hours_label()}.")
    f = _filters(q)
    order = "time"
    found = common.rows(q.metric, f=f, order=order, descending=q.descending, limit=LIMIT, extra=q.extra)
    head = st.columns([2, 5])
    with head[0]:
        common.rows_link(q.metric, found.total, None, **_rows_extra(q))
        if q.slug == "compliance":
            open_now = common.metrics(["sensitive_data_open"], f=f).row(0, named=True)["sensitive_data_open"]
            st.markdown(f"**{open_now:,}** not handled yet")
    head[1].caption(f"`{q.metric}`: {common.describe(q.metric)}")
    if found.frame.is_empty():
        common.empty("Nothing in this queue for these filters.")
    else:
        st.session_state["last_queue"] = {"queue": q.slug}
        shown = found.frame.height
        if shown < found.total:
            st.caption(f"The first {shown:,} of {found.total:,}; the rows page lists, sorts and downloads every one.")
        rows = listing(found.frame, q)
        common.conversation_table(
            rows,
            f"queue_{q.slug}",
            key=f"queue-{q.slug}",
            ids=found.frame["conversation_id"].to_list(),
            height=388,  # ten rows, so the queue's annotations stay in view below
            columns=_columns(rows),
        )
    st.markdown(f"**Annotations: {annotating.ACTION_WORDS[q.action]}**")
    found_notes = [a for a in common.annotation_history(q.target) if a.action is q.action]
    if not found_notes:
        st.caption(
            "None yet. Open a conversation to mark "
            + {
                Action.NO_REPLY_NEEDED: "an inquiry block 'no reply needed' (it leaves the rates and these queues).",
                Action.HANDLED: "a compliance hit handled.",
                Action.RESCORED: "a survey reply re-scored (it then counts as a valid score).",
            }[q.action]
        )
    else:
        links = common.conversations_of(q.target, [a.target_id for a in found_notes])
        annotating.history(found_notes[:200], key=f"queue-{q.slug}", links=links)


def _rows_extra(q: Queue) -> dict[str, object]:
    extra: dict[str, object] = {"order": "time", "desc": "true" if q.descending else "false"}
    if q.everyone:
        extra["all_agents"] = 1
    return extra


st.title("Work queues")
if common.require_data():
    annotating.feedback()
    counts()
    wanted = st.query_params.get("queue") or QUEUES[0].slug
    if wanted not in BY_SLUG:
        st.warning(f"No queue {wanted!r}; the queues are: {', '.join(BY_SLUG)}.")
        wanted = QUEUES[0].slug
    show(BY_SLUG[wanted])
