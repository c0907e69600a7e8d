"""Facts derived at load time, so every page and metric is an aggregate over materialised rows.

For each (line, contact) pair touched by a load, all of that pair's messages are re-derived: kind
(inquiry, human reply, automated, survey prompt/answer, opt-out), conversation, inquiry blocks with
their first human reply, calendar and business seconds, the same-business-day deadline, survey
answers with their parsed score and the agent they rate. Pairs not touched are left as they are,
so a daily load never rebuilds history. Definitions: README "Metric definitions".
"""

from __future__ import annotations

import duckdb
import polars as pl

from replyboard.business_time import business_seconds_query, deadline_query, register_calendar_around
from replyboard.faults import checkpoint
from replyboard.phones import normalize_number
from replyboard.settings import Settings
from replyboard.survey_parse import STRIP_PUNCT_SQL_REGEX, parse_scores_frame
from replyboard.warehouse import frame, one, temp_table

FAILED_STATUSES = ("failed", "undelivered", "canceled")


def _any_regex(patterns: list[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns) if patterns else r"[^\s\S]"  # never matches (RE2 has no (?!))


def _sql_list(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values) or "NULL"


def _automation_lines(settings: Settings) -> list[str]:
    """settings.automation_numbers as stored lines are: normalised like every line ("(201) 923-5161" is
    +12019235161), and as written too, for sender ids and short codes."""
    normalised = (normalize_number(n, settings.default_region)[0] for n in settings.automation_numbers)
    return sorted({*settings.automation_numbers, *(n for n in normalised if n)})


def derive(con: duckdb.DuckDBPyConnection, settings: Settings, changed: str, affected: str) -> None:
    """Re-derive every pair in temp table `affected` from messages, with `changed` rows replacing theirs."""
    tz = settings.timezone
    gap_seconds = settings.session_gap_hours * 3600
    window_seconds = settings.survey_prompts.reply_window_hours * 3600
    opt_outs = _sql_list([k.upper() for k in settings.opt_out_keywords])
    automation_lines = _sql_list(_automation_lines(settings))
    # a longer text cannot be a keyword plus trailing punctuation and spaces: skip the regex for it
    longest_opt_out = max((len(k) for k in settings.opt_out_keywords), default=0) + 32
    params = {
        "csat_re": _any_regex(settings.survey_prompts.csat),
        "nps_re": _any_regex(settings.survey_prompts.nps),
        "auto_re": _any_regex(settings.auto_reply_templates),
        "tz": tz,
    }
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_pairs AS SELECT DISTINCT line_number, contact_number FROM {affected};
        CREATE OR REPLACE TEMP TABLE rb_base AS
            SELECT * EXCLUDE (conversation_id, kind, survey, is_opt_out, created_local)
            FROM messages m
            WHERE (m.line_number, m.contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs)
              AND m.message_id NOT IN (SELECT message_id FROM {changed})
            UNION ALL BY NAME
            SELECT * EXCLUDE (source_line) FROM {changed};
        """
    )
    # Step 1: what each message is by its own content (automation by flag, template or line; opt-out
    # keywords; survey prompts), carried forward without the body so the window steps stay narrow.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_k AS
        SELECT *,
            CASE WHEN automated AND regexp_matches(text, $csat_re, 'i') THEN 'csat'
                 WHEN automated AND regexp_matches(text, $nps_re, 'i') THEN 'nps' END AS prompt_survey
        FROM (
            SELECT rowid AS rid, message_id, line_number, contact_number,
                hash(line_number, contact_number) AS pair_key,
                created_at, direction, agent_id, status, source_conversation_id, channel,
                coalesce(body, '') AS text,
                -- CASE keeps each regex to the rows it concerns (outbound or inbound only)
                CASE WHEN direction = 'outbound' THEN is_automated OR line_number IN ({automation_lines})
                    OR regexp_matches(coalesce(body, ''), $auto_re, 'i') ELSE false END AS automated,
                CASE WHEN direction = 'inbound' AND length(coalesce(body, '')) <= {longest_opt_out}
                    THEN upper(regexp_replace(coalesce(body, ''), $strip_re, '', 'g')) IN ({opt_outs})
                    ELSE false END AS is_opt_out,
                timezone($tz, created_at) AS created_local
            FROM rb_base)
        """,
        {
            **{k: params[k] for k in ("auto_re", "tz", "csat_re", "nps_re")},
            "strip_re": STRIP_PUNCT_SQL_REGEX,
        },
    )
    con.execute("ALTER TABLE rb_k DROP COLUMN text")
    # Step 2: within each line/contact pair, in time order (one integer-keyed ordering shared by the windows):
    # the last survey prompt and the previous inbound (survey answers), then kind; conversations, where a gap
    # over session_gap_hours starts a new one except that an outbound text to a customer still waiting
    # (Friday evening's text answered on Monday, or a reminder sent before that answer) continues it; then
    # the human replies before each message in its conversation (inquiry blocks).
    failed = _sql_list(list(FAILED_STATUSES))
    con.execute(
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
                last_value(CASE WHEN direction = 'inbound' THEN created_at END IGNORE NULLS) OVER before
                    AS prev_inbound_at,
                coalesce(source_conversation_id,
                         last_value(source_conversation_id IGNORE NULLS) OVER before,
                         first_value(source_conversation_id IGNORE NULLS) OVER after) AS src_conv
            FROM rb_k
            WINDOW pair AS (PARTITION BY pair_key ORDER BY created_at, message_id),
                   before AS (PARTITION BY pair_key ORDER BY created_at, message_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   after AS (PARTITION BY pair_key ORDER BY created_at, message_id
                             ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
        ), k AS (
            SELECT *,
                CASE
                    WHEN direction = 'inbound' AND prompt_at IS NOT NULL
                         AND (prev_inbound_at IS NULL OR prev_inbound_at < prompt_at)
                         AND epoch(created_at) - epoch(prompt_at) <= {window_seconds} THEN 'survey_answer'
                    WHEN direction = 'inbound' AND is_opt_out THEN 'opt_out'
                    WHEN direction = 'inbound' THEN 'inquiry'
                    WHEN prompt_survey IS NOT NULL THEN 'survey_prompt'
                    WHEN automated THEN 'automated'
                    WHEN status IN ({failed}) THEN 'failed_reply'
                    ELSE 'human_reply'
                END AS kind
            FROM w
        ), waiting AS (
            SELECT *,
                coalesce(last_value(CASE WHEN kind = 'inquiry' THEN created_at END IGNORE NULLS) OVER before
                         > coalesce(last_value(CASE WHEN kind = 'human_reply' THEN created_at END IGNORE NULLS)
                                    OVER before, TIMESTAMPTZ '1970-01-01 00:00:00+00'), false) AS waiting,
                last_value(CASE WHEN kind = 'human_reply' THEN agent_id END IGNORE NULLS) OVER before
                    AS last_human_agent
            FROM k
            WINDOW before AS (PARTITION BY pair_key ORDER BY created_at, message_id
                              ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        ), sessions AS (
            SELECT *,
                -- the latest session start so far: the time of the last message that opened a session
                max(CASE WHEN gap IS NULL OR (gap > {gap_seconds} AND NOT (direction = 'outbound' AND waiting))
                         THEN created_at END) OVER (PARTITION BY pair_key ORDER BY created_at, message_id
                                                    ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session_start
            FROM waiting
        )
        SELECT * EXCLUDE (session_start),
            -- a session's id from its pair and start (hash, not a formatted timestamp: cheaper per row)
            coalesce('s:' || src_conv, 'c_' || lpad(to_hex(hash(pair_key, epoch_us(session_start))), 16, '0'))
                AS conversation_id,
            coalesce(sum(CASE WHEN kind = 'human_reply' THEN 1 ELSE 0 END) OVER (
                PARTITION BY pair_key, CASE WHEN src_conv IS NULL THEN session_start END, src_conv
                ORDER BY created_at, message_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS human_before
        FROM sessions
        """
    )
    _publish_messages(con)
    checkpoint("after_derive_messages")
    _conversations(con)
    _blocks(con, settings)
    _message_surveys(con, settings)
    _contacts(con)


def _publish_messages(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        DELETE FROM messages
        WHERE (line_number, contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs);
        INSERT INTO messages BY NAME
        SELECT b.message_id, b.source, b.created_at, b.direction, b.line_number, b.contact_number, b.agent_id,
               b.is_automated, b.body, b.channel, b.source_conversation_id, b.status, b.content_hash, b.run_id,
               d.conversation_id, d.kind,
               CASE WHEN d.kind = 'survey_prompt' THEN d.prompt_survey
                    WHEN d.kind = 'survey_answer' THEN d.prompt_kind END AS survey,
               d.is_opt_out, d.created_local, b.sensitive  -- found at load, before the body was redacted
        FROM rb_d d JOIN rb_base b ON b.rowid = d.rid;
        """
    )


def _conversations(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        DELETE FROM conversations
        WHERE (line_number, contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs);
        INSERT INTO conversations BY NAME
        SELECT conversation_id, any_value(line_number) AS line_number, any_value(contact_number) AS contact_number,
               mode(channel) AS channel, min(created_at) AS started_at, max(created_at) AS ended_at,
               min(created_local) AS started_local, count(*) AS messages,
               count(*) FILTER (WHERE direction = 'inbound') AS inbound,
               count(*) FILTER (WHERE kind = 'human_reply') AS human_replies,
               arg_min(agent_id, created_at) FILTER (WHERE kind = 'human_reply') AS first_agent_id
        FROM rb_d GROUP BY conversation_id;
        """
    )


def _blocks(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE rb_blocks AS
        WITH b AS (
            SELECT conversation_id, human_before,
                   any_value(line_number) AS line_number, any_value(contact_number) AS contact_number,
                   any_value(channel) AS channel, min(created_at) AS started_at, min(created_local) AS started_local,
                   count(*) AS inquiries
            FROM rb_d WHERE kind = 'inquiry' GROUP BY conversation_id, human_before
        ), r AS (
            SELECT conversation_id, human_before + 1 AS ordinal, message_id, created_at, agent_id
            FROM rb_d WHERE kind = 'human_reply'
        )
        SELECT 'b_' || left(md5(b.conversation_id || '|' || b.human_before), 16) AS block_id,
               b.conversation_id, b.line_number, b.contact_number, b.channel,
               CAST(dense_rank() OVER (PARTITION BY b.conversation_id ORDER BY b.human_before) AS INTEGER)
                   AS block_seq,
               b.human_before > 0 AS is_follow_up, b.started_at, b.started_local, b.inquiries,
               r.message_id AS reply_message_id, r.created_at AS replied_at, r.agent_id AS reply_agent_id,
               epoch(r.created_at) - epoch(b.started_at) AS calendar_seconds
        FROM b LEFT JOIN r ON r.conversation_id = b.conversation_id AND r.ordinal = b.human_before + 1
        """
    )
    first, last = one(con, "SELECT min(started_at), max(coalesce(replied_at, started_at)) FROM rb_blocks")
    register_calendar_around(con, settings, first, last, table="rb_calendar", temporary=True)
    # replyboard.business_time's own SQL (the tests check it against the Python reference): business seconds
    # to the first human reply, whether the block started in opening hours, its same-business-day deadline
    timed = business_seconds_query(
        "rb_blocks", "started_at", "replied_at", "rb_calendar", "business_seconds", in_hours_alias="started_in_hours"
    )
    con.execute(
        f"""
        DELETE FROM inquiry_blocks
        WHERE (line_number, contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs);
        INSERT INTO inquiry_blocks BY NAME
        {deadline_query(f"({timed})", "started_at", "rb_calendar", "deadline_at")}
        """
    )


def _message_surveys(con: duckdb.DuckDBPyConnection, settings: Settings) -> None:
    answers = frame(
        con,
        """
        SELECT d.message_id AS response_id, d.created_at AS received_at, d.created_local AS received_local,
               d.contact_number, d.line_number, d.channel, d.prompt_kind AS survey, b.body AS reply_text,
               d.conversation_id, d.last_human_agent AS agent_id, d.prompt_id AS prompt_message_id, b.run_id,
               b.content_hash
        FROM rb_d d JOIN rb_base b ON b.rowid = d.rid WHERE d.kind = 'survey_answer'
        """,
    )
    temp_table(con, "rb_scored", score_replies(answers, settings))
    con.execute(
        """
        DELETE FROM survey_responses WHERE origin = 'message'
          AND (line_number, contact_number) IN (SELECT (line_number, contact_number) FROM rb_pairs);
        INSERT INTO survey_responses BY NAME SELECT 'message' AS origin, * FROM rb_scored;
        """
    )


def score_replies(frame: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """Add score and parse_status, each survey on its own scale (CSAT from settings, NPS 0-10)."""
    parts = []
    for survey, (lo, hi) in {"csat": (settings.csat.min, settings.csat.max), "nps": (0, 10)}.items():
        part = frame.filter(pl.col("survey") == survey)
        parts.append(parse_scores_frame(part, "reply_text", lo, hi, settings.opt_out_keywords))
    out = pl.concat(parts, how="vertical_relaxed") if parts else frame
    return out.with_columns(pl.col("score").cast(pl.Int32))


def link_file_surveys(con: duckdb.DuckDBPyConnection, settings: Settings, contacts: str | None = None) -> None:
    """Score file-origin survey replies and link each to the conversation and agent it rates.

    contacts: a table of contact_number whose replies to (re)link, those a load touched; None for all.
    """
    scope = f"AND contact_number IN (SELECT contact_number FROM {contacts})" if contacts else ""
    stored = frame(con, f"SELECT * EXCLUDE (score, parse_status) FROM survey_responses WHERE origin = 'file' {scope}")
    if stored.is_empty():
        return
    scored = score_replies(stored, settings).with_columns(
        pl.col("received_at").dt.convert_time_zone(settings.timezone).dt.replace_time_zone(None).alias("received_local")
    )
    temp_table(con, "rb_file_scored", scored)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_fs AS
        WITH hr AS (
            SELECT contact_number, created_at, conversation_id, agent_id
            FROM messages WHERE kind = 'human_reply' {scope}
        )
        SELECT s.* EXCLUDE (conversation_id, agent_id), hr.conversation_id, hr.agent_id
        FROM rb_file_scored s ASOF LEFT JOIN hr
          ON s.contact_number = hr.contact_number AND s.received_at >= hr.created_at;
        DELETE FROM survey_responses WHERE origin = 'file' {scope};
        INSERT INTO survey_responses BY NAME SELECT * FROM rb_fs;
        """
    )


def _contacts(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        DELETE FROM contacts WHERE contact_number IN (SELECT contact_number FROM rb_pairs);
        INSERT INTO contacts BY NAME
        SELECT contact_number, min(started_at) AS first_seen_at, max(ended_at) AS last_seen_at,
               count(*) AS conversations
        FROM conversations WHERE contact_number IN (SELECT contact_number FROM rb_pairs)
        GROUP BY contact_number;
        """
    )
