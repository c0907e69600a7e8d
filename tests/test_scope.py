"""Roles and row-level scope in the read layer: out-of-scope rows never leave it (figures, rows, transcripts,
filter lists, the CLI's --as)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from etl.load import run_load
from metrics.__main__ import main
from metrics.compiler import Filters
from metrics.conversation import ConversationNotFound, transcript
from metrics.health import filter_options
from metrics.params import Params
from metrics.query import compute
from metrics.rows import rows
from metrics.scope import EVERYTHING, AccessError, Scope, load_access
from replyboard import warehouse
from tests.helpers import FIXTURES, team_settings

FIX = FIXTURES / "metrics"
L1, L2 = "+15550100001", "+15550100002"
ACCESS = {
    "people": [
        {"email": "maria@example.com", "role": "manager"},
        {"email": "lee@example.com", "role": "lead", "teams": ["Care"]},
        {"email": "lina@example.com", "role": "lead", "lines": [L2]},
        {"email": "sam@example.com", "role": "agent", "agent_id": "ag_01"},
        {"email": "ana@example.com", "role": "analyst"},
    ],
    "groups": [{"group": "rides-leads", "role": "lead", "teams": ["Rides"]}],
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scope") / "w.duckdb"
    files = [FIX / f for f in ("response_times.csv", "volume_surveys.csv", "volume_surveys_file.csv", "agents.csv")]
    assert run_load(path, files, team_settings()).errors == []
    return path


@pytest.fixture(scope="module")
def access_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("access") / "access.yaml"
    path.write_text(yaml.safe_dump(ACCESS))
    return path


def figures(db: Path, scope: Scope, names: list[str], by: tuple[str, ...] = ()) -> pl.DataFrame:
    con = warehouse.connect_readonly(db)
    try:
        return compute(con, names, by=by, params=Params(scope=scope))
    finally:
        con.close()


def test_access_file_resolves_people_and_groups(access_file: Path) -> None:
    access = load_access(access_file)
    assert access.scope_for("LEE@example.com") == Scope("lead", "LEE@example.com", (), ("Care",), None)
    assert access.scope_for("sam@example.com").agent == "ag_01"
    assert access.scope_for("new@example.com", groups=["rides-leads"]).teams == ("Rides",)
    with pytest.raises(AccessError, match="not in"):
        access.scope_for("stranger@example.com")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"email": "x@example.com", "role": "agent"}, "needs agent_id"),
        ({"email": "x@example.com", "role": "lead"}, "needs teams or lines"),
        ({"email": "x@example.com", "role": "manager", "teams": ["Care"]}, "remove teams/lines"),
        ({"email": "nobody", "role": "manager"}, "not an email"),
        ({"email": "x@example.com", "role": "owner"}, "role"),
    ],
)
def test_bad_access_files_name_the_problem(tmp_path: Path, entry: dict, message: str) -> None:
    path = tmp_path / "access.yaml"
    path.write_text(yaml.safe_dump({"people": [entry]}))
    with pytest.raises(AccessError, match=message):
        load_access(path)


def test_a_lead_sees_exactly_their_team(db: Path) -> None:
    names = ["human_replies", "reply_time_median", "csat_responses"]
    lead = Scope("lead", "lee@example.com", (), ("Care",))
    scoped = figures(db, lead, names, by=("team",))
    everything = figures(db, EVERYTHING, names, by=("team",))
    assert scoped["team"].to_list() == ["Care"]
    assert scoped.row(0, named=True) == everything.filter(pl.col("team") == "Care").row(0, named=True)
    # within the scope, the UI's filters narrow further and can never widen it
    con = warehouse.connect_readonly(db)
    try:
        widened = compute(con, names, filters=Filters(teams=("Rides",)), params=Params(scope=lead)).row(0, named=True)
    finally:
        con.close()
    assert widened["human_replies"] == 0 and widened["csat_responses"] == 0


def test_a_line_lead_and_an_agent(db: Path) -> None:
    line_lead = figures(db, Scope("lead", "lina", (L2,)), ["inbound_messages"], by=("line",))
    assert line_lead["line"].to_list() == [L2]
    agent = figures(db, Scope("agent", "sam", agent="ag_01"), ["human_replies", "inbound_messages"], by=("agent",))
    assert agent["agent"].to_list() == ["ag_01"]
    nothing = figures(db, Scope("agent", "nobody", agent=None), ["human_replies"])
    assert nothing["human_replies"][0] == 0


def test_rows_and_transcripts_outside_the_scope_are_absent(db: Path) -> None:
    lead = Scope("lead", "lee", (), ("Care",))
    con = warehouse.connect_readonly(db)
    try:
        allowed = rows(con, "human_replies", params=Params(scope=lead), limit=None)
        every = rows(con, "human_replies", limit=None)
        inside = allowed.frame["conversation_id"][0]
        outside = next(c for c in every.frame["conversation_id"] if c not in set(allowed.frame["conversation_id"]))
        assert transcript(con, inside, scope=lead).conversation_id == inside
        with pytest.raises(ConversationNotFound):
            transcript(con, outside, scope=lead)
        agent_view = transcript(con, outside, scope=EVERYTHING)
        options = filter_options(con, Scope("agent", "sam", agent="ag_01"))
    finally:
        con.close()
    assert 0 < allowed.total < every.total
    assert agent_view.conversation_id == outside
    assert list(options.agents) == ["ag_01"] and options.teams == ["Care"]  # their own team only


def test_an_agent_never_sees_other_agents_names(db: Path) -> None:
    sam = Scope("agent", "sam", agent="ag_01")
    con = warehouse.connect_readonly(db)
    try:
        mine = rows(con, "human_replies", params=Params(scope=sam), limit=None).frame["conversation_id"].unique()
        names = dict(con.execute("SELECT agent_id, name FROM agents").fetchall())
        others = {n for a, n in names.items() if a != "ag_01" and n}
        seen = {m.author for c in mine for m in transcript(con, c, scope=sam).messages}
    finally:
        con.close()
    assert not seen & others and names["ag_01"] in seen


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_as(db: Path, access_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"access_file: {access_file}\n")
    common = ["--db", str(db), "--settings", str(settings)]
    code, out, _ = cli(
        capsys,
        "report",
        *common,
        "--metric",
        "human_replies",
        "--by",
        "team",
        "--format",
        "json",
        "--as",
        "lee@example.com",
    )
    assert code == 0 and [r["team"] for r in json.loads(out)] == ["Care"]
    code, out, err = cli(capsys, "report", *common, "--metric", "human_replies", "--as", "stranger@example.com")
    assert code == 2 and out == "" and "stranger@example.com is not in" in err
    code, out, _ = cli(
        capsys, "rows", *common, "--metric", "human_replies", "--all", "--format", "json", "--as", "sam@example.com"
    )
    assert code == 0 and {r["agent_id"] for r in json.loads(out)} == {"ag_01"}
    code, _, err = cli(capsys, "report", "--db", str(db), "--metric", "human_replies", "--as", "lee@example.com")
    assert code == 2 and "access_file" in err
