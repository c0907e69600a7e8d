"""The warehouse contract, in one place: the values stored in its coded columns, and each table's key and
how loads write it.

ETL writes these values and the metric layer reads them; both take them from here and bind them into SQL as
parameters, so a kind or status is spelled once. The tables' keys are primary keys in the DDL (migration 005);
tests/test_contract.py checks the declarations below against the warehouse's own catalog.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class MessageKind(StrEnum):
    """messages.kind: what a message is, derived at load (README, "Metric definitions")."""

    INQUIRY = "inquiry"
    HUMAN_REPLY = "human_reply"
    FAILED_REPLY = "failed_reply"
    AUTOMATED = "automated"
    SURVEY_PROMPT = "survey_prompt"
    SURVEY_ANSWER = "survey_answer"
    OPT_OUT = "opt_out"


class SurveyType(StrEnum):
    CSAT = "csat"
    NPS = "nps"


class ParseStatus(StrEnum):
    """survey_responses.parse_status: how a survey reply's free text parsed."""

    VALID = "valid"
    OUT_OF_RANGE = "out_of_range"
    AMBIGUOUS = "ambiguous"
    NOT_A_NUMBER = "not_a_number"
    OPT_OUT = "opt_out"
    EMPTY = "empty"


class SurveyOrigin(StrEnum):
    """survey_responses.origin: a surveys file, or a reply texted after a survey prompt."""

    FILE = "file"
    MESSAGE = "message"


# ---- codes bound into SQL ---------------------------------------------------------------------------------
# A query names a code as a parameter, $kind_human_reply, $status_valid, $direction_inbound, $survey_csat,
# $origin_file (the metric layer's compiler uses the same names), and codes_in(sql) gives the values of
# those it uses: no kind or status is spelled as a literal in SQL.
_CODES: dict[str, type[StrEnum]] = {
    "kind": MessageKind,
    "status": ParseStatus,
    "direction": Direction,
    "survey": SurveyType,
    "origin": SurveyOrigin,
}
_CODE_RE = re.compile(r"\$(" + "|".join(_CODES) + r")_([a-z_]+)\b")


def code_param(member: StrEnum) -> str:
    """The parameter name of one code: MessageKind.HUMAN_REPLY -> 'kind_human_reply'."""
    prefix = next(p for p, enum in _CODES.items() if isinstance(member, enum))
    return f"{prefix}_{member.value}"


def codes_in(sql: str) -> dict[str, str]:
    """Bindings for the code parameters a statement uses (DuckDB refuses parameters a statement lacks).

    A name under a code prefix that is no code ($survey_cutoff, a metric's own parameter, or a typo such as
    $kind_humanreply) is left to the caller: DuckDB refuses a statement with a parameter left unbound."""
    return {f"{prefix}_{value}": value for prefix, value in _CODE_RE.findall(sql) if value in _VALUES[prefix]}


_VALUES = {prefix: frozenset(m.value for m in enum) for prefix, enum in _CODES.items()}


# ---- tables: each one's key and how loads write it ---------------------------------------------------------


class Disposition(StrEnum):
    """How a load writes a table's rows (the dlt vocabulary)."""

    APPEND = "append"  # rows are only added (the load's records)
    MERGE = "merge on key"  # a row with a stored key replaces or updates it; new keys are added
    REPLACE = "replace"  # the table (or the rows it names) is written whole each time
    REDERIVE = "re-derive per line and contact"  # rebuilt from messages for each line/contact pair a load touches


@dataclass(frozen=True)
class Write:
    disposition: Disposition
    rows: str  # which rows or columns this write concerns
    by: str  # the module that writes them


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]  # the primary key in the DDL (tests/test_contract.py checks it); () for an append log
    writes: tuple[Write, ...]
    read_by: str  # who reads it: a table nothing reads has no place here

    @property
    def derived(self) -> bool:
        """Holds facts derived at load: equal for every load history with the same files and settings."""
        return any(w.disposition is Disposition.REDERIVE for w in self.writes)


_LOAD = "etl.load"
_MERGE = "etl.merge"
_DERIVE = "etl.derive"
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "messages",
            ("message_id",),
            (
                Write(Disposition.MERGE, "source columns, compared by content_hash", _MERGE),
                Write(Disposition.REDERIVE, "conversation_id, kind, survey, is_opt_out, created_local", _DERIVE),
            ),
            "metrics (every message metric, rows, the conversation viewer)",
        ),
        Table(
            "conversations",
            ("conversation_id",),
            (Write(Disposition.REDERIVE, "all", _DERIVE),),
            "metrics (conversations, repeat customers, the viewer)",
        ),
        Table(
            "inquiry_blocks",
            ("block_id",),
            (Write(Disposition.REDERIVE, "all", _DERIVE),),
            "metrics (reply times, response rates, unanswered inquiries)",
        ),
        Table(
            "survey_responses",
            ("response_id", "origin"),
            (
                Write(Disposition.MERGE, "origin = 'file': a surveys file's rows, by response_id", _MERGE),
                Write(Disposition.REDERIVE, "origin = 'message': replies texted after a survey prompt", _DERIVE),
                Write(Disposition.REDERIVE, "score, parse_status, conversation_id, agent_id of every row", _DERIVE),
            ),
            "metrics (CSAT, NPS, survey counts, testimonials)",
        ),
        Table("agents", ("agent_id",), (Write(Disposition.MERGE, "all", _MERGE),), "metrics (names, teams)"),
        Table("lines", ("line_number",), (Write(Disposition.MERGE, "all", _MERGE),), "metrics (line names)"),
        Table("calls", ("call_id",), (Write(Disposition.MERGE, "all", _LOAD),), "metrics (calls)"),
        Table(
            "meta",
            ("key",),
            (Write(Disposition.REPLACE, "the settings the facts were derived and files read with", _LOAD),),
            "metrics.query (the derivation settings), etl.load (what changed since the last load)",
        ),
        Table("etl_runs", ("run_id",), (Write(Disposition.APPEND, "one row per load", _LOAD),), "metrics.health"),
        Table(
            "etl_files",
            (),  # one load can name a file twice (each is read; the second finds duplicates)
            (Write(Disposition.APPEND, "one row per file of a load", _LOAD),),
            "metrics.health",
        ),
        Table(
            "rejected_rows",
            (),  # a file can reject the same line twice (two reasons) and the same file can load twice
            (Write(Disposition.APPEND, "every rejected row with its reason", _LOAD),),
            "metrics.health",
        ),
        Table(
            "sync_state",
            ("source", "account"),
            (Write(Disposition.MERGE, "one row per source and account", "etl.sync.state"),),
            "etl.sync.state (where the next run starts)",
        ),
        Table(
            "sync_conversations",
            ("source", "conversation_id"),
            (Write(Disposition.MERGE, "the newest copy of each conversation object", "etl.sync.state"),),
            "the ownership work (issue 13)",
        ),
        Table(
            "schema_migrations",
            ("version",),
            (Write(Disposition.APPEND, "one row per applied migration", "replyboard.warehouse"),),
            "replyboard.warehouse (what is pending)",
        ),
    )
}
