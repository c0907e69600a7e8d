"""Who is using the dashboard, and what they may see (issue 18).

Three ways to run it, chosen by what is configured:

- **oidc**: an ``[auth]`` section in ``.streamlit/secrets.toml``. People sign in with ``st.login`` (Authlib, any
  OpenID Connect provider); Streamlit keeps their ID token's claims in a signed cookie and gives them to us as
  ``st.user`` (a cookie whose signature does not verify gives no user at all).
- **proxy**: ``server.trustedUserHeaders`` maps a header to ``email`` (oauth2-proxy's ``X-Forwarded-Email``, and
  groups from ``X-Forwarded-Groups``); Streamlit copies the header into ``st.user`` on every connection. The proxy
  must strip client-sent copies of it (README).
- **local**: neither. One person on this machine (the demo, ``make run``): every page, authored as ``$USER``; it
  refuses to serve other machines (replyboard.exposure).

A signed-in person is resolved with the access file (settings ``access_file``, metrics.scope): an email, or OIDC
groups, not in it is refused with a page that shows no data. Their Scope then travels inside every query's
parameters (pages.common.params), so out-of-scope rows never leave the read layer.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import streamlit as st

from metrics.scope import Access, AccessError, Scope, load_access
from replyboard.exposure import exposure_problem, overridden

Mode = Literal["oidc", "proxy", "local"]
SIGNED_IN_KEY = "_signin_recorded"  # who this session's sign-in was audited for (once per session)


@dataclass(frozen=True)
class Person:
    email: str
    scope: Scope
    via: Mode


@dataclass(frozen=True)
class Refusal:
    """Why nobody may see data in this session: the page says it, with a way to sign in or out."""

    title: str
    message: str
    sign_in: bool = False  # offer the sign-in button (oidc, not signed in yet)
    sign_out: bool = False  # offer sign-out (oidc, signed in as someone the access file refuses)


def mode() -> Mode:
    if st.secrets.load_if_toml_exists() and "auth" in st.secrets:
        return "oidc"
    headers = st.get_option("server.trustedUserHeaders")
    if isinstance(headers, dict) and "email" in headers.values():
        return "proxy"
    return "local"


def providers() -> list[str | None]:
    """The [auth.NAME] sections of secrets.toml (one button each), or [None]: the [auth] section itself."""
    named = [k for k, v in st.secrets["auth"].items() if isinstance(v, Mapping) and "client_id" in v]
    return sorted(named) or [None]


def local_user() -> str:
    return os.environ.get("USER") or "dashboard"


@st.cache_resource(show_spinner=False, max_entries=4)
def _access(path: str, stamp: tuple[int, int]) -> Access:
    # keyed on the file's mtime and size: an edited access file applies on the next rerun, without a restart
    return load_access(path)


def access(path: str) -> Access:
    try:
        info = Path(path).stat()
    except OSError:
        raise AccessError(f"{path}: access file not found (settings access_file)") from None
    return _access(path, (info.st_mtime_ns, info.st_size))


def _groups(raw: object) -> tuple[str, ...]:
    """OIDC sends a list; a proxy header is one comma-separated string (oauth2-proxy's X-Forwarded-Groups)."""
    if isinstance(raw, str):
        return tuple(g.strip() for g in raw.split(",") if g.strip())
    if isinstance(raw, Iterable):
        return tuple(str(g) for g in raw)
    return ()


def email_of(user: dict) -> str | None:
    """The signed-in address: the email claim, else Entra's preferred_username when it is an address."""
    for claim in ("email", "preferred_username"):
        value = user.get(claim)
        if isinstance(value, str) and "@" in value:
            return value.strip()
    return None


@st.cache_data(show_spinner=False, max_entries=256)
def _scope(path: str, stamp: tuple[int, int], email: str, groups: tuple[str, ...]) -> Scope:
    """One person's scope, cached per person and access-file version."""
    return _access(path, stamp).scope_for(email, groups)


def resolve(access_file: str | None) -> Person | Refusal:
    """The person using this session and their scope, or why they may not see anything."""
    how = mode()
    if how == "local":
        problem = exposure_problem(st.get_option("server.address"), False, override=overridden())
        if problem:
            return Refusal("This dashboard is not open to the network", problem)
        return Person(local_user(), Scope("analyst", local_user()), "local")
    user = st.user.to_dict()
    if how == "oidc" and not user.get("is_logged_in"):
        return Refusal("Sign in", "Replyboard shows each person the lines and teams they work on.", sign_in=True)
    email = email_of(user)
    if email is None:
        source = "the sign-in proxy sent no user header" if how == "proxy" else "your sign-in carries no email address"
        return Refusal("Not signed in", f"Replyboard cannot tell who you are: {source}.", sign_out=how == "oidc")
    if user.get("email_verified") is False:  # the provider itself says the address was never proven
        return Refusal("Email not verified", f"{email} is not verified by your provider.", sign_out=how == "oidc")
    if not access_file:
        return Refusal(
            "Access is not configured",
            "Sign-in is on but the settings name no access_file, so nobody can be given a scope (README, "
            "'Sign-in and roles').",
            sign_out=how == "oidc",
        )
    try:
        info = Path(access_file).stat()
        scope = _scope(access_file, (info.st_mtime_ns, info.st_size), email, _groups(user.get("groups")))
    except OSError:
        return Refusal("Access is not configured", f"{access_file}: access file not found.", sign_out=how == "oidc")
    except AccessError as exc:
        return Refusal("No access", str(exc), sign_out=how == "oidc")
    return Person(email, scope, how)


def show_refusal(refusal: Refusal) -> None:
    """The page an unknown or signed-out person sees: no figures, no names, no filters."""
    st.title(refusal.title)
    if refusal.sign_in:
        st.info(refusal.message, icon=":material/lock:")
        for name in providers():
            label = "Sign in" if name is None else f"Sign in with {name}"
            if st.button(label, type="primary", icon=":material/login:", key=f"signin-{name or 'default'}"):
                st.login(name)
    else:
        st.error(refusal.message, icon=":material/block:")
    if refusal.sign_out and st.button("Sign out", icon=":material/logout:", key="signout-button"):
        st.logout()
