"""Without sign-in the dashboard serves this machine only (issue 18): `make run HOST=0.0.0.0` refuses with a
message unless OPEN_WITHOUT_SIGNIN=1 says so, and sign-in configured (OIDC secrets or trusted proxy headers)
lifts the refusal. app.py checks again with Streamlit's own view (tests/test_signin.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from replyboard.exposure import exposure_problem, is_loopback, main, signin_configured
from tests.helpers import ROOT


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("", False),
        (None, False),
        ("::", False),
        ("192.168.1.10", False),
        ("replyboard.example.com", False),
    ],
)
def test_loopback_addresses(address: str | None, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_the_refusal_and_its_ways_out() -> None:
    problem = exposure_problem("0.0.0.0", False, override=False)
    assert problem and "without sign-in" in problem and "OPEN_WITHOUT_SIGNIN=1" in problem
    assert exposure_problem("0.0.0.0", True, override=False) is None
    assert exposure_problem("0.0.0.0", False, override=True) is None
    assert exposure_problem("127.0.0.1", False, override=False) is None


def test_what_counts_as_sign_in_configured(tmp_path: Path) -> None:
    assert not signin_configured(tmp_path, {})
    (tmp_path / "config.toml").write_text('[server]\naddress = "0.0.0.0"\n')
    assert not signin_configured(tmp_path, {})
    (tmp_path / "config.toml").write_text('[server]\ntrustedUserHeaders = { "X-Forwarded-Email" = "email" }\n')
    assert signin_configured(tmp_path, {})
    (tmp_path / "config.toml").unlink()
    assert signin_configured(tmp_path, {"STREAMLIT_SERVER_TRUSTED_USER_HEADERS": '{"X-Email": "email"}'})
    assert not signin_configured(tmp_path, {"STREAMLIT_SERVER_TRUSTED_USER_HEADERS": '{"X-Name": "name"}'})
    (tmp_path / "secrets.toml").write_text('[auth]\nredirect_uri = "https://x/oauth2callback"\n')
    assert signin_configured(tmp_path, {})


def test_the_cli_exits_2_with_the_message(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("REPLYBOARD_OPEN_WITHOUT_SIGNIN", raising=False)
    assert main(["--host", "0.0.0.0", "--streamlit-dir", str(tmp_path)]) == 2
    assert "will not serve on 0.0.0.0 without sign-in" in capsys.readouterr().err
    assert main(["--host", "127.0.0.1", "--streamlit-dir", str(tmp_path)]) == 0
    monkeypatch.setenv("REPLYBOARD_OPEN_WITHOUT_SIGNIN", "1")
    assert main(["--host", "0.0.0.0", "--streamlit-dir", str(tmp_path)]) == 0


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """The Makefile and Streamlit config in a folder of their own (no local secrets.toml of a developer's), with
    the shared virtualenv and the code linked in."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(ROOT / "Makefile", root)
    shutil.copytree(ROOT / ".streamlit", root / ".streamlit", ignore=shutil.ignore_patterns("secrets.toml"))
    for name in (".venv", "replyboard"):
        (root / name).symlink_to((ROOT / name).resolve())
    return root


def _make_run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -o: install and sample-db count as done, so only the check before streamlit is exercised
    return subprocess.run(
        ["make", "-o", "install", "-o", "sample-db", "run", *args, "DB=/nonexistent/w.duckdb"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _check(root: Path, **env: str) -> int:
    return subprocess.run(
        [".venv/bin/python", "-m", "replyboard.exposure", "--host", "0.0.0.0"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        timeout=60,
    ).returncode


def test_make_run_on_another_interface_without_sign_in_refuses(clone: Path) -> None:
    refused = _make_run(clone, "HOST=0.0.0.0")
    assert refused.returncode != 0
    assert "will not serve on 0.0.0.0 without sign-in" in refused.stderr
    assert "streamlit run" not in refused.stdout, "streamlit never started"
    dry = subprocess.run(
        ["make", "-n", "-o", "install", "-o", "sample-db", "run", "HOST=0.0.0.0", "OPEN_WITHOUT_SIGNIN=1"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "REPLYBOARD_OPEN_WITHOUT_SIGNIN=1" in dry.stdout and "--server.address 0.0.0.0" in dry.stdout
    assert _check(clone) == 2
    assert _check(clone, REPLYBOARD_OPEN_WITHOUT_SIGNIN="1") == 0  # the explicit override
    (clone / ".streamlit" / "secrets.toml").write_text('[auth]\nredirect_uri = "https://x/oauth2callback"\n')
    assert _check(clone) == 0  # sign-in configured


def test_make_run_on_loopback_passes_the_check(clone: Path) -> None:
    assert _check(clone) == 2 and _make_run(clone, "HOST=127.0.0.1", "-n").returncode == 0
