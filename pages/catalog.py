"""The dashboard's pages in one list: app.py builds its navigation from it, tests and benchmarks visit it."""

from __future__ import annotations

from typing import NamedTuple


class PageSpec(NamedTuple):
    section: str
    path: str
    title: str
    icon: str
    url_path: str


PAGES = (
    PageSpec("Managers", "pages/okrs.py", "OKRs", ":material/flag:", "okrs"),
    PageSpec("Managers", "pages/overview.py", "Overview", ":material/dashboard:", "overview"),
    PageSpec("Team leads", "pages/queues.py", "Work queues", ":material/inbox:", "queues"),
    PageSpec("Team leads", "pages/agents.py", "Agents", ":material/groups:", "agents"),
    PageSpec("Team leads", "pages/response_times.py", "Response times", ":material/timer:", "response-times"),
    PageSpec("Team leads", "pages/busiest_times.py", "Busiest times", ":material/calendar_month:", "busiest-times"),
    PageSpec("Team leads", "pages/satisfaction.py", "Satisfaction", ":material/sentiment_satisfied:", "satisfaction"),
    PageSpec("Team leads", "pages/compliance.py", "Compliance", ":material/policy:", "compliance"),
    # Every number links to its rows, every row to its conversation: reachable from anywhere, and by URL.
    PageSpec("Behind the numbers", "pages/rows.py", "Rows", ":material/table_rows:", "rows"),
    PageSpec("Behind the numbers", "pages/conversation.py", "Conversation", ":material/forum:", "conversation"),
    PageSpec("Analysts", "pages/explore.py", "Explore", ":material/query_stats:", "explore"),
    PageSpec("Analysts", "pages/data_health.py", "Data health", ":material/monitor_heart:", "data-health"),
)
PAGE_FILES = tuple(p.path for p in PAGES)
