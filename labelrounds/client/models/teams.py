"""Teams and workspaces."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from labelrounds.client.models.base import WireModel


class TeamInfo(WireModel):
    """A team (`teams.list`, `teams.info`); `role` is the caller's role in it."""

    id: int
    name: str
    description: str | None = None
    role: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    usage: Any = None


class WorkspaceInfo(WireModel):
    """A workspace (`workspaces.list`, `workspaces.info`)."""

    id: int
    name: str
    description: str | None = None
    team_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
