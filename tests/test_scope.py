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
from metrics.compiler import CompileError, Filters
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


def test_cli_okr_and_conversation_as(
    db: Path, access_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """okr --as measures every key result in the person's scope (a KR's own filters narrow inside it);
    conversation --as answers 'no conversation' outside it; a stranger is refused (exit 2)."""
    settings = tmp_path / "settings.yaml"
    settings.write_text(f"access_file: {access_file}\n")
    okrs = tmp_path / "okr.yaml"
    okrs.write_text(
        yaml.safe_dump(
            {
                "period": "2026-q1",
                "start": "2026-01-01",
                "end": "2026-12-31",
                "objectives": [
                    {
                        "id": "o1",
                        "title": "Reply",
                        "key_results": [
                            {
                                "id": "replies",
                                "title": "Replies",
                                "metric": "human_replies",
                                "comparator": "gte",
                                "target": 1,
                                "baseline": 0,
                            },
                            {
                                "id": "sales",
                                "title": "Sales replies",
                                "metric": "human_replies",
                                "comparator": "gte",
                                "target": 1,
                                "baseline": 0,
                                "filters": {"teams": ["Sales"]},
                            },
                        ],
                    }
                ],
            }
        )
    )
    common = ["--db", str(db), "--settings", str(settings), "--definitions", str(okrs), "--format", "json"]
    con = warehouse.connect_readonly(db)
    try:
        care = compute(con, ["human_replies"], params=Params(scope=Scope("lead", teams=("Care",))))["human_replies"][0]
        total = compute(con, ["human_replies"])["human_replies"][0]
        every = rows(con, "human_replies", limit=None).frame
    finally:
        con.close()
    currents = {}
    for who in (None, "lee@example.com"):
        code, out, err = cli(capsys, "okr", *common, "--no-history", *(("--as", who) if who else ()))
        assert code == 0, err
        currents[who] = {kr["id"]: kr["current"] for kr in json.loads(out)[0]["key_results"]}
    assert currents[None]["replies"] == total and currents["lee@example.com"]["replies"] == care < total
    assert currents["lee@example.com"]["sales"] == 0 < currents[None]["sales"]  # the KR's filter cannot widen it
    code, out, err = cli(capsys, "okr", *common, "--as", "stranger@example.com")
    assert code == 2 and out == "" and "stranger@example.com is not in" in err
    sam_owns = set(
        every.filter(pl.col("agent_id") == "ag_01")["conversation_id"].to_list()
    )  # rows of Sam's replies; an agent's conversations are the ones they own (first replier)
    con = warehouse.connect_readonly(db)
    try:
        owned = dict(con.execute("SELECT conversation_id, first_agent_id FROM conversations").fetchall())
    finally:
        con.close()
    mine = next(c for c in sam_owns if owned.get(c) == "ag_01")
    theirs = next(c for c, a in owned.items() if a not in (None, "ag_01"))
    base = ["--db", str(db), "--settings", str(settings), "--format", "json", "--as", "sam@example.com"]
    code, out, _ = cli(capsys, "conversation", *base[:4], mine, *base[4:])
    assert code == 0 and json.loads(out)["conversation_id"] == mine
    code, out, err = cli(capsys, "conversation", *base[:4], theirs, *base[4:])
    assert code == 2 and out == "" and "no conversation" in err


def test_an_agent_against_the_team_median(db: Path) -> None:
    """My stats' read: the agent's own figures and the median of their team's agents, nothing else leaves."""
    from metrics.reads import against_team_median

    sam = Params(scope=Scope("agent", "sam", agent="ag_01"))
    con = warehouse.connect_readonly(db)
    try:
        totals, team = against_team_median(con, ["human_replies", "reply_time_median"], Filters(), sam)
        weekly, _ = against_team_median(con, ["human_replies"], Filters(), sam, by="week")
        per_agent = compute(con, ["human_replies", "reply_time_median"], by=("agent", "team"))
        others = {a for a in per_agent["agent"].drop_nulls() if a != "ag_01"}
        with pytest.raises(CompileError, match="agent's scope"):
            against_team_median(con, ["human_replies"], Filters(), Params())
    finally:
        con.close()
    care = per_agent.filter((pl.col("team") == "Care") & pl.col("agent").is_not_null())
    row = totals.row(0, named=True)
    assert team == "Care" and row["team_agents"] == care.height > 1
    assert row["human_replies"] == care.filter(pl.col("agent") == "ag_01")["human_replies"][0]
    assert row["human_replies_team_median"] == care["human_replies"].median()
    assert row["reply_time_median_team_median"] == care["reply_time_median"].median()
    assert set(totals.columns) == {
        *(f"{m}{s}" for m in ("human_replies", "reply_time_median") for s in ("", "_n", "_team_median")),
        "team_agents",
    }
    shown = str(totals.to_dicts()) + str(weekly.to_dicts())
    assert not [a for a in others if a in shown], "no other agent's id in the result"
    assert weekly["human_replies"].sum() == row["human_replies"]
