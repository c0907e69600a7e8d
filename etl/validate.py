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
from replyboard.phones import normalize_many
from replyboard.settings import Settings
from replyboard.warehouse import one, temp_table

# Instants outside this range are typos or epoch-zero defaults, not messages.
PLAUSIBLE_FROM = data_range.FIRST_DAY.isoformat()
PLAUSIBLE_TO = data_range.END.isoformat()
_OFFSET_RE = r"([Zz]|[+-]\d{2}(:?\d{2})?)$"
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


def _ts_rule(col: str, label: str) -> str:
    """Rules for an ISO 8601 column; `rb_ts` is its TRY_CAST, computed once per row by _with_ts()."""
    val = f'trim("{col}")'
    return f"""
        WHEN "{col}" IS NULL OR {val} = '' THEN 'missing {label}'
        WHEN NOT regexp_matches({val}, '{_OFFSET_RE}')
            THEN '{label} ' || {_quote(val)} || ' has no UTC offset (write ISO 8601 with Z or +hh:mm)'
        WHEN s.rb_ts IS NULL
            THEN '{label} ' || {_quote(val)} || ' is not an ISO 8601 timestamp'
        WHEN s.rb_ts < TIMESTAMPTZ '{PLAUSIBLE_FROM} 00:00:00+00' OR s.rb_ts >= TIMESTAMPTZ '{PLAUSIBLE_TO} 00:00:00+00'
            THEN '{label} ' || {_quote(val)} || ' is outside {PLAUSIBLE_FROM[:4]}-{PLAUSIBLE_TO[:4]}'"""


def _with_ts(stage: str, col: str) -> str:
    return f'(SELECT *, TRY_CAST(trim("{col}") AS TIMESTAMPTZ) AS rb_ts FROM {stage})'


def _last_per_id(con: duckdb.DuckDBPyConnection, id_column: str) -> str:
    """A QUALIFY keeping the last row per id, only when the file repeats ids (the check is cheaper)."""
    (repeats,) = one(con, f"SELECT count(*) > count(DISTINCT trim({id_column})) FROM rb_checked WHERE reason IS NULL")
    return (
        f"QUALIFY row_number() OVER (PARTITION BY trim({id_column}) ORDER BY source_line DESC) = 1" if repeats else ""
    )


def _number_rule(alias: str, col: str, required: bool) -> str:
    missing = f"WHEN \"{col}\" IS NULL OR trim(\"{col}\") = '' THEN 'missing {col}'" if required else ""
    return f"""
        {missing}
        WHEN "{col}" IS NOT NULL AND trim("{col}") <> '' AND {alias}.normalized IS NULL
            THEN '{col}: ' || coalesce({alias}.error, 'not a phone number')"""


def _number_value(alias: str, col: str) -> str:
    return f"""CASE WHEN "{col}" IS NULL OR trim("{col}") = '' THEN NULL ELSE {alias}.normalized END"""


def validate_messages(
    con: duckdb.DuckDBPyConnection, stage: str, settings: Settings, source: str, out: str
) -> list[Reject]:
    """Typed, normalised rows of `stage` into temp table `out`; the rest returned as rejects."""
    redact_stage(con, stage, "body")  # before anything reads or hashes the body
    _register_numbers(con, stage, ["line_number", "contact_number"], settings)
    true_list = ", ".join(f"'{v}'" for v in _TRUE)
    false_list = ", ".join(f"'{v}'" for v in _FALSE)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_checked AS
        SELECT s.*,
            CASE
                WHEN s.message_id IS NULL OR trim(s.message_id) = '' THEN 'missing message_id'
                {_ts_rule("created_at", "created_at")}
                WHEN s.direction IS NULL OR lower(trim(s.direction)) NOT IN ('inbound', 'outbound')
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
        FROM {_with_ts(stage, "created_at")} s
        LEFT JOIN rb_numbers ln ON ln.raw = s.line_number
        LEFT JOIN rb_numbers cn ON cn.raw = s.contact_number
        """
    )
    rejects = _collect_rejects(con, stage)
    # Within one file the last row for an id wins (a later status update); earlier ones are duplicates.
    keep_last = _last_per_id(con, "message_id")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT
            trim(message_id) AS message_id,
            ? AS source,
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
            sensitive,
            source_line
        FROM rb_checked
        WHERE reason IS NULL
        {keep_last}
        """,
        [source],
    )
    return rejects


def validate_surveys(con: duckdb.DuckDBPyConnection, stage: str, settings: Settings, out: str) -> list[Reject]:
    redact_stage(con, stage, "reply_text")  # before the content hash is taken
    _register_numbers(con, stage, ["line_number", "contact_number"], settings)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE rb_checked AS
        SELECT s.*,
            CASE
                WHEN s.response_id IS NULL OR trim(s.response_id) = '' THEN 'missing response_id'
                {_ts_rule("received_at", "received_at")}
                WHEN s.survey IS NULL OR lower(trim(s.survey)) NOT IN ('csat', 'nps')
                    THEN 'survey ' || {_quote("s.survey")} || ' is not csat or nps'
                {_number_rule("cn", "contact_number", True)}
                {_number_rule("ln", "line_number", False)}
            END AS reason,
            {_number_value("ln", "line_number")} AS line_e164,
            {_number_value("cn", "contact_number")} AS contact_e164,
            coalesce(CASE WHEN cn.channel <> 'sms' THEN cn.channel END, 'sms') AS channel_norm
        FROM {_with_ts(stage, "received_at")} s
        LEFT JOIN rb_numbers ln ON ln.raw = s.line_number
        LEFT JOIN rb_numbers cn ON cn.raw = s.contact_number
        """
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
        select = f"{_number_value('ln', 'line_number')} AS line_number, nullif(trim(name), '') AS name"
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
