"""Fixtures for the step tests: an admin client on a fresh lemons sandbox, round specs, and people who work jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.targets import RoundTarget, resolve_target
from labelrounds.steps.users import UsersResult, ensure_round_users

from .support import PASSWORD, SpecFactory, Workers, admin_client, lemons_spec


@pytest.fixture
async def api(sandbox: SandboxServer) -> AsyncIterator[SuperviselyClient]:
    """The sandbox admin's client on a fresh lemons sandbox."""
    async with admin_client(sandbox) as client:
        yield client


@pytest.fixture
def make_spec() -> SpecFactory:
    """Build the lemons round spec with overrides."""
    return lemons_spec


@pytest.fixture
async def target(api: SuperviselyClient) -> RoundTarget:
    """The default lemons round's resolved team, project and dataset."""
    return await resolve_target(api, lemons_spec())


@pytest.fixture
async def people(api: SuperviselyClient) -> UsersResult:
    """The default round's labelers and reviewer, created and added to the team."""
    return await ensure_round_users(api, lemons_spec(), PASSWORD)


@pytest.fixture
async def workers(sandbox: SandboxServer) -> AsyncIterator[Workers]:
    """People who work the round's jobs through the API with their own tokens."""
    workers = Workers(sandbox)
    yield workers
    await workers.close()


@pytest.fixture
def sandbox_project_id(sandbox: SandboxServer) -> int:
    """Id of the seeded lemons project."""
    assert sandbox.project_id is not None
    return sandbox.project_id
