"""The official SDK's `api.webhook` against the sandbox: create, list, get, update, test and remove a webhook,
and the sandbox posts the test event and a job completion to a loopback capture server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.capture_server import CaptureServer, capture_server
from labelrounds.sandbox.server import SandboxServer

from .sdk_runner import SdkInterpreter, SdkRun, run_sdk_script
from .server_state import ServerState


@pytest.fixture(scope="module")
def capture() -> Iterator[CaptureServer]:
    """The loopback server the SDK's webhook points at."""
    with capture_server() as server:
        yield server


@pytest.fixture(scope="module")
def compat_server(lemons_sandbox: SandboxServer) -> SandboxServer:
    """The sandbox of this module: a fresh lemons world."""
    return lemons_sandbox


@pytest.fixture(scope="module")
def run(
    sdk: SdkInterpreter,
    compat_server: SandboxServer,
    capture: CaptureServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> SdkRun:
    """Run webhooks.py once; the tests below read its observations."""
    with ServerState(compat_server) as state:
        variables = state.world_variables() | {"CAPTURE_URL": capture.url}
    return run_sdk_script(
        sdk,
        "webhooks.py",
        tmp_path_factory.mktemp("webhooks"),
        compat_server,
        variables=variables,
        skip_https_probe=True,
    )


def test_create_list_get_update_remove_round_trip(run: SdkRun, capture: CaptureServer) -> None:
    created = run["created"]
    assert created["url"] == capture.url and created["action"] == "labeling_job.completed"
    assert (created["retries_count"], created["retries_delay"]) == (2, 1)
    assert isinstance(created["id"], int) and created["team_id"] > 0
    assert created["created_at"] and created["updated_at"]
    assert run["listed"] == [created]
    assert run["listed.filtered"] == []
    assert run["info"] == created
    assert run["info.unknown.outcome"]["status"] == 404
    updated = run["updated"]
    assert (updated["retries_count"], updated["retries_delay"]) == (0, 0) and updated["url"] == capture.url
    assert [webhook["id"] for webhook in run["listed.after_remove"]] == [created["id"]]


def test_the_test_event_and_the_completion_reach_the_url(run: SdkRun, capture: CaptureServer) -> None:
    assert run["tested"] == {"success": True, "queued": 1}
    captured = capture.wait_for(lambda got: len(got) >= 2)
    by_kind = {request.body["test"]: request for request in captured}
    assert set(by_kind) == {True, False} and len(captured) == 2
    assert by_kind[True].body["data"] == {"hello": "sdk"}
    assert by_kind[False].body["data"]["jobId"] == run["job.completed"]
    assert all(request.headers["x-labelrounds-secret"] == "from-the-sdk" for request in captured)
