"""End-to-end fixtures: a real `prefect server start` (SQLite, own home) for the session, its logs on failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .processes import RUNNING_SERVERS, PrefectServer


@pytest.fixture(scope="session")
def e2e_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's directory for Prefect homes, databases and process logs."""
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def prefect_server(e2e_home: Path) -> Iterator[PrefectServer]:
    """`prefect server start` on a free loopback port, SQLite database in the session's temp dir."""
    home = e2e_home / "sqlite-server"
    home.mkdir()
    server = PrefectServer(home=home, database_url=f"sqlite+aiosqlite:///{home / 'prefect.db'}")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """On a failed e2e test, add the tails of the server's and workers' logs to the report."""
    report = yield
    if report.failed:
        for server in RUNNING_SERVERS:
            report.sections.append((f"Prefect server {server.url}: logs", server.logs()))
    return report
