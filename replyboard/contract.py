"""The warehouse contract: the values stored in its coded columns, in one place.

ETL writes these values and the metric layer reads them; both take them from here and bind them into SQL as
parameters, so a kind or status is spelled once.
"""

from __future__ import annotations

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
