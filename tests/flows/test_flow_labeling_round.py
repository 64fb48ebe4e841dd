"""The labeling round flow on Prefect's harness against a sandbox whose crew labels and reviews."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flow_support import PASSWORD, admin_client, round_jobs, round_spec, write_requests
from oracles import assert_round_report
from prefect import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.sorting import LogSort
from prefect.logging.handlers import APILogHandler

from flows.labeling_round import labeling_round
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundTimeoutError, RoundValidationError


async def run_logs_and_artifacts(flow_run_id: Any) -> str:
    """Every log line and artifact (data and description) of a flow run and its tasks, as one text."""
    await APILogHandler.aflush()  # logs reach the API in the background: send what is queued first
    async with get_client() as client:
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), sort=LogSort.TIMESTAMP_ASC
        )
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    texts = [log.message for log in logs] + [
        f"{item.type}:{item.key} {item.data} {item.description}" for item in artifacts
    ]
    return "\n".join(texts)


async def test_a_round_finishes_with_rework_archived_checked_and_published(
    crewed: SandboxServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    state = await labeling_round(round_spec(), report_dir=str(tmp_path), return_state=True)
    outcome = await state.result()

    assert outcome.status == "finished" and outcome.round_key == "lemons-round-1@13487"
    totals = outcome.report.totals
    assert totals.selected_images == 6
    assert_round_report(crewed, totals, outcome.round_key, crewed.project_id or 0)
    assert len(outcome.job_ids_per_cycle) == 2 and totals.rework_jobs >= 1
    assert outcome.report.jobs["archived"].all() and set(outcome.report.jobs["status"]) == {"completed"}
    assert sorted(outcome.labelers["labeler"]) == ["labeler_1", "labeler_2"]
    assert {Path(path).name for path in outcome.csv_paths.values()} == {
        "lemons-round-1_jobs.csv",
        "lemons-round-1_labelers.csv",
    }
    async with admin_client(crewed) as api:
        assert await api.list_jobs(crewed.team_id) == []  # archived: hidden from the default listing

    published = await run_logs_and_artifacts(state.state_details.flow_run_id)
    for key in ("lemons-round-1-jobs", "lemons-round-1-labelers", "lemons-round-1-report", "lemons-round-1-gate-cycle-0"):
        assert key in published
    assert "labeler_1" in published and "jobs: " in published  # logs and tables came back through the API
    assert "progress:None 100 Round lemons-round-1, cycle 0: 2/2 jobs completed" in published  # the gate at its end
    secrets = [crewed.admin_token.get_secret_value(), PASSWORD.get_secret_value()]
    for secret in secrets:
        assert secret not in published
        assert secret not in caplog.text


async def test_the_flow_run_is_named_after_the_round_and_tagged_for_the_watcher(crewed: SandboxServer) -> None:
    state = await labeling_round(round_spec(round_name="tagged"), return_state=True)
    async with get_client() as client:
        run = await client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "tagged"
    assert {"labelrounds-round:tagged@13487", f"labelrounds-team:{crewed.team_id}"} <= set(run.tags)


async def test_a_rerun_with_the_same_name_creates_nothing_and_reuses_the_work(crewed: SandboxServer) -> None:
    first = await labeling_round(round_spec())
    writes = write_requests(crewed)
    second = await labeling_round(round_spec())

    assert second.job_ids_per_cycle == first.job_ids_per_cycle
    after = write_requests(crewed)
    for method in ("jobs.add", "users.add", "members.add", "projects.meta.update", "jobs.archive"):
        assert after.get(method, 0) == writes.get(method, 0), method
    assert second.report.totals == first.report.totals


async def test_lost_jobs_add_replies_are_adopted_without_duplicates(crewed: SandboxServer) -> None:
    crewed.traffic.plan = FaultPlan.parse("jobs.add:drop=1,seed=1")  # every jobs.add commits, its reply is lost
    try:
        outcome = await labeling_round(round_spec())
    finally:
        crewed.traffic.plan = FaultPlan.parse("")

    created = [job_id for ids in outcome.job_ids_per_cycle for job_id in ids]
    jobs = await round_jobs(crewed)
    assert sorted(job.id for job in jobs) == sorted(created)  # no duplicate of any job
    assert crewed.traffic_stats().fault_totals.get("drop", 0) == len(created)
    assert_round_report(crewed, outcome.report.totals, outcome.round_key, crewed.project_id or 0)


def _bad_specs() -> dict[str, tuple[dict[str, Any], str]]:
    """Round fields that fail validation on the server's side, and a phrase of the message."""
    return {
        "unknown project": ({"project": "No Such Project"}, "No Such Project"),
        "unknown dataset": ({"datasets": ["ds-missing"]}, "ds-missing"),
        "unknown team": ({"team": "other team"}, "other team"),
        "login may not be created": (
            {"labelers": [{"login": "ghost", "create_if_missing": False}, "labeler_2"]},
            "ghost",
        ),
        "class conflicts with the meta": ({"classes": [{"name": "kiwi", "shape": "polygon"}]}, "kiwi"),
        "tag conflicts with the meta": (
            {"tags": [{"name": "size", "value_type": "any_string"}]},
            "size",
        ),
        "empty selection": ({"image_selection": "explicit", "image_ids": [999_999]}, "999999"),
    }


@pytest.mark.parametrize("case", list(_bad_specs()))
async def test_each_validation_error_is_raised_before_any_write(crewed: SandboxServer, case: str) -> None:
    overrides, phrase = _bad_specs()[case]
    spec = round_spec(**overrides)
    before = write_requests(crewed)

    with pytest.raises(RoundValidationError, match=phrase):
        await labeling_round(spec)

    assert write_requests(crewed) == before
    assert await round_jobs(crewed) == []


async def test_no_password_for_new_accounts_is_refused_before_any_write(
    crewed: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LABELROUNDS_ANNOTATOR_PASSWORD")
    with pytest.raises(RoundValidationError, match="no password"):
        await labeling_round(round_spec())
    assert write_requests(crewed) == {}


async def test_the_gate_times_out_clearly_and_leaves_the_jobs(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, prefect_backend: None
) -> None:
    monkeypatch.setenv("SERVER_ADDRESS", sandbox.url)
    monkeypatch.setenv("API_TOKEN", sandbox.admin_token.get_secret_value())
    monkeypatch.setenv("LABELROUNDS_ANNOTATOR_PASSWORD", PASSWORD.get_secret_value())
    spec: RoundSpec = round_spec(poll_interval_seconds=0.05, timeout_seconds=0.2)  # no crew: nobody works

    with pytest.raises(RoundTimeoutError, match=r"cycle 0 did not reach completed within 0.2 s .*left as they are"):
        await labeling_round(spec)

    jobs = await round_jobs(sandbox)
    assert len(jobs) == 2 and {job.status.value for job in jobs} == {"pending"} and not any(j.disabled for j in jobs)


async def test_suspend_mode_outside_a_deployment_is_refused_before_any_write(crewed: SandboxServer) -> None:
    with pytest.raises(ValueError, match="gate_mode='suspend' needs a flow run created from a deployment"):
        await labeling_round(round_spec(), gate_mode="suspend")
    assert write_requests(crewed) == {}


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"labelers": ["labeler_1", "labeler_1"]}, "labelers"),
        ({"labelers": [{"login": "labeler_1", "weight": 0}], "split_strategy": "weighted"}, "weight"),
        ({"labelers": []}, "labelers"),
    ],
)
async def test_a_bad_spec_parameter_is_refused_before_the_run_writes(
    crewed: SandboxServer, change: dict[str, Any], phrase: str
) -> None:
    parameters = {**round_spec().model_dump(mode="json"), **change}  # what a deployment's form would send

    with pytest.raises(Exception, match=phrase):
        await labeling_round(parameters)  # type: ignore[arg-type]

    assert write_requests(crewed) == {}
