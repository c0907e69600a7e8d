"""The dashboard's pages in one list: app.py builds its navigation from it (each person sees the pages of their
role), tests and benchmarks visit it."""

from __future__ import annotations

from typing import NamedTuple

from metrics.scope import ROLES, Role

TEAM_ROLES: tuple[Role, ...] = ("manager", "lead", "analyst")  # the team's pages; an agent has My stats


class PageSpec(NamedTuple):
    section: str
    path: str
    title: str
    icon: str
    url_path: str
    roles: tuple[Role, ...] = TEAM_ROLES


PAGES = (
    PageSpec("Managers", "pages/okrs.py", "OKRs", ":material/flag:", "okrs"),
    PageSpec("Managers", "pages/overview.py", "Overview", ":material/dashboard:", "overview"),
    PageSpec("Team leads", "pages/queues.py", "Work queues", ":material/inbox:", "queues"),
    PageSpec("Team leads", "pages/agents.py", "Agents", ":material/groups:", "agents"),
    PageSpec("Team leads", "pages/response_times.py", "Response times", ":material/timer:", "response-times"),
    PageSpec("Team leads", "pages/busiest_times.py", "Busiest times", ":material/calendar_month:", "busiest-times"),
    PageSpec("Team leads", "pages/satisfaction.py", "Satisfaction", ":material/sentiment_satisfied:", "satisfaction"),
    PageSpec("Team leads", "pages/compliance.py", "Compliance", ":material/policy:", "compliance"),
    PageSpec("Agents", "pages/my_stats.py", "My stats", ":material/person:", "my-stats", ("agent",)),
    # Every number links to its rows, every row to its conversation: reachable from anywhere, and by URL.
    PageSpec("Behind the numbers", "pages/rows.py", "Rows", ":material/table_rows:", "rows", ROLES),
    PageSpec("Behind the numbers", "pages/conversation.py", "Conversation", ":material/forum:", "conversation", ROLES),
    # Raw SQL over every stored message, and the raw rejected rows: analysts only.
    PageSpec("Analysts", "pages/explore.py", "Explore", ":material/query_stats:", "explore", ("analyst",)),
    PageSpec(
        "Analysts", "pages/data_health.py", "Data health", ":material/monitor_heart:", "data-health", ("analyst",)
    ),
)


def pages_for(role: Role) -> tuple[PageSpec, ...]:
    return tuple(p for p in PAGES if role in p.roles)


# What the single-user dashboard (`make run`, no sign-in: an analyst's view) shows; My stats is an agent's page.
PAGE_FILES = tuple(p.path for p in pages_for("analyst"))
