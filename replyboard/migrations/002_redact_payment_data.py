"""002: redact the card numbers and SSNs that earlier versions stored in clear (issue 11).

Loads now redact before anything is stored (etl/redact.py); this pass does the same for what a warehouse
already holds: messages.body, survey_responses.reply_text, rejected_rows.raw, and rejected_rows.reason (with
phone numbers masked too, as new loads store them; reasons of old loads are parsed with the US region).

SQL alone cannot do it: the Luhn check over digit groups and the masking that keeps the last four digits are
replyboard.sensitive's Python; the RE2 prefilter picks the few candidate rows. messages.sensitive is found
again from the clear text by the current rules (which also find dotted numbers and several cards in one
run). The content hash of a redacted message is recomputed, as a load computes it, so reloading its file is
still a duplicate (and a hash of the clear text, which could be brute-forced back into the number, is gone).
A file survey reply's hash covers the timestamp as written in its file, which is not stored: a redacted
reply gets a hash no load produces, so reloading its file updates that reply once. The writer rewrites the
file after a migration, so the replaced text does not survive in free blocks.
"""

from __future__ import annotations

import duckdb
import polars as pl

from replyboard.sensitive import PREFILTER_PARAMS, candidate_sql, redact, redact_reject
from replyboard.warehouse import MESSAGE_CONTENT_HASH_SQL, temp_table

REWRITE_FILE = True  # the card numbers replaced here must not stay readable in the file's free blocks

# The content hash as it was then: 006 added assigned_agent_id to it (and recomputes every stored hash), so a
# warehouse without that column yet takes this one.
_HASH_AT_002 = (
    "hash(created_at, direction, line_number, contact_number, agent_id, is_automated, body, channel, "
    "source_conversation_id, status)"
)


def _content_hash(con: duckdb.DuckDBPyConnection) -> str:
    (has_owner_column,) = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = 'messages' AND column_name = 'assigned_agent_id'"
    ).fetchone() or (0,)
    return MESSAGE_CONTENT_HASH_SQL if has_owner_column else _HASH_AT_002


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    _messages(con)
    _file_survey_replies(con)
    _rejected_rows(con)


def _messages(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        f"SELECT message_id, body FROM messages WHERE {candidate_sql('body')}", PREFILTER_PARAMS
    ).fetchall()
    found = [(message_id, *redact(body)) for message_id, body in rows]
    found = [row for row in found if row[2]]
    if not found:
        return
    temp_table(
        con,
        "rb_m002_messages",
        pl.DataFrame(
            {"message_id": [r[0] for r in found], "body": [r[1] for r in found], "sensitive": [r[2] for r in found]},
            schema={"message_id": pl.String, "body": pl.String, "sensitive": pl.String},
        ),
    )
    con.execute(
        f"""
        UPDATE messages SET body = r.body, sensitive = r.sensitive
        FROM rb_m002_messages r WHERE messages.message_id = r.message_id;
        UPDATE messages SET content_hash = {_content_hash(con)}
        WHERE message_id IN (SELECT message_id FROM rb_m002_messages);
        -- survey answers found in the message log carry their message's body and hash
        UPDATE survey_responses SET reply_text = m.body, content_hash = m.content_hash
        FROM messages m
        WHERE survey_responses.origin = 'message' AND survey_responses.response_id = m.message_id
          AND m.message_id IN (SELECT message_id FROM rb_m002_messages);
        DROP TABLE rb_m002_messages;
        """
    )


def _file_survey_replies(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute(
        f"SELECT rowid, reply_text FROM survey_responses WHERE origin = 'file' AND {candidate_sql('reply_text')}",
        PREFILTER_PARAMS,
    ).fetchall()
    found = [(rid, text) for rid, (text, kinds) in ((rid, redact(reply)) for rid, reply in rows) if kinds]
    if not found:
        return
    temp_table(
        con,
        "rb_m002_replies",
        pl.DataFrame({"rid": [r[0] for r in found], "reply_text": [r[1] for r in found]}),
    )
    con.execute(
        """
        UPDATE survey_responses
        SET reply_text = r.reply_text, content_hash = hash('redacted by migration 002', response_id, r.reply_text)
        FROM rb_m002_replies r WHERE survey_responses.rowid = r.rid;
        DROP TABLE rb_m002_replies;
        """
    )


def _rejected_rows(con: duckdb.DuckDBPyConnection) -> None:
    # Reasons with seven or more digits may quote a phone number; raw texts only need the card / SSN prefilter.
    rows = con.execute(
        f"""
        SELECT rowid, raw, reason FROM rejected_rows
        WHERE {candidate_sql("raw")} OR {candidate_sql("reason")}
           OR length(regexp_replace(reason, '[^0-9]', '', 'g')) >= 7
        """,
        PREFILTER_PARAMS,
    ).fetchall()
    redacted = [(rid, raw, reason, *redact_reject(raw, reason)) for rid, raw, reason in rows]
    found = [
        (rid, new_raw, new_reason)
        for rid, raw, reason, new_raw, new_reason in redacted
        if (raw, reason) != (new_raw, new_reason)
    ]
    if not found:
        return
    temp_table(
        con,
        "rb_m002_rejects",
        pl.DataFrame(
            {"rid": [r[0] for r in found], "raw": [r[1] for r in found], "reason": [r[2] for r in found]},
            schema={"rid": pl.Int64, "raw": pl.String, "reason": pl.String},
        ),
    )
    con.execute(
        """
        UPDATE rejected_rows SET raw = r.raw, reason = r.reason
        FROM rb_m002_rejects r WHERE rejected_rows.rowid = r.rid;
        DROP TABLE rb_m002_rejects;
        """
    )
