"""Fetch one object by id with the caller's visibility applied: unknown or hidden → 404."""

from __future__ import annotations

from dataclasses import dataclass

from labelrounds.sandbox.errors import Forbidden, NotFound
from labelrounds.sandbox.permissions import JOB_MANAGERS, Role, team_role
from labelrounds.sandbox.registry import Context

# The team owning an object of each kind, by the object's id.
_TEAM_OF = {
    "Team": "SELECT id FROM teams WHERE id = ?",
    "Workspace": "SELECT team_id FROM workspaces WHERE id = ?",
    "Project": "SELECT team_id FROM projects WHERE id = ?",
    "Dataset": "SELECT p.team_id FROM datasets d JOIN projects p ON p.id = d.project_id WHERE d.id = ?",
    "Image": "SELECT p.team_id FROM images i JOIN projects p ON p.id = i.project_id WHERE i.id = ?",
}


@dataclass(frozen=True)
class Owned:
    """An object's id, its team and the caller's role in that team."""

    id: int
    team_id: int
    role: Role


@dataclass(frozen=True)
class DatasetRef:
    """A visible dataset with the ids of its project, workspace and team."""

    id: int
    project_id: int
    workspace_id: int
    team_id: int
    role: Role


@dataclass(frozen=True)
class JobRef:
    """A visible labeling job with what the permission rules need."""

    id: int
    team_id: int
    dataset_id: int
    project_id: int
    status: str
    user_id: int
    reviewer_id: int
    role: Role

    @property
    def managed(self) -> bool:
        """Whether the caller administers the team's jobs (any status, any action)."""
        return self.role in JOB_MANAGERS


def _team_of(ctx: Context, kind: str, object_id: int) -> int:
    """The id of the team owning an object; 404 when there is no such object."""
    row = ctx.db.execute(_TEAM_OF[kind], (object_id,)).fetchone()
    if row is None:
        raise NotFound(f"{kind} {object_id} not found")
    return int(row[0])


def find_owned(ctx: Context, kind: str, object_id: int) -> Owned:
    """A team, workspace, project, dataset or image of one of the caller's teams; else 404."""
    team_id = _team_of(ctx, kind, object_id)
    role = team_role(ctx.db, ctx.actor, team_id)
    if role is None:
        raise NotFound(f"{kind} {object_id} not found")
    return Owned(object_id, team_id, role)


def scope_role(ctx: Context, kind: str, object_id: int) -> Role:
    """The caller's role for a list scoped to a team, workspace, project or dataset: 404 unknown, 403 outsider."""
    team_id = _team_of(ctx, kind, object_id)
    role = team_role(ctx.db, ctx.actor, team_id)
    if role is None:
        raise Forbidden(f"You are not a member of team {team_id}")
    return role


def find_dataset(ctx: Context, dataset_id: int) -> DatasetRef:
    """A dataset of one of the caller's teams, with its project and workspace."""
    owned = find_owned(ctx, "Dataset", dataset_id)
    project_id, workspace_id = ctx.db.execute(
        "SELECT d.project_id, p.workspace_id FROM datasets d JOIN projects p ON p.id = d.project_id WHERE d.id = ?",
        (dataset_id,),
    ).fetchone()
    return DatasetRef(dataset_id, project_id, workspace_id, owned.team_id, owned.role)


def visible_job(ctx: Context, job_id: int) -> JobRef | None:
    """A job the caller may see (any job of its team for job managers, else only those it labels or
    reviews), or None."""
    row = ctx.db.execute(
        "SELECT dataset_id, project_id, status, user_id, reviewer_id, team_id FROM jobs WHERE id = ?",
        (job_id,),
    ).fetchone()
    if row is None:
        return None
    role = team_role(ctx.db, ctx.actor, row[-1])
    if role is None:
        return None
    dataset_id, project_id, status, user_id, reviewer_id, team_id = row
    job = JobRef(job_id, team_id, dataset_id, project_id, status, user_id, reviewer_id, role)
    if not job.managed and ctx.actor.id not in (user_id, reviewer_id):
        return None
    return job


def find_job(ctx: Context, job_id: int) -> JobRef:
    """A job the caller may see, else 404."""
    job = visible_job(ctx, job_id)
    if job is None:
        raise NotFound(f"Labeling job {job_id} not found")
    return job
