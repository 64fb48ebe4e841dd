"""Shared fixtures: a sandbox server for the whole session, reset to a fresh seed for each test that asks."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Set before Prefect is imported anywhere: no telemetry from test servers (this machine has no outside network).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from labelrounds.sandbox.server import SandboxServer


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """For `make test`'s two pytest-xdist workers: a module's tests stay on one worker (its module fixtures start
    once), and the whole e2e folder runs on one worker (one `prefect server start`).

    A scheduler of our own because `--dist loadgroup` no longer groups anything with pytest 9 (xdist 3.8 renames
    `item._nodeid`, which pytest 9 ignores), so every module's fixtures started on both workers.
    """
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):
        """Units of work: one per test module, and one for all of tests/e2e."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/e2e" if path.startswith("tests/e2e/") else path

    return ModuleScheduling(config, log)


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


@pytest.fixture(scope="session")
def prefect_backend() -> Iterator[None]:
    """One Prefect test harness (a real temporary API server) for the whole session, with flow heartbeats off.

    Heartbeats off makes a trivial flow run cost about 0.1 s instead of 1 s. The server stores received events
    every 0.5 s instead of 5 s, so a test that reads events back waits less. Request this fixture only in modules
    that run flows, so the rest of the suite does not pay for the server's start.
    """
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    # The harness's server process takes the settings current when it starts.
    with temporary_settings({PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL: 0.5}), prefect_test_harness(
        server_startup_timeout=180
    ), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
