"""Fixtures of the flow tests: Prefect's harness, a sandbox whose crew works instantly, the connection in env."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flow_support import PASSWORD

from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from tasks.credentials import PASSWORD_ENV

#: Reviewer rejects about a third of the images once (seed chosen so the lemons round gets a rework cycle).
CREW = CrewConfig(reject_rate=0.3, max_rejections_per_image=1, poll_interval=0.02, seed=7)


@pytest.fixture(scope="session")
def crewed_server() -> Iterator[SandboxServer]:
    """A lemons sandbox with an instant crew, for the flow tests of the session."""
    with SandboxServer(seed="lemons", crew=CREW) as server:
        yield server


@pytest.fixture
def crewed(crewed_server: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None) -> SandboxServer:
    """The crewed sandbox reset to lemons, with SERVER_ADDRESS, API_TOKEN and the annotator password in env."""
    crewed_server.reset("lemons")
    monkeypatch.setenv("SERVER_ADDRESS", crewed_server.url)
    monkeypatch.setenv("API_TOKEN", crewed_server.admin_token.get_secret_value())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
    return crewed_server


@pytest.fixture
def crewed_two_datasets(crewed: SandboxServer) -> SandboxServer:
    """The crewed sandbox reset to `lemons:2`: ds1 for the round, ds2's own pictures (not the round's) for gold."""
    crewed.reset("lemons:2")
    return crewed
