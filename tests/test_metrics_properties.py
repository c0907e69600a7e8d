"""Property tests for the metric layer on generated small conversation sets.

Hypothesis draws a few line/contact pairs, each a run of inbound texts (inquiries, STOP, a bare score, a card
number), human replies, auto-replies, survey prompts and failed sends at random gaps (seconds to two days)
from Thu 2026-10-22 on, so the data often crosses the end of US daylight saving time (Nov 1). Each example is
loaded into a fresh warehouse with run_load and the team settings of tests/conftest.py, then checked:
reply times are never negative, business <= calendar seconds for every block, count metrics grouped by any
dimension sum to the ungrouped value (the null group included; by agent and team these are the owners, with
source assignments and a line owned by a team), so do a rate's denominators and met rows, a filtered value
equals its group's row, rates lie in [0, 1], n is never negative and is 0 exactly when a mean/median/ratio is null, inbound
texts are inquiries + survey answers + opt-outs, and every inquiry belongs to exactly one inquiry block.
"""

from __future__ import annotations

import csv
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etl.load import run_load
from metrics.params import Params
from metrics.query import Filters, compute
from metrics.registry import CATALOG, METRICS
from metrics.rows import rows
from metrics.spec import RatioMetric
from replyboard import warehouse
from replyboard.business_time import business_seconds
from tests.helpers import FIXTURES, team_settings

LINES = {"+15550100001": "sms", "+15550100002": "whatsapp"}
CONTACTS = ("+15557000001", "+15557000002", "+15557000003")
AGENTS = ("ag_01", "ag_03", None)  # ag_01 team Care, ag_03 team Sales (fixtures/metrics/agents.csv), unknown
START = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)  # Thu 08:00 EDT; US daylight saving ends Sun Nov 1
# (direction, is_automated, status, body)
EVENTS = (
    ("inbound", False, "received", "Where is my ride?"),
    ("inbound", False, "received", "hello??"),
    ("inbound", False, "received", "STOP"),
    ("inbound", False, "received", "8"),
    ("inbound", False, "received", "my card is 4111 1111 1111 1111"),
    ("inbound", False, "received", "great thanks!"),  # a closer: no block
    ("inbound", False, "received", "Liked “On it, one moment”"),  # a reaction
    ("inbound", False, "received", "thanks, when do you open?"),  # asks: an inquiry
    ("outbound", False, "delivered", "On it, one moment"),
    ("outbound", False, "delivered", "All sorted!"),
    ("outbound", True, "delivered", "Thanks for reaching out! We'll reply soon"),
    ("outbound", False, "delivered", "We're closed right now, back at 9"),
    ("outbound", True, "delivered", "How would you rate us on a scale of 1-9?"),
    ("outbound", True, "delivered", "On a scale of 0-10 how likely are you to recommend us?"),
    ("outbound", False, "failed", "Checking now"),
    ("outbound", False, "queued", "Sending you the link"),  # not a reply yet
)
GAPS = st.one_of(st.integers(1, 240), st.integers(241, 3 * 3600), st.integers(3 * 3600, 2 * 86400))
COLUMNS = (
    "message_id",
    "created_at",
    "direction",
    "line_number",
    "contact_number",
    "agent_id",
    "is_automated",
    "body",
    "channel",
    "conversation_id",
    "status",
    "assigned_agent_id",
)
COUNTS = [n for n, m in CATALOG.items() if m.aggregation in ("count", "sum")]
# sums divided (a contact-share such as repeat_customer_rate counts a contact in each group it is in)
RATIOS = [n for n, m in METRICS.items() if isinstance(m, RatioMetric)]
# line +15550100001 belongs to team Care, the other to no team: the owning team falls back to the line's
LINES_FILE = "line_number,name,team\n+15550100001,Support,Care\n+15550100002,WhatsApp,\n"
SECONDS = [n for n, m in CATALOG.items() if m.unit == "seconds" and m.aggregation in ("median", "p90", "mean")]


@st.composite
def conversation_sets(draw) -> list[dict]:
    pairs = draw(
        st.lists(
            st.tuples(st.sampled_from(sorted(LINES)), st.sampled_from(CONTACTS)), min_size=1, max_size=4, unique=True
        )
    )
    rows = []
    for p, (line, contact) in enumerate(pairs):
        t = START + timedelta(seconds=draw(st.integers(0, 3)) * 86400 + draw(st.integers(0, 10 * 3600)))
        for m in range(draw(st.integers(1, 9))):
            direction, automated, status, body = draw(st.sampled_from(EVENTS))
            agent = draw(st.sampled_from(AGENTS)) if direction == "outbound" and not automated else None
            # the source assigns some conversations (ownership: wins over the first replier)
            assigned = draw(st.sampled_from(("ag_03", None, None))) if direction == "inbound" else None
            rows.append(
                {
                    "message_id": f"p{p}m{m}",
                    "created_at": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "direction": direction,
                    "line_number": line,
                    "contact_number": contact,
                    "agent_id": agent or "",
                    "is_automated": str(automated).lower(),
                    "body": body,
                    "channel": LINES[line],
                    "conversation_id": "",
                    "status": status,
                    "assigned_agent_id": assigned or "",
                }
            )
            t += timedelta(seconds=draw(GAPS))
    return rows


def load(rows: list[dict], folder: Path) -> Path:
    path = folder / "messages.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    db = folder / "w.duckdb"
    lines = folder / "lines.csv"
    lines.write_text(LINES_FILE)
    report = run_load(db, [path, FIXTURES / "metrics" / "agents.csv", lines], team_settings())
    assert report.errors == [] and report.total("rows_rejected") == 0
    return db


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def check_values(row: dict, names: list[str]) -> None:
    for name in names:
        metric, value, n = METRICS[name], row[name], row[f"{name}_n"]
        assert isinstance(n, int), name
        if CATALOG[metric.name].aggregation in ("count", "count distinct", "sum"):
            assert value is not None and value >= 0, name
        else:  # means, medians, p90s, ratios, NPS: null exactly when nothing is behind them
            assert (value is None) == (n == 0), (name, value, n)
        if value is None:
            continue
        if metric.unit == "ratio":
            assert 0.0 <= value <= 1.0, (name, value)
        if metric.unit == "nps":
            assert -100.0 <= value <= 100.0, (name, value)
        if metric.unit == "seconds":
            assert value >= 0, (name, value)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversation_sets())
def test_metric_properties(rows):
    with tempfile.TemporaryDirectory() as tmp:
        db = load(rows, Path(tmp))
        con = warehouse.connect_readonly(db)
        try:
            _check(con)
        finally:
            con.close()


def _check(con) -> None:
    one = con.execute  # DuckDB 2: always drain with fetchall
    # ---- reply time never negative; business <= calendar for every block
    blocks = one("SELECT calendar_seconds, business_seconds, replied_at IS NOT NULL FROM inquiry_blocks").fetchall()
    for cal, bus, replied in blocks:
        assert (cal is None) == (bus is None) == (not replied)
        if replied:
            assert cal >= 0 and bus >= 0
            assert bus <= cal + 1e-6

    # ---- every inquiry belongs to exactly one block; blocks hold exactly the inquiries
    orphans = one("""
        SELECT m.message_id, count(b.block_id) AS blocks
        FROM messages m LEFT JOIN inquiry_blocks b
          ON b.conversation_id = m.conversation_id AND b.started_at <= m.created_at
         AND (b.replied_at IS NULL OR b.replied_at > m.created_at)
        WHERE m.kind = 'inquiry' GROUP BY m.message_id HAVING count(b.block_id) <> 1
    """).fetchall()
    assert orphans == []
    ((in_blocks,),) = one("SELECT coalesce(sum(inquiries), 0) FROM inquiry_blocks").fetchall()
    ((inquiries,),) = one("SELECT count(*) FROM messages WHERE kind = 'inquiry'").fetchall()
    assert in_blocks == inquiries

    # ---- every metric, both hours: n = the rows behind it, null iff n = 0 for non-counts, rates in [0, 1]
    names = list(METRICS)
    totals = {}
    for hours in ("calendar", "business"):
        row = compute(con, names, params=Params(hours=hours)).row(0, named=True)
        check_values(row, names)
        totals[hours] = row
        for name in names:  # n is exactly the number of rows the drill-down lists behind the figure
            assert rows(con, name, params=Params(hours=hours), limit=1).total == row[f"{name}_n"], (name, hours)
    total = totals["calendar"]
    for name in SECONDS:  # business seconds never exceed calendar seconds, so neither do their statistics
        if total[name] is not None:
            assert totals["business"][name] <= total[name] + 1e-6, name

    # ---- the rates' denominators, recomputed block by block: an unanswered block counts once it is old enough
    # (business age from the reference business_seconds) or past its deadline at the end of the data
    ((end,),) = one("SELECT max(created_at) FROM messages").fetchall()
    blocks = one(
        "SELECT started_at, replied_at, calendar_seconds, business_seconds, is_follow_up, deadline_at "
        "FROM inquiry_blocks"
    ).fetchall()
    team = team_settings()
    for hours in ("calendar", "business"):

        def age(start, hours=hours):
            return business_seconds(team, start, end) if hours == "business" else (end - start).total_seconds()

        secs = [(b[2] if hours == "calendar" else b[3]) for b in blocks]
        target = [b for b in blocks if b[1] is not None or age(b[0]) >= 7200]
        hits = [b for b, x in zip(blocks, secs, strict=True) if b[1] is not None and x <= 7200]
        follow = [b for b in target if b[4]]
        follow_hits = [b for b in hits if b[4]]
        row = totals[hours]
        assert row["response_within_target_rate_n"] == len(target)
        assert row["follow_up_within_2h_rate_n"] == len(follow)
        if target:
            assert close(row["response_within_target_rate"], len(hits) / len(target))
        if follow:
            assert close(row["follow_up_within_2h_rate"], len(follow_hits) / len(follow))
        same_day = [b for b in blocks if b[1] is not None or b[5] <= end]
        assert row["same_business_day_response_rate_n"] == len(same_day)

    # ---- inbound texts = inquiries + survey answers + opt-outs + texts that need no reply (the inbound kinds)
    assert total["inbound_messages"] == (
        total["inquiry_messages"]
        + total["survey_answer_messages"]
        + total["opt_outs"]
        + total["no_reply_needed_messages"]
    )
    kinds = dict(one("SELECT kind, count(*) FROM messages WHERE direction = 'inbound' GROUP BY kind").fetchall())
    assert set(kinds) <= {"inquiry", "survey_answer", "opt_out", "closer", "reaction"}
    assert sum(kinds.values()) == total["inbound_messages"]
    assert kinds.get("inquiry", 0) == total["inquiry_messages"]
    assert total["unanswered_inquiries"] <= total["inquiry_blocks"]
    assert total["conversations_handled"] <= total["conversations"]

    # ---- grouping sums to the total (the null group included); one row per key; filtered == grouped
    ratios = compute(con, RATIOS).row(0, named=True)
    for by in ("agent", "team", "line", "day", "weekday", "hour"):
        grouped = compute(con, COUNTS, by=by)
        keys = grouped[by].to_list()
        assert len(keys) == len(set(keys)), (by, keys)
        for row in grouped.iter_rows(named=True):
            check_values(row, COUNTS)
        for name in COUNTS:
            assert close(sum(grouped[name].to_list()), total[name]), (by, name, grouped[name].to_list(), total[name])
        # a rate's groups reconcile too: their n (denominators) and met rows (value x n) sum to the total's
        rates = compute(con, RATIOS, by=by)
        for name in RATIOS:
            assert sum(rates[f"{name}_n"].to_list()) == ratios[f"{name}_n"], (by, name)
            met = sum((v or 0) * n for v, n in zip(rates[name].to_list(), rates[f"{name}_n"].to_list(), strict=True))
            assert close(met, (ratios[name] or 0) * ratios[f"{name}_n"]), (by, name)
        if by in ("agent", "team", "line", "day") and keys and keys[0] is not None:
            key = keys[0]
            filters = {
                "agent": Filters(agents=(key,)),
                "team": Filters(teams=(key,)),
                "line": Filters(lines=(key,)),
                "day": Filters(date_from=key, date_to=key),
            }[by]
            alone = compute(con, COUNTS, filters=filters).row(0, named=True)
            first = grouped.row(0, named=True)
            for name in COUNTS:
                assert close(alone[name], first[name]), (by, key, name, alone[name], first[name])
