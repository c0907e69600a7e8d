"""The golden snapshots of the digests' HTML and text on the demo data (tests/fixtures/golden/digest_*).

They are the three reports of GOLDEN_SUBSCRIPTIONS as of GOLDEN_AS_OF, rendered as ``digest --out`` writes them
(images as files beside the HTML). A change to a figure, a label or the layout changes them: look at the diff,
then regenerate with: python -m tests.digest_golden --db DEMO.duckdb (after loading sample_data/demo).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from digests import render
from digests.build import build
from digests.schedule import previous_as_of
from replyboard.settings import Settings
from replyboard.warehouse import connect_readonly
from tests.digest_servers import shipped_settings

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
GOLDEN_AS_OF = date(2026, 9, 20)  # a Sunday: the Monday 21 September digest
GOLDEN_SUBSCRIPTIONS = [
    {"name": "monday-okrs", "report": "okr", "cadence": "0 8 * * 1", "recipients": ["manager@example.com"]},
    {"name": "daily", "report": "yesterday", "cadence": "0 7 * * *", "recipients": ["leads@example.com"]},
    {
        "name": "care-team",
        "report": "team",
        "cadence": "30 8 * * 1",
        "recipients": ["care-lead@example.com"],
        "filters": {"teams": ["Care"]},
        "hours": "business",
    },
]


def golden_settings() -> Settings:
    return Settings.model_validate(
        {**shipped_settings(), "dashboard_url": "https://replyboard.example.com", "digests": GOLDEN_SUBSCRIPTIONS}
    )


def rendered(db: Path) -> dict[str, str]:
    """{file name: content} of every snapshot."""
    settings = golden_settings()
    out: dict[str, str] = {}
    con = connect_readonly(db)
    try:
        for sub in settings.digests:
            before = previous_as_of(sub.cadence, GOLDEN_AS_OF, settings.zone)
            digest = build(con, db, settings, sub, GOLDEN_AS_OF, previous_as_of=before)
            footer = render.footer_text(sub.name, sub.cadence, settings.timezone, sub.recipients, sub.channel)
            stem = f"digest_{sub.report}_{GOLDEN_AS_OF.isoformat()}"
            out[f"{stem}.html"] = render.html(digest, footer, lambda chart: f"{chart}.png")
            out[f"{stem}.txt"] = render.text(digest, footer)
    finally:
        con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, type=Path)
    args = parser.parse_args()
    for name, text in rendered(args.db).items():
        (GOLDEN / name).write_text(text, encoding="utf-8")
        print(f"wrote {GOLDEN / name}")


if __name__ == "__main__":
    main()
