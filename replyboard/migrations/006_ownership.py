"""006: ownership (issue 13): who owns each conversation, inquiry block, survey reply and message.

- messages.assigned_agent_id: the agent the source assigns (a canonical optional column; OpenPhone's userId on
  an incoming message), part of a message's content hash, so the stored hashes are recomputed with it.
- owner_agent_id, owner_team on messages, conversations, inquiry_blocks and survey_responses (and
  conversations.assigned_agent_id): derived at load (etl.ownership); lines.team: the team that owns a line.
The derivation key of a warehouse holding messages is cleared so the next load re-derives every conversation and fills the owners.
"""

from __future__ import annotations

import duckdb

from replyboard.warehouse import MESSAGE_CONTENT_HASH_SQL, one_row

_COLUMNS = {
    "messages": ("assigned_agent_id", "owner_agent_id", "owner_team"),
    "conversations": ("assigned_agent_id", "owner_agent_id", "owner_team"),
    "inquiry_blocks": ("owner_agent_id", "owner_team"),
    "survey_responses": ("owner_agent_id", "owner_team"),
    "lines": ("team",),
}


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    for table, columns in _COLUMNS.items():
        for column in columns:
            con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} VARCHAR")
    con.execute(f"UPDATE messages SET content_hash = {MESSAGE_CONTENT_HASH_SQL}")
    if one_row(con, "SELECT count(*) FROM messages")[0]:  # a new warehouse has nothing to redo
        con.execute(
            "INSERT OR REPLACE INTO meta VALUES ('derivation_key', ?)",
            ["re-derive: migration 006 added the owners of conversations, blocks and survey replies"],
        )
