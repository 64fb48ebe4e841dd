"""Queue mode in the labeling-round flow (poll gate) on Prefect's harness, and the watcher's check of a queue round.

Oracles are raw HTTP reads (`tests/oracles.py`): the project's images from `images.list`, the round's jobs by
their lineage with `jobs.info` entities, the team's queues from `labeling-queues.list`, and the sandbox's own
request counters; the gate's attempts come from Prefect's record of the task run. Never the flow's own figures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from flow_support import admin_client, round_spec, settings_of
from oracles import RawApi, assert_each_image_once, assert_round_report
from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.logging import disable_run_logger

from flows.labeling_round import labeling_round
from labelrounds.client.models import LabelingQueueInfo
from labelrounds.round_spec import TargetStatus
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundNotReadyError
from labelrounds.steps.eta import estimate_round
from labelrounds.steps.gate import GateSnapshot
from labelrounds.steps.queues import queue_name, queue_progress
from labelrounds.steps.resume import resume_reason
from tasks.run_tags import gate_queues_tag
from tasks.watch import check_round, group_suspended_runs


def held_per_labeler(raw: RawApi, team_id: int, round_key: str) -> dict[str, int]:
    """Images each labeler's queue job holds, read back with `jobs.info` (the round's jobs found by lineage)."""
    held: dict[str, int] = {}
    for job in raw.round_jobs(team_id, round_key):
        held[job.lineage["labeler"]] = held.get(job.lineage["labeler"], 0) + len(job.entities)
    return held


async def test_a_queue_round_runs_in_the_flow_gates_on_queue_infos_and_reports_per_labeler_exactly(
    crewed: SandboxServer,
) -> None:
    spec = round_spec(round_name="queue-flow", assignment="queue")
    spec_json = spec.model_dump(mode="json")
    state = await labeling_round(spec, return_state=True)
    outcome = await state.result()

    with RawApi.of(crewed) as raw:
        (dataset_id,) = raw.dataset_ids(crewed.project_id or 0)
        selected = raw.image_ids_by_dataset([dataset_id])
        jobs = raw.round_jobs(crewed.team_id, outcome.round_key)
        queues = [queue["name"] for queue in raw.list_all("labeling-queues.list", {"teamId": crewed.team_id})]
        held = held_per_labeler(raw, crewed.team_id, outcome.round_key)
    assert queues == [queue_name(outcome.round_key, dataset_id)]
    assert len(jobs) == len(spec.labelers) and all(job.cycle == 0 for job in jobs)
    assert_each_image_once(selected, jobs)
    assert_round_report(crewed, outcome.report.totals, outcome.round_key, crewed.project_id or 0)
    assert outcome.report.totals.accepted == len(selected[dataset_id])
    reported = dict(zip(outcome.labelers["labeler"], outcome.labelers["images"], strict=True))
    assert reported == held and sum(held.values()) == len(selected[dataset_id])

    async with get_client() as client:
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    (gate,) = [run for run in task_runs if run.name == "gate-queue-flow-queues"]
    # One `labeling-queues.info` per queue per check, and no job listing for the gate: the round's own
    # `jobs.list` calls are validation's, the rework-less end and the report's.
    assert crewed.traffic_stats().requests["labeling-queues.info"] == gate.run_count
    progress = [artifact for artifact in artifacts if artifact.type == "progress"]
    assert len(progress) == 1 and progress[0].data == 100.0
    assert "finished" in (progress[0].description or "")

    # The watcher, had the run suspended at its gate: the run's gate-queues tag is read back, and its check task
    # asks one `labeling-queues.info` per queue; a queue gone makes the round stalled (resumed, its gate fails).
    async with admin_client(crewed) as api:
        (queue,) = await api.list_labeling_queues(crewed.team_id)
    round_tags = [f"labelrounds-round:{outcome.round_key}", f"labelrounds-team:{crewed.team_id}"]
    paused = FlowRun(
        name="paused",
        flow_id=uuid4(),
        tags=[*round_tags, gate_queues_tag([queue.id])],
        parameters={"spec": spec_json},
    )
    gone = paused.model_copy(
        update={"name": "gone", "tags": [*round_tags, gate_queues_tag([queue.id, 10**6])]}
    )
    rounds, skipped = group_suspended_runs([paused, gone])
    assert skipped == {} and [r.gate_queue_ids for r in rounds] == [[queue.id], [queue.id, 10**6]]
    infos_before = crewed.traffic_stats().requests["labeling-queues.info"]
    with disable_run_logger():  # the task's body, without a task run of its own
        snapshots = [await check_round.fn(settings_of(crewed), suspended) for suspended in rounds]
    assert crewed.traffic_stats().requests["labeling-queues.info"] == infos_before + 1 + 2
    assert [resume_reason(snapshot) for snapshot in snapshots] == ["ready", "stalled"]
    assert snapshots[1] is not None and snapshots[1].missing_job_ids == [10**6]


def queue_info(
    accepted: int, annotated: int, entities: int = 10, status: str = "in_progress"
) -> LabelingQueueInfo:
    """A queue's info as the server sends it, with these counters."""
    return LabelingQueueInfo.model_validate(
        {
            "id": 7,
            "name": "r@1/3",
            "status": status,
            "datasetId": 3,
            "entitiesCount": entities,
            "acceptedCount": accepted,
            "annotatedCount": annotated,
            "createdAt": "2026-11-29T10:00:00.000Z",
        }
    )


def test_a_queue_row_of_the_gate_reaches_the_target_from_its_counters_only() -> None:
    """Expected values written by hand from the counters; a mutant (one image short) must not pass."""
    done = queue_progress(queue_info(accepted=10, annotated=10), TargetStatus.COMPLETED)
    assert (done.images, done.done, done.accepted, done.reached) == (10, 10, 10, True)
    on_review = queue_progress(queue_info(accepted=4, annotated=10), TargetStatus.ON_REVIEW)
    assert on_review.reached and on_review.awaiting_review == 6
    one_short = queue_progress(queue_info(accepted=9, annotated=10), TargetStatus.COMPLETED)
    assert not one_short.reached
    stopped = queue_progress(queue_info(accepted=2, annotated=5, status="stopped"), TargetStatus.COMPLETED)
    assert not stopped.reached and stopped.labeler == "queue 3"


def test_the_gate_oracle_fails_on_a_queue_one_image_short() -> None:
    """Mutant of the flow test's readiness: a snapshot with a queue one image short raises RoundNotReadyError."""
    short = queue_progress(queue_info(accepted=9, annotated=10), TargetStatus.COMPLETED)
    snapshot = GateSnapshot(
        target=TargetStatus.COMPLETED, checked_at=datetime.now(UTC), jobs=[short], missing_job_ids=[]
    )
    with pytest.raises(RoundNotReadyError, match="9/10 images done|not ready"):
        snapshot.raise_if_not_ready()


def test_the_eta_of_a_queue_round_comes_from_the_queue_counters_since_its_creation() -> None:
    """Half the images annotated one hour after the queue's creation: labeling ends one hour later (by hand)."""
    created = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
    half = queue_progress(queue_info(accepted=0, annotated=5), TargetStatus.ON_REVIEW)
    assert half.started_at == created
    snapshot = GateSnapshot(
        target=TargetStatus.ON_REVIEW,
        checked_at=created + timedelta(hours=1),
        jobs=[half],
        missing_job_ids=[],
    )
    estimate = estimate_round(snapshot)
    assert estimate.finish == created + timedelta(hours=2)
    assert [pace.labeler for pace in estimate.labelers] == ["queue 3"]
    assert estimate.labelers[0].images_per_hour == pytest.approx(5.0)
