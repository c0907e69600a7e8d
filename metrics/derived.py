"""The settings a warehouse's facts were derived with, as the warehouse records them (meta.derivation_key).

Below every other read-layer module (it needs only the warehouse), so any of them can ask which business
hours, survey window or scales the facts were derived with without importing the query runner.
"""

from __future__ import annotations

import functools

import duckdb
from pydantic import ValidationError

from replyboard.settings import Settings
from replyboard.warehouse import one


def derived_settings(con: duckdb.DuckDBPyConnection) -> Settings:
    """The settings the warehouse's facts were derived with (business hours, survey window), else defaults."""
    try:
        row = one(con, "SELECT value FROM meta WHERE key = 'derivation_key'")
    except duckdb.Error:  # no meta table
        return Settings()
    return settings_from_key(row[0] if row else None)


@functools.lru_cache(maxsize=8)
def settings_from_key(key: str | None) -> Settings:
    try:
        return Settings.model_validate_json(key) if key else Settings()
    except ValidationError:  # a key written by another version
        return Settings()
