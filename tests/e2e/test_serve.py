"""`labelrounds serve`: every flow served from one process, runs started from the server without any worker."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .prefect_rest import PrefectRest
from .processes import LABELROUNDS, ManagedProcess, PrefectServer, start_process

SERVED = {"lemons", "weekly", "onboarding", "report", "cleanup", "watcher"}
# Real servers and processes on two shared cores: a generous bound per test (setup included), not a speed check.
pytestmark = pytest.mark.timeout(900)


@pytest.fixture
def serving(prefect_server: PrefectServer) -> Iterator[ManagedProcess]:
    """`labelrounds serve` against the session's server (no Supervisely connection needed by the watcher here).

    The deployments other tests made on this server are deleted first, so that every one seen is a served one.
    """
    rest = PrefectRest(prefect_server.api_url)
    rest.delete_deployments()
    rest.close()
    process = start_process(
        "labelrounds serve",
        [LABELROUNDS, "serve", "--limit", "2"],
        env=prefect_server.client_env(),
        log_path=prefect_server.home / "serve.log",
    )
    prefect_server.workers.append(process)  # its log goes into a failing test's report
    try:
        yield process
    finally:
        process.stop()
        prefect_server.workers.remove(process)


def test_serve_registers_every_flow_and_runs_them_in_process(
    prefect_server: PrefectServer, serving: ManagedProcess
) -> None:
    rest = PrefectRest(prefect_server.api_url)
    try:
        deadline = time.monotonic() + 300  # generous: a loaded 2-core machine starts Prefect slowly
        while not SERVED <= {d["name"] for d in rest.deployments() if d["work_pool_name"] is None}:
            assert serving.alive() and time.monotonic() < deadline, serving.tail()
            time.sleep(1)
        watcher = rest.deployment("watch-suspended-rounds", "watcher")
        assert watcher["schedules"][0]["active"] is True  # served: the watcher runs on its interval
        assert rest.deployment("labeling-round", "weekly")["schedules"][0]["active"] is False  # unless --weekly
        assert rest.deployment("labeling-round", "lemons")["parameters"]["credentials_block"] is None

        run = rest.run_from_form(watcher["id"], {})
        finished = rest.wait_for(run["id"], {"COMPLETED"}, timeout=300)
        assert finished["state"]["type"] == "COMPLETED", finished["state"]
        assert any(a["key"] == "watch-suspended-rounds" for a in rest.artifacts(run["id"]))
    finally:
        rest.close()
