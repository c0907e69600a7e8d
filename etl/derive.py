"""Facts derived at load time, so every page and metric is an aggregate over materialised rows.

For each (line, contact) pair touched by a load, all of that pair's messages are re-derived: kind
(inquiry, human reply, automated, survey prompt/answer, opt-out), conversation, inquiry blocks with
their first human reply, calendar and business seconds, the same-business-day deadline, survey
answers with their parsed score and the agent they rate. Pairs not touched are left as they are,
so a daily load never rebuilds history. A conversation the source numbered across several pairs (a group
text) is re-derived whole: every pair sharing a source conversation id with a touched one is touched too. A
group text's contact is its set of participants (replyboard.phones.normalize_participants), so a group is one
pair like any contact.
Definitions: README "Metric definitions".

Only DerivationSettings come in (replyboard.settings): what this module reads is exactly what the
warehouse's derivation key records. Kinds, statuses and origins are bound as parameters
(replyboard.contract.codes_in), never spelled in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import polars as pl

from replyboard.business_time import business_seconds_query, deadline_query, register_calendar_around
from replyboard.contract import FAILED_STATUSES, TABLES, UNSENT_STATUSES, SurveyType
from replyboard.faults import checkpoint
from replyboard.no_reply import EMOJI_ONLY_RE, FORMAT_CHARS_RE, LONGEST, QUESTION_RE, SEPARATORS_RE, closer_regex
from replyboard.settings import DerivationSettings
from replyboard.survey_parse import STRIP_PUNCT_SQL_REGEX, parse_scores_frame
from replyboard.warehouse import drop_temp, frame, is_empty, one, one_row, run, temp_table

PAIRS = "rb_pairs"  # the line/contact pairs the last derive() re-derived


def _any_regex(patterns: Sequence[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns) if patterns else r"[^\s\S]"  # never matches (RE2 has no (?!))


# What an inbound text is when it needs no reply (replyboard.no_reply): a reaction (a tapback pattern or emoji
# alone, whole text), else a closer (closer phrases only once separators are one space, and no question mark).
# nr_text: an inbound text short enough to be one, without format characters (NULL otherwise).
_NR_TEXT_SQL = f"""CASE WHEN direction = $direction_inbound AND length(coalesce(body, '')) <= {LONGEST}
    THEN trim(regexp_replace(coalesce(body, ''), $format_re, '', 'g')) END"""
_NO_REPLY_SQL = """CASE
    WHEN regexp_full_match(nr_text, $emoji_only_re) OR regexp_full_match(nr_text, $reaction_re, 'i') THEN $kind_reaction
    WHEN NOT regexp_matches(nr_text, $question_re)
         AND regexp_full_match(trim(regexp_replace(nr_text, $separators_re, ' ', 'g')), $closer_re, 'c')
        THEN $kind_closer
    END"""


# The source's conversation id of each message (its own, else its pair's previous or next one's) and the human
# replies before it in its conversation: in a source conversation (it may span pairs: a group text) one more
# window pass; in a session of its pair, the pair's running count less the count when the session began.
_SESSION_HUMAN_BEFORE = "hr_before - hr_at_start"
_SOURCE_CONVERSATIONS = (
    """coalesce(source_conversation_id, last_value(source_conversation_id IGNORE NULLS) OVER before,
                first_value(source_conversation_id IGNORE NULLS) OVER after)""",
    f"""CASE WHEN src_conv IS NULL THEN {_SESSION_HUMAN_BEFORE}
             ELSE coalesce(sum(CASE WHEN kind = $kind_human_reply THEN 1 ELSE 0 END) OVER (
                 PARTITION BY src_conv ORDER BY created_at, message_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) END""",
)
# No message of the batch carries a source conversation id (generated and canonical data, SMS backups): a quarter
# of the window work less (1M messages: 3.0 -> 2.3 s).
_SESSIONS_ONLY = ("NULL::VARCHAR", _SESSION_HUMAN_BEFORE)


def _pairs_in_scope(con: duckdb.DuckDBPyConnection, changed: str, affected: str) -> None:
    """rb_pairs: the pairs to re-derive, closed over source conversation ids shared between pairs (a group
    text numbered as one conversation), so a conversation is always re-derived with all of its messages."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE rb_pairs AS SELECT DISTINCT line_number, contact_number FROM {affected}")
    while True:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE rb_more_pairs AS
            SELECT DISTINCT m.line_number, m.contact_number FROM messages m
            WHERE m.source_conversation_id IN (
                    SELECT source_conversation_id FROM messages
                    WHERE (line_number, contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs)
                    UNION SELECT source_conversation_id FROM {changed})
              AND (m.line_number, m.contact_number) NOT IN (SELECT (line_number, contact_number) FROM rb_pairs)
            """
        )
        (more,) = one(con, "SELECT count(*) FROM rb_more_pairs") or (0,)
        if not more:
            return
        con.execute("INSERT INTO rb_pairs SELECT * FROM rb_more_pairs")


def derive(
    con: duckdb.DuckDBPyConnection,
    settings: DerivationSettings,
    changed: str,
    affected: str,
    *,
    every_pair: bool = False,
) -> None:
    """Re-derive every pair in temp table `affected` from messages, with `changed` rows replacing theirs.

    every_pair: `affected` holds every pair (the derivation settings changed): the derived tables are then
    rebuilt whole rather than merged row by row."""
    tz = settings.timezone
    gap_seconds = settings.session_gap_hours * 3600
    window_seconds = settings.survey_prompts.reply_window_hours * 3600
    # a longer text cannot be a keyword plus trailing punctuation and spaces: skip the regex for it
    longest_opt_out = max((len(k) for k in settings.opt_out_keywords), default=0) + 32
    _pairs_in_scope(con, changed, affected)
    # The pairs' messages, stored and changed. A first load stores none, so they are `changed` itself: read in
    # place rather than copied (a copy of every body: 6 s and a gigabyte of memory at 10M messages).
    first_load = is_empty(con, "messages")
    base = changed
    if not first_load:
        base = "rb_base"
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE rb_base AS
                SELECT * EXCLUDE ({", ".join(NOT_LOADED_MESSAGE_COLUMNS)}),
                       rowid AS stored_rowid  -- the stored row, written back through it (_publish_messages)
                FROM messages m
                -- the pairs' rows found by their two columns first, then read whole (with their bodies) by
                -- rowid: a filter by pair over every column reads every body (10M: 0.25 -> 0.15 s)
                WHERE m.rowid IN (SELECT t.rowid FROM messages t WHERE {_PAIR_ROWS})
                  AND m.message_id NOT IN (SELECT message_id FROM {changed})
                UNION ALL BY NAME
                SELECT * EXCLUDE (source_line) FROM {changed};
            """
        )
    # Step 1: what each message is by its own content (automation by flag, template or line; opt-out
    # keywords; survey prompts), carried forward without the body so the window steps stay narrow.
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE rb_k AS
        SELECT * EXCLUDE (text),
            CASE WHEN automated AND regexp_matches(text, $csat_re, 'i') THEN $survey_csat
                 WHEN automated AND regexp_matches(text, $nps_re, 'i') THEN $survey_nps END AS prompt_survey
        FROM (
            SELECT base_rowid AS rid, message_id, line_number, contact_number,
                hash(line_number, contact_number) AS pair_key,
                created_at, direction, agent_id, assigned_agent_id, status, source_conversation_id, channel,
                coalesce(body, '') AS text,
                -- CASE keeps each regex to the rows it concerns (outbound or inbound only)
                CASE WHEN direction = $direction_outbound
                    THEN is_automated OR list_contains($automation_lines::VARCHAR[], line_number)
                         OR regexp_matches(coalesce(body, ''), $auto_re, 'i') ELSE false END AS automated,
                CASE WHEN direction = $direction_inbound AND length(coalesce(body, '')) <= {longest_opt_out}
                    THEN list_contains($opt_outs::VARCHAR[], upper(regexp_replace(coalesce(body, ''), $strip_re, '', 'g')))
                    ELSE false END AS is_opt_out,
                {_NO_REPLY_SQL} AS no_reply,
                timezone($tz, created_at) AS created_local
            FROM (SELECT *, rowid AS base_rowid, {_NR_TEXT_SQL} AS nr_text FROM {base}))
        """,
        {
            "csat_re": _any_regex(settings.survey_prompts.csat),
            "nps_re": _any_regex(settings.survey_prompts.nps),
            "auto_re": _any_regex(settings.auto_reply_templates),
            "automation_lines": list(settings.automation_numbers),
            "opt_outs": [k.upper() for k in settings.opt_out_keywords],
            "strip_re": STRIP_PUNCT_SQL_REGEX,
            "tz": tz,
            "format_re": FORMAT_CHARS_RE,
            "emoji_only_re": EMOJI_ONLY_RE,
            "reaction_re": _any_regex(settings.reactions),
            "question_re": QUESTION_RE,
            "separators_re": SEPARATORS_RE,
            "closer_re": closer_regex(settings.closers),
        },
    )
    # Step 2: within each line/contact pair, in time order (created_at, then message_id):
    # the last survey prompt and the previous inbound (survey answers), then kind; conversations, where a gap
    # over session_gap_hours starts a new one except that an outbound text to a customer still waiting
    # (Friday evening's text answered on Monday, or a reminder sent before that answer) continues it; then
    # the human replies before each message in its conversation (inquiry blocks: counted over the whole
    # conversation, also when the source's conversation spans several contacts).
    src_conv, human_before = _SESSIONS_ONLY
    if one_row(con, "SELECT bool_or(source_conversation_id IS NOT NULL) FROM rb_k")[0]:
        src_conv, human_before = _SOURCE_CONVERSATIONS
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE rb_d AS
        WITH w AS (
            SELECT *,
                epoch(created_at) - epoch(lag(created_at) OVER pair) AS gap,
                last_value(CASE WHEN prompt_survey IS NOT NULL THEN created_at END IGNORE NULLS) OVER before
                    AS prompt_at,
                last_value(prompt_survey IGNORE NULLS) OVER before AS prompt_kind,
                last_value(CASE WHEN prompt_survey IS NOT NULL THEN message_id END IGNORE NULLS) OVER before
                    AS prompt_id,
                last_value(CASE WHEN direction = $direction_inbound THEN created_at END IGNORE NULLS) OVER before
                    AS prev_inbound_at,
                {src_conv} AS src_conv
            FROM rb_k
            WINDOW pair AS (PARTITION BY pair_key ORDER BY created_at, message_id),
                   before AS (PARTITION BY pair_key ORDER BY created_at, message_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   after AS (PARTITION BY pair_key ORDER BY created_at, message_id
                             ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
        ), k AS (
            SELECT *,
                CASE
                    WHEN direction = $direction_inbound AND prompt_at IS NOT NULL
                         AND (prev_inbound_at IS NULL OR prev_inbound_at < prompt_at)
                         AND epoch(created_at) - epoch(prompt_at) <= $window_seconds THEN $kind_survey_answer
                    WHEN direction = $direction_inbound AND is_opt_out THEN $kind_opt_out
                    WHEN direction = $direction_inbound AND no_reply IS NOT NULL THEN no_reply
                    WHEN direction = $direction_inbound THEN $kind_inquiry
                    WHEN prompt_survey IS NOT NULL THEN $kind_survey_prompt
                    WHEN automated THEN $kind_automated
                    WHEN list_contains($failed::VARCHAR[], status) THEN $kind_failed_reply
                    -- queued, accepted, scheduled, sending: not a reply until a later status arrives
                    WHEN list_contains($unsent::VARCHAR[], status) THEN $kind_pending_reply
                    ELSE $kind_human_reply
                END AS kind
            FROM w
        ), waiting AS (
            SELECT *,
                coalesce(last_value(CASE WHEN kind = $kind_inquiry THEN created_at END IGNORE NULLS) OVER before
                         > coalesce(last_value(CASE WHEN kind = $kind_human_reply THEN created_at END IGNORE NULLS)
                                    OVER before, TIMESTAMPTZ '1970-01-01 00:00:00+00'), false) AS waiting,
                last_value(CASE WHEN kind = $kind_human_reply THEN agent_id END IGNORE NULLS) OVER before
                    AS last_human_agent,
                coalesce(sum(CASE WHEN kind = $kind_human_reply THEN 1 ELSE 0 END) OVER before, 0) AS hr_before
            FROM k
            WINDOW before AS (PARTITION BY pair_key ORDER BY created_at, message_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ), sessions AS (
            SELECT *,
                -- the latest session start so far: the time of the last message that opened a session
                max(CASE WHEN gap IS NULL OR (gap > $gap_seconds AND NOT (direction = $direction_outbound AND waiting))
                         THEN created_at END) OVER running AS session_start,
                -- the human replies before the session's first message (hr_before never decreases in a pair)
                max(CASE WHEN gap IS NULL OR (gap > $gap_seconds AND NOT (direction = $direction_outbound AND waiting))
                         THEN hr_before END) OVER running AS hr_at_start
            FROM waiting
            WINDOW running AS (PARTITION BY pair_key ORDER BY created_at, message_id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        )
        SELECT * EXCLUDE (session_start, hr_before, hr_at_start),
            -- a session's id from its pair and start (hash, not a formatted timestamp: cheaper per row)
            coalesce('s:' || src_conv, 'c_' || lpad(to_hex(hash(pair_key, epoch_us(session_start))), 16, '0'))
                AS conversation_id,
            {human_before} AS human_before
        FROM sessions
        """,
        {
            "window_seconds": window_seconds,
            "gap_seconds": gap_seconds,
            "failed": list(FAILED_STATUSES),
            "unsent": list(UNSENT_STATUSES),
        },
    )
    con.execute("DROP TABLE rb_k")  # what is not needed any more is dropped: a 10M load then spills less
    _publish_messages(con, base, first_load)
    checkpoint("after_derive_messages")
    _conversations(con, every_pair)
    _blocks(con, settings, every_pair)
    _message_surveys(con, settings, base)
    for done in ("rb_base", "rb_d", "rb_blocks", "rb_new_blocks", "rb_new_conversations", "rb_new_messages"):
        con.execute(f"DROP TABLE IF EXISTS {done}")


# Rows of the touched pairs in each derived table (survey_responses: only those texted after a prompt).
_PAIR_ROWS = "(t.line_number, t.contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs)"
_SCOPE = {
    "messages": _PAIR_ROWS,
    "conversations": _PAIR_ROWS,
    "inquiry_blocks": _PAIR_ROWS,
    "survey_responses": f"t.origin = $origin_message AND {_PAIR_ROWS}",
}


def _write(con: duckdb.DuckDBPyConnection, table: str, rows: str) -> None:
    """Write the re-derived rows (temp table `rows`) of the pairs in rb_pairs into `table`, merged on its key.

    Merged, not deleted and inserted: DuckDB deletes a row from a primary-key index slowly (about 30 s for a
    million rows, an UPDATE of them 1.5 s), and most re-derived rows keep their key. So the keys of the pairs
    that are gone are deleted, the others updated, the new ones inserted (_write_query: a rebuilt table).
    """
    key = TABLES[table].key
    if is_empty(con, table):
        # a first load: nothing stored to delete, update or collide with, so the rows go straight in (the
        # anti-joins against the empty table and its key index cost a third of a first load's derivation)
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {rows}")
        return
    keys = ", ".join(key)
    on = " AND ".join(f"s.{k} = r.{k}" for k in key)
    columns = [c for (c, *_) in con.execute(f"DESCRIBE {rows}").fetchall() if c not in key]
    # The stored rows of the touched pairs, by rowid: one scan of the table finds them, and every statement
    # below reaches them through it rather than joining the whole table on its key (a daily load into 10M
    # messages: ~0.9 s of such joins). Nothing outside the pairs can hold a re-derived key (a conversation
    # across pairs has all of them re-derived), and deleting rows changes no other row's rowid.
    run(
        con,
        f"CREATE OR REPLACE TEMP TABLE rb_stored AS SELECT t.rowid AS rid, {keys} FROM {table} t WHERE {_SCOPE[table]}",
    )
    run(
        con,
        f"DELETE FROM {table} WHERE rowid IN "
        f"(SELECT s.rid FROM rb_stored s WHERE NOT EXISTS (SELECT 1 FROM {rows} r WHERE {on}))",
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE rb_kept AS SELECT s.rid, r.* FROM rb_stored s JOIN {rows} r ON {on}")
    # Only the values that changed: most re-derived rows of a touched pair come out as they were stored, and
    # DuckDB's UPDATE costs by the column written (13 columns of 12,000 conversations: 0.19 s, 2 of them: 0.02 s).
    flags = one_row(
        con,
        f"SELECT {', '.join(f'bool_or(t.{c} IS DISTINCT FROM r.{c})' for c in columns)} FROM {table} t "
        "JOIN rb_kept r ON t.rowid = r.rid",
    )
    written = [c for c, differs in zip(columns, flags, strict=True) if differs]
    if written:
        differs = f"({', '.join(f't.{c}' for c in written)}) IS DISTINCT FROM ({', '.join(f'r.{c}' for c in written)})"
        con.execute(
            f"UPDATE {table} t SET {', '.join(f'{c} = r.{c}' for c in written)} FROM rb_kept r "
            f"WHERE t.rowid = r.rid AND {differs}"
        )
    con.execute(
        f"INSERT INTO {table} BY NAME SELECT r.* FROM {rows} r WHERE NOT EXISTS (SELECT 1 FROM rb_stored s WHERE {on})"
    )
    drop_temp(con, "rb_stored", "rb_kept")


def _publish_messages(con: duckdb.DuckDBPyConnection, base: str, first_load: bool) -> None:
    # b.sensitive: what the load found before the body was redacted
    selected = """b.message_id, b.source, b.created_at, b.direction, b.line_number, b.contact_number, b.agent_id,
               b.is_automated, b.body, b.channel, b.source_conversation_id, b.status, b.assigned_agent_id,
               b.content_hash, b.run_id,
               d.conversation_id, d.kind,
               CASE WHEN d.kind = $kind_survey_prompt THEN d.prompt_survey
                    WHEN d.kind = $kind_survey_answer THEN d.prompt_kind END AS survey,
               d.is_opt_out, d.created_local, b.sensitive"""
    joined = f"FROM rb_d d JOIN {base} b ON b.rowid = d.rid"
    if first_load:
        # straight into the empty table, without one more temp table holding a copy of every body
        run(con, f"INSERT INTO messages BY NAME SELECT {selected} {joined}")
        return
    # Every message stays (a pair's stored messages are all re-derived), so nothing is deleted. Statements that
    # join the stored table on message_id read every id (0.14 s at 10M messages, each); through rowids and the
    # key's index they do not.
    run(con, f"CREATE OR REPLACE TEMP TABLE rb_new_messages AS SELECT b.stored_rowid, {selected} {joined}")
    # a stored message re-derived: only what derivation writes can differ (the rest came from the stored row)
    written = ", ".join(f"{c} = r.{c}" for c in _DERIVED_MESSAGE_COLUMNS)
    differs = " OR ".join(f"t.{c} IS DISTINCT FROM r.{c}" for c in _DERIVED_MESSAGE_COLUMNS)
    con.execute(
        f"UPDATE messages t SET {written} FROM rb_new_messages r "
        f"WHERE r.stored_rowid IS NOT NULL AND t.rowid = r.stored_rowid AND ({differs})"
    )
    # a message new or changed by this load: inserted through the key's index; a changed one already stored
    # (a later status) then updated on its id
    changed = "SELECT * EXCLUDE (stored_rowid) FROM rb_new_messages WHERE stored_rowid IS NULL"
    (inserted,) = one_row(con, f"INSERT OR IGNORE INTO messages BY NAME {changed}")
    (total,) = one_row(con, "SELECT count(*) FROM rb_new_messages WHERE stored_rowid IS NULL")
    if inserted < total:
        columns = [
            c
            for (c, *_) in con.execute("DESCRIBE rb_new_messages").fetchall()
            if c not in ("message_id", "stored_rowid")
        ]
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM r.{c}" for c in columns)
        con.execute(
            f"UPDATE messages t SET {', '.join(f'{c} = r.{c}' for c in columns)} FROM ({changed}) r "
            f"WHERE t.message_id = r.message_id AND ({differs})"
        )


# What derive() writes into a message (the rest is the message as loaded), and with the owners
# (etl.ownership), what a loaded message does not carry.
_DERIVED_MESSAGE_COLUMNS = ("conversation_id", "kind", "survey", "is_opt_out", "created_local")
NOT_LOADED_MESSAGE_COLUMNS = (*_DERIVED_MESSAGE_COLUMNS, "owner_agent_id", "owner_team")


def _conversations(con: duckdb.DuckDBPyConnection, every_pair: bool) -> None:
    _write_query(
        con,
        "conversations",
        "rb_new_conversations",
        """
        -- a conversation the source numbered across contacts belongs to its first message's line and contact;
        -- first(... ORDER BY), never any_value: the same messages give the same row whatever the load history
        SELECT conversation_id,
               first(line_number ORDER BY created_at, message_id) AS line_number,
               first(contact_number ORDER BY created_at, message_id) AS contact_number,
               mode(channel) AS channel, min(created_at) AS started_at, max(created_at) AS ended_at,
               min(created_local) AS started_local, count(*) AS messages,
               count(*) FILTER (WHERE direction = $direction_inbound) AS inbound,
               count(*) FILTER (WHERE kind = $kind_human_reply) AS human_replies,
               first(agent_id ORDER BY created_at, message_id) FILTER (WHERE kind = $kind_human_reply)
                   AS first_agent_id,
               -- the source's assignment: the latest one its messages carry (a reassignment wins)
               last(assigned_agent_id ORDER BY created_at, message_id) FILTER (WHERE assigned_agent_id IS NOT NULL)
                   AS assigned_agent_id
        FROM rb_d GROUP BY conversation_id
        """,
        rebuild=every_pair,
    )


def _write_query(con: duckdb.DuckDBPyConnection, table: str, name: str, query: str, *, rebuild: bool) -> None:
    """_write the rows of `query`; into an empty or rebuilt table straight from the query, else through temp table
    `name` (a merge reads the rows several times). At 10M messages the copy skipped is 3.3M blocks."""
    if rebuild or is_empty(con, table):
        if rebuild:
            _recreate(con, table)
        run(con, f"INSERT INTO {table} BY NAME {query}")
        return
    run(con, f"CREATE OR REPLACE TEMP TABLE {name} AS {query}")
    _write(con, table, name)


def _recreate(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Empty `table` by re-creating it from its own DDL (keys and all)."""
    (ddl,) = one(con, "SELECT sql FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]) or ("",)
    con.execute(ddl.replace(f"CREATE TABLE {table}(", f"CREATE OR REPLACE TABLE {table}(", 1))


def _blocks(con: duckdb.DuckDBPyConnection, settings: DerivationSettings, every_pair: bool) -> None:
    run(
        con,
        """
        CREATE OR REPLACE TEMP TABLE rb_blocks AS
        WITH b AS (
            SELECT conversation_id, human_before,
                   first(line_number ORDER BY created_at, message_id) AS line_number,
                   first(contact_number ORDER BY created_at, message_id) AS contact_number,
                   first(channel ORDER BY created_at, message_id) AS channel,
                   min(created_at) AS started_at, min(created_local) AS started_local, count(*) AS inquiries
            FROM rb_d WHERE kind = $kind_inquiry GROUP BY conversation_id, human_before
        ), r AS (
            SELECT conversation_id, human_before + 1 AS ordinal, message_id, created_at, agent_id
            FROM rb_d WHERE kind = $kind_human_reply
        )
        SELECT 'b_' || left(md5(b.conversation_id || '|' || b.human_before), 16) AS block_id,
               b.conversation_id, b.line_number, b.contact_number, b.channel,
               CAST(dense_rank() OVER (PARTITION BY b.conversation_id ORDER BY b.human_before) AS INTEGER)
                   AS block_seq,
               b.human_before > 0 AS is_follow_up, b.started_at, b.started_local, b.inquiries,
               r.message_id AS reply_message_id, r.created_at AS replied_at, r.agent_id AS reply_agent_id,
               epoch(r.created_at) - epoch(b.started_at) AS calendar_seconds
        FROM b LEFT JOIN r ON r.conversation_id = b.conversation_id AND r.ordinal = b.human_before + 1
        """,
    )
    first, last = one_row(con, "SELECT min(started_at), max(coalesce(replied_at, started_at)) FROM rb_blocks")
    register_calendar_around(con, settings, first, last, table="rb_calendar", temporary=True)
    # replyboard.business_time's own SQL (the tests check it against the Python reference): business seconds
    # to the first human reply, whether the block started in opening hours, its same-business-day deadline
    timed = business_seconds_query(
        "rb_blocks", "started_at", "replied_at", "rb_calendar", "business_seconds", in_hours_alias="started_in_hours"
    )
    blocks = deadline_query(f"({timed})", "started_at", "rb_calendar", "deadline_at")
    _write_query(con, "inquiry_blocks", "rb_new_blocks", blocks, rebuild=every_pair)


def _message_surveys(con: duckdb.DuckDBPyConnection, settings: DerivationSettings, base: str) -> None:
    sql = f"""
        SELECT d.message_id AS response_id, d.created_at AS received_at, d.created_local AS received_local,
               d.contact_number, d.line_number, d.channel, d.prompt_kind AS survey, b.body AS reply_text,
               d.conversation_id, d.last_human_agent AS agent_id, d.prompt_id AS prompt_message_id, b.run_id,
               b.content_hash
        FROM rb_d d JOIN {base} b ON b.rowid = d.rid WHERE d.kind = $kind_survey_answer
        """
    answers = frame(con, sql)
    temp_table(con, "rb_scored", score_replies(answers, settings))
    run(con, "CREATE OR REPLACE TEMP TABLE rb_new_surveys AS SELECT $origin_message AS origin, * FROM rb_scored")
    _write(con, "survey_responses", "rb_new_surveys")


def score_replies(frame: pl.DataFrame, settings: DerivationSettings) -> pl.DataFrame:
    """Add score and parse_status, each survey on its own scale (settings.csat, settings.nps)."""
    parts = []
    for survey, scale in {SurveyType.CSAT: settings.csat, SurveyType.NPS: settings.nps}.items():
        part = frame.filter(pl.col("survey") == survey.value)
        parts.append(parse_scores_frame(part, "reply_text", scale.min, scale.max, settings.opt_out_keywords))
    out = pl.concat(parts, how="vertical_relaxed") if parts else frame
    return out.with_columns(pl.col("score").cast(pl.Int32))


def rescore_surveys(con: duckdb.DuckDBPyConnection, settings: DerivationSettings) -> None:
    """Score every stored survey reply again, of both origins: what a change of the scales alone affects."""
    stored = frame(con, "SELECT response_id, origin, survey, reply_text FROM survey_responses")
    if stored.is_empty():
        return
    temp_table(con, "rb_rescored", score_replies(stored, settings))
    con.execute(
        """
        UPDATE survey_responses s SET score = r.score, parse_status = r.parse_status
        FROM rb_rescored r WHERE s.response_id = r.response_id AND s.origin = r.origin
        """
    )


def link_file_surveys(
    con: duckdb.DuckDBPyConnection, settings: DerivationSettings, contacts: str | None = None
) -> None:
    """Score file-origin survey replies and link each to the conversation and agent it rates.

    contacts: a table of contact_number whose replies to (re)link, those a load touched; None for all.
    """
    scope = f"AND contact_number IN (SELECT contact_number FROM {contacts})" if contacts else ""
    sql = f"SELECT * EXCLUDE (score, parse_status) FROM survey_responses WHERE origin = $origin_file {scope}"
    stored = frame(con, sql)
    if stored.is_empty():
        return
    scored = score_replies(stored, settings).with_columns(
        pl.col("received_at").dt.convert_time_zone(settings.timezone).dt.replace_time_zone(None).alias("received_local")
    )
    temp_table(con, "rb_file_scored", scored)
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE rb_fs AS
        WITH hr AS (
            SELECT contact_number, created_at, conversation_id, agent_id
            FROM messages WHERE kind = $kind_human_reply {scope}
        )
        SELECT s.* EXCLUDE (conversation_id, agent_id), hr.conversation_id, hr.agent_id
        FROM rb_file_scored s ASOF LEFT JOIN hr
          ON s.contact_number = hr.contact_number AND s.received_at >= hr.created_at
        """,
    )
    # every row is stored already (etl.merge wrote it): its score, local time and link are updated in place
    con.execute(
        """
        UPDATE survey_responses t SET score = r.score, parse_status = r.parse_status,
               received_local = r.received_local, conversation_id = r.conversation_id, agent_id = r.agent_id
        FROM rb_fs r WHERE t.response_id = r.response_id AND t.origin = r.origin
        """
    )
