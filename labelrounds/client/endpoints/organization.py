"""The instance, teams and workspaces: `instance.version`, `teams.*`, `workspaces.*`."""

from __future__ import annotations

from labelrounds.client.core import ClientCore
from labelrounds.client.models import TeamInfo, WireModel, WorkspaceInfo


class _VersionReply(WireModel):
    version: str


class OrganizationEndpoints(ClientCore):
    """Typed methods over the instance, its teams and workspaces."""

    async def instance_version(self) -> str:
        """The server's version string (`instance.version`)."""
        return (await self._get(_VersionReply, "instance.version", {})).version

    async def list_teams(self) -> list[TeamInfo]:
        """Teams the user belongs to (`teams.list`)."""
        return await self._list_models(TeamInfo, "teams.list", {"filter": []})

    async def get_team(self, team_id: int) -> TeamInfo | None:
        """A team (`teams.info`), or None when it does not exist or is not visible."""
        return await self._get_or_none(TeamInfo, "teams.info", {"id": team_id})

    async def list_workspaces(self, team_id: int) -> list[WorkspaceInfo]:
        """Workspaces of a team (`workspaces.list`)."""
        return await self._list_models(WorkspaceInfo, "workspaces.list", {"teamId": team_id, "filter": []})

    async def get_workspace(self, workspace_id: int) -> WorkspaceInfo | None:
        """A workspace (`workspaces.info`), or None."""
        return await self._get_or_none(WorkspaceInfo, "workspaces.info", {"id": workspace_id})
