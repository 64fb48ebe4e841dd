"""Users, their team memberships, and roles."""

from __future__ import annotations

from datetime import datetime

from labelrounds.client.models.base import WireModel


class TeamMembership(WireModel):
    """A user's membership of one team, as listed in `users.info` (every key required)."""

    id: int
    name: str
    role_id: int
    role: str


class UserInfo(WireModel):
    """A user (`users.list`, `users.info`, `users.me`, `members.list`).

    `role`/`role_id` are the team role in `members.list` and usually null elsewhere; `teams` is only present in
    `users.info` (None when the reply did not carry it).
    """

    id: int
    login: str
    role: str | None = None
    role_id: int | None = None
    name: str | None = None
    email: str | None = None
    logins: int | None = None
    disabled: bool = False
    last_login: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    teams: list[TeamMembership] | None = None

    def membership(self, team_id: int) -> TeamMembership | None:
        """This user's membership of `team_id`, or None when not a member (or teams are unknown)."""
        return next((team for team in self.teams or () if team.id == team_id), None)


class RoleInfo(WireModel):
    """A role (`roles.list`)."""

    id: int
    role: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
