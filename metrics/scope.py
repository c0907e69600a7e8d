"""Who may see what: roles and row-level scope, applied by the read layer to every query it compiles.

``access.yaml`` (its path in settings: ``access_file``) maps people by email, and OIDC groups, to a role and a
scope:

    people:
      - {email: maria@example.com, role: manager}              # all lines and teams; OKRs; digests for others
      - {email: lee@example.com, role: lead, teams: [Care], lines: ["+16465550100"]}  # their teams and lines
      - {email: sam@example.com, role: agent, agent_id: ag_01}  # their own figures and conversations only
      - {email: ana@example.com, role: analyst}                 # everything, plus Explore and exports
    groups:
      - {group: support-leads, role: lead, teams: [Care]}

A Scope travels inside the query parameters (metrics.params.Params.scope), never in the filters a person can
change: out-of-scope rows never leave the server. The UI's own filters narrow further inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

if TYPE_CHECKING:
    from replyboard.settings import Settings

Role = Literal["manager", "lead", "agent", "analyst"]
ROLES: tuple[Role, ...] = ("manager", "lead", "agent", "analyst")


class AccessError(Exception):
    """access.yaml cannot be used, or a person is not in it (one line for the user)."""


@dataclass(frozen=True)
class Scope:
    """What one person may read. Managers and analysts see everything; a lead sees the rows of their teams
    (by owner) and lines; an agent the rows they own."""

    role: Role = "manager"
    person: str | None = None
    lines: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    agent: str | None = None

    @property
    def unrestricted(self) -> bool:
        return self.role in ("manager", "analyst")

    @property
    def may_explore(self) -> bool:
        """Raw SQL (Explore) and raw exports: analysts only."""
        return self.role == "analyst"

    @property
    def may_annotate(self) -> bool:
        return self.role in ("manager", "lead", "analyst")


EVERYTHING = Scope()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Grant(_Strict):
    role: Role
    teams: list[str] = Field(default_factory=list)
    lines: list[str] = Field(default_factory=list)
    agent_id: str | None = None

    @model_validator(mode="after")
    def _fits_role(self) -> _Grant:
        if self.role == "agent" and not self.agent_id:
            raise ValueError("an agent needs agent_id (their id in the warehouse)")
        if self.role != "agent" and self.agent_id:
            raise ValueError("agent_id is for the agent role")
        if self.role == "lead" and not (self.teams or self.lines):
            raise ValueError("a lead needs teams or lines")
        if self.role in ("manager", "analyst") and (self.teams or self.lines):
            raise ValueError(f"a {self.role} sees every team and line: remove teams/lines")
        return self


class _Person(_Grant):
    email: str

    @model_validator(mode="after")
    def _email(self) -> _Person:
        if "@" not in self.email:
            raise ValueError(f"{self.email!r} is not an email address")
        return self


class _Group(_Grant):
    group: str


class AccessFile(_Strict):
    people: list[_Person] = Field(default_factory=list)
    groups: list[_Group] = Field(default_factory=list)


def _scope(grant: _Grant, person: str) -> Scope:
    return Scope(
        role=grant.role,
        person=person,
        lines=tuple(grant.lines),
        teams=tuple(grant.teams),
        agent=grant.agent_id,
    )


@dataclass(frozen=True)
class Access:
    source: str
    file: AccessFile

    def scope_for(self, email: str, groups: Iterable[str] = ()) -> Scope:
        """The person's scope: their own entry, else their OIDC groups' (the widest role of them wins);
        AccessError when neither names them."""
        wanted = email.strip().lower()
        for p in self.file.people:
            if p.email.strip().lower() == wanted:
                return _scope(p, email)
        grants = [g for g in self.file.groups if g.group in set(groups)]
        if not grants:
            raise AccessError(f"{email} is not in {self.source}: ask a manager to add you")
        order = {"analyst": 0, "manager": 1, "lead": 2, "agent": 3}
        best = min(grants, key=lambda g: order[g.role])
        if best.role == "lead":  # several lead groups: the union of their teams and lines
            leads = [g for g in grants if g.role == "lead"]
            return Scope(
                "lead",
                email,
                tuple(sorted({x for g in leads for x in g.lines})),
                tuple(sorted({x for g in leads for x in g.teams})),
            )
        return _scope(best, email)


def load_access(path: str | Path) -> Access:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise AccessError(f"{path}: access file not found (settings access_file)") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        raise AccessError(f"{path}: cannot read the access file ({exc})") from None
    if not isinstance(raw, dict):
        raise AccessError(f"{path}: the access file must be a mapping with people: and groups:")
    try:
        return Access(str(path), AccessFile.model_validate(raw))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise AccessError(f"{path}: invalid access file: {problems}") from None


def scope_from(settings: Settings, email: str | None) -> Scope:
    """The CLI's --as EMAIL: that person's scope from the access file (settings access_file); no --as:
    everything."""
    if not email:
        return EVERYTHING
    if not settings.access_file:
        raise AccessError("--as needs an access file: set access_file in the settings (see README, Sign-in)")
    return load_access(settings.access_file).scope_for(email)
