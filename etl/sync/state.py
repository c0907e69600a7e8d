"""The sync_state table: per source and account, the high-water mark, last success and last error.

It is read from the published warehouse before a run and written inside the run's own load (the writer
session of etl.load.run_load), so the data and the mark that says it is there publish together: a run killed
at any moment leaves both as they were.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from replyboard import warehouse


@dataclass(frozen=True)
class SyncState:
    high_water: datetime | None = None
    cursor: str | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None


def read_state(db: Path, source: str, account: str) -> SyncState:
    """The published state (an empty one before the first sync, or in a warehouse older than the table)."""
    if not Path(db).exists():
        return SyncState()
    con = warehouse.connect_readonly(db)
    try:
        exists = warehouse.one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sync_state'")
        if not exists or not exists[0]:
            return SyncState()
        row = warehouse.one(
            con,
            "SELECT high_water, cursor, last_success_at, last_error FROM sync_state WHERE source = ? AND account = ?",
            [source, account],
        )
    finally:
        con.close()
    return SyncState(*row) if row else SyncState()


def record_success(
    con: duckdb.DuckDBPyConnection,
    source: str,
    account: str,
    run_id: int | None,
    high_water: datetime | None,
    cursor: str | None,
) -> None:
    """Move the mark forward (never back: a re-read of older data keeps the newer mark)."""
    con.execute(
        """
        INSERT INTO sync_state (source, account, high_water, cursor, last_run_id, last_success_at, last_error,
                                last_error_at)
        VALUES (?, ?, ?, ?, ?, now(), NULL, NULL)
        ON CONFLICT (source, account) DO UPDATE SET
            high_water = greatest(coalesce(excluded.high_water, sync_state.high_water),
                                  coalesce(sync_state.high_water, excluded.high_water)),
            cursor = excluded.cursor, last_run_id = excluded.last_run_id, last_success_at = excluded.last_success_at,
            last_error = NULL, last_error_at = NULL
        """,
        [source, account, high_water, cursor, run_id],
    )


def record_error(con: duckdb.DuckDBPyConnection, source: str, account: str, message: str) -> None:
    """Note a failed run; the mark stays where it was. `message` must already be masked."""
    con.execute(
        """
        INSERT INTO sync_state (source, account, last_error, last_error_at) VALUES (?, ?, ?, now())
        ON CONFLICT (source, account) DO UPDATE SET last_error = excluded.last_error,
                                                    last_error_at = excluded.last_error_at
        """,
        [source, account, message[:2000]],
    )


def save_error(db: Path, source: str, account: str, message: str) -> None:
    """record_error in a publish of its own (a failed run has no load to ride on)."""
    with warehouse.writer(db) as con:
        record_error(con, source, account, message)


def save_conversations(con: duckdb.DuckDBPyConnection, source: str, conversations: list[dict[str, Any]], run_id: int):
    """Keep each conversation object as the API gave it (newest updatedAt wins)."""
    rows = []
    for c in conversations:
        cid = c.get("id")
        if not isinstance(cid, str) or not cid:
            continue
        participants = c.get("participants")
        rows.append(
            (
                source,
                cid,
                c.get("phoneNumberId") if isinstance(c.get("phoneNumberId"), str) else None,
                [p for p in participants if isinstance(p, str)] if isinstance(participants, list) else None,
                c.get("assignedTo") if isinstance(c.get("assignedTo"), str) else None,
                c.get("updatedAt") if isinstance(c.get("updatedAt"), str) else None,
                json.dumps(c, ensure_ascii=False),
                run_id,
            )
        )
    if not rows:
        return
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rb_sync_conv (source VARCHAR, conversation_id VARCHAR, phone_number_id VARCHAR, "
        "participants VARCHAR[], assigned_to VARCHAR, updated_at VARCHAR, raw VARCHAR, run_id INTEGER)"
    )
    con.executemany("INSERT INTO rb_sync_conv VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        """
        INSERT INTO sync_conversations
        SELECT source, conversation_id, phone_number_id, participants, assigned_to,
               TRY_CAST(updated_at AS TIMESTAMPTZ), CAST(raw AS JSON), run_id
        FROM rb_sync_conv
        QUALIFY row_number() OVER (PARTITION BY conversation_id ORDER BY TRY_CAST(updated_at AS TIMESTAMPTZ) DESC
                                   NULLS LAST) = 1
        ON CONFLICT (source, conversation_id) DO UPDATE SET
            phone_number_id = excluded.phone_number_id, participants = excluded.participants,
            assigned_to = excluded.assigned_to, updated_at = excluded.updated_at, raw = excluded.raw,
            run_id = excluded.run_id
        WHERE excluded.updated_at IS NULL OR sync_conversations.updated_at IS NULL
              OR excluded.updated_at >= sync_conversations.updated_at
        """
    )
