"""What a vendor fetcher hands back to the sync run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from replyboard.settings import LineSetting


@dataclass
class Fetched:
    files: list[Path] = field(default_factory=list)  # message pages to load, in fetch order
    high_water: datetime | None = None  # newest change seen
    cursor: str | None = None
    lines: list[LineSetting] = field(default_factory=list)  # from the API; settings.lines win over them
    agent_names: dict[str, str] = field(default_factory=dict)
    conversations: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def newest(current: datetime | None, *candidates: datetime | None) -> datetime | None:
    for c in candidates:
        if c is not None and (current is None or c > current):
            current = c
    return current


def iso_z(moment: datetime) -> str:
    """2026-09-01T12:00:00Z (UTC, whole seconds): what both APIs take in their date filters."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
