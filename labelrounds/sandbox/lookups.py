"""Fetch one object by id with the caller's visibility applied: unknown or hidden → 404."""

from __future__ import annotations

from dataclasses import dataclass

from labelrounds.sandbox.errors import NotFound
from labelrounds.sandbox.permissions import JOB_MANAGERS, Role, require_team_scope, team_role
from labelrounds.sandbox.registry import Context


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


def _visible(ctx: Context, kind: str, object_id: int, row: tuple[int, ...] | None) -> Role:
    """The caller's role in the team owning a fetched row; 404 when the row is missing or in a foreign team."""
    if row is None:
        raise NotFound(f"{kind} {object_id} not found")
    role = team_role(ctx.db, ctx.actor, row[-1])
    if role is None:
        raise NotFound(f"{kind} {object_id} not found")
    return role


def find_team(ctx: Context, team_id: int) -> Owned:
    """A team the caller belongs to."""
    row = ctx.db.execute("SELECT id FROM teams WHERE id = ?", (team_id,)).fetchone()
    return Owned(team_id, team_id, _visible(ctx, "Team", team_id, row))


def find_workspace(ctx: Context, workspace_id: int) -> Owned:
    """A workspace of one of the caller's teams."""
    row = ctx.db.execute("SELECT team_id FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
    role = _visible(ctx, "Workspace", workspace_id, row)
    return Owned(workspace_id, row[0], role)


def find_project(ctx: Context, project_id: int) -> Owned:
    """A project of one of the caller's teams."""
    row = ctx.db.execute("SELECT team_id FROM projects WHERE id = ?", (project_id,)).fetchone()
    role = _visible(ctx, "Project", project_id, row)
    return Owned(project_id, row[0], role)


def find_dataset(ctx: Context, dataset_id: int) -> DatasetRef:
    """A dataset of one of the caller's teams."""
    row = ctx.db.execute(
        "SELECT d.project_id, p.workspace_id, p.team_id FROM datasets d JOIN projects p ON p.id = d.project_id"
        " WHERE d.id = ?",
        (dataset_id,),
    ).fetchone()
    role = _visible(ctx, "Dataset", dataset_id, row)
    return DatasetRef(dataset_id, row[0], row[1], row[2], role)


def find_image(ctx: Context, image_id: int) -> Owned:
    """An image of one of the caller's teams."""
    row = ctx.db.execute(
        "SELECT p.team_id FROM images i JOIN projects p ON p.id = i.project_id WHERE i.id = ?", (image_id,)
    ).fetchone()
    role = _visible(ctx, "Image", image_id, row)
    return Owned(image_id, row[0], role)


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


def team_of_scope(
    ctx: Context, *, team_id: int | None = None, workspace_id: int | None = None
) -> tuple[int, Role]:
    """The team and caller role behind a list's scope (team or workspace): 404 unknown, 403 outsider."""
    if workspace_id is not None:
        row = ctx.db.execute("SELECT team_id FROM workspaces WHERE id = ?", (workspace_id,)).fetchone()
        if row is None:
            raise NotFound(f"Workspace {workspace_id} not found")
        team_id = row[0]
    assert team_id is not None  # noqa: S101 - callers pass one of the two
    return team_id, require_team_scope(ctx.db, ctx.actor, team_id)
