"""Deployments on a real Prefect server: deploy, a process worker, rounds started as the UI starts them.

One `prefect server start` (SQLite) for the session, `labelrounds deploy` as a user runs it, one worker, a sandbox
in a subprocess whose crew labels and reviews at a human-like (but quick) pace. A round in poll mode completes and
archives its jobs; a round in suspend mode leaves the worker free while it waits and is resumed by the watcher
deployment; the Prefect UI shows the run in headless Chromium.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, TargetStatus
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.lineage import list_round_jobs
from labelrounds.steps.resume import check_suspended_round

from .prefect_rest import PrefectRest
from .processes import REPO_DIR, ManagedProcess, PrefectServer, labelrounds_deploy

POOL = "e2e"
ROUND_FLOW = "labeling-round"
WATCH_FLOW = "watch-suspended-rounds"
ANNOTATOR_PASSWORD = "Lemon-e2e-2026"
# Slow enough that a suspend-mode round reaches its gate before the jobs are done, quick enough for CI.
CREW = "label=1.5,review=0.2,reject=0.3,max-rejections=1,poll=0.2,seed=11"
SCREENSHOT_ENV = "LABELROUNDS_SAVE_SCREENSHOT"
# Real servers and processes on two shared cores: a generous bound per test (setup included), not a speed check.
pytestmark = pytest.mark.timeout(900)


@dataclass
class Deployed:
    """The deployed world: the Prefect server, its REST API, the sandbox, the worker."""

    server: PrefectServer
    rest: PrefectRest
    sandbox: SandboxServer
    worker: ManagedProcess
    deploy_output: str

    def settings(self) -> ConnectionSettings:
        """The sandbox admin's connection (as the credentials block holds it)."""
        return ConnectionSettings(server_address=self.sandbox.url, api_token=self.sandbox.admin_token)

    def round_parameters(self, round_name: str, **overrides: Any) -> dict[str, Any]:
        """The lemons deployment's form defaults, with the round renamed and quick polling (as a user edits it)."""
        defaults = self.rest.deployment(ROUND_FLOW, "lemons")["parameters"]
        spec = {**defaults["spec"], "round_name": round_name, "poll_interval_seconds": 0.5, "timeout_seconds": 300}
        return {**defaults, "spec": spec, **overrides}

    def start_round(self, round_name: str, **overrides: Any) -> dict[str, Any]:
        """Start the lemons deployment from its form with these values."""
        deployment = self.rest.deployment(ROUND_FLOW, "lemons")
        return self.rest.run_from_form(deployment["id"], self.round_parameters(round_name, **overrides))


@pytest.fixture(scope="module")
def crewed_sandbox() -> Iterator[SandboxServer]:
    """A lemons sandbox in its own process with a crew that labels, reviews and sometimes rejects."""
    with SandboxServer(seed="lemons", mode="subprocess", crew=CrewConfig.parse(CREW)) as server:
        yield server


@pytest.fixture(scope="module")
def deployed(prefect_server: PrefectServer, crewed_sandbox: SandboxServer) -> Iterator[Deployed]:
    """Everything deployed to the session's server and one worker polling the pool (without any token)."""
    output = labelrounds_deploy(
        prefect_server, crewed_sandbox, POOL, ANNOTATOR_PASSWORD, "--pool-limit", "8", "--api-limit", "4"
    )
    worker = prefect_server.start_worker(POOL, "e2e-worker")
    rest = PrefectRest(prefect_server.api_url)
    try:
        yield Deployed(prefect_server, rest, crewed_sandbox, worker, output)
    finally:
        rest.close()
        worker.stop()
        prefect_server.workers.remove(worker)


@pytest.fixture(scope="module")
def polled_round(deployed: Deployed) -> dict[str, Any]:
    """A poll-mode round started from the form and run to its end by the worker."""
    run = deployed.start_round("e2e-poll", gate_mode="poll")
    return deployed.rest.wait_for(run["id"], {"COMPLETED"}, timeout=240)


def test_deploy_creates_the_pool_limits_schedules_and_credentials(deployed: Deployed) -> None:
    rest = deployed.rest
    token = deployed.sandbox.admin_token.get_secret_value()
    assert token not in deployed.deploy_output and ANNOTATOR_PASSWORD not in deployed.deploy_output

    pool = rest.work_pool(POOL)
    assert (pool["type"], pool["concurrency_limit"]) == ("process", 8)
    assert rest.tag_limit("supervisely-api")["concurrency_limit"] == 4

    names = {(d["name"], d["work_pool_name"]) for d in rest.deployments()}
    assert {name for name, _ in names} >= {"lemons", "weekly", "onboarding", "report", "cleanup", "watcher"}
    assert {pool_name for _, pool_name in names} == {POOL}

    weekly = rest.deployment(ROUND_FLOW, "weekly")
    (schedule,) = weekly["schedules"]
    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == ("0 6 * * 1", "Europe/Berlin")
    assert schedule["active"] is False  # deployed with --no-schedules
    assert weekly["parameters"]["gate_mode"] == "suspend"
    watcher = rest.deployment(WATCH_FLOW, "watcher")
    assert watcher["schedules"][0]["schedule"]["interval"] == 300
    assert watcher["global_concurrency_limit"]["limit"] == 1

    # the credentials live in a block; the deployment's parameters only name it
    lemons = rest.deployment(ROUND_FLOW, "lemons")
    assert lemons["parameters"]["credentials_block"] == "supervisely"
    assert token not in str(lemons) and ANNOTATOR_PASSWORD not in str(lemons)
    assert lemons["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_DIR)}}
    ]


def _described_fields(schema: dict[str, Any], model: type[BaseModel]) -> dict[str, str]:
    """The form's description of each field of `model` (found among the schema's definitions by title)."""
    definitions = schema.get("definitions", {}) | schema.get("$defs", {})
    (definition,) = [d for d in definitions.values() if d.get("title") == model.__name__]
    return {name: prop.get("description", "") for name, prop in definition["properties"].items()}


def test_the_round_form_shows_every_spec_field_with_its_description(deployed: Deployed) -> None:
    schema = deployed.rest.deployment(ROUND_FLOW, "lemons")["parameter_openapi_schema"]
    assert {"spec", "credentials_block", "password_secret", "gate_mode"} <= set(schema["properties"])
    described = _described_fields(schema, RoundSpec)
    assert set(described) == set(RoundSpec.model_fields)
    for name, field in RoundSpec.model_fields.items():
        assert field.description and described[name] == field.description, name


async def test_a_round_started_from_the_form_completes_and_archives_its_jobs(
    deployed: Deployed, polled_round: dict[str, Any]
) -> None:
    assert polled_round["state"]["type"] == "COMPLETED", polled_round["state"]
    tags = polled_round["tags"]
    round_key = next(tag.split(":", 1)[1] for tag in tags if tag.startswith("labelrounds-round:"))
    async with SuperviselyClient(deployed.settings()) as api:
        jobs = await list_round_jobs(api, deployed.sandbox.team_id, deployed.sandbox.project_id, round_key)
    assert jobs and all(job.disabled for job, _ in jobs)  # every job of the round archived
    first_cycle = [job for job, lineage in jobs if lineage.cycle == 0]
    assert sum(job.images_count for job in first_cycle) == 6

    artifacts = deployed.rest.artifacts(polled_round["id"])
    kinds = {(artifact["type"], artifact["key"]) for artifact in artifacts if artifact["key"]}
    assert any(kind == "table" and "e2e-poll" in key for kind, key in kinds), kinds
    assert any(kind == "markdown" and "e2e-poll" in key for kind, key in kinds), kinds
    token = deployed.sandbox.admin_token.get_secret_value()
    assert not any(token in str(artifact.get("data")) for artifact in artifacts)
    assert not any(token in line or ANNOTATOR_PASSWORD in line for line in deployed.rest.logs(polled_round["id"]))


def _wait_for_no_flow_process(worker: ManagedProcess, timeout: float = 60) -> None:
    """Wait until the worker has no child process left (the suspended run's process exited)."""
    deadline = time.monotonic() + timeout
    while worker.children():
        assert time.monotonic() < deadline, [child.cmdline() for child in worker.children()]
        time.sleep(0.5)


async def _wait_until_jobs_ready(deployed: Deployed, round_key: str, timeout: float = 120) -> None:
    """Wait until the crew brought the round's current jobs to completed."""
    deadline = time.monotonic() + timeout
    async with SuperviselyClient(deployed.settings()) as api:
        while True:
            snapshot = await check_suspended_round(api, deployed.sandbox.team_id, round_key, TargetStatus.COMPLETED)
            if snapshot is not None and snapshot.ready:
                return
            assert time.monotonic() < deadline, snapshot.summary() if snapshot else "no jobs"
            await asyncio.sleep(0.5)


async def test_a_suspended_round_holds_no_worker_and_the_watcher_resumes_it(deployed: Deployed) -> None:
    rest = deployed.rest
    run = deployed.start_round("e2e-suspend", gate_mode="suspend")
    watcher = rest.deployment(WATCH_FLOW, "watcher")
    suspensions = 0
    while True:
        state = rest.wait_for(run["id"], {"PAUSED"}, timeout=180)
        if state["state"]["type"] != "PAUSED":
            break
        suspensions += 1
        assert state["state"]["name"] == "Suspended"
        _wait_for_no_flow_process(deployed.worker)
        round_key = next(tag.split(":", 1)[1] for tag in state["tags"] if tag.startswith("labelrounds-round:"))
        await _wait_until_jobs_ready(deployed, round_key)
        assert rest.flow_run(run["id"])["state"]["type"] == "PAUSED"  # nothing but the watcher resumes it
        watch = rest.run_from_form(watcher["id"], {})
        assert rest.wait_for(watch["id"], {"COMPLETED"}, timeout=120)["state"]["type"] == "COMPLETED"
        assert rest.flow_run(run["id"])["state"]["type"] != "PAUSED"
    assert state["state"]["type"] == "COMPLETED", state["state"]
    assert suspensions >= 1

    async with SuperviselyClient(deployed.settings()) as api:
        jobs = await list_round_jobs(api, deployed.sandbox.team_id, deployed.sandbox.project_id, round_key)
    identities = [lineage.identity for _, lineage in jobs]
    assert len(identities) == len(set(identities))  # nothing created twice across the resumes
    assert sum(job.images_count for job, lineage in jobs if lineage.cycle == 0) == 6
    assert all(job.disabled for job, _ in jobs)


def test_the_ui_shows_the_run_in_a_real_browser(
    deployed: Deployed, polled_round: dict[str, Any], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "headless Chromium is missing: `make test` installs it (apt-get install chromium)"
    page = f"{deployed.server.url}/runs/flow-run/{polled_round['id']}"
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1000"]
    dom = subprocess.run(  # noqa: S603 - fixed arguments
        [*browser, "--virtual-time-budget=10000", "--dump-dom", page],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert polled_round["name"] in dom and ">Completed<" in dom, dom[-2000:]

    screenshot = tmp_path / "flow-run.png"
    subprocess.run(  # noqa: S603 - fixed arguments
        [*browser, "--virtual-time-budget=10000", f"--screenshot={screenshot}", page],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 20_000
    if _wants_screenshot():
        shutil.copyfile(screenshot, REPO_DIR / "docs" / "images" / "flow-run.png")


def _wants_screenshot() -> bool:
    """Whether this run should refresh docs/images/flow-run.png (LABELROUNDS_SAVE_SCREENSHOT=1)."""
    return os.environ.get(SCREENSHOT_ENV) == "1"

