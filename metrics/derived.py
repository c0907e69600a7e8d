"""The settings a warehouse's facts were derived with, as the warehouse records them (meta.derivation_key).

Below every other read-layer module (it needs only the warehouse), so any of them can ask which business
hours, survey window or scales the facts were derived with without importing the query runner.
"""

from __future__ import annotations

import functools

import duckdb
from pydantic import ValidationError

from replyboard.settings import DerivationSettings, Settings
from replyboard.warehouse import one


def derived_settings(con: duckdb.DuckDBPyConnection) -> DerivationSettings:
    """The settings the warehouse's facts were derived with (business hours, survey window), else defaults."""
    try:
        row = one(con, "SELECT value FROM meta WHERE key = 'derivation_key'")
    except duckdb.Error:  # no meta table
        return Settings().derivation
    return settings_from_key(row[0] if row else None)


@functools.lru_cache(maxsize=8)
def settings_from_key(key: str | None) -> DerivationSettings:
    if not key:
        return Settings().derivation
    try:
        return DerivationSettings.model_validate_json(key)
    except ValidationError:
        pass
    try:  # the key of a warehouse an older version derived (a subset of settings.yaml's keys)
        return Settings.model_validate_json(key).derivation
    except ValidationError:
        return Settings().derivation
