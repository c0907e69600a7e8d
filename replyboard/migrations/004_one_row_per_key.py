"""004: one row per key, before 005 adds the primary keys (issue 12, the declared warehouse contract); the
table and meta keys nothing reads go.

A migration of its own because DuckDB builds a new key's index over rows deleted in the same transaction
(ALTER TABLE ... ADD PRIMARY KEY after the DELETE below fails as if they were still there).

- Rows that would break a key were possible before: a conversation numbered by its source across several
  contacts (a group text) was derived once per contact, giving two conversations or inquiry blocks with one
  id. Derived rows are rebuilt from messages, so one copy is kept here and the next load re-derives every
  conversation (the derivation key is cleared: an unreadable key counts as every setting changed).
  Two stored rows of one message or survey reply id (not known to happen: the merge keeps one) keep the
  one the latest load wrote, as the merge would have; the derivation is then redone as well.
- `contacts` goes: derived per contact at every load, never read (repeat customers and the drill-downs
  read conversations). meta's `timezone`, `data_start`, `data_end` go: nothing read them (the derivation
  key holds the timezone; the read layer takes the data's bounds from messages).
"""

from __future__ import annotations

import duckdb

from replyboard.contract import TABLES

# Key columns that order the copies of one key: the latest load's first (run_id), then the last written.
_NEWEST_FIRST = "run_id DESC NULLS LAST, rowid DESC"
_REDERIVE_MARK = "re-derive: migration 004 removed rows that broke a primary key"


def upgrade(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("DROP TABLE IF EXISTS contacts")
    con.execute("DELETE FROM meta WHERE key IN ('timezone', 'data_start', 'data_end')")
    rederive = False
    for table in TABLES.values():
        if table.key and _exists(con, table.name) and not _has_primary_key(con, table.name):
            rederive |= _keep_one_per_key(con, table.name, table.key)
    if rederive:
        con.execute("INSERT OR REPLACE INTO meta VALUES ('derivation_key', ?)", [_REDERIVE_MARK])


def _exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]
    ).fetchall()
    return bool(found[0][0])


def _has_primary_key(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = ? AND constraint_type = 'PRIMARY KEY'",
        [table],
    ).fetchall()
    return bool(found[0][0])


def _keep_one_per_key(con: duckdb.DuckDBPyConnection, table: str, key: tuple[str, ...]) -> bool:
    """Delete all but one row of each key (the newest); True when there was anything to delete."""
    columns = ", ".join(key)
    (repeated,) = con.execute(
        f"SELECT count(*) FROM (SELECT {columns} FROM {table} GROUP BY ALL HAVING count(*) > 1)"
    ).fetchall()[0]
    if not repeated:
        return False
    has_run = bool(
        con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = 'run_id'", [table]
        ).fetchall()[0][0]
    )
    order = _NEWEST_FIRST if has_run else "rowid DESC"
    con.execute(
        f"""
        DELETE FROM {table} WHERE rowid IN (
            SELECT rowid FROM {table}
            QUALIFY row_number() OVER (PARTITION BY {columns} ORDER BY {order}) > 1)
        """
    )
    return True
