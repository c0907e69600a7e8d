"""The reader of each source kind (the kinds etl.sources.detect recognises, plus "mapped_csv").

ADAPTERS maps each kind to its reader, ``reader(path, settings) -> SourceFrame``; the "mapped_csv" reader
also needs ``mapping=Path`` (it raises SourceError without one). A new source: its adapter module, its
kind here, and its signature and description in etl.sources.detect.
"""

from __future__ import annotations

from collections.abc import Callable

from etl.sources import mapped_csv, openphone, sms_backup, twilio, twilio_webhook
from etl.sources.base import SourceFrame

ADAPTERS: dict[str, Callable[..., SourceFrame]] = {
    "openphone_api": openphone.read_api,
    "openphone_webhook": openphone.read_webhook,
    "twilio_api": twilio.read_api,
    "twilio_webhook": twilio_webhook.read,
    "twilio_csv": twilio.read_csv,
    "sms_backup_xml": sms_backup.read,
    "mapped_csv": mapped_csv.read,
}
