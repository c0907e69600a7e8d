"""The annotation controls the conversation viewer and the work queues share: mark, re-score, history, undo.

Every write goes through pages/common.py to the app-state store (replyboard.appstate) in a widget callback, so
the page that renders next already counts it (the store's revision moves, the overlay is read again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from pages import common
from replyboard.appstate import Action, Annotation, AppStateError, Target

ERROR_KEY = "annotation_error"
DONE_KEY = "annotation_done"
ACTION_WORDS = {
    Action.NO_REPLY_NEEDED: "no reply needed",
    Action.HANDLED: "handled",
    Action.RESCORED: "re-scored",
}


def local(iso: str | None) -> str:
    """A store timestamp (UTC, ISO) in the team timezone."""
    if not iso:
        return "–"
    zone = ZoneInfo(common.settings().timezone)
    return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def describe(a: Annotation) -> str:
    what = ACTION_WORDS[a.action] + (f" as {a.score}" if a.score is not None else "")
    note = f": “{a.note}”" if a.note else ""
    return f"**{what}** by {a.author}, {local(a.created_at)}{note}"


def _save(target: Target, target_id: str, action: Action, note_key: str, score_key: str | None) -> None:
    note = st.session_state.get(note_key) or ""
    score = st.session_state.get(score_key) if score_key else None
    try:
        if action is Action.RESCORED and score is None:
            raise AppStateError("enter the score the reply should count as")
        common.annotate(target, target_id, action, note=note, score=int(score) if score is not None else None)
    except AppStateError as exc:
        st.session_state[ERROR_KEY] = str(exc)
        return
    st.session_state[DONE_KEY] = f"Saved: {ACTION_WORDS[action]}" + (f" as {int(score)}" if score is not None else "")
    st.session_state[note_key] = ""


def _undo(annotation_id: int) -> None:
    if not common.undo(annotation_id):
        st.session_state[ERROR_KEY] = f"annotation {annotation_id} was already undone (by another session?)"
    else:
        st.session_state[DONE_KEY] = "Undone"


def feedback() -> None:
    """What the last save or undo did (callbacks run before the page, so it is shown at the top)."""
    if message := st.session_state.pop(ERROR_KEY, None):
        st.error(message)
    if message := st.session_state.pop(DONE_KEY, None):
        st.toast(message, icon=":material/check:")


def history(found: Sequence[Annotation], *, key: str, links: Mapping[str, str] | None = None) -> None:
    """Who marked what and when, newest first, undone ones struck through; an Undo button on the active ones.
    ``links``: target id -> conversation id, to open each one in the viewer. Only for roles that may annotate."""
    if not common.may_annotate():
        return
    for a in found:
        text, link, button = st.columns([6, 1, 1], vertical_alignment="center")
        if a.active:
            text.markdown(describe(a))
            button.button("Undo", key=f"{key}-undo-{a.id}", on_click=_undo, args=(a.id,), icon=":material/undo:")
        else:
            text.markdown(
                f"~~{describe(a)}~~ · undone by {a.undone_by}, {local(a.undone_at)}",
                help="Kept in the history: an undone annotation no longer changes any figure.",
            )
        conversation_id = (links or {}).get(a.target_id)
        if conversation_id:
            with link:
                st.page_link(
                    common.CONVERSATION_PAGE,
                    label="open",
                    icon=":material/forum:",
                    query_params={"id": conversation_id},
                    help=f"the conversation of {a.target} {a.target_id}",
                )


def mark_control(
    target: Target,
    target_id: str,
    action: Action,
    *,
    label: str,
    score_range: tuple[int, int] | None = None,
    placeholder: str = "why (kept with the annotation)",
) -> None:
    """A popover with a note (and, for a re-score, the new score on the survey's scale) that records ``action``;
    nothing for a role that may not annotate (agents)."""
    if not common.may_annotate():
        return
    note_key, score_key = f"note-{action}-{target_id}", f"score-{target_id}" if score_range else None
    with st.popover(label, icon=":material/edit_note:"):
        if score_range is not None:
            low, high = score_range
            st.number_input(f"Score ({low}-{high})", min_value=low, max_value=high, step=1, value=None, key=score_key)
        st.text_input("Note", key=note_key, placeholder=placeholder)
        st.button(
            "Save",
            key=f"save-{action}-{target_id}",
            type="primary",
            on_click=_save,
            args=(target, target_id, action, note_key, score_key),
        )
