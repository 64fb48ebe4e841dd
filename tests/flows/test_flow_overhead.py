"""The flow's orchestration cost, counted (not timed): one API lease per writing phase, never two at once per round;
task results cached and persisted only in a run that can re-run from the top."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from flow_support import round_spec
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from pydantic import SecretStr

from bench.prefect_requests import count_prefect_requests
from flows.labeling_round import labeling_round
from flows.round_steps import TaskRoundSteps
from labelrounds.client import ConnectionSettings
from labelrounds.sandbox.server import SandboxServer
from tasks.jobs import create_jobs
from tasks.options import WITHIN_RUN, api_lease, leased
from tasks.retrying import API_TAG

INCREMENT = "POST /v2/concurrency_limits/increment-with-lease"
DECREMENT = "POST /v2/concurrency_limits/decrement-with-lease"


@pytest.fixture
async def api_limit(prefect_backend: None) -> AsyncIterator[int]:
    """The deployment's concurrency limit on the API tag, at 1 (a nested lease would wait forever), removed after."""
    async with get_client() as client:
        await client.create_concurrency_limit(tag=API_TAG, concurrency_limit=1)
    yield 1
    async with get_client() as client:
        await client.delete_concurrency_limit_by_tag(API_TAG)


@task(name="tagged-api-task", tags=[API_TAG])
async def tagged_api_task() -> str:
    """An API task as `tasks.options.api_task` tags it."""
    return "done"


async def test_a_round_leases_the_api_limit_once_per_writing_phase(crewed: SandboxServer, api_limit: int) -> None:
    with count_prefect_requests() as traffic:
        state = await labeling_round(round_spec(round_name="counted"), return_state=True)
    assert state.is_completed()
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
        flow_run = await client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]
    reworks = sum(run.task_key.startswith("rework_rejected") for run in runs)
    gates = sum(run.task_key.startswith("check_review") for run in runs)
    assert reworks >= 1  # the lemons crew rejects some images: a rework cycle
    # Setup, each rework (read back from the API), and the finish only when a gate came last (the rework cap):
    # after a rework the finish carries on its lease.
    phases = 1 + reworks + (gates > reworks)
    assert (traffic.requests[INCREMENT], traffic.requests[DECREMENT]) == (phases, phases)
    assert traffic.events["prefect.concurrency-limit.acquired"] == phases
    assert traffic.figures()["task_runs"] == len(runs)  # every task run's start counted, read back from the API
    assert len(runs) > phases  # several API tasks share each lease
    # A poll-mode round never re-runs from the top: no task's result was persisted (a persisted one leaves its
    # storage key in the state the server keeps), only the flow's own.
    assert [run.name for run in runs if run.state is not None and run.state.data is not None] == []
    assert flow_run.state is not None and flow_run.state.data is not None  # control: a persisted result shows


@pytest.mark.parametrize(
    ("gate_mode", "asks", "resumable"),
    [("poll", {}, False), ("suspend", {}, True), ("poll", {"approve_plan": True}, True)],
)
def test_a_task_is_cached_within_the_run_only_when_the_run_can_re_run_from_the_top(
    gate_mode: str, asks: dict[str, bool], resumable: bool
) -> None:
    """Suspending (the gate in suspend mode, a person's decision) re-runs the flow from the top, which reuses the
    results cached within the run; a run that cannot suspend hashes no inputs and persists no result."""
    settings = ConnectionSettings(server_address="http://127.0.0.1:9", api_token=SecretStr("not-used"))
    steps = TaskRoundSteps(settings, gate_mode=gate_mode)  # type: ignore[arg-type]
    chosen = steps.round_task(round_spec(**asks), create_jobs)
    assert steps.resumable(round_spec(**asks)) is resumable
    if resumable:
        assert chosen is create_jobs and chosen.cache_policy == WITHIN_RUN
    else:
        assert chosen.cache_policy is NO_CACHE and chosen.persist_result is False


async def test_a_reworks_lease_carries_on_into_the_finish_and_a_gate_releases_it(api_limit: int) -> None:
    """Mutant: without the carry-over the phases below take 4 leases; with it 3, and never two at once (limit 1)."""
    steps = TaskRoundSteps(ConnectionSettings(server_address="http://127.0.0.1:9", api_token=SecretStr("not-used")))
    with count_prefect_requests() as traffic:
        for name in ("setup", "gate", "rework", "gate", "rework"):
            with steps.phase(name):  # type: ignore[arg-type]
                pass
        held_between = traffic.requests[DECREMENT]
        with steps.phase("finish"):
            pass
    assert held_between == 2  # setup's, and the first rework's at the gate; the last rework's is still held
    assert (traffic.requests[INCREMENT], traffic.requests[DECREMENT]) == (3, 3)


async def test_tasks_in_a_leased_block_take_no_lease_of_their_own(api_limit: int) -> None:
    @flow
    async def two_tasks_under_one_lease() -> list[str]:
        with api_lease():
            return [await leased(tagged_api_task)(), await leased(tagged_api_task)()]

    with count_prefect_requests() as traffic:
        assert await two_tasks_under_one_lease() == ["done", "done"]  # at limit 1: no nested wait
    assert traffic.requests[INCREMENT] == 1


async def test_the_lease_count_sees_a_task_that_leases_on_its_own(prefect_backend: None) -> None:
    """Mutant: a tagged task inside the block, not `leased`, would take a second slot (at limit 1, forever)."""
    async with get_client() as client:
        await client.create_concurrency_limit(tag=API_TAG, concurrency_limit=2)

    @flow
    async def nested_lease() -> str:
        with api_lease():
            return await tagged_api_task()

    try:
        with count_prefect_requests() as traffic:
            assert await nested_lease() == "done"
    finally:
        async with get_client() as client:
            await client.delete_concurrency_limit_by_tag(API_TAG)
    assert traffic.requests[INCREMENT] == 2
    assert leased(tagged_api_task) is tagged_api_task  # outside a block a task keeps its own lease
