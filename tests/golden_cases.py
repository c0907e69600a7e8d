"""The golden snapshot cases of `metrics report --format json` and `metrics okr --format json` on the demo data.

The snapshots in tests/fixtures/golden/ were taken on main before the read-layer rewrite (issue 12): after it,
every figure must be identical except where an issue fixes a bug, and the commit that regenerates a snapshot
says which. Regenerate with: python -m tests.golden_cases --db DEMO.duckdb (after loading sample_data/demo).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

from metrics.__main__ import main as metrics_main
from metrics.registry import CATALOG

GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
# The metrics that existed when the snapshots were taken (metrics added since are tested elsewhere).
SNAPSHOT_METRICS = (
    "active_texting_seconds",
    "automated_messages",
    "automated_share",
    "conversations",
    "conversations_handled",
    "csat_mean",
    "csat_responses",
    "csat_satisfied_rate",
    "first_response_time_mean",
    "first_response_time_median",
    "first_response_time_p90",
    "follow_up_within_2h_rate",
    "human_replies",
    "inbound_messages",
    "inquiry_blocks",
    "inquiry_messages",
    "messages_per_conversation_mean",
    "nps",
    "nps_responses",
    "opt_outs",
    "outbound_messages",
    "repeat_customer_rate",
    "reply_time_mean",
    "reply_time_median",
    "reply_time_p90",
    "response_within_target_rate",
    "same_business_day_response_rate",
    "sensitive_data_messages",
    "survey_answer_messages",
    "survey_replies",
    "survey_replies_ambiguous",
    "survey_replies_empty",
    "survey_replies_not_a_number",
    "survey_replies_opt_out",
    "survey_replies_out_of_range",
    "survey_replies_valid",
    "survey_response_rate",
    "unanswered_inquiries",
)
DIMENSIONS = ("agent", "team", "line", "channel", "day", "week", "month", "weekday", "hour", "direction")
FILTERS = {
    "all": [],
    "september": ["--from", "2026-09-01", "--to", "2026-09-30"],
    "team-care": ["--team", "Care"],
    "line-support-sms": ["--line", "+16465550100", "--channel", "sms"],
}


def report_cases() -> dict[str, list[str]]:
    """case name -> the CLI arguments after `report --db DB`."""
    cases: dict[str, list[str]] = {}
    for filt, filter_args in FILTERS.items():
        for hours in ("calendar", "business"):
            for by in (None, *DIMENSIONS):
                if filt != "all" and by not in (None, "agent", "week"):
                    continue
                if hours == "business" and by not in (None, "agent", "line", "week"):
                    continue
                names = [n for n in SNAPSHOT_METRICS if by is None or by in CATALOG[n].dimensions]
                args = [a for n in names for a in ("--metric", n)]
                args += ["--hours", hours, "--with-n", "--format", "json", *filter_args]
                if by:
                    args += ["--by", by]
                cases[f"{filt}/{hours}/{by or 'total'}"] = args
    return cases


OKR_CASES = {"as-of-2026-09-16": ["--as-of", "2026-09-16"], "default": []}


def _run(argv: list[str]) -> object:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = metrics_main(argv)
    assert code == 0, f"exit {code} for {argv}"
    return json.loads(out.getvalue())


def run_report(db: Path, args: list[str]) -> object:
    return _run(["report", "--db", str(db), *args])


def run_okr(db: Path, args: list[str]) -> object:
    return _run(["okr", "--db", str(db), "--format", "json", *args])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, type=Path)
    args = parser.parse_args()
    GOLDEN.mkdir(parents=True, exist_ok=True)
    report = {name: run_report(args.db, case) for name, case in report_cases().items()}
    (GOLDEN / "report_demo.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    okr = {name: run_okr(args.db, case) for name, case in OKR_CASES.items()}
    (GOLDEN / "okr_demo.json").write_text(json.dumps(okr, indent=1, sort_keys=True) + "\n")
    print(f"{len(report)} report cases, {len(okr)} okr cases written to {GOLDEN}")


if __name__ == "__main__":
    main()
