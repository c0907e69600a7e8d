"""007: each human reply's typing gap (issue 19), what active_texting_seconds sums, materialised on messages.

- prev_reply_gap_seconds: the seconds since the same agent's previous human reply (NULL for an agent's first
  and for every other kind); reply_gap_agent_id, reply_gap_at: the agent and time it was computed for, which is
  how a later load finds the gaps it changed (replyboard.reply_gaps).
The gaps are computed here, for every stored human reply: they depend on nothing a re-derivation would change,
so the warehouse needs no re-derive and its texting times are right as soon as it is migrated.
"""

from __future__ import annotations

import duckdb

from replyboard import reply_gaps


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    for column, kind in reply_gaps.COLUMNS.items():
        con.execute(f"ALTER TABLE messages ADD COLUMN IF NOT EXISTS {column} {kind}")
    reply_gaps.refresh(con, own_transaction=False)  # warehouse.migrate runs each migration in its transaction
