"""How each table is written (dlt style): messages and surveys merge on their id, reference tables upsert.

Merging keeps loads idempotent: a row already stored with the same content is a duplicate; one whose
content changed (a delivery status, say) replaces the stored row; anything else is appended.

An id names one message (or survey reply) within its source, so a row whose id is stored for another
message (another line, contact, direction or time: a second export whose ids collide) is rejected rather
than taken as an update; `replace=True` (--replace) makes it a deliberate correction instead. Reference
files (agents, lines) only fill in: an empty cell never erases a stored name or team, except with replace.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from etl.sources import twilio_webhook
from etl.sources.base import Reject
from etl.validate import raw_text
from replyboard.contract import UNSENT_STATUSES
from replyboard.warehouse import MESSAGE_CONTENT_HASH_SQL, is_empty, one_row, run

CHANGED = "rb_changed"
AFFECTED = "rb_affected"
SURVEY_CONTACTS = "rb_survey_contacts"  # contacts whose file survey replies a run added or changed
# Sources write one instant with or without milliseconds; a time further off is another message.
SAME_INSTANT_SECONDS = 1
# Twilio dates a message not sent yet by its creation and re-dates it by its send time once sent: for these
# statuses (replyboard.contract.UNSENT_STATUSES) a different time is still the same message (a status update).
# Sources whose time is when Replyboard received the event, not the message's own: a webhook's copy of a
# message the API sync also brings is the same message a few seconds off.
RECEIPT_TIME_SOURCES = (twilio_webhook.KIND,)
_REPLACE_HINT = "use --replace to overwrite it"


@dataclass
class MergeCounts:
    loaded: int = 0  # new rows
    updated: int = 0  # stored rows whose content changed
    duplicate: int = 0  # already stored, unchanged
    rejects: list[Reject] = field(default_factory=list)  # ids stored for another message


def start_batch(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables that collect a run's changed messages and the pairs whose facts must be re-derived."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {AFFECTED} (line_number VARCHAR, contact_number VARCHAR)")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {SURVEY_CONTACTS} (contact_number VARCHAR)")
    con.execute(f"DROP TABLE IF EXISTS {CHANGED}")


def _utc(column: str) -> str:
    return f"strftime({column}, '%Y-%m-%dT%H:%M:%SZ')"  # connections run in UTC (warehouse.configure)


def _time_check(new: str, old: str, *also: str) -> tuple[str, str]:
    """A (label, condition) check for a timestamp: the label quotes both times."""
    label = f"'time: stored ' || {_utc(old)} || ', this file ' || {_utc(new)}"
    return label, " AND ".join([f"abs(epoch({new}) - epoch({old})) >= {SAME_INSTANT_SECONDS}", *also])


def _collisions(
    con: duckdb.DuckDBPyConnection, merged: str, stage: str, id_column: str, what: str, checks: list[tuple[str, str]]
) -> list[Reject]:
    """Reject (and drop from `merged`) the rows whose id is stored for another record.

    checks: (SQL text naming the field, SQL condition true when it differs from the stored row); the reason
    lists what differs (numbers are named, never quoted: phone numbers stay out of reasons).
    """
    differs = " OR ".join(f"({cond})" for _, cond in checks)
    labels = ", ".join(f"CASE WHEN {cond} THEN {label} END" for label, cond in checks)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_collisions AS
        SELECT {id_column} AS rid, source_line,
               '{id_column} ''' || left({id_column}, 60) || ''' is already stored for another {what} (different '
               || concat_ws(', ', {labels}) || '); {_REPLACE_HINT}' AS reason
        FROM {merged} WHERE old_hash IS NOT NULL AND ({differs})
        """
    )
    (n,) = one_row(con, "SELECT count(*) FROM rb_collisions")
    if not n:
        return []
    rows = con.execute(
        f"""
        SELECT DISTINCT ON (c.rid) c.source_line, c.reason, {raw_text(con, stage, "s")}
        FROM rb_collisions c LEFT JOIN {stage} s ON s.source_line = c.source_line AND trim(s.{id_column}) = c.rid
        ORDER BY c.rid, c.source_line
        """
    ).fetchall()
    con.execute(f"DELETE FROM {merged} WHERE {id_column} IN (SELECT rid FROM rb_collisions)")
    return sorted((Reject(line=line, reason=reason, raw=raw or "") for line, reason, raw in rows), key=_by_line)


def _by_line(reject: Reject) -> int:
    return reject.line or 0


def merge_messages(
    con: duckdb.DuckDBPyConnection, valid: str, run_id: int, *, stage: str, replace: bool = False
) -> MergeCounts:
    """Compare each valid row with the stored one (or one changed earlier in this run) by content hash.

    A source without conversation ids (OpenPhone REST) keeps the id a message already has (from its
    webhooks); otherwise loading an export and its webhooks alternately would flip the row back and forth.
    """
    columns = "message_id, source, content_hash, created_at, direction, line_number, contact_number, status, "
    columns += "source_conversation_id"
    changed_exists = _exists(con, CHANGED)
    if not changed_exists and is_empty(con, "messages"):
        # nothing stored to collide with, so no reject needs the staged raw text: one copy of every body fewer
        # while the first load's changed rows are written (`valid` reads the checked rows, not the stage)
        con.execute(f"DROP TABLE IF EXISTS {stage}")
        return _first_messages(con, valid, run_id)
    stored = (
        f"(SELECT {columns} FROM {CHANGED} UNION ALL SELECT {columns} "
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
                   ? AS run_id, m.content_hash AS old_hash, m.line_number AS old_line, m.contact_number AS old_contact,
                   m.direction AS old_direction, m.created_at AS old_created, m.status AS old_status,
                   m.source AS old_source
            FROM {valid} v LEFT JOIN {stored} m ON m.message_id = v.message_id)
        """,
        [run_id],
    )
    rejects: list[Reject] = []
    if not replace:
        unsent = ", ".join(f"'{s}'" for s in UNSENT_STATUSES)
        receipt = ", ".join(f"'{s}'" for s in RECEIPT_TIME_SOURCES)
        rejects = _collisions(
            con,
            "rb_merge",
            stage,
            "message_id",
            "message",
            [
                ("'line'", "line_number <> old_line"),
                ("'contact'", "contact_number <> old_contact"),
                ("'direction'", "direction <> old_direction"),
                _time_check(
                    "created_at",
                    "old_created",
                    f"coalesce(old_status, '') NOT IN ({unsent})",
                    f"coalesce(status, '') NOT IN ({unsent})",
                    f"source NOT IN ({receipt}) AND old_source NOT IN ({receipt})",
                ),
            ],
        )
    loaded, updated, duplicate = one_row(
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
        "SELECT * EXCLUDE (old_hash, old_line, old_contact, old_direction, old_created, old_status, old_source) "
        "FROM rb_merge WHERE old_hash IS DISTINCT FROM content_hash"
    )
    if _exists(con, CHANGED):
        con.execute(
            f"DELETE FROM {CHANGED} WHERE message_id IN "
            "(SELECT message_id FROM rb_merge WHERE old_hash IS DISTINCT FROM content_hash)"
        )
        con.execute(f"INSERT INTO {CHANGED} BY NAME {fresh}")
    else:
        con.execute(f"CREATE TEMP TABLE {CHANGED} AS {fresh}")
    return MergeCounts(loaded, updated, duplicate, rejects)


def _first_messages(con: duckdb.DuckDBPyConnection, valid: str, run_id: int) -> MergeCounts:
    """The first messages file into an empty warehouse: nothing stored to compare with, collide with or keep a
    conversation id from, so every valid row is new and goes straight to CHANGED (the same columns as
    merge_messages writes), without the comparison table: one copy of every body fewer (5 s at 10M)."""
    con.execute(
        f"CREATE TEMP TABLE {CHANGED} AS SELECT *, {MESSAGE_CONTENT_HASH_SQL} AS content_hash "
        f"FROM (SELECT v.*, ? AS run_id FROM {valid} v)",
        [run_id],
    )
    con.execute(f"INSERT INTO {AFFECTED} SELECT DISTINCT line_number, contact_number FROM {CHANGED}")
    (loaded,) = one_row(con, f"SELECT count(*) FROM {CHANGED}")
    return MergeCounts(loaded=loaded)


def merge_surveys(
    con: duckdb.DuckDBPyConnection, valid: str, run_id: int, *, stage: str, replace: bool = False
) -> MergeCounts:
    sql = f"""
        CREATE OR REPLACE TEMP TABLE rb_survey_merge AS
        SELECT v.*, s.content_hash AS old_hash, s.contact_number AS old_contact, s.received_at AS old_received
        FROM {valid} v LEFT JOIN survey_responses s ON s.response_id = v.response_id AND s.origin = $origin_file
        """
    run(con, sql)
    rejects: list[Reject] = []
    if not replace:
        rejects = _collisions(
            con,
            "rb_survey_merge",
            stage,
            "response_id",
            "survey reply",
            [
                ("'contact'", "contact_number <> old_contact"),
                _time_check("received_at", "old_received"),
            ],
        )
    loaded, updated, duplicate = one_row(
        con,
        """
        SELECT count(*) FILTER (WHERE old_hash IS NULL),
               count(*) FILTER (WHERE old_hash IS NOT NULL AND old_hash <> content_hash),
               count(*) FILTER (WHERE old_hash = content_hash)
        FROM rb_survey_merge
        """,
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rb_survey_changes AS "
        "SELECT * EXCLUDE (old_hash, old_contact, old_received) FROM rb_survey_merge "
        "WHERE old_hash IS DISTINCT FROM content_hash"
    )
    con.execute(f"INSERT INTO {SURVEY_CONTACTS} SELECT contact_number FROM rb_survey_changes")
    run(
        con,
        "DELETE FROM survey_responses "
        "WHERE origin = $origin_file AND response_id IN (SELECT response_id FROM rb_survey_changes)",
    )
    run(  # scored (score, parse_status) and linked to a conversation by etl.derive.link_file_surveys
        con,
        """
        INSERT INTO survey_responses BY NAME
        SELECT response_id, $origin_file AS origin, received_at, contact_number, line_number, channel, survey,
               reply_text, $status_empty AS parse_status, $run_id AS run_id, content_hash
        FROM rb_survey_changes
        """,
        {"run_id": run_id},
    )
    return MergeCounts(loaded, updated, duplicate, rejects)


_REFERENCE = {"agents": ("agents", "agent_id", ("name", "team")), "lines": ("lines", "line_number", ("name", "team"))}


def merge_reference(con: duckdb.DuckDBPyConnection, valid: str, kind: str, *, replace: bool = False) -> MergeCounts:
    """Upsert agents or lines. An empty cell (NULL after validation) keeps the stored value, so a partial
    file (agents with only agent_id) adds ids without wiping names and teams; replace writes it as given."""
    table, key, fields = _REFERENCE[kind]

    def kept(new: str, old: str) -> str:
        return new if replace else f"coalesce({new}, {old})"

    after = ", ".join(kept(f"v.{f}", f"t.{f}") for f in fields)
    before = ", ".join(f"t.{f}" for f in fields)
    loaded, updated, duplicate = one_row(
        con,
        f"""
        SELECT count(*) FILTER (WHERE t.{key} IS NULL),
               count(*) FILTER (WHERE t.{key} IS NOT NULL AND ({after}) IS DISTINCT FROM ({before})),
               count(*) FILTER (WHERE t.{key} IS NOT NULL AND ({after}) IS NOT DISTINCT FROM ({before}))
        FROM {valid} v LEFT JOIN {table} t USING ({key})
        """,
    )
    names = ", ".join(fields)
    updates = ", ".join(f"{f} = {kept(f'excluded.{f}', f'{table}.{f}')}" for f in fields)
    con.execute(
        f"INSERT INTO {table} ({key}, {names}) SELECT {key}, {names} FROM {valid} "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )
    return MergeCounts(loaded, updated, duplicate)


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(one_row(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary", [table])[0])
