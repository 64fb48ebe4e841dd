"""Projects, their meta and datasets: `projects.*`, `datasets.*`."""

from __future__ import annotations

from labelrounds.client.core import ClientCore
from labelrounds.client.models import DatasetInfo, ProjectInfo, ProjectMeta
from labelrounds.client.parsing import parse_model


class ProjectEndpoints(ClientCore):
    """Typed methods over projects, project metas and datasets."""

    async def list_projects(self, workspace_id: int) -> list[ProjectInfo]:
        """Projects of a workspace (`projects.list`)."""
        return await self._list_models(
            ProjectInfo, "projects.list", {"workspaceId": workspace_id, "filter": [], "fields": []}
        )

    async def get_project(self, project_id: int) -> ProjectInfo | None:
        """A project (`projects.info`), or None."""
        return await self._get_or_none(ProjectInfo, "projects.info", {"id": project_id})

    async def get_project_meta(self, project_id: int) -> ProjectMeta:
        """The project's classes and tags (`projects.meta`); raises `NotFoundError` for an unknown project."""
        return await self._get(ProjectMeta, "projects.meta", {"id": project_id})

    async def update_project_meta(self, project_id: int, meta: ProjectMeta) -> ProjectMeta:
        """Replace the project's meta whole (`projects.meta.update`) and return the stored meta, with ids.

        Anything left out of `meta` is removed from the project: read, modify and write back.
        """
        reply = await self._write("projects.meta.update", {"id": project_id, "meta": meta.to_wire()})
        if isinstance(reply, dict) and "classes" in reply:
            return parse_model(ProjectMeta, reply, "projects.meta.update")
        # The reply of projects.meta.update is not specified; re-read what was stored.
        return await self.get_project_meta(project_id)

    async def list_datasets(self, project_id: int, *, parent_id: int | None = None) -> list[DatasetInfo]:
        """Top-level datasets of a project, or the children of dataset `parent_id`, by id (`datasets.list`)."""
        if parent_id is None:
            body: dict[str, object] = {"projectId": project_id, "filter": [], "recursive": False}
        else:
            parent = {"field": "parentId", "operator": "=", "value": parent_id}
            body = {"projectId": project_id, "filter": [parent], "recursive": True}
        return await self._list_models(DatasetInfo, "datasets.list", body)

    async def get_dataset(self, dataset_id: int) -> DatasetInfo | None:
        """A dataset (`datasets.info`), or None."""
        return await self._get_or_none(DatasetInfo, "datasets.info", {"id": dataset_id})
