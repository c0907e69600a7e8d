"""Payment data is never stored in clear: texts are redacted in the stage table, before validation and merge.

What was found ("card", "ssn", "card,ssn") is recorded once, from the clear text, in a `sensitive` column
that travels with the row into `messages.sensitive` (the Compliance page and `sensitive_data_messages` read
it; derive never sees the clear text again). Redacting before validation means the content hash is computed
on the redacted text, so it cannot be used to recover a number, and a file loaded twice still hashes the
same. Rejected rows are redacted where they are stored (etl.load._store_rejects, with
replyboard.sensitive.redact_reject).
"""

from __future__ import annotations

import duckdb
import polars as pl

from replyboard.sensitive import PREFILTER_PARAMS, candidate_sql, redact
from replyboard.warehouse import temp_table

SENSITIVE_COLUMN = "sensitive"


def redact_stage(con: duckdb.DuckDBPyConnection, table: str, column: str) -> int:
    """Redact `table.column` in place and fill a `sensitive` column with the kinds found; returns the rows."""
    con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {SENSITIVE_COLUMN} VARCHAR")
    quoted = f'"{column}"'
    rows = con.execute(
        f"SELECT rowid, {quoted} FROM {table} WHERE {candidate_sql(quoted)}", PREFILTER_PARAMS
    ).fetchall()
    found = [(rid, *redact(text)) for rid, text in rows]
    found = [(rid, text, kinds) for rid, text, kinds in found if kinds]
    if not found:
        return 0
    temp_table(
        con,
        "rb_redacted",
        pl.DataFrame(
            {"rid": [r[0] for r in found], "text": [r[1] for r in found], "kinds": [r[2] for r in found]},
            schema={"rid": pl.Int64, "text": pl.String, "kinds": pl.String},
        ),
    )
    con.execute(
        f"UPDATE {table} SET {quoted} = r.text, {SENSITIVE_COLUMN} = r.kinds FROM rb_redacted r "
        f"WHERE {table}.rowid = r.rid; DROP TABLE rb_redacted"
    )
    return len(found)
