"""One validation for every source: a stage table of text columns in, typed valid rows and reasons out.

Each rule is a SQL CASE branch, so a reader can see every reason a row can be rejected in one place;
the first failing rule is the reason recorded.
"""

from __future__ import annotations

import duckdb
import polars as pl

from etl.redact import SENSITIVE_COLUMN, redact_stage
from etl.sources.base import Reject
from replyboard import data_range
from replyboard.phones import GROUP_SEPARATOR, normalize_many
from replyboard.settings import Settings
from replyboard.warehouse import one_row, run, sql_string, temp_table

# Instants outside this range are typos or epoch-zero defaults, not messages.
PLAUSIBLE_FROM = data_range.FIRST_DAY.isoformat()
PLAUSIBLE_TO = data_range.END.isoformat()
# A time of day, and a UTC offset right after one ("...14:23:05Z", "... 14:23+01:00"); a date alone has neither.
_TIME_RE = r"\d{1,2}:\d{2}"
OFFSET_RE = r"\d{1,2}:\d{2}(:\d{2}([.,]\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$"
_TRUE = ("true", "t", "1", "yes", "y")
_FALSE = ("false", "f", "0", "no", "n", "")


def _register_numbers(con: duckdb.DuckDBPyConnection, stage: str, columns: list[str], settings: Settings) -> None:
    """Map every distinct raw number through the phone normaliser (E.164 input takes its fast path), so rows
    need only a join, never a per-row regex."""
    union = " UNION ".join(f'SELECT DISTINCT "{c}" AS raw FROM {stage}' for c in columns)
    raws = [r[0] for r in con.execute(f"SELECT raw FROM ({union}) WHERE raw IS NOT NULL").fetchall()]
    mapped = normalize_many(raws, settings.default_region)
    numbers = pl.DataFrame(
        {
            "raw": raws,
            "normalized": [mapped[r][0] for r in raws],
            "channel": [mapped[r][1] for r in raws],
            "error": [mapped[r][2] for r in raws],
        },
        schema={"raw": pl.String, "normalized": pl.String, "channel": pl.String, "error": pl.String},
    )
    temp_table(con, "rb_numbers", numbers)


def _quote(expr: str) -> str:
    # Show a value inside a reason, shortened, with quotes escaped for SQL string building in CASE.
    return f"'''' || left(coalesce({expr}, ''), 60) || ''''"


def _ts_rule(col: str, label: str, zone: str) -> str:
    """Rules for an ISO 8601 column; the instant `rb_ts` and its flags are computed once per row by _with_ts().
    A time without an offset is local time in `zone` (see local_instant_sql)."""
    val = f'trim("{col}")'
    shown = _quote(val)
    return f"""
        WHEN "{col}" IS NULL OR {val} = '' THEN 'missing {label}'
        WHEN NOT regexp_matches({val}, '{_TIME_RE}') AND TRY_CAST({val} AS DATE) IS NOT NULL
            THEN '{label} ' || {shown} || ' has no time of day (write the date and the time, e.g. 2026-03-08T09:30:00)'
        WHEN NOT regexp_matches({val}, '{_TIME_RE}')
            OR (s.rb_naive AND s.rb_local IS NULL) OR (NOT s.rb_naive AND s.rb_ts IS NULL)
            THEN '{label} ' || {shown} || ' is not an ISO 8601 timestamp'
        WHEN s.rb_naive AND s.rb_ts IS NULL
            THEN '{label} ' || {shown} || ' has no UTC offset and does not exist in {_sql_text(zone)}: the clocks '
                 || 'skipped that time (daylight saving time began); write it with its offset, e.g. +01:00'
        WHEN s.rb_ts < TIMESTAMPTZ '{PLAUSIBLE_FROM} 00:00:00+00' OR s.rb_ts >= TIMESTAMPTZ '{PLAUSIBLE_TO} 00:00:00+00'
            THEN '{label} ' || {shown} || ' is outside {PLAUSIBLE_FROM[:4]}-{PLAUSIBLE_TO[:4]}'"""


def _sql_text(text: str) -> str:
    """A validated name (an IANA zone) inside a SQL string literal."""
    return text.replace("'", "''")


def local_instant_sql(local: str, zone: str) -> tuple[str, str]:
    """(the instant, whether it was ambiguous) of a local TIMESTAMP expression `local` (a column: it is read
    many times) in IANA zone `zone`, DST-correct, for every source alike:

    * the candidate instants are the local time less the UTC offset in force a day before and a day after (a
      zone changes its offset at most once in two days); a candidate counts when it reads back as the same
      local time;
    * none counts: the local time does not exist (the clocks skipped it when daylight saving time began):
      the instant is NULL and the row is rejected;
    * two count: the local time happened twice (the clocks went back): the first occurrence, the earlier
      instant, is taken and the row is counted as ambiguous.
    """
    z = _sql_text(zone)

    def candidate(shift: str) -> str:
        near = f"({local} {shift} INTERVAL 1 DAY)"
        return f"timezone('UTC', {local} - (timezone('{z}', timezone('UTC', {near})) - {near}))"

    before, after = candidate("-"), candidate("+")
    ok_before, ok_after = f"timezone('{z}', {before}) = {local}", f"timezone('{z}', {after}) = {local}"
    instant = (
        f"CASE WHEN {ok_before} AND {ok_after} THEN least({before}, {after}) "
        f"WHEN {ok_before} THEN {before} WHEN {ok_after} THEN {after} END"
    )
    ambiguous = f"coalesce({ok_before} AND {ok_after} AND {before} <> {after}, false)"
    return instant, ambiguous


def _with_ts(stage: str, col: str, zone: str) -> str:
    """The stage with rb_ts (the row's instant), rb_naive (it had no UTC offset: read in `zone`), rb_local (that
    local time) and rb_ambiguous (it happened twice, the first was taken)."""
    val = f'trim("{col}")'
    instant, ambiguous = local_instant_sql("rb_local", zone)
    return f"""(SELECT *, CASE WHEN rb_naive THEN {instant} ELSE rb_offset_ts END AS rb_ts,
                   rb_naive AND {ambiguous} AS rb_ambiguous
            FROM (SELECT *, CASE WHEN rb_naive THEN TRY_CAST({val} AS TIMESTAMP) END AS rb_local,
                         CASE WHEN NOT rb_naive THEN TRY_CAST({val} AS TIMESTAMPTZ) END AS rb_offset_ts
                  FROM (SELECT *, coalesce(NOT regexp_matches({val}, '{OFFSET_RE}'), false) AS rb_naive
                        FROM {stage})))"""


def local_time_counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Of the rows the last validate_messages / validate_surveys accepted: how many had a time without a UTC
    offset (read in the team's timezone, or the adapter's), and how many of those fell in a fall-back hour
    that happened twice (the first occurrence was taken)."""
    naive, ambiguous = one_row(
        con,
        "SELECT count(*) FILTER (WHERE rb_naive), count(*) FILTER (WHERE rb_ambiguous) FROM rb_checked "
        "WHERE reason IS NULL",
    )
    return int(naive), int(ambiguous)


def _last_per_id(con: duckdb.DuckDBPyConnection, id_column: str) -> str:
    """A QUALIFY keeping the last row per id, only when the file repeats ids (the check is cheaper)."""
    (repeats,) = one_row(
        con, f"SELECT count(*) > count(DISTINCT trim({id_column})) FROM rb_checked WHERE reason IS NULL"
    )
    return (
        f"QUALIFY row_number() OVER (PARTITION BY trim({id_column}) ORDER BY source_line DESC) = 1" if repeats else ""
    )


def _number_rule(alias: str, col: str, required: bool) -> str:
    missing = f"WHEN \"{col}\" IS NULL OR trim(\"{col}\") = '' THEN 'missing {col}'" if required else ""
    # several numbers are a group text's participants: a contact may be one, a line never is
    one_line = (
        f"WHEN contains({alias}.normalized, '{GROUP_SEPARATOR}') THEN '{col}: several numbers; a line is one of "
        "ours (several numbers belong in contact_number: a group text)'"
        if col == "line_number"
        else ""
    )
    return f"""
        {missing}
        WHEN "{col}" IS NOT NULL AND trim("{col}") <> '' AND {alias}.normalized IS NULL
            THEN '{col}: ' || coalesce({alias}.error, 'not a phone number')
        {one_line}"""


def _number_value(alias: str, col: str) -> str:
    return f"""CASE WHEN "{col}" IS NULL OR trim("{col}") = '' THEN NULL ELSE {alias}.normalized END"""


def validate_messages(
    con: duckdb.DuckDBPyConnection,
    stage: str,
    settings: Settings,
    source: str,
    out: str,
    naive_timezone: str | None = None,
    updatable: bool = False,
) -> list[Reject]:
    """Typed, normalised rows of `stage` into `out`; the rest returned as rejects. A time without a UTC offset is
    read in naive_timezone (an adapter's, e.g. a mapping's), else the team's.

    `out` is a view over rb_checked (which already holds every row and its body: a table would be one more
    copy of every body, 3.5 s and ~2 GB at 10M), unless the caller updates it (`updatable`) or the file repeats
    ids (then the last row per id is computed once, not at every read)."""
    zone = naive_timezone or settings.timezone
    redact_stage(con, stage, "body")  # before anything reads or hashes the body
    _register_numbers(con, stage, ["line_number", "contact_number"], settings)
    true_list = ", ".join(f"'{v}'" for v in _TRUE)
    false_list = ", ".join(f"'{v}'" for v in _FALSE)
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE rb_checked AS
        SELECT s.*,
            CASE
                WHEN s.message_id IS NULL OR trim(s.message_id) = '' THEN 'missing message_id'
                {_ts_rule("created_at", "created_at", zone)}
                WHEN s.direction IS NULL OR lower(trim(s.direction)) NOT IN ($direction_inbound, $direction_outbound)
                    THEN 'direction ' || {_quote("s.direction")} || ' is not inbound or outbound'
                WHEN lower(trim(coalesce(s.is_automated, ''))) NOT IN ({true_list}, {false_list})
                    THEN 'is_automated ' || {_quote("s.is_automated")} || ' is not true or false'
                {_number_rule("ln", "line_number", True)}
                {_number_rule("cn", "contact_number", True)}
            END AS reason,
            {_number_value("ln", "line_number")} AS line_e164,
            {_number_value("cn", "contact_number")} AS contact_e164,
            coalesce(nullif(lower(trim(s.channel)), ''),
                     CASE WHEN cn.channel <> 'sms' THEN cn.channel END,
                     CASE WHEN ln.channel <> 'sms' THEN ln.channel END, 'sms') AS channel_norm
        FROM {_with_ts(stage, "created_at", zone)} s
        LEFT JOIN rb_numbers ln ON ln.raw = s.line_number
        LEFT JOIN rb_numbers cn ON cn.raw = s.contact_number
        """,
    )
    rejects = _collect_rejects(con, stage)
    # Within one file the last row for an id wins (a later status update); earlier ones are duplicates.
    keep_last = _last_per_id(con, "message_id")
    kind = "TABLE" if updatable or keep_last else "VIEW"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP {kind} {out} AS
        SELECT
            trim(message_id) AS message_id,
            {sql_string(source)} AS source,  -- a literal: a view keeps no bound parameters
            rb_ts AS created_at,
            lower(trim(direction)) AS direction,
            line_e164 AS line_number,
            contact_e164 AS contact_number,
            nullif(trim(agent_id), '') AS agent_id,
            lower(trim(coalesce(is_automated, ''))) IN ({true_list}) AS is_automated,
            body,
            channel_norm AS channel,
            nullif(trim(conversation_id), '') AS source_conversation_id,
            nullif(lower(trim(status)), '') AS status,
            nullif(trim(assigned_agent_id), '') AS assigned_agent_id,
            sensitive,
            source_line
        FROM rb_checked
        WHERE reason IS NULL
        {keep_last}
        """
    )
    return rejects


def validate_surveys(con: duckdb.DuckDBPyConnection, stage: str, settings: Settings, out: str) -> list[Reject]:
    """Typed survey replies of `stage` into `out`; a time without an offset is in the team's timezone."""
    redact_stage(con, stage, "reply_text")  # before the content hash is taken
    _register_numbers(con, stage, ["line_number", "contact_number"], settings)
    run(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE rb_checked AS
        SELECT s.*,
            CASE
                WHEN s.response_id IS NULL OR trim(s.response_id) = '' THEN 'missing response_id'
                {_ts_rule("received_at", "received_at", settings.timezone)}
                WHEN s.survey IS NULL OR lower(trim(s.survey)) NOT IN ($survey_csat, $survey_nps)
                    THEN 'survey ' || {_quote("s.survey")} || ' is not csat or nps'
                {_number_rule("cn", "contact_number", True)}
                {_number_rule("ln", "line_number", False)}
            END AS reason,
            {_number_value("ln", "line_number")} AS line_e164,
            {_number_value("cn", "contact_number")} AS contact_e164,
            coalesce(CASE WHEN cn.channel <> 'sms' THEN cn.channel END, 'sms') AS channel_norm
        FROM {_with_ts(stage, "received_at", settings.timezone)} s
        LEFT JOIN rb_numbers ln ON ln.raw = s.line_number
        LEFT JOIN rb_numbers cn ON cn.raw = s.contact_number
        """,
    )
    rejects = _collect_rejects(con, stage)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT trim(response_id) AS response_id,
               rb_ts AS received_at,
               contact_e164 AS contact_number, line_e164 AS line_number, channel_norm AS channel,
               lower(trim(survey)) AS survey, reply_text, source_line,
               hash(trim(received_at), contact_e164, line_e164, lower(trim(survey)), reply_text) AS content_hash
        FROM rb_checked WHERE reason IS NULL
        QUALIFY row_number() OVER (PARTITION BY trim(response_id) ORDER BY source_line DESC) = 1
        """
    )
    return rejects


def validate_reference(
    con: duckdb.DuckDBPyConnection, stage: str, kind: str, settings: Settings, out: str
) -> list[Reject]:
    """agents and lines files: an id is required; lines need a number that normalises."""
    if kind == "lines":
        _register_numbers(con, stage, ["line_number"], settings)
        rule = _number_rule("ln", "line_number", True)
        join = "LEFT JOIN rb_numbers ln ON ln.raw = s.line_number"
        select = (
            f"{_number_value('ln', 'line_number')} AS line_number, nullif(trim(name), '') AS name, "
            "nullif(trim(team), '') AS team"
        )
        key = "line_number"
    else:
        rule = "WHEN s.agent_id IS NULL OR trim(s.agent_id) = '' THEN 'missing agent_id'"
        join = ""
        select = "trim(agent_id) AS agent_id, nullif(trim(name), '') AS name, nullif(trim(team), '') AS team"
        key = "agent_id"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE rb_checked AS SELECT s.*, CASE {rule} END AS reason FROM {stage} s {join}"
    )
    rejects = _collect_rejects(con, stage)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT * EXCLUDE (source_line) FROM (
            SELECT {select}, source_line FROM rb_checked s {join} WHERE reason IS NULL)
        QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY source_line DESC) = 1
        """
    )
    return rejects


def _stage_cols(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {stage}").fetchall() if r[0] not in ("source_line", SENSITIVE_COLUMN)]


def raw_text(con: duckdb.DuckDBPyConnection, stage: str, alias: str | None = None) -> str:
    """SQL for a staged row as rejected_rows.raw holds it: its cells joined by commas."""
    prefix = f"{alias}." if alias else ""
    return "concat_ws(',', " + ", ".join(f"coalesce({prefix}\"{c}\", '')" for c in _stage_cols(con, stage)) + ")"


def _collect_rejects(con: duckdb.DuckDBPyConnection, stage: str) -> list[Reject]:
    return [
        Reject(line=line, reason=reason, raw=text)
        for line, reason, text in con.execute(
            f"SELECT source_line, reason, {raw_text(con, stage)} FROM rb_checked "
            "WHERE reason IS NOT NULL ORDER BY source_line"
        ).fetchall()
    ]
