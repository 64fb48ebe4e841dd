"""Crash and resume: `labelrounds round run` is SIGKILLed while creating jobs, while waiting at the gate and while
archiving; each time the same command is run again, and the last run finishes the round with nothing
duplicated or lost and the report equal to the review statuses read back.

Each run is a subprocess (about 2.5 s of CPU to import the flows) attached to the session's Prefect test server
and the one sandbox. `make test` kills at ONE stage, rotating with the commit (`budget.rotating`), so that every
stage is covered across commits at half the cost; `make test-long` kills at all three in one round."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from oracles import assert_report_matches
from prefect.settings import PREFECT_API_URL

from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.faults import STATS_PATH, FaultPlan, TrafficStats
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.report import build_round_report
from tasks.credentials import PASSWORD_ENV

from .budget import rotating
from .rounds import PASSWORD, admin_client, check_round, round_spec

LABELROUNDS = Path(sys.executable).parent / "labelrounds"
# Slow job creation and archiving, so that a kill lands inside them; a crew that takes its time, so the gate waits.
# The crew and the gate look 4-5 times a second (each look of the crew lists teams and jobs, each of the gate is a
# Prefect task retry): the gate still waits through several looks (a kill point), at a fraction of the CPU.
FAULTS = "jobs.add:latency=1@1500ms,jobs.archive:latency=1@1s,seed=3"
CREW = CrewConfig(
    label_seconds_per_image=0.05, review_seconds_per_image=0.02, reject_rate=0.3, poll_interval=0.25, seed=3
)
GATE_POLL_SECONDS = 0.2
RUN_TIMEOUT = 240

KillPoint = Callable[[TrafficStats, TrafficStats], bool]
"""Whether to kill now, given the sandbox's counters when this run started and now (the crew's apart)."""


def grown(method: str, by: int) -> KillPoint:
    """Kill once this run has sent `by` more requests of `method`."""
    return lambda start, now: now.requests.get(method, 0) - start.requests.get(method, 0) >= by


KILL_POINTS: dict[str, KillPoint] = {
    "while creating jobs": grown("jobs.add", 2),  # the second (slow) jobs.add is in flight
    # One listing when creating jobs, then one per gate check: the third is the gate's second check.
    "while waiting at the gate": grown("jobs.list", 3),
    "while archiving": grown("jobs.archive", 1),  # the first (slow) archive is in flight
}


def round_command(config: Path, server: SandboxServer, tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The `labelrounds round run` command line and its environment (connection and password in env only)."""
    assert LABELROUNDS.exists(), f"the console script is missing: {LABELROUNDS} (pip install -e .)"
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "SERVER_ADDRESS": server.url,
        "API_TOKEN": server.admin_token.get_secret_value(),
        PASSWORD_ENV: PASSWORD.get_secret_value(),
        "COLUMNS": "200",
    }
    command = [
        str(LABELROUNDS),
        "round",
        "run",
        "--config",
        str(config),
        "--report-dir",
        str(tmp_path / "reports"),
    ]
    return command, env


def run_and_kill(
    command: list[str], env: dict[str, str], server: SandboxServer, point: KillPoint, log: Path
) -> None:
    """Start the round and SIGKILL it as soon as the sandbox's counters reach the kill point.

    The counters are polled every 0.1 s over one pooled connection (`server.traffic_stats()` opens a client, TLS
    context included, per call): the slow `jobs.add` and `jobs.archive` (1 s and more) leave time to spare.
    """
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:

        def stats() -> TrafficStats:
            reply = http.get(STATS_PATH)
            reply.raise_for_status()
            return TrafficStats.model_validate(reply.json())

        start = stats()
        with log.open("ab") as output:
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + RUN_TIMEOUT
            while not point(start, stats()):
                assert process.poll() is None, (
                    f"the round ended (exit {process.returncode}) before the kill point:\n{log.read_text()[-3000:]}"
                )
                assert time.monotonic() < deadline, "the kill point was never reached"
                time.sleep(0.1)
        finally:
            process.kill()
            process.wait(timeout=30)


@pytest.mark.timeout(900)
async def test_a_round_killed_at_each_stage_is_finished_by_a_rerun(
    prefect_backend: None, tmp_path: Path
) -> None:
    spec: RoundSpec = round_spec(
        round_name="crash-resume",
        project="Synthetic 2x12",
        labelers=["labeler_1", "labeler_2", "labeler_3"],
        poll_interval_seconds=GATE_POLL_SECONDS,
    )
    config = tmp_path / "round.yaml"
    config.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    log = tmp_path / "round-runs.log"
    faults = FaultPlan.parse(FAULTS)
    with SandboxServer(seed="synthetic:2x12", mode="subprocess", crew=CREW, faults=faults) as server:
        command, env = round_command(config, server, tmp_path)
        stages = rotating(list(KILL_POINTS))
        for stage in stages:
            run_and_kill(command, env, server, KILL_POINTS[stage], log)
        finished = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
        assert finished.returncode == 0, (
            f"killed {stages}:\n" + finished.stdout[-3000:] + finished.stderr[-3000:]
        )

        check = check_round(server, spec)
        async with admin_client(server) as api:
            report = await build_round_report(
                api, server.team_id, server.project_id or 0, f"crash-resume@{server.project_id}"
            )
            visible = await api.list_jobs(server.team_id)
    # 2 datasets of 12 images in runs of 8 per labeler: labeler_2's run spans both datasets, so 4 jobs
    assert check.duplicates == 0 and check.first_cycle_jobs == 4, f"killed {stages}"
    assert report.totals.selected_images == check.selected_images == 24
    assert_report_matches(report.totals, check.selected, check.jobs)
    assert report.totals.unreviewed == 0 and report.jobs["archived"].all() and visible == []
