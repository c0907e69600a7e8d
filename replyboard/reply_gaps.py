"""Each human reply's typing gap, materialised on messages at load (issue 19): what active_texting_seconds sums.

messages.prev_reply_gap_seconds: for a human reply, the seconds since the same agent's previous human reply
(ordered by created_at, then message_id: a tie in time is broken the same way whatever the load history);
NULL for an agent's first reply and for every other kind. The metric's span is then
least(typing_allowance_seconds, gap), so the allowance stays a reporting setting and no query runs a window
over every human reply.

An agent's replies span many line/contact pairs and a load re-derives only the pairs it touched, so the gaps
are not derived per pair: after each load's derivation, `refresh` finds the rows whose gap no longer describes
them and recomputes, for each agent concerned, the gaps from the earliest such time onward.

How it finds what changed: each row also stores what its gap was computed for,
reply_gap_agent_id and reply_gap_at (the row's agent and time when it was a human reply then; both NULL when it
was not). A row is stale when that differs from the row as it is now (a new reply, a pending reply now sent, a
reply now failed or re-dated, one whose agent changed); the agent's chain is then wrong from the earlier of its
new time and its old one, for its new agent and its old one. So the stored gaps are the function of what is
stored, whatever the order of the loads, and a derivation settings change (which can turn many texts into
replies or out of them at once) needs nothing else: its changed kinds are stale rows like any other.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import duckdb

from replyboard.warehouse import one_row, run

# The derived column and what it was computed for, in the order migration 007 adds them.
COLUMNS = {"prev_reply_gap_seconds": "DOUBLE", "reply_gap_agent_id": "VARCHAR", "reply_gap_at": "TIMESTAMPTZ"}

# Rows whose gap was not computed for them as they are now. A human reply's agent may be NULL (an outbound text
# without one): reply_gap_at, never NULL for a reply, says whether the row was one. {rows}: all, or one run's.
_STALE = """
    CREATE OR REPLACE TEMP TABLE rb_gap_stale AS
    SELECT rowid AS rid, kind = $kind_human_reply AS is_reply, agent_id, created_at, reply_gap_agent_id, reply_gap_at
    FROM messages
    WHERE {rows} AND CASE WHEN kind = $kind_human_reply
                          THEN reply_gap_at IS DISTINCT FROM created_at OR reply_gap_agent_id IS DISTINCT FROM agent_id
                          ELSE reply_gap_at IS NOT NULL END
"""

# Per agent (NULL included, one group, as the metric always counted it): the earliest time whose gaps may have
# changed (a stale reply's time now, or the time it had) and, filled next, from where its replies are read again.
_STARTS = """
    CREATE OR REPLACE TEMP TABLE rb_gap_starts AS
    SELECT agent_id, min(since) AS from_at, NULL::TIMESTAMPTZ AS read_from
    FROM (SELECT agent_id, created_at AS since FROM rb_gap_stale WHERE is_reply
          UNION ALL
          SELECT reply_gap_agent_id, reply_gap_at FROM rb_gap_stale WHERE reply_gap_at IS NOT NULL)
    GROUP BY agent_id
"""

# read_from: the agent's last reply before from_at (the first recomputed gap's predecessor; every reply at that
# instant is read, for the ties). {since}: a lower bound on created_at (or none) that lets DuckDB skip the row
# groups before it: a week before the earliest from_at finds it for every agent who replied that week.
_ANCHORS = """
    UPDATE rb_gap_starts s SET read_from = a.previous
    FROM (SELECT s.agent_id, max(r.created_at) AS previous
          FROM rb_gap_starts s
          JOIN (SELECT agent_id, created_at FROM messages WHERE kind = $kind_human_reply {since}) r
            ON r.agent_id IS NOT DISTINCT FROM s.agent_id AND r.created_at < s.from_at
          WHERE s.read_from IS NULL
          GROUP BY s.agent_id) a
    WHERE s.agent_id IS NOT DISTINCT FROM a.agent_id
"""
_LOOKBACK_DAYS = 7

# The new gaps of those agents' replies from from_at on (each agent read from read_from, so its first recomputed
# reply has its predecessor), and NULLs for the stale rows that are no longer replies.
_GAPS = """
    CREATE OR REPLACE TEMP TABLE rb_gaps AS
    SELECT rid, gap, agent_id, reply_at FROM (
        SELECT r.rid, r.agent_id, r.created_at AS reply_at, s.from_at,
               epoch(r.created_at) - epoch(lag(r.created_at) OVER (
                   PARTITION BY r.agent_id ORDER BY r.created_at, r.message_id)) AS gap
        FROM (SELECT rowid AS rid, message_id, agent_id, created_at FROM messages
              WHERE kind = $kind_human_reply AND created_at >= $read_from) r
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


def refresh(con: duckdb.DuckDBPyConnection, *, run_id: int | None = None, own_transaction: bool = True) -> int:
    """Bring every stale row's gap, and its agents' later gaps, up to date; returns how many rows were stale.

    run_id: look for stale rows among that load's rows only, those etl.merge wrote (a new or changed message gets
    the run's id), which is where a load can make one: whether a text is a human reply, its agent and its time
    are the row's own content read with the derivation settings, so while those stay the same only a changed row
    changes. DuckDB skips the row groups that hold no row of the run, so a daily load does not read 10M rows to
    find its own. None: every row (a derivation settings change, the migration).

    The steps address rows by rowid, stable only within one transaction (a checkpoint between statements may
    compact a row group), so they run in one: their own, or the caller's (own_transaction=False: a migration,
    which replyboard.warehouse.migrate runs in its transaction).
    """
    if own_transaction:
        con.execute("BEGIN TRANSACTION")
    try:
        stale = _refresh(con, run_id)
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


def _refresh(con: duckdb.DuckDBPyConnection, run_id: int | None) -> int:
    if run_id is None:
        run(con, _STALE.format(rows="true"))
    else:
        run(con, _STALE.format(rows="run_id = $run_id"), {"run_id": run_id})
    (stale,) = one_row(con, "SELECT count(*) FROM rb_gap_stale")
    if not stale:
        return 0
    run(con, _STARTS)
    (earliest,) = one_row(con, "SELECT min(from_at) FROM rb_gap_starts")
    run(con, _ANCHORS.format(since="AND created_at >= $since"), {"since": earliest - timedelta(days=_LOOKBACK_DAYS)})
    (unfound,) = one_row(con, "SELECT count(*) FROM rb_gap_starts WHERE read_from IS NULL")
    if unfound:  # an agent without a reply in the week before: its previous one may be anywhere before
        run(con, _ANCHORS.format(since=""))
        con.execute("UPDATE rb_gap_starts SET read_from = from_at WHERE read_from IS NULL")  # no earlier reply
    (read_from,) = one_row(con, "SELECT min(read_from) FROM rb_gap_starts")
    run(con, _GAPS, {"read_from": read_from})
    con.execute(_WRITE)
    return stale
