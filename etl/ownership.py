"""Who owns each conversation, inquiry block, survey reply and message (issue 13; README "Ownership").

- A conversation's owner agent is the agent the source assigns (a Quo conversation object's `assignedTo`,
  saved by `etl sync quo`; else the latest `assigned_agent_id` its messages carry: the canonical optional
  column, OpenPhone's `userId` on an incoming message), else the agent of its first human reply, else none.
- Its inquiry blocks and survey replies (through the conversation a reply is linked to) have its owner; a
  message belongs to the agent who sent it (a human reply), else to its conversation's owner (a customer's
  text, an automated one).
- The owning team is the owner agent's team, else the team of the line (`lines.team`: the lines CSV or
  settings.lines), else none.

Owners depend on messages, the sync's conversation objects and the agents and lines tables, which any load may
change (an agents file moving someone to another team re-owns their conversations). So this runs after every
load's derivation over the whole warehouse, and writes only the rows whose owner changed: the stored owners are
always the function of what is stored, whatever the order of the loads that stored it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from replyboard.warehouse import drop_temp, one_row, run

# The conversation's line and contact pair -> the agent a Quo conversation object assigns it to (the newest
# object wins when several name the pair); lines.source_id is the Quo phoneNumberId of our line.
_QUO_ASSIGNED = """
    SELECT l.line_number, p.contact_number,
           arg_max(p.assigned_to, coalesce(p.updated_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')) AS agent_id
    FROM (SELECT phone_number_id, assigned_to, updated_at, unnest(participants) AS contact_number
          FROM sync_conversations WHERE assigned_to IS NOT NULL) p
    JOIN lines l ON l.source_id = p.phone_number_id
    GROUP BY ALL
"""

_OWNERS = {
    "conversations": f"""
        SELECT c.rid, coalesce(q.agent_id, c.assigned_agent_id, c.first_agent_id) AS owner_agent_id, c.line_number
        FROM (SELECT rowid AS rid, * FROM conversations t {{where}}) c
        LEFT JOIN ({_QUO_ASSIGNED}) q ON q.line_number = c.line_number AND q.contact_number = c.contact_number
        """,
    "inquiry_blocks": """
        SELECT b.rid, c.owner_agent_id, b.line_number
        FROM (SELECT rowid AS rid, * FROM inquiry_blocks t {where}) b
        LEFT JOIN (SELECT * FROM conversations t {where}) c USING (conversation_id)
        """,
    "messages": """
        SELECT m.rid, coalesce(m.agent_id, c.owner_agent_id) AS owner_agent_id, m.line_number
        FROM (SELECT rowid AS rid, * FROM messages t {where}) m
        LEFT JOIN (SELECT * FROM conversations t {where}) c USING (conversation_id)
        """,
    "survey_responses": """
        SELECT s.rid, coalesce(c.owner_agent_id, s.agent_id) AS owner_agent_id,
               coalesce(c.line_number, s.line_number) AS line_number
        FROM (SELECT rowid AS rid, * FROM survey_responses t {where}) s LEFT JOIN conversations c USING (conversation_id)
        """,
}


# Everything a load can change that an owner depends on besides the rows' own pair: the agents' and lines' teams
# (and the lines' source ids, through which the sync's conversation objects assign). While none of it changes, an
# owner can change only where its pair's rows did. The sync's objects themselves are saved after a load's
# owners, and re-own their own pairs then (reassign_changed_sync_conversations). An agent without a team, or a
# line without a team or source id, owns nothing a missing row would not (owner_team is coalesce(agent's team,
# line's team)): a sync naming an agent for the first time changes no owner elsewhere.
_INPUTS = """
    SELECT (SELECT count(*) || ':' || coalesce(sum(hash(agent_id, team)), 0) FROM agents WHERE team IS NOT NULL),
           (SELECT count(*) || ':' || coalesce(sum(hash(line_number, team, source_id)), 0) FROM lines
            WHERE team IS NOT NULL OR source_id IS NOT NULL)
"""

# The rows of a scoped pass (Scope): those of the re-derived pairs, and survey replies of the contacts whose
# replies or conversations changed. Aliased `t`, as the owner queries below read their table. A block's or a
# message's conversation is of the same pairs (a conversation across pairs has all of them re-derived), so
# their queries read only those conversations too.
_IN_PAIRS = "(t.line_number, t.contact_number) IN (SELECT (line_number, contact_number) FROM {pairs})"
_SCOPED = {
    "conversations": _IN_PAIRS,
    "inquiry_blocks": _IN_PAIRS,
    "messages": _IN_PAIRS,
    "survey_responses": "t.contact_number IN (SELECT contact_number FROM {contacts})",
}


@dataclass(frozen=True)
class Scope:
    """Temp tables naming what a load changed: `pairs` (line_number, contact_number), `contacts`
    (contact_number: every contact whose survey replies may have been re-linked)."""

    pairs: str
    contacts: str


def inputs(con: duckdb.DuckDBPyConnection) -> tuple:
    """A fingerprint of the owners' inputs a load can change other than the rows themselves (agents, lines)."""
    return one_row(con, _INPUTS)


def assign_owners(con: duckdb.DuckDBPyConnection, scope: Scope | None = None) -> None:
    """Set owner_agent_id and owner_team on every row whose owner changed (conversations first: the others
    take their conversation's owner). scope: only the rows of those pairs and contacts, when nothing else an
    owner depends on changed (`inputs` equal before and after the load); None: every row (a daily load into
    10M messages spent 3 s here re-reading every row)."""
    for table, owners in _OWNERS.items():
        where = "" if scope is None else "WHERE " + _SCOPED[table].format(pairs=scope.pairs, contacts=scope.contacts)
        run(
            con,
            f"""
            CREATE OR REPLACE TEMP TABLE rb_owners AS
            SELECT o.* EXCLUDE (line_number), coalesce(a.team, l.team) AS owner_team
            FROM ({owners.format(where=where)}) o
            LEFT JOIN agents a ON a.agent_id = o.owner_agent_id
            LEFT JOIN lines l ON l.line_number = o.line_number
            """,
        )
        # by the row's own rowid, read just above (nothing is deleted in between): a join by key would probe
        # every stored key (10M messages: 0.28 s, by rowid 0.015 s)
        con.execute(
            f"""
            UPDATE {table} t SET owner_agent_id = o.owner_agent_id, owner_team = o.owner_team
            FROM rb_owners o
            WHERE t.rowid = o.rid AND (t.owner_agent_id IS DISTINCT FROM o.owner_agent_id
                                       OR t.owner_team IS DISTINCT FROM o.owner_team)
            """
        )


_SYNC_COLUMNS = "source, conversation_id, phone_number_id, participants, assigned_to, updated_at"


def remember_sync_conversations(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the sync's conversation objects as they are, for reassign_changed_sync_conversations."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE rb_sync_before AS SELECT {_SYNC_COLUMNS} FROM sync_conversations")


def reassign_changed_sync_conversations(con: duckdb.DuckDBPyConnection) -> int:
    """Owners again for the pairs of the sync's conversation objects that changed since remember_sync_conversations
    (their old and their new version: an object can move to other participants); the number of such pairs.

    A sync saves its conversation objects after its load derived and owned the rows, and nearly every sync
    changes some (each new message touches its conversation's updatedAt): every row again would cost a sync into
    10M messages 4 s; an owner depends on an object only through its line and participants."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_sync_changed AS
        (SELECT {_SYNC_COLUMNS} FROM sync_conversations EXCEPT SELECT * FROM rb_sync_before)
        UNION ALL
        (SELECT * FROM rb_sync_before EXCEPT SELECT {_SYNC_COLUMNS} FROM sync_conversations)
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE rb_sync_pairs AS
        SELECT DISTINCT l.line_number, p.contact_number
        FROM (SELECT phone_number_id, unnest(participants) AS contact_number FROM rb_sync_changed) p
        JOIN lines l ON l.source_id = p.phone_number_id
        """
    )
    con.execute("CREATE OR REPLACE TEMP TABLE rb_sync_contacts AS SELECT DISTINCT contact_number FROM rb_sync_pairs")
    (pairs,) = one_row(con, "SELECT count(*) FROM rb_sync_pairs")
    if pairs:
        assign_owners(con, Scope(pairs="rb_sync_pairs", contacts="rb_sync_contacts"))
    drop_temp(con, "rb_sync_before", "rb_sync_changed", "rb_sync_pairs", "rb_sync_contacts")
    return pairs
