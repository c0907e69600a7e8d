"""Who can reach the dashboard: without sign-in it serves this machine only, unless told explicitly.

Without sign-in the dashboard is single-user (whoever runs it sees every page, Explore's SQL included), so it
must not listen on an address other machines reach. ``make run`` checks before starting Streamlit
(``python -m replyboard.exposure --host HOST``, reading the same files Streamlit reads), and app.py checks
again with Streamlit's own view of its address and secrets, so a plain ``streamlit run app.py
--server.address 0.0.0.0`` shows a refusal instead of data. ``REPLYBOARD_OPEN_WITHOUT_SIGNIN=1`` is the
explicit override (a trusted network, or a proxy that signs people in but sends no header).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import tomllib
from pathlib import Path

OVERRIDE_ENV = "REPLYBOARD_OPEN_WITHOUT_SIGNIN"
TRUSTED_HEADERS_ENV = "STREAMLIT_SERVER_TRUSTED_USER_HEADERS"


def is_loopback(address: str | None) -> bool:
    """127.0.0.0/8, ::1 and localhost; an empty address is every interface (Streamlit's default)."""
    if not address:
        return False
    host = address.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def overridden(environ: dict[str, str] | None = None) -> bool:
    value = (environ if environ is not None else os.environ).get(OVERRIDE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes")


def exposure_problem(address: str | None, signin_configured: bool, *, override: bool) -> str | None:
    """Why the dashboard must not serve on ``address`` as configured, or None."""
    if signin_configured or override or is_loopback(address):
        return None
    where = f"on {address}" if address else "on every interface"
    return (
        f"Replyboard will not serve {where} without sign-in: anyone who reaches it would see every message and "
        "run SQL over them. Configure sign-in (OIDC in .streamlit/secrets.toml, or a trusted proxy's headers: "
        "README, 'Sign-in and roles'), serve on 127.0.0.1, or set "
        f"{OVERRIDE_ENV}=1 (make run HOST=... OPEN_WITHOUT_SIGNIN=1) if this network is trusted."
    )


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SystemExit(f"error: {path}: cannot read it ({exc})") from None


def signin_configured(streamlit_dir: Path, environ: dict[str, str] | None = None) -> bool:
    """What Streamlit will find: an [auth] section in secrets.toml (st.login) or trusted user headers (in
    config.toml or the environment) that name the email."""
    environ = environ if environ is not None else dict(os.environ)
    if isinstance(_toml(streamlit_dir / "secrets.toml").get("auth"), dict):
        return True
    headers: object = _toml(streamlit_dir / "config.toml").get("server", {}).get("trustedUserHeaders")
    if environ.get(TRUSTED_HEADERS_ENV):
        try:
            headers = json.loads(environ[TRUSTED_HEADERS_ENV])
        except json.JSONDecodeError:
            raise SystemExit(f"error: {TRUSTED_HEADERS_ENV} is not a JSON object of header -> st.user key") from None
    return isinstance(headers, dict) and "email" in headers.values()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replyboard.exposure", description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True, help="the address the dashboard is about to listen on")
    parser.add_argument("--streamlit-dir", type=Path, default=Path(".streamlit"))
    args = parser.parse_args(argv)
    problem = exposure_problem(args.host, signin_configured(args.streamlit_dir), override=overridden())
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
