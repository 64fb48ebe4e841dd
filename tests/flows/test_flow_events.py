"""The round's events on Prefect's harness, read back from the Prefect API: one "at risk" per missed deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from flow_support import PASSWORD, admin_client, round_jobs, round_spec, write_requests
from prefect import flow, get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.events.filters import EventFilter, EventNameFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.exceptions import Pause
from prefect.flow_engine import run_flow
from prefect.flow_runs import aresume_flow_run
from test_flow_suspend import finish_jobs_as_manager

from flows.labeling_round import labeling_round
from labelrounds.client.models import JobStatus
from labelrounds.round_spec import TargetStatus
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundStalledError
from labelrounds.steps.eta import DueInPastError, estimate_round
from labelrounds.steps.gate import GateSnapshot, JobProgress
from tasks import events
from tasks.credentials import PASSWORD_ENV

#: A steady crew: 0.4 s an image for labeling and for review; lemons (6 images, 2 labelers) takes several seconds.
STEADY_CREW = CrewConfig(label_seconds_per_image=0.4, review_seconds_per_image=0.4, poll_interval=0.05, seed=3)
SECRET_VALUES = (PASSWORD.get_secret_value(),)


@pytest.fixture(scope="module")
def steady_server() -> Iterator[SandboxServer]:
    """A lemons sandbox whose crew works at a steady pace."""
    with SandboxServer(seed="lemons", crew=STEADY_CREW) as server:
        yield server


@pytest.fixture
def steady(steady_server: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None) -> SandboxServer:
    """The steady sandbox reset to lemons, connection and annotator password in the environment."""
    steady_server.reset("lemons")
    monkeypatch.setenv("SERVER_ADDRESS", steady_server.url)
    monkeypatch.setenv("API_TOKEN", steady_server.admin_token.get_secret_value())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
    return steady_server


async def read_round_events(flow_run_id: Any, until: str, timeout: float = 30.0) -> list[ReceivedEvent]:
    """The round events related to a flow run, from the Prefect API, once `until` is stored (oldest first)."""
    event_filter = EventFilter(event=EventNameFilter(prefix=["labelrounds.round."]))
    run_resource = f"prefect.flow-run.{flow_run_id}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with get_client() as client:
        while True:
            page = await client.read_events(filter=event_filter, limit=50)
            found = sorted(
                (event for event in page.events if any(related.id == run_resource for related in event.related)),
                key=lambda event: event.occurred,
            )
            if any(event.event == until for event in found) or loop.time() > deadline:
                return found
            await asyncio.sleep(0.5)


def assert_one_at_risk(received: list[ReceivedEvent]) -> None:
    """The oracle: exactly one "at risk" event, and no recovery, for a deadline that was missed once."""
    names = [event.event for event in received]
    assert names.count(events.DEADLINE_AT_RISK) == 1, names
    assert events.DEADLINE_RECOVERED not in names, names


def assert_no_secret(received: list[ReceivedEvent], secrets: tuple[str, ...]) -> None:
    """No event's JSON contains a secret."""
    for event in received:
        text = event.model_dump_json()
        assert not any(secret in text for secret in secrets)


async def test_an_unreachable_deadline_is_announced_at_risk_once(steady: SandboxServer) -> None:
    spec = round_spec(round_name="late", due="PT1S", poll_interval_seconds=0.2, max_rework_cycles=0)
    state = await labeling_round(spec, return_state=True)
    outcome = await state.result()

    received = await read_round_events(state.state_details.flow_run_id, until=events.ROUND_FINISHED)
    names = [event.event for event in received]
    assert names[0] == events.ROUND_STARTED and names[-1] == events.ROUND_FINISHED, names
    assert names.count(events.CYCLE_FINISHED) == 1
    assert_one_at_risk(received)
    assert {event.resource.id for event in received} == {f"labelrounds.round.{outcome.round_key}"}
    at_risk = next(event for event in received if event.event == events.DEADLINE_AT_RISK)
    assert at_risk.payload["images"] == 6 and at_risk.payload["at_risk"] is True and at_risk.payload["due"]
    assert_no_secret(received, (*SECRET_VALUES, steady.admin_token.get_secret_value()))
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    gate_markdown = [str(item.data) for item in artifacts if item.key and "gate-cycle" in item.key]
    assert gate_markdown and all("labeling ends" in text for text in gate_markdown)
    assert any("AT RISK" in text and "behind" in text for text in gate_markdown)


async def test_a_reachable_deadline_is_never_at_risk(steady: SandboxServer) -> None:
    spec = round_spec(round_name="early", due="1h", poll_interval_seconds=0.2, max_rework_cycles=0)
    state = await labeling_round(spec, return_state=True)
    await state.result()

    received = await read_round_events(state.state_details.flow_run_id, until=events.ROUND_FINISHED)
    names = [event.event for event in received]
    assert events.DEADLINE_AT_RISK not in names and events.ROUND_FINISHED in names


async def test_a_deadline_past_at_the_start_is_refused_before_any_write(steady: SandboxServer) -> None:
    spec = round_spec(round_name="too-late", due="2020-01-01T00:00:00Z")
    writes_before = write_requests(steady)
    state = await labeling_round(spec, return_state=True)
    with pytest.raises(DueInPastError, match="already past"):
        await state.result()
    assert write_requests(steady) == writes_before
    received = await read_round_events(state.state_details.flow_run_id, until=events.ROUND_FAILED)
    assert [event.event for event in received] == [events.ROUND_FAILED]
    assert received[0].resource.id == "labelrounds.round.too-late"


def _snapshot(done: int, at: datetime) -> GateSnapshot:
    """One labeler, 10 images, started at `at` - 100 s, `done` of them done (10 s an image when done = 10)."""
    job = JobProgress(
        job_id=1, job_name="j", labeler="ann", status=JobStatus.IN_PROGRESS, images=10, done=done,
        awaiting_review=done, accepted=0, rejected=0, reached=False, started_at=at - timedelta(seconds=100),
    )  # fmt: skip
    return GateSnapshot(target=TargetStatus.ON_REVIEW, checked_at=at, jobs=[job], missing_job_ids=[])


@flow(name="deadline-episodes")
async def deadline_episodes(round_key: str, forget_between: bool) -> None:
    """Checks whose estimate goes at risk, stays (with the process state lost), recovers, and goes at risk again.

    `done` 2 of 10 in 100 s ends at +400 s, past a deadline at +200 s; `done` 9 ends at +11 s, within it.
    """
    now = datetime.now(UTC)
    due = now + timedelta(seconds=200)
    for done in (2, 2, 9, 2):
        snapshot = _snapshot(done, now)
        await events.announce_deadline(snapshot, estimate_round(snapshot, due), round_key, 0)
        if forget_between:  # a resumed run comes later: by then the events are stored
            await _until_stored(round_key)
            events.forget_deadline(round_key)


async def _until_stored(round_key: str, timeout: float = 30.0) -> None:
    """Wait until the API returns the deadline state this process holds for the round."""
    run_id = events.current_flow_run_id()
    held = events._deadline_states[(run_id, round_key)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while await events.load_deadline_state(round_key, run_id) != held and loop.time() < deadline:
        await asyncio.sleep(0.5)


async def test_at_risk_again_only_after_a_recovery_even_across_processes(prefect_backend: None) -> None:
    """The state forgotten between checks (a resumed run) is read back from the events already emitted."""
    state = await deadline_episodes("episodes@1", forget_between=True, return_state=True)
    received = await _wait_for_count(state.state_details.flow_run_id, events.DEADLINE_AT_RISK, 2)
    assert [event.event for event in received] == [
        events.DEADLINE_AT_RISK,
        events.DEADLINE_RECOVERED,
        events.DEADLINE_AT_RISK,
    ]


async def test_mutant_without_kept_state_announces_twice(
    prefect_backend: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State kept nowhere and a fresh id per announcement: the oracle sees two "at risk" for one missed deadline."""

    async def no_history(round_key: str, flow_run_id: Any) -> events.DeadlineState:
        return events.DeadlineState()

    monkeypatch.setattr(events, "load_deadline_state", no_history)
    monkeypatch.setattr(events, "round_event_id", lambda *_: uuid4())

    @flow(name="deadline-twice")
    async def twice() -> None:
        now = datetime.now(UTC)
        for _ in range(2):
            snapshot = _snapshot(2, now)
            await events.announce_deadline(snapshot, estimate_round(snapshot, now + timedelta(seconds=200)), "m@1", 0)
            events.forget_deadline("m@1")

    state = await twice(return_state=True)
    received = await _wait_for_count(state.state_details.flow_run_id, events.DEADLINE_AT_RISK, 2)
    with pytest.raises(AssertionError):
        assert_one_at_risk(received)


async def _wait_for_count(flow_run_id: Any, name: str, count: int, timeout: float = 30.0) -> list[ReceivedEvent]:
    """The flow run's round events once `count` events named `name` are stored (or the timeout passed)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        received = await read_round_events(flow_run_id, until=name, timeout=timeout)
        if sum(event.event == name for event in received) >= count or loop.time() > deadline:
            return received
        await asyncio.sleep(0.5)


async def test_a_stopped_job_is_announced_stalled_then_failed(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None
) -> None:
    """Nobody works (no crew); a job stopped while the gate waits: `stalled` names it, then `failed`."""
    monkeypatch.setenv("SERVER_ADDRESS", sandbox.url)
    monkeypatch.setenv("API_TOKEN", sandbox.admin_token.get_secret_value())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
    spec = round_spec(round_name="stalls", poll_interval_seconds=0.2, max_rework_cycles=0)
    running = asyncio.ensure_future(labeling_round(spec, return_state=True))
    stopped = await _stop_first_job_when_created(sandbox)
    state = await running
    with pytest.raises(RoundStalledError):
        await state.result()

    received = await read_round_events(state.state_details.flow_run_id, until=events.ROUND_FAILED)
    names = [event.event for event in received]
    assert names == [events.ROUND_STARTED, events.ROUND_STALLED, events.ROUND_FAILED]
    assert received[1].payload["stalled_job_ids"] == [stopped]
    assert received[2].payload["error"] == "RoundStalledError"


async def _stop_first_job_when_created(sandbox: SandboxServer, timeout: float = 60.0) -> int:
    """Wait for the round's jobs (raw listing), stop the first one; its id."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (jobs := await round_jobs(sandbox)) and loop.time() < deadline:
        await asyncio.sleep(0.2)
    first = min(job.id for job in jobs)
    async with admin_client(sandbox) as api:
        await api.stop_job(first)
    return first


async def test_a_suspended_round_resumed_twice_announces_start_and_risk_once(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None
) -> None:
    """Suspend mode re-runs the flow from the top at each resume: still one `started` and one "at risk"."""
    monkeypatch.setenv("SERVER_ADDRESS", sandbox.url)
    monkeypatch.setenv("API_TOKEN", sandbox.admin_token.get_secret_value())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
    spec = round_spec(round_name="resumed", due="PT1S", poll_interval_seconds=1, timeout_seconds=600)
    deployment_id = await (await labeling_round.ato_deployment(name="events-test")).apply()  # type: ignore[misc]
    async with get_client() as client:
        created = await client.create_flow_run_from_deployment(
            deployment_id, parameters={"spec": spec.model_dump(mode="json"), "gate_mode": "suspend"}
        )
        for _ in range(2):  # nobody works: each run checks and suspends again; the second one surely at risk
            with pytest.raises(Pause):
                await run_flow(labeling_round, flow_run=await client.read_flow_run(created.id), return_type="state")  # type: ignore[misc]
            await aresume_flow_run(created.id)
            # the deadline is 1 s after the first start: on a fast machine every check so far may precede it
            await asyncio.sleep(1.2)
        await finish_jobs_as_manager(sandbox, [job.id for job in await round_jobs(sandbox)])
        state = await run_flow(labeling_round, flow_run=await client.read_flow_run(created.id), return_type="state")  # type: ignore[misc]
    assert state.is_completed(), state

    received = await read_round_events(created.id, until=events.ROUND_FINISHED)
    names = [event.event for event in received]
    assert names.count(events.ROUND_STARTED) == 1 and names.count(events.ROUND_FINISHED) == 1, names
    assert_one_at_risk(received)


@flow(name="progress-checks")
async def progress_checks(round_key: str, done_per_check: list[int], forget_after: int) -> None:
    """Gate checks of cycle 0 seeing `done_per_check` images done, the process state lost after `forget_after`."""
    now = datetime.now(UTC)
    for number, done in enumerate(done_per_check):
        snapshot = _snapshot(done, now)
        events.announce_check(snapshot, estimate_round(snapshot), round_key, 0)
        if number == forget_after:  # a resumed run: a new process that has announced nothing yet
            events.forget_deadline(round_key)
    events.announce_finished(round_key, {})  # the last event: once it is stored, so are the checks' events


#: Checks seeing 0, 2, 2, 5 images done, the state lost, 5 again, then 7: progress at 2, 5 and 7 (5 repeated once).
PROGRESS_CHECKS = [0, 2, 2, 5, 5, 7]


async def test_progress_is_announced_when_the_counts_move_once_each(prefect_backend: None) -> None:
    state = await progress_checks("progress@1", PROGRESS_CHECKS, forget_after=3, return_state=True)
    received = await read_round_events(state.state_details.flow_run_id, until=events.ROUND_FINISHED)
    progress = [event for event in received if event.event == events.ROUND_PROGRESS]
    assert [event.payload["done"] for event in progress] == [2, 5, 7]
    assert all(event.payload["images"] == 10 and event.payload["cycle"] == 0 for event in progress)


async def test_mutant_progress_on_every_check_is_seen_by_the_oracle(
    prefect_backend: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Progress announced at every check with fresh ids: the oracle sees six events, not three."""
    monkeypatch.setattr(events, "progress_counts", lambda snapshot: (uuid4().int, 0, 0))
    monkeypatch.setattr(events, "round_event_id", lambda *_: uuid4())
    state = await progress_checks("progress@2", PROGRESS_CHECKS, forget_after=3, return_state=True)
    received = await _wait_for_count(state.state_details.flow_run_id, events.ROUND_PROGRESS, 6)
    assert [event.payload["done"] for event in received if event.event == events.ROUND_PROGRESS] != [2, 5, 7]
