"""The webhook spool: a folder of accepted events, one file each, that `python -m etl load DIR` loads.

The receiver writes each event durably (etl.durable) as `<vendor>-<receipt ns>-<key>.json`, so a folder load
(files sorted by name) replays the events in the order they arrived; `key` is the delivery's identity
(Quo webhook-id, Twilio MessageSid + status), so a redelivery finds its twin and is not stored twice. The
marker file tells `etl load` that the folder is a spool: after a load publishes, what it loaded moves into
loaded/ (a file that could not be read at all into failed/, with the error printed), so each event is loaded
once and none is lost. A crash between the publish and the move only loads those files again: harmless.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from etl.durable import write_durably
from replyboard.sensitive import mask_sensitive

MARKER = ".replyboard-spool"
LOADED = "loaded"
FAILED = "failed"
_KEY_RE = re.compile(r"[^A-Za-z0-9_.-]")


def prepare(folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    if not marker.exists():
        write_durably(marker, b"Replyboard webhook spool: python -m etl load --db DB THIS_FOLDER\n")
    return folder


def is_spool(folder: Path) -> bool:
    return (Path(folder) / MARKER).is_file()


def event_key(*parts: str | None) -> str:
    """A file-name-safe identity for a delivery (hashed when the vendor's id is long or odd)."""
    raw = "-".join(p for p in parts if p)
    safe = _KEY_RE.sub("_", raw)
    if not raw or safe != raw or len(safe) > 100:
        return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return safe


def already_spooled(folder: Path, vendor: str, key: str) -> Path | None:
    suffix = f"-{key}.json"
    return next((p for p in Path(folder).glob(f"{vendor}-*{suffix}") if p.name.endswith(suffix)), None)


def store(folder: Path, vendor: str, key: str, data: bytes) -> tuple[Path, bool]:
    """Write an event durably; (path, False) when the same delivery is already waiting in the spool."""
    twin = already_spooled(folder, vendor, key)
    if twin is not None:
        return twin, False
    name = f"{vendor}-{time.time_ns():020d}-{key}.json"
    return write_durably(Path(folder) / name, data), True


TEXT_FIELDS = frozenset({"text", "body", "Body"})  # message text in Quo objects, Twilio resources and forms


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (mask_sensitive(v) if k in TEXT_FIELDS and isinstance(v, str) else _masked(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def mask_payment_data(path: Path) -> None:
    """Rewrite a kept JSON file with card numbers and SSNs in message texts masked (last four digits kept), so
    what stays on disk after its load holds no payment data in clear; other files are left as they are."""
    try:
        raw = path.read_bytes()
        value = json.loads(raw)
    except (OSError, ValueError, RecursionError):
        return  # not a JSON document (JSON Lines, a stray file): nothing we can rewrite safely
    masked = _masked(value)
    if masked != value:
        write_durably(path, json.dumps(masked, ensure_ascii=False).encode("utf-8"))


def archive(folder: Path, loaded: list[Path], failed: list[Path]) -> None:
    """Move what a published load read out of the spool's way (loaded events with payment data masked)."""
    for sub, paths in ((LOADED, loaded), (FAILED, failed)):
        if not paths:
            continue
        target = Path(folder) / sub
        target.mkdir(exist_ok=True)
        for path in paths:
            if path.parent.resolve() == Path(folder).resolve() and path.exists():
                if sub == LOADED:
                    mask_payment_data(path)
                os.replace(path, target / path.name)


def load_and_archive(db: Path, folder: Path, settings, *, progress=lambda _: None, wait: bool = True):
    """Load every event waiting in the spool in one run, then archive them; None when nothing waits."""
    from etl.load import run_load  # the loader pulls in DuckDB and Polars; the receiver does not need them

    folder = Path(folder)
    paths = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else []
    if not paths:
        return None
    report = run_load(db, paths, settings, progress=progress, wait=wait)
    failed = {Path(f.path) for f in report.files if f.error}
    archive(folder, [p for p in paths if p not in failed], sorted(failed))
    return report
