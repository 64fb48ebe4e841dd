"""Shared fixtures: a sandbox server for the whole session, reset to a fresh seed for each test that asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelrounds.sandbox.server import SandboxServer


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    """One in-thread sandbox (lemons seed, in-memory SQLite) on a free loopback port for the session."""
    with SandboxServer(seed="lemons") as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The session's sandbox, wiped and freshly seeded with `lemons` for this test (same URL and admin token)."""
    sandbox_server.reset("lemons")
    return sandbox_server
