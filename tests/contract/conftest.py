"""Contract fixtures: a freshly seeded lemons sandbox with one user per role, each with its own API token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, RetryPolicy, SuperviselyClient
from labelrounds.sandbox.server import SandboxServer

PASSWORD = SecretStr("contract-password-1")
# Team role ids of the sandbox (ARCHITECTURE.md): the SDK hard-codes 1-4.
ROLE_IDS = {"developer": 2, "annotator": 3, "viewer": 4, "manager": 5, "reviewer": 6}
ROLES = ("admin", "manager", "developer", "reviewer", "annotator", "viewer", "outsider")


@dataclass
class World:
    """The seeded sandbox plus one user per role (`admin` is the seeded instance admin, `outsider` no member)."""

    server: SandboxServer
    tokens: dict[str, SecretStr] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)
    logins: dict[str, str] = field(default_factory=dict)

    @property
    def team_id(self) -> int:
        return self.server.team_id

    @property
    def workspace_id(self) -> int:
        return self.server.workspace_id

    @property
    def project_id(self) -> int:
        assert self.server.project_id is not None
        return self.server.project_id

    @property
    def dataset_id(self) -> int:
        return self.server.dataset_id

    def client(self, role: str, **options: Any) -> SuperviselyClient:
        """A client acting as `role` (not yet opened: use `async with`); no retries unless asked."""
        options.setdefault("retry_policy", RetryPolicy.no_retries())
        settings = ConnectionSettings(server_address=self.server.url, api_token=self.tokens[role])
        return SuperviselyClient(settings, **options)


async def log_in(server_url: str, login: str, password: SecretStr) -> SecretStr:
    """A user's API token, obtained like `sly.Api.from_credentials`: form login, then the JWT's `apiToken`."""
    async with httpx.AsyncClient(base_url=server_url) as http:
        response = await http.post(
            "/api/account", data={"login": login, "password": password.get_secret_value()}
        )
    response.raise_for_status()
    payload = jwt.decode(response.json()["token"], options={"verify_signature": False})
    return SecretStr(payload["apiToken"])


@pytest.fixture(scope="module")
async def world(sandbox_server: SandboxServer) -> AsyncIterator[World]:
    """The session sandbox reseeded with lemons for this module, with a user per role created through the client."""
    sandbox_server.reset("lemons")
    world = World(sandbox_server)
    world.tokens["admin"] = sandbox_server.admin_token
    world.user_ids["admin"] = sandbox_server.admin_id
    world.logins["admin"] = sandbox_server.admin_login
    async with world.client("admin") as admin:
        for role in ROLES[1:]:
            login = f"contract_{role}"
            world.logins[role] = login
            world.user_ids[role] = await admin.add_user(login, PASSWORD)
            if role in ROLE_IDS:
                await admin.add_member(world.team_id, login, ROLE_IDS[role])
    for role in ROLES[1:]:
        world.tokens[role] = await log_in(sandbox_server.url, world.logins[role], PASSWORD)
    yield world
