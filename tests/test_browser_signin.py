"""Sign-in in a real browser through a real OpenID Connect provider (issue 18).

The test starts panva's oidc-provider (npm, OpenID Certified; tests/oidc/, installed by `npm ci` in .ci/run) on
127.0.0.1, writes a secrets.toml naming it, and serves `streamlit run app.py` with it (--secrets.files, so a
developer's own .streamlit/secrets.toml is never read). Debian's Chromium then signs in through the provider's
login form once as a lead and once as an agent and checks what each sees; an unknown person is refused; a
session cookie that was tampered with, or signed with another secret, signs nobody in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from itsdangerous.encoding import base64_decode, base64_encode

from replyboard import warehouse
from replyboard.appstate import AppState
from tests.helpers import ARTIFACTS, ROOT
from tests.test_browser import _free_port, _launch, _need_chromium, _wait_until_idle

OIDC_DIR = ROOT / "tests" / "oidc"
NODE = shutil.which("node")
SHOTS = ARTIFACTS / "screenshots"
ACCOUNTS = {  # login typed into the provider's form -> the ID token's claims
    "lee": {"email": "lee@example.com", "email_verified": True, "name": "Lee Lead"},
    "sam": {"email": "sam@example.com", "email_verified": True, "name": "Sam Rivera"},
    "stranger": {"email": "stranger@example.com", "email_verified": True, "name": "Somebody Else"},
}
ACCESS = {
    "people": [
        {"email": "lee@example.com", "role": "lead", "teams": ["Care"]},
        {"email": "sam@example.com", "role": "agent", "agent_id": "ag_01"},
        {"email": "maria@example.com", "role": "manager"},
    ]
}
COOKIE_SECRET = "browser-test-cookie-secret-" + "k" * 24

pytestmark = pytest.mark.browser


def _need_provider() -> None:
    if NODE is None or not (OIDC_DIR / "node_modules" / "oidc-provider").is_dir():
        if os.environ.get("CI"):
            pytest.fail(
                "node or tests/oidc/node_modules is missing; .ci/run installs them (npm ci --prefix tests/oidc)"
            )
        pytest.skip("the test OIDC provider is not installed: npm ci --prefix tests/oidc")


def _wait_for(url: str, what: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"{what} did not answer {url} within 60 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def names(sample_warehouse: Path) -> dict[str, str]:
    con = warehouse.connect_readonly(sample_warehouse)
    try:
        return dict(con.execute("SELECT name, team FROM agents").fetchall())
    finally:
        con.close()


@pytest.fixture(scope="module")
def site(sample_warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The provider and the dashboard, both on 127.0.0.1: {app, idp, state}."""
    _need_chromium()
    _need_provider()
    folder = tmp_path_factory.mktemp("signin")
    app_port, idp_port = _free_port(), _free_port()
    app, idp = f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{idp_port}"
    (folder / "access.yaml").write_text(yaml.safe_dump(ACCESS))
    (folder / "settings.yaml").write_text((ROOT / "settings.yaml").read_text() + "\naccess_file: access.yaml\n")
    (folder / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{app}/oauth2callback"\n'
        f'cookie_secret = "{COOKIE_SECRET}"\n'
        'client_id = "replyboard"\n'
        'client_secret = "browser-test-client-secret"\n'
        f'server_metadata_url = "{idp}/.well-known/openid-configuration"\n'
        'client_kwargs = { prompt = "login" }\n'  # oidc-provider knows login and consent, not select_account
    )
    provider = subprocess.Popen(
        [NODE, "provider.mjs"],
        cwd=OIDC_DIR,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "OIDC_PORT": str(idp_port),
            "OIDC_CLIENT_ID": "replyboard",
            "OIDC_CLIENT_SECRET": "browser-test-client-secret",
            "OIDC_REDIRECT_URI": f"{app}/oauth2callback",
            "OIDC_ACCOUNTS": json.dumps(ACCOUNTS),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dashboard = None
    try:
        _wait_for(f"{idp}/.well-known/openid-configuration", "the OIDC provider", provider)
        state = folder / "state.sqlite"
        dashboard = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.headless",
                "true",
                "--server.address",
                "127.0.0.1",
                "--server.port",
                str(app_port),
                "--browser.gatherUsageStats",
                "false",
                "--secrets.files",
                str(folder / "secrets.toml"),
            ],
            cwd=ROOT,
            env={
                **os.environ,
                "REPLYBOARD_DB": str(sample_warehouse),
                "REPLYBOARD_SETTINGS": str(folder / "settings.yaml"),
                "REPLYBOARD_STATE": str(state),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for(f"{app}/_stcore/health", "streamlit", dashboard)
        yield {"app": app, "idp": idp, "state": str(state)}
    finally:
        if dashboard is not None:
            _stop(dashboard)
        _stop(provider)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = _launch(pw)
        yield launched
        launched.close()


def _text(page) -> str:
    _wait_until_idle(page)
    return page.inner_text("body")


def sign_in(browser, site: dict[str, str], login: str):
    """A fresh browser (no cookies) that signs in through the provider's form; returns (context, page)."""
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.goto(site["app"])
    page.get_by_role("button", name="Sign in").click(timeout=60_000)
    page.wait_for_url(f"{site['idp']}/**", timeout=60_000)  # the provider's login form, not ours
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any password: the development form accepts it")
    page.click("button[type=submit]")
    page.wait_for_url(f"{site['app']}/**", timeout=60_000)
    page.wait_for_selector("[data-testid=stSidebar], [data-testid=stAlert]", timeout=60_000)
    return context, page


def _visit(page, url: str) -> str:
    page.goto(url)
    page.wait_for_selector("h1", timeout=60_000)
    return _text(page)


def test_a_lead_signs_in_and_sees_their_team(browser, site: dict[str, str], names: dict[str, str]) -> None:
    context, page = sign_in(browser, site, "lee")
    try:
        home = _text(page)
        assert "lee@example.com" in home and "lead" in home
        agents = _visit(page, f"{site['app']}/agents")
        care = {n for n, t in names.items() if t == "Care"}
        rides = {n for n, t in names.items() if t == "Rides"}
        assert care & set(_words(agents, care)), "the lead's team is on the Agents page"
        assert not [n for n in rides if n in agents], "no agent of another team"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "signin-lead-agents.png"), full_page=True)
        explore = _visit(page, f"{site['app']}/explore")
        assert "Quick chart" not in explore and "SELECT" not in explore, "Explore is not a lead's page"
    finally:
        context.close()
    signs = [(w, a, d) for _, w, a, d in AppState(site["state"]).audit_log() if a == "sign_in"]
    assert ("lee@example.com", "sign_in", {"via": "oidc", "role": "lead"}) in signs


def _words(text: str, candidates: set[str]) -> list[str]:
    return [c for c in candidates if c in text]


def test_an_agent_signs_in_and_sees_only_their_own(browser, site: dict[str, str], names: dict[str, str]) -> None:
    context, page = sign_in(browser, site, "sam")
    try:
        mine = _text(page)
        assert "My stats" in mine and "against the team's median" in mine and "sam@example.com" in mine
        assert not [n for n in names if n != "Sam Rivera" and n in mine], "no other agent's name"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "signin-agent-my-stats.png"), full_page=True)
        agents = _visit(page, f"{site['app']}/agents")
        assert not [n for n in names if n != "Sam Rivera" and n in agents], "the Agents page is not theirs"
        assert "share of team" not in agents
    finally:
        context.close()


def test_an_unknown_person_is_refused(browser, site: dict[str, str], names: dict[str, str]) -> None:
    context, page = sign_in(browser, site, "stranger")
    try:
        shown = _text(page)
        assert "No access" in shown and "stranger@example.com is not in" in shown
        assert not [n for n in names if n in shown]
        assert page.query_selector("[data-testid=stSidebar]") is None or "Filters" not in shown
    finally:
        context.close()


def _reforged(value: str, email: str) -> str:
    """The cookie's payload (itsdangerous: base64url JSON, zlib-compressed when it starts with '.', then
    .timestamp.signature) rewritten with another email, the original signature kept."""
    compressed = value.startswith(".")
    payload, stamp, signature = value.lstrip(".").rsplit(".", 2)
    raw = base64_decode(payload)
    inner = json.loads(json.loads(zlib.decompress(raw) if compressed else raw))
    inner["email"] = email
    data = json.dumps(json.dumps(inner)).encode()
    forged = base64_encode(zlib.compress(data) if compressed else data).decode()
    return f"{'.' if compressed else ''}{forged}.{stamp}.{signature}"


def test_a_tampered_session_cookie_signs_nobody_in(browser, site: dict[str, str]) -> None:
    from itsdangerous import URLSafeTimedSerializer

    context, page = sign_in(browser, site, "lee")
    try:
        cookie = next(c for c in context.cookies() if c["name"] == "_streamlit_user")
    finally:
        context.close()
    claims = {"is_logged_in": True, "email": "maria@example.com", "origin": site["app"]}
    wrong_secret = URLSafeTimedSerializer("not-the-cookie-secret", salt="_streamlit_user").dumps(json.dumps(claims))
    for value in (_reforged(cookie["value"], "maria@example.com"), wrong_secret):
        forged = browser.new_context()
        try:
            forged.add_cookies([{**cookie, "value": value}])
            page = forged.new_page()
            shown = _visit(page, site["app"])
            assert "Sign in" in shown, "an invalid cookie is no sign-in"
            assert "maria@example.com" not in shown and "lee@example.com" not in shown
            assert "Overview" not in shown and "Filters" not in shown
        finally:
            forged.close()
    # the control: the same claims signed with the real secret do sign in, so it was the signature that refused
    genuine = browser.new_context()
    try:
        signed = URLSafeTimedSerializer(COOKIE_SECRET, salt="_streamlit_user").dumps(json.dumps(claims))
        genuine.add_cookies([{**cookie, "value": signed}])
        shown = _visit(genuine.new_page(), site["app"])
        assert "maria@example.com" in shown and "manager" in shown
    finally:
        genuine.close()
