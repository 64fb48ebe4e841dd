"""steps.users when someone else creates the same login meanwhile: the real NONUNIQUE conflict names the account."""

from __future__ import annotations

import httpx
import pytest

from labelrounds.client import Filter, SuperviselyError
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.users import ensure_round_users

from .support import PASSWORD, SpecFactory, admin_client


class SomeoneCreatesFirst(httpx.AsyncBaseTransport):
    """Before the first `users.add` of `login` reaches the server, another client creates that login."""

    def __init__(self, sandbox: SandboxServer, login: str) -> None:
        self.sandbox, self.login = sandbox, login
        self.other_user_id: int | None = None
        self.methods: list[str] = []
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        self.methods.append(method)
        if method == "users.add" and self.other_user_id is None and f'"{self.login}"'.encode() in request.content:
            async with httpx.AsyncClient(base_url=self.sandbox.url) as other:
                reply = await other.post(
                    "/public/api/v3/users.add",
                    json={"login": self.login, "password": "someone-else-1"},
                    headers={"x-api-key": self.sandbox.admin_token.get_secret_value()},
                )
            self.other_user_id = reply.json()["userId"]
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_login_created_meanwhile_is_adopted_from_the_conflict(
    sandbox: SandboxServer, make_spec: SpecFactory
) -> None:
    race = SomeoneCreatesFirst(sandbox, "labeler_2")
    async with admin_client(sandbox, transport=race) as api:
        result = await ensure_round_users(api, make_spec(), PASSWORD)
        users = await api.list_users([Filter.eq("login", "labeler_2")])
    # Oracle: the id the other client got back when it created the account.
    assert race.other_user_id is not None
    assert result.user_ids["labeler_2"] == race.other_user_id == users[0].id and len(users) == 1
    # The conflict named the account: no lookup by login after the refused users.add (find_users before, and
    # the test's own check, are the only listings).
    assert race.methods.count("users.list") == 2 and race.methods.count("users.add") == 3


async def test_the_no_lookup_check_fails_when_the_conflict_is_ignored(
    sandbox: SandboxServer, make_spec: SpecFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutant: a step that ignores the conflict's id falls back to a lookup, which the check above would see."""
    monkeypatch.setattr(SuperviselyError, "existing_id", lambda self, name=None: None)
    race = SomeoneCreatesFirst(sandbox, "labeler_2")
    async with admin_client(sandbox, transport=race) as api:
        result = await ensure_round_users(api, make_spec(), PASSWORD)
        await api.list_users([Filter.eq("login", "labeler_2")])  # the same check listing as above
    assert result.user_ids["labeler_2"] == race.other_user_id
    assert race.methods.count("users.list") == 3  # the extra lookup: the check above (== 2) fails on this
