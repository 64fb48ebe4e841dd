"""Resolve what a round names (team, project, datasets: ids or names) into the server's objects."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import DatasetInfo, ProjectInfo, TeamInfo
from labelrounds.planning import round_key
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.errors import TargetNotFoundError

_Found = TypeVar("_Found")


class RoundTarget(BaseModel):
    """The resolved team, project and datasets of a round, and the round's key."""

    model_config = ConfigDict(frozen=True)

    team: TeamInfo
    project: ProjectInfo
    datasets: list[DatasetInfo]
    round_key: str

    @property
    def dataset_ids(self) -> list[int]:
        """Ids of the round's datasets, in the order resolved."""
        return [dataset.id for dataset in self.datasets]


async def resolve_team(api: SuperviselyClient, team: int | str) -> TeamInfo:
    """The team with this id, or the one (visible to the caller) with this name.

    Raises:
        TargetNotFoundError: no such team, or the name matches several teams.
    """
    if isinstance(team, int):
        found = await api.get_team(team)
        if found is None:
            raise TargetNotFoundError(f"team {team} does not exist or is not visible to this API token")
        return found
    matches = [candidate for candidate in await api.list_teams() if candidate.name == team]
    return _single(matches, f"team {team!r}", "visible to this API token")


async def resolve_project(api: SuperviselyClient, team: TeamInfo, project: int | str) -> ProjectInfo:
    """The project with this id or name inside `team` (a project of another team is refused).

    Raises:
        TargetNotFoundError: no such project in the team, or the name matches several projects.
    """
    if isinstance(project, int):
        found = await api.get_project(project)
        if found is None or (found.team_id is not None and found.team_id != team.id):
            raise TargetNotFoundError(f"project {project} does not exist in team {team.name!r}")
        return found
    workspaces = await api.list_workspaces(team.id)
    listings = await asyncio.gather(*(api.list_projects(workspace.id) for workspace in workspaces))
    matches = [candidate for listing in listings for candidate in listing if candidate.name == project]
    return _single(matches, f"project {project!r}", f"in team {team.name!r}")


async def resolve_datasets(
    api: SuperviselyClient, project: ProjectInfo, wanted: Sequence[int | str]
) -> list[DatasetInfo]:
    """The project's datasets named by id or name (all of them, by id, when `wanted` is empty).

    Raises:
        TargetNotFoundError: the project has no dataset, or some wanted datasets are not in it (all are named).
    """
    available = await api.list_datasets(project.id)
    if not available:
        raise TargetNotFoundError(f"project {project.name!r} has no dataset")
    if not wanted:
        return available
    by_id = {dataset.id: dataset for dataset in available}
    by_name: dict[str, list[DatasetInfo]] = {}
    for dataset in available:
        by_name.setdefault(dataset.name, []).append(dataset)
    resolved: list[DatasetInfo] = []
    problems: list[str] = []
    for item in wanted:
        if isinstance(item, int):
            if item in by_id:
                resolved.append(by_id[item])
            else:
                problems.append(f"dataset {item} is not in project {project.name!r}")
        elif len(by_name.get(item, [])) == 1:
            resolved.append(by_name[item][0])
        elif item in by_name:
            problems.append(f"dataset name {item!r} is ambiguous in project {project.name!r}; use its id")
        else:
            problems.append(f"dataset {item!r} is not in project {project.name!r}")
    if problems:
        raise TargetNotFoundError("; ".join(problems))
    unique = {dataset.id: dataset for dataset in resolved}
    return list(unique.values())


async def resolve_target(api: SuperviselyClient, spec: RoundSpec) -> RoundTarget:
    """Resolve the round's team, project and datasets (read-only).

    Raises:
        TargetNotFoundError: the first of them that cannot be found.
    """
    team = await resolve_team(api, spec.team)
    project = await resolve_project(api, team, spec.project)
    datasets = await resolve_datasets(api, project, spec.datasets)
    return RoundTarget(
        team=team, project=project, datasets=datasets, round_key=round_key(spec.round_name, project.id)
    )


def _single(matches: list[_Found], what: str, where: str) -> _Found:
    """The one match of a lookup by name."""
    if not matches:
        raise TargetNotFoundError(f"{what} does not exist {where}")
    if len(matches) > 1:
        raise TargetNotFoundError(f"{what} is ambiguous: {len(matches)} match {where}; use its id")
    return matches[0]
