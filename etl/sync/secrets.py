"""Credentials: from the environment, else from the git-ignored secrets file named in settings.

The file holds KEY=VALUE lines (``#`` comments, optional quotes, an optional ``export``), relative to the
settings file. Values are never logged; every caller registers them with Secrets for masking.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from etl.sync.http import SyncError


def read_secrets_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SyncError(f"{path}: secrets file not found (named by sync.secrets_file in the settings)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SyncError(f"{path}: cannot read the secrets file ({type(exc).__name__})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        name, sep, raw = stripped.partition("=")
        if not sep or not name.strip().isidentifier():
            raise SyncError(f"{path}: line {number}: expected NAME=VALUE")  # the value is not repeated
        try:
            parts = shlex.split(raw, comments=False) if raw.strip() else [""]
        except ValueError:
            raise SyncError(f"{path}: line {number}: unbalanced quotes") from None
        values[name.strip()] = parts[0] if len(parts) == 1 else raw.strip()
    return values


class Credentials:
    """Look-ups of named secrets: the environment first, then the secrets file."""

    def __init__(self, env: Mapping[str, str] | None = None, secrets_file: Path | None = None) -> None:
        self.env = os.environ if env is None else env
        self.secrets_file = secrets_file
        self._file: dict[str, str] | None = None

    def get(self, name: str) -> str | None:
        value = self.env.get(name)
        if value:
            return value.strip()
        if self.secrets_file is not None:
            if self._file is None:
                self._file = read_secrets_file(self.secrets_file)
            value = self._file.get(name)
            if value:
                return value.strip()
        return None

    def where(self) -> str:
        return "the environment" + (f" or {self.secrets_file}" if self.secrets_file else "")


def merged_env(env: Mapping[str, str] | None, secrets_file: Path | None) -> dict[str, str]:
    """The environment over the secrets file: one mapping for code that reads several names at once."""
    base = read_secrets_file(secrets_file) if secrets_file is not None else {}
    return {**base, **(os.environ if env is None else env)}
