"""Issue 11: the dashboard is private by default. `make run` and a plain `streamlit run app.py` listen on
127.0.0.1 only (HOST=... opens it on purpose) and Streamlit's toolbar has no Deploy button (the browser test
checks the rendered page too)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import ARTIFACTS, ROOT


def _make_dry_run(*args: str) -> str:
    out = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_make_run_serves_on_loopback_unless_told_otherwise():
    assert "--server.address 127.0.0.1" in _make_dry_run("DB=/nonexistent/w.duckdb")
    assert "--server.address 0.0.0.0" in _make_dry_run("HOST=0.0.0.0", "DB=/nonexistent/w.duckdb")


def test_streamlit_reads_the_private_defaults_from_the_repository_config():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["client"]["toolbarMode"] in ("viewer", "minimal")  # no Deploy button
    shown = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show"], cwd=ROOT, capture_output=True, text=True, timeout=120
    ).stdout
    assert 'address = "127.0.0.1"' in shown and f'toolbarMode = "{config["client"]["toolbarMode"]}"' in shown


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepts(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(5)
        try:
            s.connect((host, port))
        except OSError:
            return False
        return True


def test_the_served_dashboard_answers_on_127_0_0_1_only(sample_warehouse: Path):
    # Any 127.x address reaches a socket listening on all interfaces; one bound to 127.0.0.1 refuses 127.0.0.2,
    # as it refuses the machine's other addresses.
    with socket.socket() as open_to_all:
        open_to_all.bind(("0.0.0.0", 0))
        open_to_all.listen()
        assert _accepts("127.0.0.2", open_to_all.getsockname()[1]), "control: 127.0.0.2 reaches 0.0.0.0"
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],  # the config's address
        cwd=ROOT,
        env={**os.environ, "REPLYBOARD_DB": str(sample_warehouse)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            time.sleep(0.5)
        else:
            pytest.fail("streamlit did not answer /_stcore/health within 60 s")
        assert _accepts("127.0.0.1", port)
        assert not _accepts("127.0.0.2", port)
        (ARTIFACTS / "private_dashboard.txt").write_text(
            "private dashboard: served on 127.0.0.1 only (127.0.0.2 refused); viewer toolbar, no Deploy button\n"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
