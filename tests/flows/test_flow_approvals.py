"""Human decisions in the flow: a deployment's run suspends with a form, the answer comes through Prefect's API.

Oracles: the sandbox's own count of write requests (`write_requests`, crew apart) and the round's jobs read back
with raw HTTP (`tests/oracles.py`); the form is read back from the flow run's stored inputs.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import UUID, uuid4

import pytest
from flow_support import round_spec, write_requests
from oracles import RawApi, RawJob, assert_unique_identities, round_key_of
from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow
from prefect.flow_runs import aresume_flow_run
from prefect.input.run_input import keyset_from_paused_state
from prefect.states import State, Suspended
from test_flow_events import read_round_events

from flows.labeling_round import labeling_round
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.server import SandboxServer
from tasks.approvals import DECISION_NEEDED, DECISION_TAKEN
from tasks.watch import group_suspended_runs


def raw_round_jobs(server: SandboxServer, round_name: str) -> list[RawJob]:
    """The round's jobs (archived ones included), read raw by their lineage."""
    with RawApi.of(server) as raw:
        return raw.round_jobs(server.team_id, round_key_of(round_name, server.project_id or 0))


async def start_deployment_run(client: PrefectClient, spec: RoundSpec, deployment: str) -> UUID:
    """A run of the round flow's deployment `deployment` (created once per name), polling gate."""
    deployment_id = await (await labeling_round.ato_deployment(name=deployment)).apply()  # type: ignore[misc]
    created = await client.create_flow_run_from_deployment(
        deployment_id, parameters={"spec": spec.model_dump(mode="json"), "gate_mode": "poll"}
    )
    return created.id


async def run_until_paused(client: PrefectClient, run_id: UUID) -> dict[str, Any]:
    """Run (or re-run) the flow run in this process until it suspends; return the form's stored schema."""
    with pytest.raises(Pause):
        await run_flow(labeling_round, flow_run=await client.read_flow_run(run_id), return_type="state")  # type: ignore[misc]
    run = await client.read_flow_run(run_id)
    assert run.state is not None and run.state.name == "Suspended"
    keyset = run.state.state_details.run_input_keyset
    assert keyset is not None, "the suspension waits for a form"
    schema = (await client.read_flow_run_input(run_id, keyset["schema"])) or ""
    description = (await client.read_flow_run_input(run_id, keyset["description"])) or ""
    return {"schema": schema, "description": description}


async def answer_and_finish(client: PrefectClient, run_id: UUID, answer: dict[str, Any]) -> State:
    """Resume the run with the form's answer (as the UI sends it) and run it to its end."""
    await aresume_flow_run(run_id, run_input=answer)
    return await run_flow(labeling_round, flow_run=await client.read_flow_run(run_id), return_type="state")  # type: ignore[misc]


async def read_decisions(run_id: UUID, expected: int = 4, timeout: float = 30) -> list[tuple[str, str, Any]]:
    """(needed|taken, question, payload) of the run's decision events once `expected` are stored (oldest first)."""
    deadline = time.monotonic() + timeout
    while True:
        received = await read_round_events(run_id, until=DECISION_TAKEN, timeout=timeout)
        decisions = [
            (event.event.rsplit(".", 1)[1], event.payload["question"], event.payload)
            for event in received
            if event.event in {DECISION_NEEDED, DECISION_TAKEN}
        ]
        if len(decisions) >= expected or time.monotonic() > deadline:
            return decisions
        await asyncio.sleep(0.5)


async def test_the_plan_waits_for_approval_with_nothing_written_then_a_rejection_cancels_the_round(
    crewed: SandboxServer,
) -> None:
    spec = round_spec(round_name="approve-me", approve_plan=True, max_rework_cycles=0)
    async with get_client() as client:
        run_id = await start_deployment_run(client, spec, "approval-test")
        form = await run_until_paused(client, run_id)
        assert write_requests(crewed) == {}  # suspended before any write: no user, meta or job
        assert '"approve"' in form["schema"] and '"reject"' in form["schema"]
        assert (
            "Approve the plan of round approve-me" in form["description"]
            and "6 images" in form["description"]
        )

        state = await answer_and_finish(client, run_id, {"decision": "reject", "comment": "not this week"})
    assert state.is_cancelled(), state
    assert "was rejected: not this week; nothing was written" in (state.message or "")
    assert write_requests(crewed) == {} and raw_round_jobs(crewed, spec.round_name) == []


async def test_an_approved_plan_is_not_asked_again_and_one_more_cycle_reworks_the_still_rejected_images_once(
    crewed: SandboxServer,
) -> None:
    spec = round_spec(round_name="capped", approve_plan=True, approve_rework_cap=True, max_rework_cycles=0)
    async with get_client() as client:
        run_id = await start_deployment_run(client, spec, "approval-test")
        await run_until_paused(client, run_id)
        await aresume_flow_run(run_id, run_input={"decision": "approve"})
        # The approved run re-runs from the top: it reads the approval back instead of asking again, creates the
        # jobs, and stops at the rework cap with the second form.
        form = await run_until_paused(client, run_id)
        assert "images are still rejected" in form["description"] and '"one_more_cycle"' in form["schema"]
        first = raw_round_jobs(crewed, spec.round_name)
        still_rejected = {
            image for job in first for image, status in job.entities.items() if status == "rejected"
        }
        assert still_rejected and {job.cycle for job in first} == {0}  # the crew's seed rejects some images
        assert f"{len(still_rejected)} images are still rejected" in form["description"]
        assert '"labeler_1"' in form["schema"]  # the team's labelers are the choices for a reassignment
        with pytest.raises(
            RuntimeError, match="Cannot resume"
        ):  # the server refuses a login outside the choices
            await aresume_flow_run(run_id, run_input={"choice": "reassign", "labeler": "nobody"})
        still = await client.read_flow_run(run_id)
        assert still.state is not None and still.state.name == "Suspended"

        state = await answer_and_finish(client, run_id, {"choice": "one_more_cycle"})
    assert state.is_completed(), state
    jobs = raw_round_jobs(crewed, spec.round_name)
    rework = [job for job in jobs if job.cycle == 1]
    assert {image for job in rework for image in job.entities} == still_rejected
    assert sum(len(job.entities) for job in rework) == len(still_rejected)  # each once, the flow ran 3 times
    assert_unique_identities(jobs)

    decisions = await read_decisions(run_id)  # each announced once although the flow ran three times
    assert [(kind, question) for kind, question, _ in decisions] == [
        ("needed", "approve-plan"),
        ("taken", "approve-plan"),
        ("needed", "rework-cap-cycle-0"),
        ("taken", "rework-cap-cycle-0"),
    ]
    assert decisions[1][2]["decision"] == "approve" and decisions[3][2]["choice"] == "one_more_cycle"
    assert decisions[2][2]["still_rejected"] == len(still_rejected)


async def test_a_round_that_asks_a_person_is_refused_outside_a_deployment_before_writing(
    crewed: SandboxServer,
) -> None:
    with pytest.raises(ValueError, match="approve_plan and approve_rework_cap suspend the round with a form"):
        await labeling_round(round_spec(round_name="direct", approve_plan=True))
    assert write_requests(crewed) == {}


def test_the_watcher_leaves_a_run_waiting_for_a_form_to_the_person() -> None:
    spec = round_spec(round_name="asking", approve_rework_cap=True).model_dump(mode="json")
    tags = ["labelrounds-round:asking@13487", "labelrounds-team:8"]
    at_gate = FlowRun(
        flow_id=uuid4(), name="at-gate", tags=tags, parameters={"spec": spec}, state=Suspended()
    )
    asking_state = Suspended(pause_key="rework-cap-cycle-0")
    asking_state.state_details.run_input_keyset = keyset_from_paused_state(asking_state)
    asking = FlowRun(flow_id=uuid4(), name="asking", tags=tags, parameters={"spec": spec}, state=asking_state)
    rounds, skipped = group_suspended_runs([at_gate, asking])
    assert [watched.flow_run_names for watched in rounds] == [
        ["at-gate"]
    ]  # control: the gate's run is watched
    assert "waits for a person's answer" in skipped["asking"]  # resuming it without the answer would fail
