"""How each table is written (dlt style): messages and surveys merge on their id, reference tables upsert.

Merging keeps loads idempotent: a row already stored with the same content is a duplicate; one whose
content changed (a delivery status, say) replaces the stored row; anything else is appended.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from replyboard.warehouse import MESSAGE_CONTENT_HASH_SQL, one

CHANGED = "rb_changed"
AFFECTED = "rb_affected"
SURVEY_CONTACTS = "rb_survey_contacts"  # contacts whose file survey replies a run added or changed


@dataclass
class MergeCounts:
    loaded: int = 0  # new rows
    updated: int = 0  # stored rows whose content changed
    duplicate: int = 0  # already stored, unchanged


def start_batch(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables that collect a run's changed messages and the pairs whose facts must be re-derived."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {AFFECTED} (line_number VARCHAR, contact_number VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SURVEY_CONTACTS} (contact_number VARCHAR)")
    con.execute(f"DROP TABLE IF EXISTS {CHANGED}")


def merge_messages(con: duckdb.DuckDBPyConnection, valid: str, run_id: int) -> MergeCounts:
    """Compare each valid row with the stored one (or one changed earlier in this run) by content hash.

    A source without conversation ids (OpenPhone REST) keeps the id a message already has (from its
    webhooks); otherwise loading an export and its webhooks alternately would flip the row back and forth.
    """
    changed_exists = _exists(con, CHANGED)
    stored = (
        f"(SELECT message_id, content_hash, line_number, contact_number, source_conversation_id FROM {CHANGED} "
        "UNION ALL SELECT message_id, content_hash, line_number, contact_number, source_conversation_id "
        f"FROM messages WHERE message_id NOT IN (SELECT message_id FROM {CHANGED}))"
        if changed_exists
        else "messages"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_merge AS
        SELECT *, {MESSAGE_CONTENT_HASH_SQL} AS content_hash
        FROM (
            SELECT v.* REPLACE (coalesce(v.source_conversation_id, m.source_conversation_id) AS source_conversation_id),
                   ? AS run_id, m.content_hash AS old_hash, m.line_number AS old_line, m.contact_number AS old_contact
            FROM {valid} v LEFT JOIN {stored} m ON m.message_id = v.message_id)
        """,
        [run_id],
    )
    loaded, updated, duplicate = one(
        con,
        """
        SELECT count(*) FILTER (WHERE old_hash IS NULL),
               count(*) FILTER (WHERE old_hash IS NOT NULL AND old_hash <> content_hash),
               count(*) FILTER (WHERE old_hash = content_hash)
        FROM rb_merge
        """,
    )
    con.execute(
        f"""
        INSERT INTO {AFFECTED}
        SELECT line_number, contact_number FROM rb_merge WHERE old_hash IS DISTINCT FROM content_hash
        UNION
        SELECT old_line, old_contact FROM rb_merge WHERE old_hash IS NOT NULL AND old_hash <> content_hash
        """
    )
    fresh = (
        "SELECT * EXCLUDE (old_hash, old_line, old_contact) FROM rb_merge WHERE old_hash IS DISTINCT FROM content_hash"
    )
    if _exists(con, CHANGED):
        con.execute(
            f"DELETE FROM {CHANGED} WHERE message_id IN "
            "(SELECT message_id FROM rb_merge WHERE old_hash IS DISTINCT FROM content_hash)"
        )
        con.execute(f"INSERT INTO {CHANGED} BY NAME {fresh}")
    else:
        con.execute(f"CREATE TEMP TABLE {CHANGED} AS {fresh}")
    return MergeCounts(loaded, updated, duplicate)


def merge_surveys(con: duckdb.DuckDBPyConnection, valid: str, run_id: int) -> MergeCounts:
    loaded, updated, duplicate = one(
        con,
        f"""
        SELECT count(*) FILTER (WHERE s.response_id IS NULL),
               count(*) FILTER (WHERE s.response_id IS NOT NULL AND s.content_hash <> v.content_hash),
               count(*) FILTER (WHERE s.content_hash = v.content_hash)
        FROM {valid} v LEFT JOIN survey_responses s ON s.response_id = v.response_id AND s.origin = 'file'
        """,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_survey_changes AS
        SELECT v.* FROM {valid} v
        LEFT JOIN survey_responses s ON s.response_id = v.response_id AND s.origin = 'file'
        WHERE s.content_hash IS DISTINCT FROM v.content_hash;
        INSERT INTO {SURVEY_CONTACTS} SELECT contact_number FROM rb_survey_changes;
        DELETE FROM survey_responses
        WHERE origin = 'file' AND response_id IN (SELECT response_id FROM rb_survey_changes);
        INSERT INTO survey_responses BY NAME
        SELECT response_id, 'file' AS origin, received_at, contact_number, line_number, channel, survey,
               reply_text, 'empty' AS parse_status, ? AS run_id, content_hash
        FROM rb_survey_changes;
        """,
        [run_id],
    )
    return MergeCounts(loaded, updated, duplicate)


def merge_reference(con: duckdb.DuckDBPyConnection, valid: str, kind: str) -> MergeCounts:
    table, key = ("agents", "agent_id") if kind == "agents" else ("lines", "line_number")
    loaded, updated, duplicate = one(
        con,
        f"""
        SELECT count(*) FILTER (WHERE t.{key} IS NULL),
               count(*) FILTER (WHERE t.{key} IS NOT NULL AND t IS DISTINCT FROM v),
               count(*) FILTER (WHERE t.{key} IS NOT NULL AND NOT (t IS DISTINCT FROM v))
        FROM {valid} v LEFT JOIN (SELECT {"agent_id, name, team" if kind == "agents" else "line_number, name"}
                                  FROM {table}) t USING ({key})
        """,
    )
    if kind == "agents":
        con.execute(f"INSERT OR REPLACE INTO agents (agent_id, name, team) SELECT agent_id, name, team FROM {valid}")
    else:
        con.execute(
            f"""
            INSERT INTO lines (line_number, name) SELECT line_number, name FROM {valid}
            ON CONFLICT (line_number) DO UPDATE SET name = excluded.name
            """
        )
    return MergeCounts(loaded, updated, duplicate)


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [table])[0])
