"""The app-state store: what people create (annotations, OKR check-ins, audit, alert episodes), kept apart
from the warehouse.

The warehouse is rebuilt by loads and has one writer; this store is written by the dashboard's sessions and the
CLI while loads run, and must survive every reload and re-derivation. So it is a SQLite file in WAL mode next to
the warehouse (``data/replyboard.duckdb`` -> ``data/replyboard.state.sqlite``), keyed by the warehouse's stable
ids (block_id, message_id, response_id), written in short ``BEGIN IMMEDIATE`` transactions with a busy timeout:
concurrent writers wait for each other instead of failing, and nothing is lost. Rows are never updated in place
except to mark them undone, so every annotation keeps its history (who, when, what, who undid it).

The read layer applies annotations (metrics.annotations): CLI, pages, OKRs and digests agree.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path

BUSY_TIMEOUT_MS = 10_000


class AppStateError(Exception):
    """The store cannot be used as asked (an unknown target kind, a score off the scale, a locked file...)."""


class _NothingChanged(Exception):
    """Rolls a write back without bumping the revision."""


class Target(StrEnum):
    """What an annotation is about, by its stable id in the warehouse."""

    BLOCK = "block"  # inquiry_blocks.block_id
    MESSAGE = "message"  # messages.message_id
    SURVEY_REPLY = "survey_reply"  # survey_responses.response_id


class Action(StrEnum):
    NO_REPLY_NEEDED = "no_reply_needed"  # an inquiry block that needed no answer: out of the rates
    HANDLED = "handled"  # a compliance hit (payment data sent) dealt with
    RESCORED = "rescored"  # a survey reply a lead read as score N


ALLOWED = {Action.NO_REPLY_NEEDED: Target.BLOCK, Action.HANDLED: Target.MESSAGE, Action.RESCORED: Target.SURVEY_REPLY}

_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE annotations (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            target      TEXT NOT NULL CHECK (target IN ('block', 'message', 'survey_reply')),
            target_id   TEXT NOT NULL,
            action      TEXT NOT NULL CHECK (action IN ('no_reply_needed', 'handled', 'rescored')),
            score       INTEGER,
            note        TEXT NOT NULL DEFAULT '',
            author      TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            undone_at   TEXT,
            undone_by   TEXT
        );
        CREATE INDEX annotations_target ON annotations (target, target_id);
        CREATE TABLE okr_checkins (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            period        TEXT NOT NULL,
            key_result_id TEXT NOT NULL,
            day           TEXT NOT NULL,
            value         REAL NOT NULL,
            confidence    REAL,
            note          TEXT NOT NULL DEFAULT '',
            author        TEXT NOT NULL,
            created_at    TEXT NOT NULL
        );
        CREATE INDEX okr_checkins_kr ON okr_checkins (period, key_result_id);
        CREATE TABLE audit (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            at      TEXT NOT NULL,
            who     TEXT NOT NULL,
            action  TEXT NOT NULL,
            detail  TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE revision (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
        INSERT INTO revision VALUES (1, 0);
        """,
    ),
    (
        2,
        # Digests and alerts (issue 17). A scheduled digest is sent once per (subscription, period): the partial
        # unique index lets one row be 'sending', 'sent' or 'skipped' at a time, so two runs at once cannot both
        # send; a failed send leaves a 'failed' row (the history) and can be claimed again. An alert episode is
        # open while its condition holds: at most one open per (rule, scope), and each of its two notices
        # (firing, resolved) is tracked until it is delivered.
        """
        CREATE TABLE digest_sends (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            subscription  TEXT NOT NULL,
            period        TEXT NOT NULL,
            scheduled     INTEGER NOT NULL CHECK (scheduled IN (0, 1)),
            channel       TEXT NOT NULL,
            recipients    TEXT NOT NULL DEFAULT '[]',
            started_at    TEXT NOT NULL,
            finished_at   TEXT,
            status        TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
            attempts      INTEGER NOT NULL DEFAULT 0,
            error         TEXT,
            summary       TEXT NOT NULL DEFAULT '{}'
        );
        CREATE UNIQUE INDEX digest_sends_once ON digest_sends (subscription, period)
            WHERE scheduled = 1 AND status IN ('sending', 'sent', 'skipped');
        CREATE TABLE alert_episodes (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            rule             TEXT NOT NULL,
            scope            TEXT NOT NULL DEFAULT '',
            opened_at        TEXT NOT NULL,
            opened_detail    TEXT NOT NULL DEFAULT '{}',
            closed_at        TEXT,
            closed_detail    TEXT,
            fired            TEXT NOT NULL DEFAULT 'pending' CHECK (fired IN ('pending', 'sent', 'failed')),
            fired_attempts   INTEGER NOT NULL DEFAULT 0,
            resolved         TEXT CHECK (resolved IN ('pending', 'sent', 'failed')),
            resolved_attempts INTEGER NOT NULL DEFAULT 0,
            error            TEXT
        );
        CREATE UNIQUE INDEX alert_episodes_open ON alert_episodes (rule, scope) WHERE closed_at IS NULL;
        """,
    ),
)
SEND_CLAIM_STALE_SECONDS = 15 * 60  # a 'sending' claim older than this was left by a run that died: retry it


def state_path(warehouse: str | Path) -> Path:
    """Where the store of a warehouse lives: REPLYBOARD_STATE, else beside it (x.duckdb -> x.state.sqlite);
    beside the file a symlinked --db points at, so a link and its target share one store (as they share a lock)."""
    override = os.environ.get("REPLYBOARD_STATE")
    if override:
        return Path(override)
    try:
        path = Path(warehouse).resolve()
    except (OSError, RuntimeError):  # a symlink loop: the loads refuse it with their own message
        path = Path(warehouse)
    return path.with_name(path.name.removesuffix(".duckdb") + ".state.sqlite")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Annotation:
    id: int
    target: Target
    target_id: str
    action: Action
    score: int | None
    note: str
    author: str
    created_at: str
    undone_at: str | None
    undone_by: str | None

    @property
    def active(self) -> bool:
        return self.undone_at is None


@dataclass(frozen=True)
class CheckinRecord:
    id: int
    period: str
    key_result_id: str
    day: date
    value: float
    confidence: float | None
    note: str
    author: str
    created_at: str


@dataclass(frozen=True)
class SendRecord:
    """One attempt to deliver a digest: who, when, what, result."""

    id: int
    subscription: str
    period: str  # the day the digest covers up to (ISO date)
    scheduled: bool  # False: a one-off (--to), outside the once-per-period rule
    channel: str
    recipients: list[str]
    started_at: str
    finished_at: str | None
    status: str  # sending | sent | failed | skipped
    attempts: int
    error: str | None
    summary: dict


@dataclass(frozen=True)
class Episode:
    """An alert's condition holding from opened_at to closed_at, and the delivery of its two notices."""

    id: int
    rule: str
    scope: str  # what inside the rule it is about (a key result's id), '' for the rule as a whole
    opened_at: str
    opened_detail: dict
    closed_at: str | None
    closed_detail: dict | None
    fired: str  # pending | sent | failed
    fired_attempts: int
    resolved: str | None  # None while open; then pending | sent | failed
    resolved_attempts: int
    error: str | None

    @property
    def open(self) -> bool:
        return self.closed_at is None


def _send(row: tuple) -> SendRecord:
    return SendRecord(
        row[0],
        row[1],
        row[2],
        bool(row[3]),
        row[4],
        json.loads(row[5]),
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        json.loads(row[11]),
    )


def _episode(row: tuple) -> Episode:
    closed = json.loads(row[6]) if row[6] is not None else None
    return Episode(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], closed, *row[7:])


class AppState:
    """One store file. Open it with ``AppState(path)``; each method is one short transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as con:
                con.execute("PRAGMA journal_mode = WAL")
                self._migrate(con)
        except sqlite3.DatabaseError as exc:
            raise AppStateError(f"{self.path}: cannot open the app-state store ({exc})") from None
        except OSError as exc:
            raise AppStateError(f"{self.path}: cannot create the app-state store ({exc.strerror})") from None

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            con.execute("PRAGMA foreign_keys = ON")
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self, *, bump: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: taken at once (BEGIN IMMEDIATE) so two writers queue, never deadlock.

        ``bump``: move the revision (the read layer's cache key). Sends and alert episodes do not change what the
        read layer derives, so they leave it alone and the dashboard's caches stay warm."""
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                if bump:
                    con.execute("UPDATE revision SET value = value + 1 WHERE id = 1")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _migrate(self, con: sqlite3.Connection) -> None:
        con.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        done = {r[0] for r in con.execute("SELECT version FROM schema_migrations")}
        for version, sql in _MIGRATIONS:
            if version in done:
                continue
            con.execute("BEGIN IMMEDIATE")
            try:
                # another process may have migrated between our read and our lock
                if not con.execute("SELECT 1 FROM schema_migrations WHERE version = ?", [version]).fetchone():
                    for statement in filter(str.strip, sql.split(";")):  # executescript would COMMIT first
                        con.execute(statement)
                    con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [version, _now()])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    # ---- reading ---------------------------------------------------------------------------------------

    def revision(self) -> int:
        """Changes with every write: a cache key for what the read layer derived from the store."""
        with self._connect() as con:
            return int(con.execute("SELECT value FROM revision").fetchone()[0])

    def annotations(self, *, include_undone: bool = False, target: Target | None = None) -> list[Annotation]:
        """Annotations, newest first (undone ones too when asked)."""
        where, args = [], []
        if not include_undone:
            where.append("undone_at IS NULL")
        if target is not None:
            where.append("target = ?")
            args.append(str(target))
        sql = "SELECT * FROM annotations" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC"
        with self._connect() as con:
            rows = con.execute(sql, args).fetchall()
        return [Annotation(r[0], Target(r[1]), r[2], Action(r[3]), r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def checkins(self, period: str | None = None) -> list[CheckinRecord]:
        sql = "SELECT * FROM okr_checkins" + (" WHERE period = ?" if period else "") + " ORDER BY day, id"
        with self._connect() as con:
            rows = con.execute(sql, [period] if period else []).fetchall()
        return [CheckinRecord(r[0], r[1], r[2], date.fromisoformat(r[3]), r[4], r[5], r[6], r[7], r[8]) for r in rows]

    def audit_log(self, limit: int = 1000) -> list[tuple[str, str, str, dict]]:
        with self._connect() as con:
            rows = con.execute("SELECT at, who, action, detail FROM audit ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        return [(at, who, action, json.loads(detail)) for at, who, action, detail in rows]

    # ---- writing ---------------------------------------------------------------------------------------

    def annotate(
        self,
        target: Target | str,
        target_id: str,
        action: Action | str,
        *,
        author: str,
        note: str = "",
        score: int | None = None,
    ) -> int:
        """Record an annotation; an active one of the same action on the same target is replaced (undone by
        this author) so each target has at most one of each. Returns the new annotation's id."""
        try:
            target, action = Target(target), Action(action)
        except ValueError as exc:
            raise AppStateError(str(exc)) from None
        if ALLOWED[action] is not target:
            raise AppStateError(f"{action} applies to a {ALLOWED[action]}, not a {target}")
        if (action is Action.RESCORED) != (score is not None):
            raise AppStateError("a re-score needs a score, and only a re-score takes one")
        if not target_id or not author:
            raise AppStateError("an annotation needs the id of what it is about and who made it")
        now = _now()
        with self._write() as con:
            con.execute(
                "UPDATE annotations SET undone_at = ?, undone_by = ? "
                "WHERE target = ? AND target_id = ? AND action = ? AND undone_at IS NULL",
                [now, author, str(target), target_id, str(action)],
            )
            cur = con.execute(
                "INSERT INTO annotations (target, target_id, action, score, note, author, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [str(target), target_id, str(action), score, note, author, now],
            )
            con.execute(
                "INSERT INTO audit (at, who, action, detail) VALUES (?, ?, 'annotate', ?)",
                [
                    now,
                    author,
                    json.dumps(
                        {
                            "target": str(target),
                            "id": target_id,
                            "action": str(action),
                            "score": score,
                            "annotation": cur.lastrowid,
                        }
                    ),
                ],
            )
            return int(cur.lastrowid or 0)

    def undo(self, annotation_id: int, *, author: str) -> bool:
        """Mark an annotation undone (kept in the history); False when it was not active (nothing written)."""
        now = _now()
        try:
            with self._write() as con:
                cur = con.execute(
                    "UPDATE annotations SET undone_at = ?, undone_by = ? WHERE id = ? AND undone_at IS NULL",
                    [now, author, annotation_id],
                )
                if not cur.rowcount:
                    raise _NothingChanged
                con.execute(
                    "INSERT INTO audit (at, who, action, detail) VALUES (?, ?, 'undo', ?)",
                    [now, author, json.dumps({"annotation": annotation_id})],
                )
        except _NothingChanged:
            return False
        return True

    def add_checkin(
        self,
        period: str,
        key_result_id: str,
        day: date,
        value: float,
        *,
        author: str,
        confidence: float | None = None,
        note: str = "",
    ) -> int:
        if not 0 <= value <= 1:
            raise AppStateError(f"a check-in's progress is between 0 and 1, not {value}")
        if confidence is not None and not 0 <= confidence <= 1:
            raise AppStateError(f"confidence is between 0 and 1, not {confidence}")
        now = _now()
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO okr_checkins (period, key_result_id, day, value, confidence, note, author, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [period, key_result_id, day.isoformat(), float(value), confidence, note, author, now],
            )
            con.execute(
                "INSERT INTO audit (at, who, action, detail) VALUES (?, ?, 'checkin', ?)",
                [now, author, json.dumps({"period": period, "key_result": key_result_id, "value": value})],
            )
            return int(cur.lastrowid or 0)

    def record(self, who: str, action: str, **detail: object) -> None:
        """An audit entry (sign-ins, exports, Explore queries). It leaves the revision alone: nothing the read layer
        derives reads the audit log, and a bump per sign-in or query would empty every session's caches (and make the
        results warmed after a load, replyboard.warm_cache, never match again)."""
        with self._write(bump=False) as con:
            con.execute(
                "INSERT INTO audit (at, who, action, detail) VALUES (?, ?, ?, ?)",
                [_now(), who, action, json.dumps(detail, default=str)],
            )

    # ---- digest sends ----------------------------------------------------------------------------------

    def claim_send(
        self,
        subscription: str,
        period: str,
        *,
        channel: str,
        recipients: list[str],
        scheduled: bool = True,
        now: datetime | None = None,
    ) -> int | None:
        """Start a send: its id, or None when this period of the subscription was already sent (or skipped as
        empty), or another run is sending it right now. A claim left 'sending' for SEND_CLAIM_STALE_SECONDS by
        a run that died is marked failed and claimed again."""
        at = (now or datetime.now(UTC)).astimezone(UTC)
        with self._write(bump=False) as con:
            if scheduled:
                found = con.execute(
                    "SELECT id, status, started_at FROM digest_sends WHERE subscription = ? AND period = ? "
                    "AND scheduled = 1 AND status IN ('sending', 'sent', 'skipped')",
                    [subscription, period],
                ).fetchone()
                if found is not None:
                    send_id, status, started = found
                    age = (at - datetime.fromisoformat(started)).total_seconds()
                    if status != "sending" or age < SEND_CLAIM_STALE_SECONDS:
                        return None
                    con.execute(
                        "UPDATE digest_sends SET status = 'failed', finished_at = ?, "
                        "error = 'the run that was sending it stopped before it finished' WHERE id = ?",
                        [at.isoformat(timespec="seconds"), send_id],
                    )
            cur = con.execute(
                "INSERT INTO digest_sends (subscription, period, scheduled, channel, recipients, started_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, 'sending')",
                [
                    subscription,
                    period,
                    int(scheduled),
                    channel,
                    json.dumps(recipients),
                    at.isoformat(timespec="seconds"),
                ],
            )
            return int(cur.lastrowid or 0)

    def finish_send(
        self, send_id: int, status: str, *, attempts: int, error: str | None = None, summary: dict | None = None
    ) -> None:
        if status not in ("sent", "failed", "skipped"):
            raise AppStateError(f"a send ends sent, failed or skipped, not {status!r}")
        with self._write(bump=False) as con:
            con.execute(
                "UPDATE digest_sends SET status = ?, finished_at = ?, attempts = ?, error = ?, summary = ? WHERE id = ?",
                [status, _now(), attempts, error, json.dumps(summary or {}, default=str), send_id],
            )

    def sends(self, subscription: str | None = None, limit: int = 1000) -> list[SendRecord]:
        """Digest sends, newest first."""
        sql = "SELECT * FROM digest_sends" + (" WHERE subscription = ?" if subscription else "")
        args: list[object] = [subscription] if subscription else []
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_send(r) for r in rows]

    def delivered(self, subscription: str, period: str) -> SendRecord | None:
        """The scheduled send of that period that went out (or was skipped as empty), if any."""
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM digest_sends WHERE subscription = ? AND period = ? AND scheduled = 1 "
                "AND status IN ('sent', 'skipped')",
                [subscription, period],
            ).fetchone()
        return _send(row) if row else None

    # ---- alert episodes --------------------------------------------------------------------------------

    def episodes(self, rule: str | None = None, *, only_open: bool = False, limit: int = 1000) -> list[Episode]:
        """Episodes, newest first."""
        where, args = [], []
        if rule is not None:
            where.append("rule = ?")
            args.append(rule)
        if only_open:
            where.append("closed_at IS NULL")
        sql = "SELECT * FROM alert_episodes" + (f" WHERE {' AND '.join(where)}" if where else "")
        with self._connect() as con:
            rows = con.execute(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_episode(r) for r in rows]

    def open_episode(self, rule: str, scope: str, detail: dict, *, now: datetime | None = None) -> int | None:
        """Open an episode; None when one is open for that rule and scope already (it fires once)."""
        at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        with self._write(bump=False) as con:
            if con.execute(
                "SELECT 1 FROM alert_episodes WHERE rule = ? AND scope = ? AND closed_at IS NULL", [rule, scope]
            ).fetchone():
                return None
            cur = con.execute(
                "INSERT INTO alert_episodes (rule, scope, opened_at, opened_detail) VALUES (?, ?, ?, ?)",
                [rule, scope, at, json.dumps(detail, default=str)],
            )
            return int(cur.lastrowid or 0)

    def close_episode(self, episode_id: int, detail: dict, *, now: datetime | None = None) -> bool:
        """Close an open episode (its "resolved" notice is then pending); False when it was closed already."""
        at = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        with self._write(bump=False) as con:
            cur = con.execute(
                "UPDATE alert_episodes SET closed_at = ?, closed_detail = ?, resolved = 'pending' "
                "WHERE id = ? AND closed_at IS NULL",
                [at, json.dumps(detail, default=str), episode_id],
            )
            return bool(cur.rowcount)

    def record_notice(self, episode_id: int, notice: str, *, delivered: bool, attempts: int, error: str | None) -> None:
        """The outcome of delivering an episode's firing or resolved notice (attempts add up over runs)."""
        if notice not in ("fired", "resolved"):
            raise AppStateError(f"an episode's notices are fired and resolved, not {notice!r}")
        status = "sent" if delivered else "failed"
        with self._write(bump=False) as con:
            con.execute(
                f"UPDATE alert_episodes SET {notice} = ?, {notice}_attempts = {notice}_attempts + ?, error = ? "
                "WHERE id = ?",
                [status, attempts, error, episode_id],
            )
