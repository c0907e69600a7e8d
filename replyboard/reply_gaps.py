"""Each human reply's typing gap, materialised on messages at load (issue 19): what active_texting_seconds sums.

messages.prev_reply_gap_seconds: for a human reply, the seconds since the same agent's previous human reply
(ordered by created_at, then message_id: a tie in time is broken the same way whatever the load history);
NULL for an agent's first reply and for every other kind. The metric's span is then
least(typing_allowance_seconds, gap), so the allowance stays a reporting setting and no query runs a window
over every human reply.

An agent's replies span many line/contact pairs and a load re-derives only the pairs it touched, so the gaps
are not derived per pair: after each load's derivation, `refresh` finds the rows whose gap no longer describes
them and recomputes, for each agent concerned, the gaps from the earliest such time onward.

How it knows what changed without the load telling it: each row also stores what its gap was computed for,
reply_gap_agent_id and reply_gap_at (the row's agent and time when it was a human reply then; both NULL when it
was not). A row is stale when that differs from the row as it is now (a new reply, a pending reply now sent, a
reply now failed or re-dated, one whose agent changed); the agent's chain is then wrong from the earlier of its
new time and its old one, for its new agent and its old one. The stored gaps are thus always the function of
what is stored (as etl.ownership's owners are), whatever the order of the loads, and a derivation settings change
(which can change many kinds at once) needs nothing else: its changed kinds are stale rows like any other.
"""

from __future__ import annotations

import contextlib

import duckdb

from replyboard.warehouse import run

# The derived column and what it was computed for, in the order migration 007 adds them.
COLUMNS = {"prev_reply_gap_seconds": "DOUBLE", "reply_gap_agent_id": "VARCHAR", "reply_gap_at": "TIMESTAMPTZ"}

# Rows whose gap was not computed for them as they are now. A human reply's agent may be NULL (an outbound text
# without one): reply_gap_at, never NULL for a reply, says whether the row was one.
_STALE = """
    CREATE OR REPLACE TEMP TABLE rb_gap_stale AS
    SELECT rowid AS rid, kind = $kind_human_reply AS is_reply, agent_id, created_at, reply_gap_agent_id, reply_gap_at
    FROM messages
    WHERE CASE WHEN kind = $kind_human_reply
               THEN reply_gap_at IS DISTINCT FROM created_at OR reply_gap_agent_id IS DISTINCT FROM agent_id
               ELSE reply_gap_at IS NOT NULL END
"""

# Per agent (NULL included, one group, as the metric always counted it): the earliest time whose gaps may have
# changed, a stale reply's time now or the time it had, and from where its replies must be read again: its last
# reply before that time (the first recomputed gap's predecessor; every reply at that same instant, for the ties).
_STARTS = """
    CREATE OR REPLACE TEMP TABLE rb_gap_starts AS
    WITH s AS (
        SELECT agent_id, min(since) AS from_at
        FROM (SELECT agent_id, created_at AS since FROM rb_gap_stale WHERE is_reply
              UNION ALL
              SELECT reply_gap_agent_id, reply_gap_at FROM rb_gap_stale WHERE reply_gap_at IS NOT NULL)
        GROUP BY agent_id
    )
    SELECT s.agent_id, s.from_at, coalesce(max(r.created_at), s.from_at) AS read_from
    FROM s LEFT JOIN (SELECT agent_id, created_at FROM messages WHERE kind = $kind_human_reply) r
      ON r.agent_id IS NOT DISTINCT FROM s.agent_id AND r.created_at < s.from_at
    GROUP BY s.agent_id, s.from_at
"""

# The new gaps of those agents' replies from from_at on (each reply read from read_from, so the first one has
# its predecessor), and NULLs for the stale rows that are no longer replies. The constant lower bound lets
# DuckDB skip the row groups before it (a daily load reads a day or so of replies, not all of them).
_GAPS = """
    CREATE OR REPLACE TEMP TABLE rb_gaps AS
    SELECT rid, gap, agent_id, reply_at FROM (
        SELECT r.rid, r.agent_id, r.created_at AS reply_at, s.from_at,
               epoch(r.created_at) - epoch(lag(r.created_at) OVER (
                   PARTITION BY r.agent_id ORDER BY r.created_at, r.message_id)) AS gap
        FROM (SELECT rowid AS rid, message_id, agent_id, created_at FROM messages
              WHERE kind = $kind_human_reply AND created_at >= (SELECT min(read_from) FROM rb_gap_starts)) r
        JOIN rb_gap_starts s ON r.agent_id IS NOT DISTINCT FROM s.agent_id AND r.created_at >= s.read_from)
    WHERE reply_at >= from_at
    UNION ALL
    SELECT rid, NULL::DOUBLE, NULL::VARCHAR, NULL::TIMESTAMPTZ FROM rb_gap_stale WHERE NOT is_reply
"""

# Written only where a value differs: most recomputed gaps after from_at come out as they were stored.
_WRITE = """
    UPDATE messages t SET prev_reply_gap_seconds = g.gap, reply_gap_agent_id = g.agent_id, reply_gap_at = g.reply_at
    FROM rb_gaps g
    WHERE t.rowid = g.rid
      AND (t.prev_reply_gap_seconds IS DISTINCT FROM g.gap OR t.reply_gap_agent_id IS DISTINCT FROM g.agent_id
           OR t.reply_gap_at IS DISTINCT FROM g.reply_at)
"""


def refresh(con: duckdb.DuckDBPyConnection, *, own_transaction: bool = True) -> int:
    """Bring every stale row's gap, and its agents' later gaps, up to date; returns how many rows were stale.

    The steps address rows by rowid, stable only within one transaction (a checkpoint between statements may
    compact a row group), so they run in one: their own, or the caller's (own_transaction=False: a migration,
    which replyboard.warehouse.migrate runs in its transaction).
    """
    if own_transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        run(con, _STALE)
        ((stale,),) = con.execute("SELECT count(*) FROM rb_gap_stale").fetchall()
        if stale:
            run(con, _STARTS)
            run(con, _GAPS)
            con.execute(_WRITE)
        for table in ("rb_gap_stale", "rb_gap_starts", "rb_gaps"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    except BaseException:
        if own_transaction:
            with contextlib.suppress(duckdb.Error):  # an interrupted statement may have ended it already
                con.execute("ROLLBACK")
        raise
    if own_transaction:
        con.execute("COMMIT")
    return stale
