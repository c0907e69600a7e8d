"""The sample texts, apart from the generator: sample_data/corpora.yaml (what customers, agents and the team's
automation write, by kind of message) and sample_data/bodies.txt (everyday chatter, from a public corpus).

``load()`` reads and checks them once: a missing or misspelt key, a list that must not be empty, or a survey
number-word list that does not cover 0-10 is an error naming the file and the key, never a wrong sample.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

CORPORA_FILE = Path(__file__).with_name("corpora.yaml")
BODIES_FILE = Path(__file__).with_name("bodies.txt")

TextList = list[str]
NonEmpty = Annotated[TextList, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Automated(_Strict):
    auto_reply: str
    csat_prompt: str
    nps_prompt: str
    opt_out_confirmation: str


class Fill(_Strict):
    """Values of the {placeholders} in the templates."""

    day: TextList = Field(min_length=5)  # {weekday} is one of the first five
    time: NonEmpty
    place: NonEmpty
    airport: NonEmpty
    item: NonEmpty
    code: NonEmpty
    name: NonEmpty


class Survey(_Strict):
    number_words: TextList = Field(min_length=11, max_length=11)  # zero .. ten
    high: NonEmpty
    mid: NonEmpty
    low: NonEmpty
    unsure: NonEmpty
    remarks: NonEmpty
    web_comments: NonEmpty


class Corpora(_Strict):
    automated: Automated
    fill: Fill
    open: dict[str, TextList]  # by line name
    burst: NonEmpty
    follow: NonEmpty
    closing: NonEmpty
    agent_first: NonEmpty
    agent_follow: NonEmpty
    agent_closing: NonEmpty
    reminder: dict[str, TextList]  # by line name; an empty list: that line sends no reminders
    confirm: NonEmpty
    question: NonEmpty
    ack: NonEmpty
    stop: NonEmpty
    nudge: NonEmpty
    card: NonEmpty
    ssn: NonEmpty
    agent_ask: NonEmpty
    survey: Survey
    ham: TextList = Field(default_factory=list)  # bodies.txt

    def by_line(self, texts: dict[str, TextList], field: str, lines: list[str]) -> list[TextList]:
        """texts (open or reminder) in the order of the generator's lines; every line must be there."""
        missing = [name for name in lines if name not in texts]
        if missing:
            raise ValueError(f"{CORPORA_FILE}: {field} has no texts for line {', '.join(map(repr, missing))}")
        return [texts[name] for name in lines]


@functools.lru_cache(maxsize=4)
def load(path: Path = CORPORA_FILE, bodies: Path = BODIES_FILE) -> Corpora:
    """The corpora (ValueError naming the file and what is wrong with it)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        corpora = Corpora.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read the sample texts ({exc})") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {problems}") from None
    ham = [ln for ln in bodies.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    return corpora.model_copy(update={"ham": ham})
