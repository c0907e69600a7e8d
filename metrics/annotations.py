"""What leads decided, applied by the read layer: annotations from the app-state store as query parameters.

An ``Overlay`` is a frozen snapshot of the active annotations (hashable, so cached queries key on it): blocks
marked "no reply needed" leave every rate's denominator and the unanswered count, compliance hits marked handled
leave the open-hits count, survey replies re-scored count as valid with their new score. Facts in the warehouse
are never changed: a reload or re-derivation keeps every annotation, matched again by its stable id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from metrics.derived import derived_settings
from replyboard.appstate import Action, AppState, AppStateError, Target, state_path


@dataclass(frozen=True)
class Overlay:
    revision: int = -1  # the store's revision it was read at (-1: no store)
    no_reply_blocks: tuple[str, ...] = ()
    handled_messages: tuple[str, ...] = ()
    rescored: tuple[tuple[str, int], ...] = ()  # (response_id, score)

    def bindings(self) -> dict[str, object]:
        return {
            "no_reply_blocks": list(self.no_reply_blocks),
            "handled_messages": list(self.handled_messages),
            "rescored_ids": [rid for rid, _ in self.rescored],
            "rescored_scores": [score for _, score in self.rescored],
        }


NO_OVERLAY = Overlay()


def overlay_from(state: AppState) -> Overlay:
    revision = state.revision()
    blocks, handled, rescored = [], [], []
    for a in state.annotations():
        if a.action is Action.NO_REPLY_NEEDED:
            blocks.append(a.target_id)
        elif a.action is Action.HANDLED:
            handled.append(a.target_id)
        elif a.action is Action.RESCORED and a.score is not None:
            rescored.append((a.target_id, a.score))
    return Overlay(revision, tuple(sorted(blocks)), tuple(sorted(handled)), tuple(sorted(rescored)))


def overlay_for(warehouse: str | Path) -> Overlay:
    """The active annotations of a warehouse's store, or none when it has no store yet."""
    path = state_path(warehouse)
    if not path.exists():
        return NO_OVERLAY
    try:
        return overlay_from(AppState(path))
    except AppStateError:
        return NO_OVERLAY


def checkins_for(warehouse: str | Path, period: str) -> dict[str, list[tuple]]:
    """Check-ins recorded on the dashboard for one OKR period: {key_result_id: [(day, value, confidence, note)]}."""
    path = state_path(warehouse)
    if not path.exists():
        return {}
    try:
        records = AppState(path).checkins(period)
    except AppStateError:
        return {}
    out: dict[str, list[tuple]] = {}
    for r in records:
        out.setdefault(r.key_result_id, []).append((r.day, r.value, r.confidence, r.note))
    return out


def check_target(con: duckdb.DuckDBPyConnection, target: Target, target_id: str, score: int | None) -> None:
    """Refuse an annotation of something the warehouse does not hold, or a score off the survey's scale."""
    if target is Target.BLOCK:
        found = con.execute("SELECT count(*) FROM inquiry_blocks WHERE block_id = $id", {"id": target_id}).fetchall()
        if not found[0][0]:
            raise AppStateError(f"no inquiry block {target_id!r} in this warehouse (ids come from metrics rows)")
    elif target is Target.MESSAGE:
        found = con.execute("SELECT sensitive FROM messages WHERE message_id = $id", {"id": target_id}).fetchall()
        if not found:
            raise AppStateError(f"no message {target_id!r} in this warehouse")
        if found[0][0] is None:
            raise AppStateError(f"message {target_id!r} holds no payment data or SSN: nothing to mark handled")
    else:
        found = con.execute("SELECT survey FROM survey_responses WHERE response_id = $id", {"id": target_id}).fetchall()
        if not found:
            raise AppStateError(f"no survey reply {target_id!r} in this warehouse")
        csat = derived_settings(con).csat
        low, high = (csat.min, csat.max) if found[0][0] == "csat" else (0, 10)
        if score is None or not low <= score <= high:
            raise AppStateError(f"a {found[0][0].upper()} reply is re-scored on {low}-{high}, not {score}")
