"""Suspend mode as far as the harness allows: a deployment's run suspends at the gate, is resumed, finishes or fails."""

from __future__ import annotations

import pytest
from flow_support import PASSWORD, admin_client, round_jobs, round_spec
from prefect import get_client
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow
from prefect.flow_runs import aresume_flow_run
from prefect.states import Suspended

from flows.labeling_round import labeling_round
from flows.watch_suspended_rounds import watch_suspended_rounds
from labelrounds.client.models import JobStatus, ReviewStatus
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundStalledError
from tasks.credentials import PASSWORD_ENV
from tasks.run_tags import gate_jobs_tag


async def finish_jobs_as_manager(sandbox: SandboxServer, job_ids: list[int]) -> None:
    """Accept every image of the jobs and complete them (an admin may set any status)."""
    async with admin_client(sandbox) as api:
        for job_id in job_ids:
            job = await api.get_job(job_id)
            assert job is not None
            for image_id in job.entity_ids():
                await api.set_entity_review_status(job_id, image_id, ReviewStatus.ACCEPTED)
            await api.set_job_status(job_id, JobStatus.COMPLETED)


def connect_to(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain sandbox (no crew: the test does the work) in the environment of the round and the watcher."""
    monkeypatch.setenv("SERVER_ADDRESS", sandbox.url)
    monkeypatch.setenv("API_TOKEN", sandbox.admin_token.get_secret_value())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())


async def test_a_suspended_round_holds_no_process_and_finishes_when_resumed(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None
) -> None:
    connect_to(sandbox, monkeypatch)
    spec = round_spec(round_name="suspended", poll_interval_seconds=1, timeout_seconds=600)
    deployment = await labeling_round.ato_deployment(name="suspend-test")
    deployment_id = await deployment.apply()  # type: ignore[misc]
    async with get_client() as client:
        created = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"spec": spec.model_dump(mode="json"), "gate_mode": "suspend"}
        )
        run = await client.read_flow_run(created.id)

        try:
            await run_flow(labeling_round, flow_run=run, return_type="state")  # type: ignore[misc]
            raise AssertionError("the run did not suspend")
        except Pause:
            pass
        suspended = await client.read_flow_run(created.id)
        assert suspended.state is not None and suspended.state.name == "Suspended"
        assert {"labelrounds-round:suspended@13487", f"labelrounds-team:{sandbox.team_id}"} <= set(suspended.tags)
        jobs = await round_jobs(sandbox)
        assert len(jobs) == 2 and {job.status for job in jobs} == {JobStatus.PENDING}

        await finish_jobs_as_manager(sandbox, [job.id for job in jobs])
        await aresume_flow_run(created.id)
        state = await run_flow(labeling_round, flow_run=await client.read_flow_run(created.id), return_type="state")  # type: ignore[misc]

        assert state.is_completed(), state
        outcome = await state.result()
        assert outcome.job_ids_per_cycle == [sorted(job.id for job in jobs)]  # the same jobs, none created again
        assert outcome.report.totals.accepted == 6 and len(await round_jobs(sandbox)) == 2


async def test_the_watcher_resumes_a_round_with_a_stopped_job_once_and_its_gate_fails_at_once(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None
) -> None:
    connect_to(sandbox, monkeypatch)
    spec = round_spec(round_name="stalled", poll_interval_seconds=1, timeout_seconds=600)
    deployment_id = await (await labeling_round.ato_deployment(name="stall-test")).apply()  # type: ignore[misc]
    async with get_client() as client:
        created = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"spec": spec.model_dump(mode="json"), "gate_mode": "suspend"}
        )
        with pytest.raises(Pause):
            await run_flow(labeling_round, flow_run=await client.read_flow_run(created.id), return_type="state")  # type: ignore[misc]
        job_ids = sorted(job.id for job in await round_jobs(sandbox))
        assert gate_jobs_tag(job_ids) in (await client.read_flow_run(created.id)).tags

        waiting = await watch_suspended_rounds()
        assert "stalled@13487" in waiting.waiting and "stalled@13487" not in waiting.resumed  # control: nothing stopped

        async with admin_client(sandbox) as api:
            await api.stop_job(job_ids[0])
        watched = await watch_suspended_rounds()
        run_name = (await client.read_flow_run(created.id)).name
        assert watched.resumed["stalled@13487"] == [run_name] and watched.stalled == ["stalled@13487"]

        state = await run_flow(labeling_round, flow_run=await client.read_flow_run(created.id), return_type="state")  # type: ignore[misc]
        assert state.is_failed(), state
        with pytest.raises(RoundStalledError, match=f"jobs \\[{job_ids[0]}\\] can never reach completed"):
            await state.result()
        again = await watch_suspended_rounds()
        assert "stalled@13487" not in again.resumed and "stalled@13487" not in again.checked  # never resumed twice

        # A round whose check fails (its team does not exist) is reported and left paused; the pass goes on.
        orphan = await client.create_flow_run_from_deployment(
            deployment_id,
            parameters={"spec": spec.model_dump(mode="json"), "gate_mode": "suspend"},
            tags=["labelrounds-round:orphan@13487", "labelrounds-team:999999"],
        )
        await client.set_flow_run_state(orphan.id, Suspended(timeout_seconds=600), force=True)
        passed = await watch_suspended_rounds()
        assert passed.unchecked == ["orphan@13487"] and "orphan@13487" not in passed.resumed
        orphan_state = (await client.read_flow_run(orphan.id)).state
        assert orphan_state is not None and orphan_state.name == "Suspended"
