"""The webhook path resumes a suspended round, once, without the watcher, on a real `prefect server start`.

The sandbox (a subprocess) sends every delivery twice (`webhook:dup=1`); the receiver (on 127.0.0.1, in a thread)
confirms each completion and checks the run's gate; the automation `labelrounds deploy` creates resumes the run.
The round is a `labeling-round` run paused as the suspend gate leaves it (see `bench.webhook_resume`), so the test
needs no worker. Oracles: the server's state history of the run ("Resuming" states) and its state type.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from bench.webhook_resume import Announcements, RoundWorld, receiver_in_thread, register, resumes
from labelrounds.job_notices import SECRET_HEADER
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer

from .processes import PrefectServer

pytestmark = pytest.mark.timeout(300)
SECRET = SecretStr("e2e-webhook-resume-secret")


@pytest.fixture(scope="module")
def world(prefect_server: PrefectServer) -> Iterator[RoundWorld]:
    """A sandbox that sends every webhook delivery twice, and the session's Prefect server."""
    with SandboxServer(seed="lemons", mode="subprocess", faults=FaultPlan.parse("webhook:dup=1")) as sandbox:
        made = RoundWorld(sandbox, prefect_server.api_url)
        try:
            yield made
        finally:
            made.close()


def wait_for(condition: object, timeout: float, what: str) -> None:
    """Poll `condition()` every 0.1 s until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.1)


def test_the_resume_oracle_counts_every_resume() -> None:
    once = [{"name": "Suspended"}, {"name": "Resuming"}, {"name": "Running"}]
    assert resumes(once) == 1
    assert resumes([*once, {"name": "Suspended"}, {"name": "Resuming"}]) == 2  # mutant: resumed twice
    assert resumes(once[:1]) == 0  # mutant: never resumed


def test_a_suspended_round_is_resumed_once_by_duplicated_webhooks(
    prefect_server: PrefectServer, world: RoundWorld
) -> None:
    announce = Announcements()
    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        with receiver_in_thread(SECRET, world.settings(), announce) as url:
            asyncio.run(register(world, url, SECRET))
            paused = world.pause_round("e2e-webhook")
            first, last = paused.job_ids

            world.complete(first)  # half the gate: announced (twice), the run stays paused
            wait_for(lambda: announce.of_job(first) == 2, 30, "both copies of the first completion announced")
            assert world.state_type(paused.flow_run_id) == "PAUSED"

            world.complete(last)
            wait_for(lambda: world.state_type(paused.flow_run_id) != "PAUSED", 30, "the run resumed")
            wait_for(lambda: announce.of_job(last) == 2, 30, "both copies of the last completion announced")
            # A late copy after the resume finds no paused run: nothing more is announced ready.
            notice = {"teamId": world.sandbox.team_id, "data": {"jobId": last}}
            reply = httpx.post(url, json=notice, headers={SECRET_HEADER: SECRET.get_secret_value()}, timeout=30)
            assert reply.status_code == 202 and reply.json()["ready_runs"] == [], reply.text

    ready = [runs for job, runs in announce.calls if runs]
    assert 1 <= len(ready) <= 2  # the last completion's copies (each the same event id) found the run paused
    states = world.states(paused.flow_run_id)
    assert resumes(states) == 1, [state["name"] for state in states]
    assert world.state_type(paused.flow_run_id) == "SCHEDULED"  # resumed to be picked up by a worker again
