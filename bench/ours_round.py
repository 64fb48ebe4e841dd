"""Side A of the round benchmark: this project's round, run in its own process so its memory is its own.

Run by `bench.round_scale` as `python -m bench.ours_round --project-id P --labelers L [--driver steps|flow]`
with SERVER_ADDRESS and API_TOKEN (the sandbox admin's) in the environment. It prints its figures on one
marked line (`bench.phases.emit_result`). With LABELROUNDS_BENCH_PROFILE=FILE it also writes a cProfile of the round, timed in CPU seconds (not wall).
With LABELROUNDS_BENCH_RSS_STEPS=FILE it writes the resident memory sampled under each library step
(`bench.rss_steps`: where the peak falls).

Drivers: `steps` runs the round's one composition (`labelrounds.steps.sequence.run_round`, as the flow does)
over the library's steps: setup (validate → users → meta → jobs), wait (each gate), teardown (rework, end
action, report); `flow` runs the Prefect flow `flows.labeling_round.labeling_round` as a whole, measured
as one phase, `round`, with the Prefect API requests and events it made (`bench.prefect_requests`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import SecretStr

from bench.phases import PhaseMeter, emit_result, peak_rss_mb
from bench.rss_steps import StepSampler
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.steps.sequence import ClientRoundSteps, RoundPhase, run_round

WAIT_TIMEOUT_SECONDS = 3600.0
PROFILE_VARIABLE = "LABELROUNDS_BENCH_PROFILE"  # a file path: profile the round with cProfile into it
RSS_STEPS_VARIABLE = "LABELROUNDS_BENCH_RSS_STEPS"  # a file path: RSS by library step (bench.rss_steps)


def round_spec(project_id: int, labelers: int, poll_interval: float, side: str = "ours") -> RoundSpec:
    """The benchmark's round: labelers `<side>_labeler_NNN`, reviewer `<side>_reviewer`, one new class, archive.

    `side` names the people, so that each side of the benchmark works with its own (the SDK side's are `sdk_`).
    """
    return parse_round_spec(
        {
            "round_name": f"bench-{side}",
            "team": "my team",
            "project": project_id,
            "labelers": [f"{side}_labeler_{index:03d}" for index in range(1, labelers + 1)],
            "reviewer": f"{side}_reviewer",
            "classes": [{"name": f"{side}_mango"}],
            "target_status": "completed",
            "end_action": "archive",
            "poll_interval_seconds": poll_interval,
            "timeout_seconds": WAIT_TIMEOUT_SECONDS,
        }
    )


#: The bench's phase of each part of the round: rework (a listing when nothing was rejected) counts as teardown,
#: so that `wait` holds the gate's checks only.
BENCH_PHASES: dict[RoundPhase, str] = {
    "setup": "setup",
    "gate": "wait",
    "rework": "teardown",
    "finish": "teardown",
}


async def run_steps(meter: PhaseMeter, settings: ConnectionSettings, spec: RoundSpec) -> dict[str, Any]:
    """The round as the library's composition (`run_round`, rework included), each phase measured.

    Returns a few facts to check the run by.
    """
    checks = 0
    peaks: dict[str, float] = {}

    def count_check(_: object) -> None:
        nonlocal checks
        checks += 1

    @contextmanager
    def measured(name: RoundPhase) -> Iterator[None]:
        """The bench's phase, and the process's peak memory when it ends (where in the round the peak falls)."""
        with meter.phase(BENCH_PHASES[name]):
            yield
        peaks[BENCH_PHASES[name]] = round(peak_rss_mb(), 1)

    async with SuperviselyClient(settings) as api:
        steps = ClientRoundSteps(
            api,
            SecretStr(secrets.token_urlsafe(16)),
            on_check=count_check,
            meter=measured,
        )
        run = await run_round(steps, spec)
    return {
        "jobs": sum(len(ids) for ids in run.job_ids_per_cycle),
        "wait_checks": checks,
        "images": int(run.report.totals.selected_images),
        "peak_rss_mb_by_phase_end": peaks,
    }


def run_flow(meter: PhaseMeter, spec: RoundSpec) -> dict[str, Any]:
    """The round as the Prefect flow `labeling_round` on the demo's local Prefect server, heartbeats off.

    Credentials come from the environment (SERVER_ADDRESS, API_TOKEN), new accounts' password from the flow's
    password variable. The server (`deployments.demo.local_prefect`: `.prefect-demo/` unless PREFECT_HOME or
    PREFECT_API_URL names another Prefect) is started (and timed) before the one phase, `round`, with the
    deployment's concurrency limit on the API tag (`deployments.deploy.ensure_api_limit`).
    """
    # Imported here: only this driver needs Prefect.
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings  # noqa: PLC0415

    from bench.prefect_requests import count_prefect_requests  # noqa: PLC0415
    from deployments.demo import local_prefect  # noqa: PLC0415
    from deployments.deploy import ensure_api_limit  # noqa: PLC0415
    from deployments.names import API_LIMIT  # noqa: PLC0415
    from flows.labeling_round import labeling_round  # noqa: PLC0415
    from tasks.credentials import PASSWORD_ENV  # noqa: PLC0415

    os.environ[PASSWORD_ENV] = secrets.token_urlsafe(16)
    with local_prefect(), temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        started = time.perf_counter()
        asyncio.run(_start_prefect())
        asyncio.run(ensure_api_limit(API_LIMIT))  # as `deployments.deploy` sets it: the tasks' leases count
        prefect_start_s = time.perf_counter() - started
        started = time.perf_counter()
        asyncio.run(_warm_up_prefect())
        prefect_warmup_s = time.perf_counter() - started
        with meter.phase("round"), count_prefect_requests() as traffic:
            state = asyncio.run(labeling_round(spec=spec, return_state=True))
        outcome = state.result()
        task_runs = asyncio.run(_task_run_seconds(state.state_details.flow_run_id))
    round_s = meter.phases["round"]["wall_s"]
    return {
        "jobs": sum(len(cycle) for cycle in outcome.job_ids_per_cycle),
        "images": int(outcome.report.totals.selected_images),
        "prefect_start_s": round(prefect_start_s, 2),
        "prefect_warmup_s": round(prefect_warmup_s, 2),
        "task_runs_s": task_runs,
        "outside_task_runs_s": round(round_s - sum(task_runs.values()), 2),
        **traffic.figures(),
    }


async def _start_prefect() -> None:
    """Wait for the Prefect server to answer (its start is timed apart), so that the round does not pay for it."""
    from prefect.client.orchestration import get_client  # noqa: PLC0415

    async with get_client() as client:
        await client.api_healthcheck()


async def _warm_up_prefect() -> None:
    """One trivial flow run (a tagged task, an artifact) on the new server: its first requests of each kind are slow.

    Measured on the loaded 2-core machine: the first API request after the server reported healthy took 4-7 s
    (a bare `httpx.get` of /api/admin/version timed out at 5 s), later ones 0.05-0.1 s. A long-lived server
    (a deployment's) has paid this once; timed apart as `prefect_warmup_s`, like the start.
    """
    from prefect import flow, task  # noqa: PLC0415
    from prefect.artifacts import acreate_markdown_artifact  # noqa: PLC0415

    from tasks.retrying import API_TAG  # noqa: PLC0415

    @task(name="bench-warm-up-task", tags=[API_TAG])
    async def warm_up_task() -> None:
        await acreate_markdown_artifact(markdown="warm-up", key="bench-warm-up")

    @flow(name="bench-warm-up")
    async def warm_up() -> None:
        await warm_up_task()

    await warm_up()


async def _task_run_seconds(flow_run_id: Any) -> dict[str, float]:
    """Each task run's run time (all attempts) in a flow run, by task run name, read from the Prefect API."""
    from prefect.client.orchestration import get_client  # noqa: PLC0415
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId  # noqa: PLC0415

    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    ordered = sorted(runs, key=lambda run: run.start_time or run.expected_start_time or run.created)
    return {run.name: round(run.total_run_time.total_seconds(), 3) for run in ordered}


def main() -> None:
    """Parse the arguments, run the round with the chosen driver and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-id", type=int, required=True)
    parser.add_argument("--labelers", type=int, required=True)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between two gate checks")
    parser.add_argument("--driver", choices=("steps", "flow"), default="steps")
    args = parser.parse_args()
    settings = ConnectionSettings.from_env()
    meter = PhaseMeter(settings.server_address, settings.api_token.get_secret_value())
    spec = round_spec(args.project_id, args.labelers, args.poll)
    profile_path = os.environ.get(PROFILE_VARIABLE)
    profiler = cProfile.Profile(time.process_time) if profile_path else None  # CPU, not time spent waiting
    rss_path = os.environ.get(RSS_STEPS_VARIABLE)
    sampler = StepSampler() if rss_path else None
    if sampler is not None:
        sampler.start()
    if profiler is not None:
        profiler.enable()
    if args.driver == "steps":
        facts = asyncio.run(run_steps(meter, settings, spec))
    else:
        facts = run_flow(meter, spec)
    if profiler is not None and profile_path:
        profiler.disable()
        profiler.dump_stats(profile_path)
    if sampler is not None and rss_path:
        sampler.write(rss_path)
    emit_result(meter.result(driver=args.driver, pid=os.getpid(), **facts))


if __name__ == "__main__":
    main()
