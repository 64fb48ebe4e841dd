"""Team-level methods: `teams.*`, `workspaces.*`, `members.*`, `roles.list`."""

from __future__ import annotations

from typing import Any

from labelrounds.sandbox.errors import BadRequest, Conflict, Existing, NotFound
from labelrounds.sandbox.handlers.users import USER_COLUMNS, USER_FIELDS, user_entity
from labelrounds.sandbox.lookups import find_owned, scope_role
from labelrounds.sandbox.models import (
    IdBody,
    ListBody,
    MembersAddBody,
    MembersEditInfoBody,
    MembersRemoveBody,
    TeamScopedListBody,
)
from labelrounds.sandbox.permissions import JOB_MANAGERS, TEAM_MANAGERS, Role, require_role
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.registry import Context, api_method, success

_TEAM_COLUMNS = "t.id, t.name, t.description, t.created_at, t.updated_at, m.role_id"
_TEAM_FIELDS = {
    "id": Column("t.id"),
    "name": Column("t.name", text=True),
    "createdAt": Column("t.created_at", text=True),
    "updatedAt": Column("t.updated_at", text=True),
}
_WORKSPACE_COLUMNS = "w.id, w.name, w.description, w.team_id, w.created_at, w.updated_at"
_WORKSPACE_FIELDS = {
    "id": Column("w.id"),
    "name": Column("w.name", text=True),
    "teamId": Column("w.team_id"),
    "createdAt": Column("w.created_at", text=True),
    "updatedAt": Column("w.updated_at", text=True),
}
_MEMBER_FIELDS = {**USER_FIELDS, "roleId": Column("m.role_id")}
_ROLE_FIELDS = {"id": Column("id"), "role": Column("role", text=True)}
_ACTIVITY_FIELDS = {
    "id": Column("a.id"),
    "jobId": Column("a.job_id"),
    "userId": Column("a.user_id"),
    "action": Column("a.action", text=True),
    "entityId": Column("a.entity_id"),
    "date": Column("a.date", text=True),
}


def _team_entity(row: tuple[Any, ...], instance_admin: bool) -> dict[str, Any]:
    """A TeamInfo object, `role` being the caller's role in the team."""
    team_id, name, description, created_at, updated_at, role_id = row
    role = Role(role_id) if role_id is not None else (Role.ADMIN if instance_admin else None)
    return {
        "id": team_id,
        "name": name,
        "description": description,
        "role": role.wire_name if role else None,
        "createdAt": created_at,
        "updatedAt": updated_at,
        "usage": {"plan": "free"},
    }


def _workspace_entity(row: tuple[Any, ...]) -> dict[str, Any]:
    """A WorkspaceInfo object."""
    workspace_id, name, description, team_id, created_at, updated_at = row
    return {
        "id": workspace_id,
        "name": name,
        "description": description,
        "teamId": team_id,
        "createdAt": created_at,
        "updatedAt": updated_at,
    }


@api_method("teams.list", ListBody)
def list_teams(ctx: Context, body: ListBody) -> dict[str, Any]:
    """The caller's teams (every team for the instance admin)."""
    admin = ctx.actor.is_instance_admin
    return run_list(
        ctx.db,
        spec=ListSpec(_TEAM_FIELDS, ctx.page_sizes.other),
        body=body,
        select=_TEAM_COLUMNS,
        source="teams t LEFT JOIN members m ON m.team_id = t.id AND m.user_id = ?",
        scope=[] if admin else ["m.user_id IS NOT NULL"],
        scope_params=[ctx.actor.id],
        to_entity=lambda row: _team_entity(row, admin),
    )


@api_method("teams.info", IdBody)
def get_team(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One team the caller belongs to."""
    find_owned(ctx, "Team", body.id)
    row = ctx.db.execute(
        f"SELECT {_TEAM_COLUMNS} FROM teams t LEFT JOIN members m ON m.team_id = t.id AND m.user_id = ?"  # noqa: S608 - fixed column list, ids bound
        " WHERE t.id = ?",
        (ctx.actor.id, body.id),
    ).fetchone()
    return _team_entity(row, ctx.actor.is_instance_admin)


@api_method("teams.activity", TeamScopedListBody)
def team_activity(ctx: Context, body: TeamScopedListBody) -> dict[str, Any]:
    """The team's labeling-job events (job managers only)."""
    role = scope_role(ctx, "Team", body.teamId)
    require_role(role, JOB_MANAGERS, "read the team activity")

    def to_entity(row: tuple[Any, ...]) -> dict[str, Any]:
        activity_id, job_id, user_id, login, action, entity_id, date = row
        return {
            "id": activity_id,
            "teamId": body.teamId,
            "jobId": job_id,
            "userId": user_id,
            "userLogin": login,
            "action": action,
            "entityId": entity_id,
            "date": date,
        }

    return run_list(
        ctx.db,
        spec=ListSpec(_ACTIVITY_FIELDS, ctx.page_sizes.other),
        body=body,
        select="a.id, a.job_id, a.user_id, u.login, a.action, a.entity_id, a.date",
        source="activity a LEFT JOIN users u ON u.id = a.user_id",
        scope=["a.team_id = ?"],
        scope_params=[body.teamId],
        to_entity=to_entity,
    )


@api_method("workspaces.list", TeamScopedListBody)
def list_workspaces(ctx: Context, body: TeamScopedListBody) -> dict[str, Any]:
    """The workspaces of a team."""
    scope_role(ctx, "Team", body.teamId)
    return run_list(
        ctx.db,
        spec=ListSpec(_WORKSPACE_FIELDS, ctx.page_sizes.other),
        body=body,
        select=_WORKSPACE_COLUMNS,
        source="workspaces w",
        scope=["w.team_id = ?"],
        scope_params=[body.teamId],
        to_entity=_workspace_entity,
    )


@api_method("workspaces.info", IdBody)
def get_workspace(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One workspace."""
    find_owned(ctx, "Workspace", body.id)
    row = ctx.db.execute(
        f"SELECT {_WORKSPACE_COLUMNS} FROM workspaces w WHERE w.id = ?",  # noqa: S608 - fixed column list, id bound
        (body.id,),
    ).fetchone()
    return _workspace_entity(row)


@api_method("roles.list", ListBody)
def list_roles(ctx: Context, body: ListBody) -> dict[str, Any]:
    """The fixed team roles."""
    return run_list(
        ctx.db,
        spec=ListSpec(_ROLE_FIELDS, ctx.page_sizes.other),
        body=body,
        select="id, role, created_at, updated_at",
        source="roles",
        scope=[],
        scope_params=[],
        to_entity=lambda row: {"id": row[0], "role": row[1], "createdAt": row[2], "updatedAt": row[3]},
    )


@api_method("members.list", TeamScopedListBody)
def list_members(ctx: Context, body: TeamScopedListBody) -> dict[str, Any]:
    """A team's members, each with its team `role`/`roleId`."""
    scope_role(ctx, "Team", body.teamId)
    return run_list(
        ctx.db,
        spec=ListSpec(_MEMBER_FIELDS, ctx.page_sizes.other),
        body=body,
        select=f"{USER_COLUMNS}, m.role_id",
        source="members m JOIN users u ON u.id = m.user_id",
        scope=["m.team_id = ?"],
        scope_params=[body.teamId],
        to_entity=lambda row: user_entity(row, Role(row[9])),
    )


def _valid_role(role_id: int) -> Role:
    """A role id of the fixed table, else 400."""
    try:
        return Role(role_id)
    except ValueError:
        raise BadRequest(
            f"Unknown role id {role_id}; roles are {', '.join(f'{r.value}={r.wire_name}' for r in Role)}"
        ) from None


def _member_role(ctx: Context, team_id: int, user_id: int) -> Role | None:
    """A user's membership role in a team (None when not a member)."""
    row = ctx.db.execute(
        "SELECT role_id FROM members WHERE team_id = ? AND user_id = ?", (team_id, user_id)
    ).fetchone()
    return Role(row[0]) if row else None


@api_method("members.add", MembersAddBody, write=True)
def add_member(ctx: Context, body: MembersAddBody) -> dict[str, int]:
    """Add a user to a team with a role; repeating it with the same role changes nothing."""
    role = scope_role(ctx, "Team", body.teamId)
    require_role(role, TEAM_MANAGERS, "add team members")
    new_role = _valid_role(body.roleId)
    row = ctx.db.execute("SELECT id FROM users WHERE login = ?", (body.login,)).fetchone()
    if row is None:
        raise NotFound(f"User with login {body.login!r} not found")
    user_id = row[0]
    current = _member_role(ctx, body.teamId, user_id)
    if current is None:
        ctx.db.execute(
            "INSERT INTO members(team_id, user_id, role_id, created_at) VALUES (?, ?, ?, ?)",
            (body.teamId, user_id, new_role, ctx.now),
        )
    elif current != new_role:
        message = (
            f"User \"{body.login}\" is already a member of team {body.teamId} as {current.wire_name}; "
            "use members.editInfo to change the role"
        )
        raise Conflict("member already exists", [Existing(name=body.login, id=user_id, message=message)])
    return {"userId": user_id}


def _require_member(ctx: Context, team_id: int, user_id: int) -> None:
    """400 unless the user is a member of the team."""
    if _member_role(ctx, team_id, user_id) is None:
        raise BadRequest(f"User {user_id} is not a member of team {team_id}")


@api_method("members.editInfo", MembersEditInfoBody, write=True)
def edit_member(ctx: Context, body: MembersEditInfoBody) -> dict[str, bool]:
    """Change a member's team role."""
    role = scope_role(ctx, "Team", body.teamId)
    require_role(role, TEAM_MANAGERS, "change team roles")
    new_role = _valid_role(body.roleId)
    _require_member(ctx, body.teamId, body.id)
    ctx.db.execute(
        "UPDATE members SET role_id = ? WHERE team_id = ? AND user_id = ?", (new_role, body.teamId, body.id)
    )
    return success()


@api_method("members.remove", MembersRemoveBody, write=True)
def remove_member(ctx: Context, body: MembersRemoveBody) -> dict[str, bool]:
    """Remove a user from a team."""
    role = scope_role(ctx, "Team", body.teamId)
    require_role(role, TEAM_MANAGERS, "remove team members")
    _require_member(ctx, body.teamId, body.id)
    ctx.db.execute("DELETE FROM members WHERE team_id = ? AND user_id = ?", (body.teamId, body.id))
    return success()
