"""Sign-in, roles and scope on the dashboard (issue 18), under AppTest with a signed-in user (AppTest.user is what
st.user reads; an [auth] section in AppTest.secrets is OIDC configured).

The scope matrix: every page each role may open, on the sample warehouse, is searched whole (every element's
protobuf: tables' Arrow bytes, charts' JSON, text) for the names of agents outside the person's scope; a manager
seeing them is the control that the search can find them. Refusals show no data; direct URLs to pages of another
role are refused; annotations are the person's, within their scope; the audit log records sign-ins, refusals,
exports and Explore queries."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from streamlit import config
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from metrics.params import Params
from metrics.rows import rows
from metrics.scope import Scope
from pages.catalog import pages_for
from replyboard import warehouse
from replyboard.appstate import AppState
from replyboard.settings import load_settings
from tests.helpers import ROOT

APP = str(ROOT / "app.py")
PEOPLE = {
    "maria@example.com": {"role": "manager"},
    "lee@example.com": {"role": "lead", "teams": ["Care"]},
    "sam@example.com": {"role": "agent", "agent_id": "ag_01"},
    "ana@example.com": {"role": "analyst"},
}
AUTH = {  # what .streamlit/secrets.toml holds with OIDC configured (the provider is not called under AppTest)
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-" + "x" * 32,
    "client_id": "replyboard",
    "client_secret": "test-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


@pytest.fixture(scope="module")
def names(sample_warehouse: Path) -> dict[str, tuple[str, str]]:
    """agent_id -> (name, team) of the sample data."""
    con = warehouse.connect_readonly(sample_warehouse)
    try:
        return {a: (n, t) for a, n, t in con.execute("SELECT agent_id, name, team FROM agents").fetchall()}
    finally:
        con.close()


@pytest.fixture
def site(tmp_path: Path, sample_warehouse: Path, monkeypatch: pytest.MonkeyPatch, app_navigation: None) -> Path:
    """The sample warehouse, settings naming an access file, and a private app-state store (the audit log)."""
    access = tmp_path / "access.yaml"
    access.write_text(yaml.safe_dump({"people": [{"email": e, **g} for e, g in PEOPLE.items()]}))
    settings = tmp_path / "settings.yaml"
    settings.write_text((ROOT / "settings.yaml").read_text() + "\naccess_file: access.yaml\n")
    monkeypatch.setenv("REPLYBOARD_DB", str(sample_warehouse))
    monkeypatch.setenv("REPLYBOARD_SETTINGS", str(settings))
    monkeypatch.setenv("REPLYBOARD_STATE", str(tmp_path / "state.sqlite"))
    return tmp_path


@contextlib.contextmanager
def streamlit_option(name: str, value: object) -> Iterator[None]:
    """A Streamlit config option as a server would have it (st.get_option reads it), restored afterwards."""
    before = config.get_option(name)
    config.set_option(name, value, where_defined="tests/test_signin.py")
    try:
        yield
    finally:
        config.set_option(name, before, where_defined="tests/test_signin.py")


def signed_in(email: str | None, *, logged_in: bool = True, **claims: Any) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": logged_in, **({"email": email} if email else {}), **claims}
    return at


def visit(at: AppTest, page: str | None = None, **query: str) -> AppTest:
    at.run()
    if page is not None:
        at.query_params.update(query)
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def everything_shown(at: AppTest) -> str:
    """Every element of the rendered app (main and sidebar) as protobuf text: tables, charts, texts, links."""

    def walk(node: Any) -> Iterator[str]:
        proto = getattr(node, "proto", None)
        if proto is not None:
            yield str(proto)
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return "\n".join(walk(at._tree))


def registered(at: AppTest) -> set[str]:
    """The pages the person's navigation holds (what Streamlit can route a URL to)."""
    return {Path(info["script_path"]).relative_to(ROOT).as_posix() for info in at._registered_pages.values()}


def audit(site: Path) -> list[tuple[str, str, dict]]:
    path = site / "state.sqlite"
    return [(who, action, detail) for _, who, action, detail in AppState(path).audit_log()] if path.exists() else []


def outsiders(names: dict[str, tuple[str, str]], email: str) -> set[str]:
    """The agent names a person must never see."""
    grant = PEOPLE[email]
    if grant["role"] == "lead":
        return {n for n, t in names.values() if t not in grant["teams"]}
    if grant["role"] == "agent":
        return {n for a, (n, _) in names.items() if a != grant["agent_id"]}
    return set()


MATRIX = [(email, spec.path) for email, grant in PEOPLE.items() for spec in pages_for(grant["role"])]


@pytest.mark.parametrize(("email", "page"), MATRIX)
def test_every_page_shows_only_the_persons_scope(
    email: str, page: str, site: Path, names: dict[str, tuple[str, str]]
) -> None:
    at = visit(signed_in(email), page, **({"metric": "human_replies"} if page == "pages/rows.py" else {}))
    assert not at.error, [e.value for e in at.error]
    assert at.title and at.title[0].value not in ("Not available", "No access")
    shown = everything_shown(at)
    leaked = {n for n in outsiders(names, email) if n in shown}
    assert not leaked, f"{email} on {page} sees {sorted(leaked)}"
    assert f"Signed in as **{email}**" in shown
    if page == "pages/agents.py":  # the control: the search finds the other team where it may be seen
        rides = {n for n, t in names.values() if t == "Rides"}
        assert all(n in shown for n in rides) == (PEOPLE[email]["role"] != "lead")


def test_navigation_by_role(site: Path) -> None:
    for email, grant in PEOPLE.items():
        at = visit(signed_in(email))
        assert registered(at) == {s.path for s in pages_for(grant["role"])}, email
    assert "Explore" not in {s.title for s in pages_for("lead")} | {s.title for s in pages_for("manager")}
    assert {s.title for s in pages_for("agent")} == {"My stats", "Rows", "Conversation"}


@pytest.mark.parametrize(
    ("email", "page"),
    [
        ("lee@example.com", "pages/explore.py"),
        ("maria@example.com", "pages/explore.py"),
        ("maria@example.com", "pages/data_health.py"),
        ("sam@example.com", "pages/data_health.py"),
        ("lee@example.com", "pages/my_stats.py"),
    ],
)
def test_a_direct_url_to_another_roles_page_is_refused(email: str, page: str, site: Path) -> None:
    # Not in the person's navigation, so Streamlit cannot route to it; the page itself refuses too when run.
    assert page not in registered(visit(signed_in(email)))
    direct = AppTest.from_file(str(ROOT / page), default_timeout=120)
    direct.secrets["auth"], direct.user = AUTH, {"is_logged_in": True, "email": email}
    direct.run()
    assert not direct.exception
    assert [t.value for t in direct.title] == ["Not available"]
    assert not direct.dataframe and not direct.get("plotly_chart") and not direct.text_area


@pytest.mark.parametrize(
    ("user", "title"),
    [
        ({"is_logged_in": False}, "Sign in"),
        ({"is_logged_in": True, "email": "stranger@example.com"}, "No access"),
        ({"is_logged_in": True, "email": "lee@example.com", "email_verified": False}, "Email not verified"),
        ({"is_logged_in": True, "sub": "no-email"}, "Not signed in"),
    ],
)
def test_refused_sign_ins_show_no_data(user: dict, title: str, site: Path) -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    at.secrets["auth"], at.user = AUTH, user
    visit(at)
    assert [t.value for t in at.title] == [title]
    assert not at.dataframe and not at.metric and not at.get("plotly_chart") and not at.sidebar.multiselect
    if title == "Sign in":
        assert [b.label for b in at.button] == ["Sign in"]
    if title == "No access":
        assert "stranger@example.com is not in" in at.error[0].value
        assert [(w, a) for w, a, _ in audit(site)] == [("stranger@example.com", "sign_in_refused")]


def test_sign_in_needs_an_access_file(site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = tmp_path / "bare.yaml"
    bare.write_text((ROOT / "settings.yaml").read_text())
    monkeypatch.setenv("REPLYBOARD_SETTINGS", str(bare))
    at = visit(signed_in("maria@example.com"))
    assert [t.value for t in at.title] == ["Access is not configured"]  # fail closed: nobody gets everything


def test_a_sign_in_is_audited_once_per_session(site: Path) -> None:
    at = visit(signed_in("lee@example.com"))
    at.run()
    visit(at, "pages/agents.py")
    signs = [(w, a, d) for w, a, d in audit(site) if a == "sign_in"]
    assert signs == [("lee@example.com", "sign_in", {"via": "oidc", "role": "lead"})]


def test_the_trusted_proxy_header(site: Path) -> None:
    # Streamlit copies the configured headers into st.user on every connection; AppTest.user stands for that.
    with streamlit_option("server.trustedUserHeaders", {"X-Forwarded-Email": "email", "X-Forwarded-Groups": "groups"}):
        at = AppTest.from_file(APP, default_timeout=120)
        at.user = {"email": "lee@example.com"}
        visit(at, "pages/agents.py")
        assert "Signed in as **lee@example.com** · lead" in everything_shown(at)
        shown = at.dataframe[0].value
        assert shown["team"].dropna().unique().tolist() == ["Care"]  # and the Unassigned row: Care's unowned work
        assert "Unassigned" in shown["name"].tolist()
        nobody = AppTest.from_file(APP, default_timeout=120)
        nobody.user = {"email": None}  # the header was absent
        visit(nobody)
        assert [t.value for t in nobody.title] == ["Not signed in"] and not nobody.dataframe
    assert [a for _, a, _ in audit(site)] == ["sign_in_refused", "sign_in"]  # newest first


def test_oidc_groups_give_a_scope(site: Path) -> None:
    access = site / "access.yaml"
    access.write_text(yaml.safe_dump({"groups": [{"group": "care-leads", "role": "lead", "teams": ["Care"]}]}))
    at = visit(signed_in("new.lead@example.com", groups=["care-leads", "staff"]), "pages/agents.py")
    assert at.dataframe[0].value["team"].dropna().unique().tolist() == ["Care"]


def test_without_sign_in_the_dashboard_refuses_other_interfaces(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with streamlit_option("server.address", "0.0.0.0"):
        at = visit(AppTest.from_file(APP, default_timeout=120))
        assert [t.value for t in at.title] == ["This dashboard is not open to the network"]
        assert not at.dataframe and not at.metric and not at.sidebar.multiselect
        monkeypatch.setenv("REPLYBOARD_OPEN_WITHOUT_SIGNIN", "1")
        opened = visit(AppTest.from_file(APP, default_timeout=120))
        assert opened.title[0].value == "OKRs" and "Single-user mode" in everything_shown(opened)
    with streamlit_option("server.address", "0.0.0.0"):  # sign-in configured: serving the network is fine
        assert visit(signed_in("maria@example.com")).title[0].value == "OKRs"


def _conversation_with_a_colleague(db: Path) -> tuple[str, str]:
    """(a conversation Sam, ag_01, replied in together with another agent; one of the Rides team's)."""
    con = warehouse.connect_readonly(db)
    try:
        shared = con.execute(  # Sam owns it (first replier: an agent's scope is the conversations they own)
            "SELECT m.conversation_id FROM messages m JOIN conversations c USING (conversation_id) "
            "WHERE m.kind = 'human_reply' AND c.first_agent_id = 'ag_01' GROUP BY ALL "
            "HAVING count(DISTINCT m.agent_id) > 1 ORDER BY 1 LIMIT 1"
        ).fetchall()[0][0]
        rides = rows(con, "human_replies", params=Params(scope=Scope("lead", teams=("Rides",))), limit=1)
    finally:
        con.close()
    return shared, rides.frame["conversation_id"][0]


def test_agents_read_their_conversations_without_colleagues_names(
    site: Path, sample_warehouse: Path, names: dict[str, tuple[str, str]]
) -> None:
    shared, rides = _conversation_with_a_colleague(sample_warehouse)
    at = visit(signed_in("sam@example.com"), "pages/conversation.py", id=shared)
    shown = everything_shown(at)
    assert "Sam Rivera" in shown and "a colleague" in shown
    assert not {n for a, (n, _) in names.items() if a != "ag_01" and n in shown}
    assert not at.get("popover"), "agents do not annotate"
    out = visit(signed_in("sam@example.com"), "pages/conversation.py", id=rides)
    assert any("No conversation" in w.value for w in out.warning) and not out.get("html")


def test_a_lead_annotates_in_scope_as_themself(site: Path, sample_warehouse: Path) -> None:
    shared, rides = _conversation_with_a_colleague(sample_warehouse)
    lead = visit(signed_in("lee@example.com"), "pages/conversation.py", id=shared)
    note = next(t for t in lead.text_input if t.label == "Note")
    note.input("only said thanks").run()
    save = next(b for b in lead.button if b.label == "Save" and str(b.key).startswith("save-no_reply_needed"))
    save.click().run()
    assert not lead.exception and not lead.error
    store = AppState(site / "state.sqlite")
    (made,) = store.annotations()
    assert made.author == "lee@example.com" and made.note == "only said thanks"
    # the Rides team's conversation does not exist for Lee, so it cannot be annotated from the viewer
    other = visit(signed_in("lee@example.com"), "pages/conversation.py", id=rides)
    assert any("No conversation" in w.value for w in other.warning) and not other.get("popover")
    # and a manager's note on a Rides block never shows in Lee's queues
    con = warehouse.connect_readonly(sample_warehouse)
    try:
        block = con.execute("SELECT block_id FROM inquiry_blocks WHERE conversation_id = $c", {"c": rides}).fetchall()
    finally:
        con.close()
    store.annotate("block", block[0][0], "no_reply_needed", author="maria@example.com", note="rides only")
    queue = visit(signed_in("lee@example.com"), "pages/queues.py", queue="waiting")
    assert "rides only" not in everything_shown(queue) and "only said thanks" in everything_shown(queue)
    manager = visit(signed_in("maria@example.com"), "pages/queues.py", queue="waiting")
    assert "rides only" in everything_shown(manager)


@pytest.fixture
def deferred(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Every download's build-on-click callable, by file name, registered the way Streamlit registers it."""
    found: dict[str, Any] = {}
    original = MediaFileManager.add_deferred

    def add(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):  # type: ignore[no-untyped-def]
        found[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", add)
    return found


def test_exports_and_explore_queries_are_audited(site: Path, deferred: dict[str, Any]) -> None:
    lead = visit(signed_in("lee@example.com"), "pages/agents.py")
    data = deferred["agents.csv"]()
    assert b"Sam Rivera" in data and b"Luis Moreno" not in data  # the lead's CSV holds their team only
    visit(lead, "pages/rows.py", metric="human_replies")
    assert b"Luis Moreno" not in deferred["rows_human_replies.csv"]()
    analyst = visit(signed_in("ana@example.com"), "pages/explore.py")
    deferred["query.csv"]()
    entries = audit(site)
    exports = [(w, d["file"]) for w, a, d in entries if a == "export"]
    assert ("lee@example.com", "agents.csv") in exports and ("lee@example.com", "rows_human_replies.csv") in exports
    assert ("ana@example.com", "query.csv") in exports
    (query,) = [(w, d) for w, a, d in entries if a == "explore_query"]
    assert query[0] == "ana@example.com" and "FROM messages m JOIN agents a" in query[1]["sql"]
    assert analyst.dataframe, "the analyst's query ran"


def test_my_stats_against_the_team_median(
    site: Path, sample_warehouse: Path, names: dict[str, tuple[str, str]]
) -> None:
    at = visit(signed_in("sam@example.com"), "pages/my_stats.py")
    cards = {m.label: m for m in at.metric}
    assert {"Replies", "Reply time (median)", "CSAT (mean)"} <= set(cards)
    con = warehouse.connect_readonly(sample_warehouse)
    try:
        from metrics.query import compute

        replies = compute(con, ["human_replies"], by=("agent",), params=Params(scope=Scope("lead", teams=("Care",))))
    finally:
        con.close()
    f = at.session_state["dates"]
    assert f  # the sidebar's window applies; the median over the whole data is checked in test_scope_reads
    # the team's agents (the Unassigned group, Care's work no agent owns, is no agent)
    care = sorted(replies.filter(replies["agent"].is_not_null())["human_replies"].to_list())
    assert len(care) == sum(1 for _, t in names.values() if t == "Care")
    assert "(team " in (cards["Replies"].delta or "")
    assert len(at.get("plotly_chart")) == 3


def test_settings_name_the_access_file_relative_to_themselves(site: Path) -> None:
    assert load_settings(site / "settings.yaml").access_file == str(site / "access.yaml")
