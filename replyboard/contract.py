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
    # a person's text whose latest status says it is not sent yet (UNSENT_STATUSES): no reply until a later
    # status (sent, delivered) arrives for the same message, which re-derives it as a human reply
    PENDING_REPLY = "pending_reply"
    AUTOMATED = "automated"
    SURVEY_PROMPT = "survey_prompt"
    SURVEY_ANSWER = "survey_answer"
    OPT_OUT = "opt_out"
    # customer texts that need no reply (replyboard.no_reply): never open an inquiry block, never change one
    CLOSER = "closer"
    REACTION = "reaction"


# Delivery statuses of an outbound text, as the sources write them (lower-cased at load): a message's stored
# status is its latest (etl.merge), so these say what it is now.
UNSENT_STATUSES = ("accepted", "scheduled", "queued", "sending")  # not sent yet: not a reply yet
FAILED_STATUSES = ("failed", "undelivered", "canceled")  # never sent: never a reply


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
    # recomputed for each agent whose human replies a load changed, from the earliest change on (replyboard.reply_gaps)
    REDERIVE_AGENT = "re-derive per agent"


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
    read_by: tuple[str, ...]  # modules that read it (checked: each names the table in a FROM or JOIN)
    kept_for: str = ""  # why a table nothing reads yet stays (the issue that reads it)

    @property
    def derived(self) -> bool:
        """Holds facts derived at load: equal for every load history with the same files and settings."""
        return any(w.disposition is Disposition.REDERIVE for w in self.writes)


_LOAD = "etl.load"
_MERGE = "etl.merge"
_DERIVE = "etl.derive"
_SYNC = "etl.sync.state"
_OWNERSHIP = "etl.ownership"
# owners are re-computed after every load over the whole table, written where they changed (etl.ownership)
_OWNERS = Write(Disposition.MERGE, "owner_agent_id, owner_team: where the owner changed", _OWNERSHIP)
_METRICS = ("metrics.registry",)  # the facts every metric, drill-down and the conversation viewer read
_HEALTH = ("metrics.health",)
TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "messages",
            ("message_id",),
            (
                # etl.merge decides new / changed / duplicate by message_id and content_hash; the rows are
                # written with their pair's re-derivation
                Write(Disposition.MERGE, "source columns, merged on message_id by etl.merge", _DERIVE),
                Write(Disposition.REDERIVE, "conversation_id, kind, survey, is_opt_out, created_local", _DERIVE),
                _OWNERS,
                Write(
                    Disposition.REDERIVE_AGENT,
                    "prev_reply_gap_seconds, and reply_gap_agent_id, reply_gap_at: what each gap was computed for",
                    "replyboard.reply_gaps",
                ),
            ),
            _METRICS,
        ),
        Table(
            "conversations",
            ("conversation_id",),
            (Write(Disposition.REDERIVE, "all but the owners", _DERIVE), _OWNERS),
            (*_METRICS, "metrics.conversation", _OWNERSHIP),
        ),
        Table(
            "inquiry_blocks",
            ("block_id",),
            (Write(Disposition.REDERIVE, "all but the owners", _DERIVE), _OWNERS),
            _METRICS,
        ),
        Table(
            "survey_responses",
            ("response_id", "origin"),
            (
                Write(Disposition.MERGE, "origin = 'file': a surveys file's rows, by response_id", _MERGE),
                Write(Disposition.REDERIVE, "origin = 'message': replies texted after a survey prompt", _DERIVE),
                Write(Disposition.REDERIVE, "score, parse_status, conversation_id, agent_id of every row", _DERIVE),
                _OWNERS,
            ),
            _METRICS,
        ),
        Table("agents", ("agent_id",), (Write(Disposition.MERGE, "all", _MERGE),), ("metrics.reads", _OWNERSHIP)),
        Table("lines", ("line_number",), (Write(Disposition.MERGE, "all", _MERGE),), ("metrics.health", _OWNERSHIP)),
        Table(
            "calls",
            ("call_id",),
            (Write(Disposition.MERGE, "all", _LOAD),),
            (),
            # issue 3 loads calls for a count per line and agent that no metric offers yet; kept, not dropped:
            # they are source data (OpenPhone call events) that no export re-creates
            kept_for="a calls metric (per line and agent, issue 3): not in the registry yet",
        ),
        Table(
            "meta",
            ("key",),
            (Write(Disposition.REPLACE, "the settings the facts were derived and files read with", _LOAD),),
            ("metrics.derived", "etl.load"),
        ),
        Table("etl_runs", ("run_id",), (Write(Disposition.APPEND, "one row per load", _LOAD),), _HEALTH),
        Table(
            "etl_files",
            (),  # one load can name a file twice (each is read; the second finds duplicates)
            (Write(Disposition.APPEND, "one row per file of a load", _LOAD),),
            _HEALTH,
        ),
        Table(
            "rejected_rows",
            (),  # a file can reject the same line twice (two reasons) and the same file can load twice
            (Write(Disposition.APPEND, "every rejected row with its reason", _LOAD),),
            _HEALTH,
        ),
        Table(
            "sync_state",
            ("source", "account"),
            (Write(Disposition.MERGE, "one row per source and account", _SYNC),),
            (_SYNC,),
        ),
        Table(
            "sync_conversations",
            ("source", "conversation_id"),
            (Write(Disposition.MERGE, "the newest copy of each conversation object", _SYNC),),
            (_OWNERSHIP,),  # Quo's assignedTo: the owner of the pair's conversations
        ),
        Table(
            "schema_migrations",
            ("version",),
            (Write(Disposition.APPEND, "one row per applied migration", "replyboard.warehouse"),),
            ("replyboard.warehouse",),
        ),
    )
}
