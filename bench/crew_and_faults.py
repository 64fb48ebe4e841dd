"""Benchmark of the sandbox's simulation parts: the fault middleware's cost per request and the crew's pace.

Run: `python -m bench.crew_and_faults --out bench/results/crew_and_faults.json` (also writes a `.md` beside it).
Each sandbox runs in a subprocess (`labelrounds sandbox serve --faults/--crew`), so that the server does not share
the benchmark's interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.output import write_figures
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import JobStatus
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer

CALLS = 500
# Rules on other methods: every request still walks them (glob match), none fires on jobs.list.
IDLE_RULES = ",".join(
    f"jobs.{method}:500=0.5" for method in ("add", "restart", "stop", "archive", "editInfo") * 4
)
PLANS = {
    "counting only (empty plan)": "",
    "20 rules on other methods": IDLE_RULES,
    "jobs.list: 100% latency 20ms": "jobs.list:latency=1@20ms",
}
CREW_IMAGES = 300
POLL = 0.05


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
    }


def measure_plan(spec: str) -> dict[str, float]:
    """Latency of `jobs.list` (one page of the lemons team's jobs) through a sandbox with this fault plan."""
    with SandboxServer(seed="lemons", mode="subprocess", faults=FaultPlan.parse(spec)) as server:
        headers = {"x-api-key": server.admin_token.get_secret_value()}
        with httpx.Client(base_url=f"{server.url}/public/api/v3/", headers=headers) as client:
            client.post("jobs.list", json={"teamId": server.team_id})  # warm-up: opens the connection
            samples = []
            for _ in range(CALLS):
                started = time.perf_counter()
                client.post("jobs.list", json={"teamId": server.team_id}).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
        return _percentiles(samples)


async def _crew_round(server: SandboxServer, labeler_id: int, reviewer_id: int) -> float:
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    async with SuperviselyClient(settings) as api:
        started = time.perf_counter()
        (job_id,) = await api.add_jobs(
            "bench",
            server.dataset_id,
            [labeler_id],
            classes=["kiwi"],
            tags=[],
            entity_ids=[],
            reviewer_id=reviewer_id,
        )
        while (job := await api.get_job(job_id)) is None or job.status != JobStatus.COMPLETED:
            await asyncio.sleep(POLL)
        return time.perf_counter() - started


async def _add_crew_users(server: SandboxServer) -> tuple[int, int]:
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    async with SuperviselyClient(settings) as api:
        ids = []
        for login, role_id in (("bench_labeler", 3), ("bench_reviewer", 6)):
            ids.append(await api.add_user(login, SecretStr(f"{login}-password")))
            await api.add_member(server.team_id, login, role_id)
    return ids[0], ids[1]


def measure_crew() -> dict[str, Any]:
    """Time for the crew (speed 0) to label and review one job over a whole dataset, and its requests."""
    crew = CrewConfig(poll_interval=POLL, reject_rate=0.2)
    with SandboxServer(seed=f"synthetic:1x{CREW_IMAGES}", mode="subprocess", crew=crew) as server:
        labeler_id, reviewer_id = asyncio.run(_add_crew_users(server))
        elapsed = asyncio.run(_crew_round(server, labeler_id, reviewer_id))
        stats = server.traffic_stats()
    transitions = 2 * CREW_IMAGES  # each image marked done, then accepted or rejected
    return {
        "images": CREW_IMAGES,
        "seconds_to_completed": round(elapsed, 2),
        "image_transitions_per_second": round(transitions / elapsed, 1),
        "crew_requests": sum(stats.crew_requests.values()),
        "crew_actions": stats.crew,
    }


def to_markdown(figures: dict[str, Any]) -> str:
    """A short human-readable summary of the figures."""
    lines = ["# Crew and faults", "", "| fault plan | jobs.list p50 ms | p95 ms |", "|---|---|---|"]
    for name, value in figures["fault_middleware"].items():
        lines.append(f"| {name} | {value['p50_ms']} | {value['p95_ms']} |")
    crew = figures["crew"]
    lines += [
        "",
        f"Crew at speed 0: one job of {crew['images']} images labeled and reviewed in "
        f"{crew['seconds_to_completed']} s ({crew['image_transitions_per_second']} image transitions/s, "
        f"{crew['crew_requests']} crew requests).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    """Measure and write the figures to `--out` (JSON) and the same path with `.md`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/crew_and_faults.json"))
    out: Path = parser.parse_args().out
    figures = {
        "fault_middleware": {name: measure_plan(spec) for name, spec in PLANS.items()},
        "crew": measure_crew(),
    }
    write_figures(out, figures, to_markdown(figures))


if __name__ == "__main__":
    main()
