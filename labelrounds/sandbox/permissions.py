"""Team roles and the permission rules: who may see and do what."""

from __future__ import annotations

import sqlite3
from enum import IntEnum

from labelrounds.sandbox.auth import Actor
from labelrounds.sandbox.errors import Forbidden


class Role(IntEnum):
    """Team roles; ids 1–4 are hard-coded in the official SDK (`DefaultRole`)."""

    ADMIN = 1
    DEVELOPER = 2
    ANNOTATOR = 3
    VIEWER = 4
    MANAGER = 5
    REVIEWER = 6

    @property
    def wire_name(self) -> str:
        """The role's name on the wire, e.g. `annotator`."""
        return self.name.lower()


TEAM_MANAGERS = frozenset({Role.ADMIN, Role.MANAGER})
"""May create users and manage team members."""
JOB_MANAGERS = frozenset({Role.ADMIN, Role.MANAGER, Role.DEVELOPER})
"""May create and administer labeling jobs (any status) and see all of the team's jobs."""
META_EDITORS = frozenset({Role.ADMIN, Role.MANAGER, Role.DEVELOPER})
"""May change a project's classes, tags and settings."""
WORKERS = frozenset({Role.ADMIN, Role.MANAGER, Role.DEVELOPER, Role.ANNOTATOR, Role.REVIEWER})
"""May be assigned to a job as labeler or reviewer (everyone but viewers)."""


def team_role(db: sqlite3.Connection, actor: Actor, team_id: int) -> Role | None:
    """The actor's role in a team: its membership role, ADMIN for the instance admin, None for outsiders."""
    if actor.is_instance_admin:
        return Role.ADMIN
    return membership_role(db, actor.id, team_id)


def membership_role(db: sqlite3.Connection, user_id: int, team_id: int) -> Role | None:
    """Any user's role in a team, like `team_role` but by id (the instance admin counts as team admin)."""
    row = db.execute(
        "SELECT m.role_id, u.is_instance_admin FROM users u"
        " LEFT JOIN members m ON m.user_id = u.id AND m.team_id = ? WHERE u.id = ?",
        (team_id, user_id),
    ).fetchone()
    if row is None:
        return None
    role_id, is_instance_admin = row
    if is_instance_admin:
        return Role.ADMIN
    return Role(role_id) if role_id is not None else None


def require_role(role: Role, allowed: frozenset[Role], action: str) -> None:
    """403 unless the role is one of `allowed`."""
    if role not in allowed:
        raise Forbidden(f"Role {role.wire_name!r} may not {action}")


def holds_role_anywhere(db: sqlite3.Connection, actor: Actor, roles: frozenset[Role]) -> bool:
    """Whether the actor is the instance admin or has one of `roles` in some team."""
    if actor.is_instance_admin:
        return True
    marks = ", ".join("?" for _ in roles)
    row = db.execute(
        f"SELECT 1 FROM members WHERE user_id = ? AND role_id IN ({marks}) LIMIT 1",  # noqa: S608 - only ? marks are interpolated, values bound
        (actor.id, *sorted(roles)),
    ).fetchone()
    return row is not None


def manages_users(db: sqlite3.Connection, actor: Actor) -> bool:
    """Whether the actor may create and look up any user (instance admin, or admin/manager of some team)."""
    return holds_role_anywhere(db, actor, TEAM_MANAGERS)
