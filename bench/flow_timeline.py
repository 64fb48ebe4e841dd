"""Benchmark: where a flow round's wall time goes, as a timeline of its steps, leases and Prefect API requests.

`python -m bench.flow_timeline --images 10000 --datasets 4 --labelers 50 [--users existing] --out FILE` seeds a
subprocess sandbox as `bench.round_scale` does, starts Prefect as `bench.ours_round` does (`deployments.demo`'s
`local_prefect`: the local server of `deployments.prefect_server`, or the configured Prefect; the API limit, one
warm-up flow, all before the clock starts), and runs the flow `labeling_round` in this process with instruments:
each step of `flows.round_steps.TaskRoundSteps` (its wall time around the task call, and Prefect's own run time of
the task run), each API lease (acquiring, holding, releasing), and every Prefect API request (its time including the
client's own retries, and each answer of 500 or above that the client retried). FILE (JSON) and its markdown page
get the timeline and a summary: time before the first step, in leases, in task runs, in the steps around their task
runs, after the last step, the requests that were retried, and the requests the local server replayed itself after
a busy database (its log's replay lines during the round).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench.ours_round import _start_prefect, _task_run_seconds, _warm_up_prefect, round_spec
from bench.output import write_figures
from bench.prefect_requests import endpoint_of
from bench.round_scale import INSTANT_CREW, RESULTS, create_people, side_environment
from deployments.prefect_server import PrefectServer
from deployments.prefect_server import logger as replay_logger
from labelrounds.sandbox.server import SandboxServer

#: The steps of `TaskRoundSteps` a plain round calls, timed around their task call.
STEPS = (
    "validate",
    "ensure_users",
    "prepare_meta",
    "create_jobs",
    "wait_for_review",
    "rework",
    "finish",
    "report",
)


class Timeline:
    """Marks in seconds since `start()`: what happened, and how long it took when it is a span."""

    def __init__(self) -> None:
        """An empty timeline, its clock at 0 until started."""
        self.started = time.perf_counter()
        self.marks: list[dict[str, Any]] = []

    def start(self) -> None:
        """Start the clock; earlier marks are dropped."""
        self.started = time.perf_counter()
        self.marks.clear()

    def mark(self, kind: str, what: str, began: float, **extra: Any) -> None:
        """A span from `began` (a perf_counter reading) to now."""
        now = time.perf_counter()
        self.marks.append(
            {
                "kind": kind,
                "what": what,
                "at_s": round(began - self.started, 3),
                "took_s": round(now - began, 3),
            }
            | extra
        )


def instrument(timeline: Timeline) -> None:
    """Time the round's steps, leases and Prefect requests into `timeline` (for this process's lifetime)."""
    import httpx  # noqa: PLC0415
    from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient  # noqa: PLC0415

    import flows.round_steps as round_steps  # noqa: PLC0415

    lease = round_steps.api_lease

    @contextlib.contextmanager
    def timed_lease() -> Iterator[None]:
        began = time.perf_counter()
        with lease():
            timeline.mark("lease", "acquire", began)
            held = time.perf_counter()
            try:
                yield
            finally:
                timeline.mark("lease", "held", held)
                released = time.perf_counter()
        timeline.mark("lease", "release", released)

    round_steps.api_lease = timed_lease  # type: ignore[assignment]
    for name in STEPS:
        setattr(
            round_steps.TaskRoundSteps,
            name,
            _timed_step(timeline, name, getattr(round_steps.TaskRoundSteps, name)),
        )

    async_send, sync_send = PrefectHttpxAsyncClient.send, PrefectHttpxSyncClient.send
    raw_async_send, raw_sync_send = httpx.AsyncClient.send, httpx.Client.send

    async def timed_async_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        response = await async_send(self, request, *args, **kwargs)
        timeline.mark(
            "request", endpoint_of(request.method, request.url.path), began, status=response.status_code
        )
        return response

    def timed_sync_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        response = sync_send(self, request, *args, **kwargs)
        timeline.mark(
            "request", endpoint_of(request.method, request.url.path), began, status=response.status_code
        )
        return response

    def note_retried(request: Any, response: Any, began: float) -> None:
        if response.status_code >= 500 and request.url.path.startswith(
            "/api/"
        ):  # Prefect's, not the sandbox's
            timeline.mark(
                "retried", endpoint_of(request.method, request.url.path), began, status=response.status_code
            )

    async def raw_async(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        response = await raw_async_send(self, request, *args, **kwargs)
        note_retried(request, response, began)
        return response

    def raw_sync(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        response = raw_sync_send(self, request, *args, **kwargs)
        note_retried(request, response, began)
        return response

    PrefectHttpxAsyncClient.send = timed_async_send  # type: ignore[method-assign]
    PrefectHttpxSyncClient.send = timed_sync_send  # type: ignore[method-assign]
    httpx.AsyncClient.send = raw_async  # type: ignore[method-assign]
    httpx.Client.send = raw_sync  # type: ignore[method-assign]


def _timed_step(
    timeline: Timeline, name: str, step: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """`step` (a method of TaskRoundSteps) marked as a span named `name`."""

    async def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await step(self, *args, **kwargs)
        finally:
            timeline.mark("step", name, began)

    return timed


def summary(
    timeline: Timeline, wall_s: float, task_runs: dict[str, float], replays: list[str] | None
) -> dict[str, Any]:
    """Where the wall time went: before the first step, leases, task runs, steps around them, retried requests, and
    the server's replays (None: not a local server of ours)."""
    steps = [mark for mark in timeline.marks if mark["kind"] == "step"]
    leases = [mark for mark in timeline.marks if mark["kind"] == "lease" and mark["what"] != "held"]
    retried = [mark for mark in timeline.marks if mark["kind"] == "retried"]
    slow = [mark for mark in timeline.marks if mark["kind"] == "request" and mark["took_s"] >= 1.0]
    first = min(mark["at_s"] for mark in steps)
    last = max(mark["at_s"] + mark["took_s"] for mark in steps)
    in_steps = sum(mark["took_s"] for mark in steps)
    return {
        "wall_s": round(wall_s, 2),
        "before_first_step_s": round(first, 2),
        "after_last_step_s": round(wall_s - last, 2),
        "leases_s": round(sum(mark["took_s"] for mark in leases), 2),
        "task_runs_s": round(sum(task_runs.values()), 2),
        "steps_s": round(in_steps, 2),
        "steps_around_task_runs_s": round(in_steps - sum(task_runs.values()), 2),
        "retried_answers": [f"{mark['what']} {mark['status']}" for mark in retried],
        "requests_over_1s": [f"{mark['what']} {mark['took_s']:.2f} s" for mark in slow],
        "server_replays": replays,
    }


def log_size(server: PrefectServer | None) -> int:
    """The local server's log size now (0 without one or before it wrote anything)."""
    return server.log_path.stat().st_size if server is not None and server.log_path.exists() else 0


def replay_lines(server: PrefectServer | None, since: int) -> list[str] | None:
    """The replay lines the local server logged after byte `since` of its log (None without a local server)."""
    if server is None:
        return None
    with server.log_path.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    return [line.split(f"{replay_logger.name} ", 1)[1] for line in text.splitlines() if f"{replay_logger.name} " in line]


def run(images: int, datasets: int, labelers: int, users: str) -> dict[str, Any]:
    """Seed a sandbox, start Prefect, run the flow round instrumented; its timeline, task runs and summary."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings  # noqa: PLC0415

    from deployments.demo import local_prefect  # noqa: PLC0415
    from deployments.deploy import ensure_api_limit  # noqa: PLC0415
    from deployments.names import API_LIMIT  # noqa: PLC0415
    from flows.labeling_round import labeling_round  # noqa: PLC0415
    from tasks.credentials import PASSWORD_ENV  # noqa: PLC0415

    timeline = Timeline()
    instrument(timeline)
    with (
        tempfile.TemporaryDirectory(prefix="flow-timeline-") as workdir,
        SandboxServer(
            seed=f"synthetic:{datasets}x{images // datasets}",
            db_path=Path(workdir) / "sandbox.db",
            mode="subprocess",
            crew=INSTANT_CREW,
        ) as server,
    ):
        if users == "existing":
            asyncio.run(create_people(server, labelers))
        wanted = ("SERVER_ADDRESS", "API_TOKEN", "NO_PROXY")
        os.environ.update({k: v for k, v in side_environment(server, Path(workdir)).items() if k in wanted})
        os.environ[PASSWORD_ENV] = secrets.token_urlsafe(16)
        spec = round_spec(server.project_id or 0, labelers, 0.5)
        with local_prefect() as prefect, temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            asyncio.run(_start_prefect())
            asyncio.run(ensure_api_limit(API_LIMIT))
            asyncio.run(_warm_up_prefect())
            load = round(os.getloadavg()[0], 2)
            logged = log_size(prefect.server)
            timeline.start()
            state = asyncio.run(labeling_round(spec=spec, return_state=True))
            wall_s = time.perf_counter() - timeline.started
            replays = replay_lines(prefect.server, logged)
            state.result()
            task_runs = asyncio.run(_task_run_seconds(state.state_details.flow_run_id))
    return {
        "load_1min_before": load,
        "prefect": prefect.where,
        "summary": summary(timeline, wall_s, task_runs, replays),
        "task_runs_s": task_runs,
        "timeline": [mark for mark in timeline.marks if mark["at_s"] <= wall_s],
    }


def markdown(command: str, result: dict[str, Any]) -> str:
    """The page: the summary, then the timeline (steps, leases, retried answers and requests of 0.1 s or more)."""
    lines = ["# Where a flow round's time goes", "", f"Command: `{command}`", ""]
    lines += [f"Load (1 min) before: {result['load_1min_before']}. Prefect: {result['prefect']}.", ""]
    lines += [f"- {key}: {value}" for key, value in result["summary"].items()]
    lines += [
        "",
        "Task runs (Prefect's run time): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in result["task_runs_s"].items()),
    ]
    lines += ["", "| at s | took s | kind | what |", "|---|---|---|---|"]
    for mark in sorted(result["timeline"], key=lambda item: item["at_s"]):
        if mark["kind"] != "request" or mark["took_s"] >= 0.1:
            status = f" → {mark['status']}" if "status" in mark else ""
            lines.append(
                f"| {mark['at_s']:.3f} | {mark['took_s']:.3f} | {mark['kind']} | {mark['what']}{status} |"
            )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    """Run one instrumented flow round and write its timeline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=4)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--users", choices=("new", "existing"), default="existing")
    parser.add_argument("--out", type=Path, default=RESULTS / "flow_timeline.json")
    args = parser.parse_args()
    command = "python -m bench.flow_timeline " + " ".join(sys.argv[1:])
    result = run(args.images, args.datasets, args.labelers, args.users)
    payload = {"command": command, "sizes": vars(args) | {"out": str(args.out)}, **result}
    write_figures(args.out, payload, markdown(command, result))


if __name__ == "__main__":
    main()
