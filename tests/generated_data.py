"""Warehouses the dashboard must hold up on, generated at test time (nothing committed): a few days of data ending
now, and a team of 160 agents in 8 teams.

Both start from sample_data.generate (deterministic per seed). The large team re-assigns each conversation's
replies to one of 160 agents (a conversation keeps one agent, so reply and survey attribution stay coherent),
with an agents file naming them, so the Agents page sees a team of that size.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from etl.load import run_load
from replyboard.settings import load_settings
from sample_data.generate import main as generate

MANY_AGENTS = 160
MANY_TEAMS = 8


def recent_days(out: Path, days: int, *, messages: int | None = None, seed: int = 3) -> list[Path]:
    """The canonical CSVs of ``days`` days of texts ending today (team timezone): the newest message is hours
    old, so the data is not stale."""
    settings = load_settings()
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    start = today - timedelta(days=days - 1)
    return _generate(out, messages or 150 * days, seed, start, days)


def many_agents(out: Path, *, agents: int = MANY_AGENTS, teams: int = MANY_TEAMS, seed: int = 5) -> list[Path]:
    """Two weeks of texts answered by ``agents`` agents in ``teams`` teams."""
    files = _generate(out, 6000, seed, date(2026, 9, 7), 14)
    messages = out / "messages.csv"
    frame = pl.read_csv(messages, infer_schema=False)
    # one new agent per (original agent, contact, line): a customer's replies stay with one agent
    key = pl.concat_str("agent_id", "contact_number", "line_number")
    frame = frame.with_columns(
        pl.when(pl.col("agent_id").is_not_null() & (pl.col("agent_id") != ""))
        .then(key.map_elements(lambda k: f"ag_{_bucket(k, agents):03d}", return_dtype=pl.String))
        .otherwise(pl.col("agent_id"))
        .alias("agent_id")
    )
    frame.write_csv(messages)
    people = pl.DataFrame(
        {
            "agent_id": [f"ag_{i:03d}" for i in range(agents)],
            "name": [f"Agent {i:03d}" for i in range(agents)],
            "team": [f"Team {i % teams + 1}" for i in range(agents)],
        }
    )
    people.write_csv(out / "agents.csv")
    return files


def load(db: Path, files: list[Path]) -> Path:
    run_load(db, files, load_settings())
    return db


def _bucket(text: str, n: int) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big") % n


def _generate(out: Path, messages: int, seed: int, start: date, days: int) -> list[Path]:
    args = ["--messages", str(messages), "--seed", str(seed), "--out", str(out)]
    assert generate([*args, "--start", start.isoformat(), "--days", str(days)]) in (0, None)
    return sorted(out.glob("*.csv"))
