"""Helpers for the sandbox server tests: raw httpx clients acting as the admin or as users of each role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer

from .api_client import JOB_IMAGES, Api


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """An httpx client bound to the fresh sandbox."""
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(sandbox: SandboxServer, http: httpx.Client) -> Api:
    """The seeded instance admin (login cxnt, user 7)."""
    return Api(http, sandbox.admin_token.get_secret_value(), sandbox.admin_id, sandbox.admin_login)


@pytest.fixture
def make_user(sandbox: SandboxServer, http: httpx.Client, admin: Api) -> Callable[..., Api]:
    """Create a user, optionally a team member with a role.

    With a password it goes through `users.add` + `members.add` as the admin; without one it is written straight
    into the store (no bcrypt cost), for tests where the user is only an actor.
    """

    def make(login: str, role: Role | None = Role.ANNOTATOR, password: str | None = None) -> Api:
        if password is None:
            assert sandbox.store is not None
            user = add_user(sandbox.store, login, role=role, team_id=sandbox.team_id)
            return Api(http, user.token.get_secret_value(), user.id, login)
        user_id = admin.ok("users.add", {"login": login, "password": password, "isRestricted": True})[
            "userId"
        ]
        if role is not None:
            admin.ok("members.add", {"login": login, "teamId": sandbox.team_id, "roleId": int(role)})
        assert sandbox.store is not None
        token = sandbox.store.api_token(login)
        assert token is not None
        return Api(http, token.get_secret_value(), user_id, login)

    return make


@pytest.fixture
def crew(make_user: Callable[..., Api]) -> tuple[Api, Api]:
    """A labeler and a reviewer of the team."""
    return make_user("labeler_1"), make_user("rita", Role.REVIEWER)


@pytest.fixture
def job_id(admin: Api, crew: tuple[Api, Api]) -> int:
    """A pending job "review me" of the crew over JOB_IMAGES of ds1, labeling lemons."""
    labeler, reviewer = crew
    body = {
        "name": "review me",
        "datasetId": 1001,
        "userIds": [labeler.user_id],
        "reviewerId": reviewer.user_id,
        "meta": {"classes": ["lemon"], "entityIds": JOB_IMAGES},
    }
    return admin.ok("jobs.add", body)[0]["id"]
