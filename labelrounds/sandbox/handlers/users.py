"""`users.*` methods: list, info, me, add, editInfo, disable."""

from __future__ import annotations

import sqlite3
from typing import Any

from pydantic import SecretStr

from labelrounds.sandbox.auth import PendingHash, hash_ahead, hash_password, new_api_token
from labelrounds.sandbox.errors import BadRequest, Conflict, Existing, Forbidden, NotFound
from labelrounds.sandbox.models import (
    EmptyBody,
    IdBody,
    ListBody,
    UsersAddBody,
    UsersDisableBody,
    UsersEditInfoBody,
)
from labelrounds.sandbox.permissions import Role, manages_users
from labelrounds.sandbox.querying import Column, ListSpec, run_list
from labelrounds.sandbox.registry import Context, api_method, success
from labelrounds.sandbox.store import allocate_id

USER_COLUMNS = (
    "u.id, u.login, u.name, u.email, u.disabled, u.logins, u.last_login, u.created_at, u.updated_at"
)
USER_FIELDS = {
    "id": Column("u.id"),
    "login": Column("u.login", text=True),
    "name": Column("u.name", text=True),
    "email": Column("u.email", text=True),
    "disabled": Column("u.disabled"),
    "logins": Column("u.logins"),
    "lastLogin": Column("u.last_login", text=True),
    "createdAt": Column("u.created_at", text=True),
    "updatedAt": Column("u.updated_at", text=True),
}


def user_entity(row: tuple[Any, ...], role: Role | None = None) -> dict[str, Any]:
    """A UserInfo object from a row of `USER_COLUMNS`; `role` is the team role where one applies."""
    user_id, login, name, email, disabled, logins, last_login, created_at, updated_at = row[:9]
    return {
        "id": user_id,
        "login": login,
        "role": role.wire_name if role else None,
        "roleId": int(role) if role else None,
        "name": name,
        "email": email,
        "logins": logins,
        "disabled": bool(disabled),
        "lastLogin": last_login,
        "createdAt": created_at,
        "updatedAt": updated_at,
    }


def _visibility(ctx: Context) -> tuple[list[str], list[Any]]:
    """Which users the caller may see: all for user managers, else itself and its teammates."""
    if manages_users(ctx.db, ctx.actor):
        return [], []
    return [
        "(u.id = ? OR u.id IN (SELECT mine.user_id FROM members mine"
        " JOIN members me ON me.team_id = mine.team_id WHERE me.user_id = ?))"
    ], [ctx.actor.id, ctx.actor.id]


def _find_user(ctx: Context, user_id: int) -> tuple[Any, ...]:
    """A user row the caller may see, else 404."""
    scope, params = _visibility(ctx)
    where = " AND ".join(["u.id = ?", *scope])
    row = ctx.db.execute(f"SELECT {USER_COLUMNS} FROM users u WHERE {where}", [user_id, *params]).fetchone()  # noqa: S608 - fixed columns and scope predicates, values bound
    if row is None:
        raise NotFound(f"User {user_id} not found")
    return tuple(row)


def _user_teams(
    db: sqlite3.Connection, user_id: int, viewer_id: int, everything: bool
) -> list[dict[str, Any]]:
    """The user's memberships `[{id, name, roleId, role}]`, limited to the viewer's teams unless `everything`."""
    sql = "SELECT t.id, t.name, m.role_id FROM members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = ?"
    params: list[Any] = [user_id]
    if not everything:
        sql += " AND m.team_id IN (SELECT team_id FROM members WHERE user_id = ?)"
        params.append(viewer_id)
    rows = db.execute(sql + " ORDER BY t.id", params).fetchall()
    return [
        {"id": team_id, "name": name, "roleId": role_id, "role": Role(role_id).wire_name}
        for team_id, name, role_id in rows
    ]


def user_info(ctx: Context, row: tuple[Any, ...]) -> dict[str, Any]:
    """UserInfo plus the `teams` list the SDK requires from `users.info`."""
    user_id = row[0]
    everything = user_id == ctx.actor.id or manages_users(ctx.db, ctx.actor)
    return {**user_entity(row), "teams": _user_teams(ctx.db, user_id, ctx.actor.id, everything)}


@api_method("users.list", ListBody)
def list_users(ctx: Context, body: ListBody) -> dict[str, Any]:
    """Users the caller may see (all of them for admins and team managers)."""
    scope, params = _visibility(ctx)
    spec = ListSpec(USER_FIELDS, ctx.page_sizes.other)
    return run_list(
        ctx.db,
        spec=spec,
        body=body,
        select=USER_COLUMNS,
        source="users u",
        scope=scope,
        scope_params=params,
        to_entity=lambda row: user_entity(row),
    )


@api_method("users.info", IdBody)
def get_user(ctx: Context, body: IdBody) -> dict[str, Any]:
    """One user with its teams."""
    return user_info(ctx, _find_user(ctx, body.id))


@api_method("users.me", EmptyBody)
def get_me(ctx: Context, body: EmptyBody) -> dict[str, Any]:
    """The caller itself, with its teams."""
    return user_info(ctx, _find_user(ctx, ctx.actor.id))


def _hash_body_password(body: UsersAddBody | UsersEditInfoBody) -> PendingHash | None:
    """The `prepare` step of the methods that set a password: hash it before the transaction."""
    return hash_ahead(body.password) if body.password is not None else None


def _password_hash(ctx: Context, password: SecretStr) -> str:
    """The hash `prepare` made for this request's password (hashed here when the handler is called directly)."""
    return ctx.prepared.get() if isinstance(ctx.prepared, PendingHash) else hash_password(password)


@api_method("users.add", UsersAddBody, write=True, prepare=_hash_body_password)
def add_user(ctx: Context, body: UsersAddBody) -> dict[str, int]:
    """Create a user (instance admin or team admin/manager); a duplicate login is a 400 `NONUNIQUE`."""
    if not manages_users(ctx.db, ctx.actor):
        raise Forbidden("Only administrators and team managers may create users")
    existing = ctx.db.execute("SELECT id FROM users WHERE login = ?", (body.login,)).fetchone()
    if existing:
        message = f"User with login \"{body.login}\" already exists"
        raise Conflict("user already exists", [Existing(name=body.login, id=existing[0], message=message)])
    user_id = allocate_id(ctx.db)
    ctx.db.execute(
        "INSERT INTO users(id, login, name, email, password_hash, api_token, is_restricted, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            user_id,
            body.login,
            body.name,
            body.email,
            _password_hash(ctx, body.password),
            new_api_token(),
            int(body.isRestricted),
            ctx.now,
            ctx.now,
        ),
    )
    return {"userId": user_id}


@api_method("users.editInfo", UsersEditInfoBody, write=True, prepare=_hash_body_password)
def edit_user(ctx: Context, body: UsersEditInfoBody) -> dict[str, Any]:
    """Change a user's name, email or password (the user itself or the instance admin)."""
    _find_user(ctx, body.id)
    if body.id != ctx.actor.id and not ctx.actor.is_instance_admin:
        raise Forbidden("Only the user itself or an instance administrator may edit a user")
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.email is not None:
        changes["email"] = body.email
    if body.password is not None:
        changes["password_hash"] = _password_hash(ctx, body.password)
    if changes:
        assignments = ", ".join(f"{column} = ?" for column in changes)
        ctx.db.execute(
            f"UPDATE users SET {assignments}, updated_at = ? WHERE id = ?",  # noqa: S608 - column names are literals, values bound
            [*changes.values(), ctx.now, body.id],
        )
    return user_info(ctx, _find_user(ctx, body.id))


@api_method("users.disable", UsersDisableBody, write=True)
def disable_user(ctx: Context, body: UsersDisableBody) -> dict[str, bool]:
    """Disable (or re-enable with `disable: false`) a user; instance admin only, never itself."""
    _find_user(ctx, body.id)
    if not ctx.actor.is_instance_admin:
        raise Forbidden("Only an instance administrator may disable users")
    if body.id == ctx.actor.id:
        raise BadRequest("You cannot disable yourself")
    ctx.db.execute(
        "UPDATE users SET disabled = ?, updated_at = ? WHERE id = ?", (int(body.disable), ctx.now, body.id)
    )
    return success()
