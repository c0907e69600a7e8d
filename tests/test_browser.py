"""One real browser: Debian's chromium drives `streamlit run app.py` on the sample warehouse, every page.

Skipped only outside CI when no chromium is installed; in CI (CI=true) a missing browser fails the test.
Screenshots of each page go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pages.catalog import pages_for
from tests.helpers import ARTIFACTS, ROOT

PAGES = pages_for("analyst")  # the single-user dashboard (no sign-in) is an analyst's view

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ARTIFACTS / "screenshots"
# What each page must show once rendered (a figure a user reads there).
KEY_TEXT = {
    "okrs": "feels well-supported",
    "overview": "Texts received",
    "agents": "Agents",
    "response-times": "Response times",
    "busiest-times": "Busiest times",
    "satisfaction": "Satisfaction",
    "compliance": "Compliance",
    "explore": "Quick chart",
    "data-health": "Data health",
    "queues": "Waiting now",
    "rows": "Choose a metric",
    "conversation": "Open a conversation",
}

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("no chromium on this machine (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(sample_warehouse: Path):
    _need_chromium()
    yield from _serve(sample_warehouse)


def _serve(db: Path, **env_extra: str):
    """`streamlit run app.py` on db until the generator is closed; yields its URL."""
    port = _free_port()
    env = {**os.environ, "REPLYBOARD_DB": str(db), **env_extra}
    env.pop("REPLYBOARD_STATE", None)  # the store beside the warehouse, as in production
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # never read: a pipe left full would stall the server
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not answer /_stcore/health within 60 s")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# Elements of the page that reach past the viewport's right edge (a horizontal scrollbar for the whole page);
# a table or chart scrolling inside its own frame is fine, its frame must fit.
_WIDER_THAN_VIEWPORT = """() => {
  const limit = window.innerWidth + 1;
  const out = [];
  for (const el of document.querySelectorAll('[data-testid="stMain"] [data-testid="stElementContainer"]')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > limit) out.push(`${el.innerText.slice(0, 40)} (${Math.round(r.right)} px)`);
  }
  if (document.documentElement.scrollWidth > limit) out.push(`page scrolls to ${document.documentElement.scrollWidth} px`);
  return out;
}"""


def _wait_until_idle(page) -> None:
    """Until the script run has finished: no 'Running...'/'Stop'/'Connecting' status for a moment."""
    quiet = 0
    for _ in range(120):
        status = page.evaluate("() => document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText || ''")
        # the viewer toolbar (.streamlit/config.toml) shows only a "Stop" button while the script runs
        busy = any(w in status.upper() for w in ("RUNNING", "CONNECTING", "STOP"))
        quiet = 0 if busy else quiet + 1
        if quiet >= 3:
            return
        page.wait_for_timeout(500)
    raise AssertionError("the page kept running for 60 s")


def _wait_for_text(page, text: str, name: str, where: str = "[data-testid='stMain']") -> str:
    """The text of `where` (stMain) once it shows ``text`` (60 s at most): under load the status widget can look
    idle for a moment before a run has sent all its elements. On a timeout the screenshot and the text are kept
    for the report."""
    try:
        page.wait_for_function(
            "([w, t]) => (document.querySelector(w)?.innerText || '').includes(t)",
            arg=[where, text],
            timeout=60_000,
        )
    except Exception:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}-missing-text.png"), full_page=True)
        (SHOTS / f"{name}-missing-text.txt").write_text(page.inner_text(where))
    _wait_until_idle(page)
    return page.inner_text(where)


def _hours_selected(page) -> str:
    """The sidebar's selected hours segment (the control shows both, so its text alone proves nothing)."""
    active = page.locator("[data-testid='stSidebar'] button[aria-checked='true']")
    active.first.wait_for(timeout=60_000)  # the sidebar's widgets can arrive after the status looks idle
    return active.first.inner_text().strip()


def _launch(pw):
    return pw.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    )


def test_every_page_renders_in_chromium(server: str):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    visited = []
    with sync_playwright() as pw:
        browser = _launch(pw)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        for spec in PAGES:
            page.goto(f"{server}/{spec.url_path}", wait_until="networkidle")
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
            _wait_until_idle(page)
            body = _wait_for_text(page, KEY_TEXT[spec.url_path], spec.url_path)
            assert page.locator("[data-testid='stException']").count() == 0, f"{spec.url_path}: exception shown"
            assert page.locator("[data-testid='stAlertContentError']").count() == 0, f"{spec.url_path}: error shown"
            assert KEY_TEXT[spec.url_path] in body, f"{spec.url_path}: {KEY_TEXT[spec.url_path]!r} not visible"
            # .streamlit/config.toml's viewer toolbar: no Deploy button (Streamlit shows one on localhost by default)
            assert page.locator("[data-testid='stAppDeployButton']").count() == 0, f"{spec.url_path}: Deploy shown"
            assert page.get_by_text("Deploy", exact=True).count() == 0, f"{spec.url_path}: Deploy shown"
            wide = page.evaluate(_WIDER_THAN_VIEWPORT)
            assert wide == [], f"{spec.url_path}: wider than the 1440 px viewport: {wide}"
            page.screenshot(path=str(SHOTS / f"{spec.url_path}.png"), full_page=True)
            visited.append(spec.url_path)
        # a link reproduces a view: the filters in the URL come back as widget values
        page.goto(f"{server}/overview?hours=business", wait_until="networkidle")
        _wait_until_idle(page)
        assert "hours=business" in page.url
        assert _hours_selected(page) == "business"
        browser.close()
    (ARTIFACTS / "browser.txt").write_text(
        f"browser: {len(visited)} pages rendered in chromium, screenshots in {SHOTS.relative_to(ROOT)}\n"
    )
    assert len(visited) == len(PAGES)


def test_a_fresh_servers_first_visit_opens_the_linked_page(sample_warehouse: Path):
    """A digest's link is often the first visit a server gets: /response-times?hours=business on a fresh server
    opens Response times in business hours (Streamlit's older multipage mode, on while a folder named pages/
    exists and before app.py has run once, knows it only as response_times and used to show the OKRs)."""
    from playwright.sync_api import sync_playwright

    _need_chromium()
    serving = _serve(sample_warehouse)
    url = next(serving)
    try:
        with sync_playwright() as pw:
            browser = _launch(pw)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/response-times?hours=business", wait_until="networkidle")
            page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
            _wait_until_idle(page)
            assert page.inner_text("[data-testid='stMain'] h1") == "Response times"
            assert page.url.endswith("/response-times?hours=business")
            assert _hours_selected(page) == "business"
            browser.close()
    finally:
        serving.close()
