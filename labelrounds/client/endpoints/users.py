"""Users, team members and roles: `users.*`, `members.*`, `roles.list`."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import SecretStr

from labelrounds.client.core import ClientCore
from labelrounds.client.endpoints.validation import require_text
from labelrounds.client.errors import ResponseFormatError
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import RoleInfo, UserInfo, WireModel
from labelrounds.client.parsing import parse_model


class _UserIdReply(WireModel):
    user_id: int


class UserEndpoints(ClientCore):
    """Typed methods over users, team members and roles."""

    async def get_me(self) -> UserInfo:
        """The user the API token belongs to (`users.me`)."""
        return await self._get(UserInfo, "users.me", {})

    async def list_users(self, filters: Iterable[Filter] = ()) -> list[UserInfo]:
        """Users of the instance matching every filter (`users.list`; admin-only on a real instance)."""
        return await self._list_models(UserInfo, "users.list", {"filter": filters_to_wire(filters)})

    async def get_user_by_login(self, login: str) -> UserInfo | None:
        """The user with exactly this login, or None.

        Raises:
            ResponseFormatError: the server lists several users with this login.
        """
        require_text("login", login)
        matches = [user for user in await self.list_users([Filter.eq("login", login)]) if user.login == login]
        if len(matches) > 1:
            raise ResponseFormatError(
                200,
                "login not unique",
                {"message": f"{len(matches)} users have the login {login!r}"},
                "users.list",
            )
        return matches[0] if matches else None

    async def get_user(self, user_id: int) -> UserInfo | None:
        """A user with its team memberships (`users.info`), or None when it does not exist."""
        user = await self._get_or_none(UserInfo, "users.info", {"id": user_id})
        if user is not None and user.teams is None:
            raise ResponseFormatError(
                200, "unexpected reply shape for UserInfo", {"message": "teams: Field required"}, "users.info"
            )
        return user

    async def add_user(
        self, login: str, password: SecretStr, *, is_restricted: bool = True, name: str = "", email: str = ""
    ) -> int:
        """Create a user (`users.add`) and return its id. Not idempotent: see `AmbiguousWriteError`.

        Args:
            login: the new user's login.
            password: the new user's password; only ever unwrapped into the request body.
            is_restricted: create a restricted account (cannot create teams of its own).
            name: display name.
            email: e-mail address.
        """
        require_text("login", login)
        if not isinstance(password, SecretStr):
            raise TypeError("password must be a pydantic SecretStr")
        require_text("password", password.get_secret_value())
        body = {
            "login": login,
            "password": password.get_secret_value(),
            "isRestricted": is_restricted,
            "name": name,
            "email": email,
        }
        reply = await self.call("users.add", body, idempotent=False)
        return parse_model(_UserIdReply, reply, "users.add").user_id

    async def add_member(self, team_id: int, login: str, role_id: int) -> None:
        """Add the user `login` to a team with a role (`members.add`)."""
        require_text("login", login)
        await self._write("members.add", {"login": login, "teamId": team_id, "roleId": role_id})

    async def list_members(self, team_id: int, filters: Iterable[Filter] = ()) -> list[UserInfo]:
        """Members of a team, with their team role in `role`/`role_id` (`members.list`)."""
        return await self._list_models(
            UserInfo, "members.list", {"teamId": team_id, "filter": filters_to_wire(filters)}
        )

    async def edit_member_role(self, team_id: int, user_id: int, role_id: int) -> None:
        """Change a member's role in a team (`members.editInfo`)."""
        await self._write("members.editInfo", {"id": user_id, "teamId": team_id, "roleId": role_id})

    async def list_roles(self) -> list[RoleInfo]:
        """The instance's roles (`roles.list`)."""
        return await self._list_models(RoleInfo, "roles.list", {"filter": []})
