"""Where fetched API pages wait for their load: one folder per run, under <sync folder>/<source>-<account>/.

A page is saved exactly as the API answered it (so etl.sources reads it as it reads a saved export) and
durably, before the next request. A run killed before its publish leaves its folder; the next run of the same
source and account loads those pages first (loading is idempotent) and then its own, so nothing fetched is
lost and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl.durable import write_durably
from replyboard.faults import checkpoint

RUN_PREFIX = "run-"


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80]


class RunFolder:
    """The pages of one sync run."""

    def __init__(self, root: Path, source: str, account: str) -> None:
        self.home = Path(root) / f"{source}-{safe_name(account)}"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        self.path = self.home / f"{RUN_PREFIX}{stamp}-{os.getpid()}"
        self.count = 0

    def leftovers(self) -> list[Path]:
        """Folders of earlier runs that were killed before their publish, oldest first."""
        if not self.home.is_dir():
            return []
        return sorted(p for p in self.home.iterdir() if p.is_dir() and p.name.startswith(RUN_PREFIX) and p != self.path)

    def save(self, kind: str, body: Any) -> Path:
        """Write one page (`kind` is e.g. messages, conversations) and return its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.count += 1
        page = write_durably(
            self.path / f"{self.count:05d}-{kind}.json", json.dumps(body, ensure_ascii=False).encode("utf-8")
        )
        if kind == "messages":
            checkpoint("sync_after_page")  # reliability tests: killed with a message page on disk, none loaded
        return page

    @staticmethod
    def loadable(folder: Path) -> list[Path]:
        """The message pages of a run folder, in the order they were fetched (conversation pages are kept for
        the record but are not message files)."""
        return sorted(p for p in folder.glob("*-messages.json") if p.is_file())

    def finish(self, folders: list[Path], keep: bool) -> None:
        """After the publish: drop the loaded folders, or move them under loaded/ to keep them."""
        for folder in folders:
            if not folder.exists():
                continue
            if keep:
                from etl.spool import mask_payment_data

                for page in folder.glob("*.json"):
                    mask_payment_data(page)  # kept pages hold no card numbers in clear
                target = self.home / "loaded"
                target.mkdir(parents=True, exist_ok=True)
                os.replace(folder, target / folder.name)
            else:
                shutil.rmtree(folder, ignore_errors=True)
