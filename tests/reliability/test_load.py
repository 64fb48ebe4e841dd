"""Load: several labeling rounds at once (flows on the Prefect harness, sharing labelers and the project) while
concurrent API clients read and write against the same sandbox for a bounded time. No request fails, every
round finishes balanced with nothing duplicated; latency percentiles go to bench/results/load.json|md."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest

from flows.labeling_round import labeling_round
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from tasks.credentials import PASSWORD_ENV

from .budget import LONG, scaled
from .figures import RECORD_PREFIX, write_figures
from .rounds import PASSWORD, check_round, round_spec

ROUNDS = 3
CLIENTS = scaled(default=8, long=24)
LOAD_SECONDS = scaled(default=15, long=120)
WORLD, PROJECT = "synthetic:3x30", "Synthetic 3x30"
CREW = CrewConfig(reject_rate=0.3, max_rejections_per_image=1, poll_interval=0.05, seed=11)


class Latencies:
    """Seconds per call, by method, and every failure."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.failures: list[str] = []

    async def call(self, http: httpx.AsyncClient, method: str, body: dict[str, Any]) -> Any:
        """POST one method, timing it; a non-200 is recorded as a failure."""
        started = time.perf_counter()
        reply = await http.post(f"/public/api/v3/{method}", json=body)
        self.seconds[method].append(time.perf_counter() - started)
        if reply.status_code != 200:
            self.failures.append(f"{method} {reply.status_code} {reply.text[:200]}")
            return None
        return reply.json()


async def api_client(server: SandboxServer, number: int, latencies: Latencies, until: float) -> None:
    """One API client: reads (lists, meta, job info) and writes (its own jobs: add, edit, start, archive)."""
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    dataset_id = server.dataset_ids[number % len(server.dataset_ids)]
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        images = await latencies.call(http, "images.list", {"datasetId": dataset_id, "fields": ["id"]})
        image_ids = [image["id"] for image in images["entities"]]
        for step in itertools.count():
            if time.monotonic() >= until:
                return
            await latencies.call(http, "jobs.list", {"teamId": server.team_id, "per_page": 50})
            await latencies.call(http, "projects.meta", {"id": server.project_id})
            if step % 3 == 0:
                body = {
                    "name": f"load client {number} job {step}",
                    "datasetId": dataset_id,
                    "userIds": [server.admin_id],
                    "meta": {"entityIds": image_ids[step % 10 :: 10]},
                    "customData": {"load": number},
                }
                added = await latencies.call(http, "jobs.add", body)
                if added:
                    job_id = added[0]["id"]
                    await latencies.call(http, "jobs.info", {"id": job_id})
                    await latencies.call(http, "jobs.editInfo", {"id": job_id, "description": f"step {step}"})
                    await latencies.call(http, "jobs.set-status", {"id": job_id, "status": "in_progress"})
                    await latencies.call(http, "jobs.archive", {"id": job_id})


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    ordered = sorted(samples)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99

    def ms(value: float) -> float:
        return round(value * 1000, 1)

    return {"p50_ms": ms(cuts[49]), "p95_ms": ms(cuts[94]), "p99_ms": ms(cuts[98]), "max_ms": ms(ordered[-1])}


@pytest.mark.timeout(900)
async def test_rounds_and_api_clients_at_once(prefect_backend: None, monkeypatch: pytest.MonkeyPatch) -> None:
    specs = [round_spec(round_name=f"load-{number}", project=PROJECT) for number in range(1, ROUNDS + 1)]
    latencies = Latencies()
    with SandboxServer(seed=WORLD, mode="subprocess", crew=CREW) as server:
        monkeypatch.setenv("SERVER_ADDRESS", server.url)
        monkeypatch.setenv("API_TOKEN", server.admin_token.get_secret_value())
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
        started = time.monotonic()
        until = started + LOAD_SECONDS
        clients = [api_client(server, number, latencies, until) for number in range(CLIENTS)]
        results = await asyncio.gather(*(labeling_round(spec) for spec in specs), *clients)
        elapsed = time.monotonic() - started
        checks = [await check_round(server, spec) for spec in specs]
        traffic = server.traffic_stats()

    outcomes = results[:ROUNDS]
    assert latencies.failures == []
    assert all(outcome.status == "finished" and outcome.report.totals.balanced for outcome in outcomes)
    assert all(check.duplicates == 0 for check in checks)
    rows = [
        {"method": method, "calls": len(samples), **percentiles(samples)}
        for method, samples in sorted(latencies.seconds.items())
    ]
    everything = [sample for samples in latencies.seconds.values() for sample in samples]
    summary = {
        "world": f"{WORLD} (subprocess sandbox), crew reject=0.3",
        "rounds at once": f"{ROUNDS} labeling_round flows sharing labelers and the project (all finished, balanced)",
        "API clients": f"{CLIENTS} for {LOAD_SECONDS} s (reads and writes of their own jobs)",
        "wall time": f"{elapsed:.1f} s",
        "client calls": len(everything),
        "failed calls": len(latencies.failures),
        "server requests (rounds + clients, crew apart)": traffic.total_requests,
        "crew requests": sum(traffic.crew_requests.values()),
        "all calls": " ".join(f"{key}={value}" for key, value in percentiles(everything).items()),
    }
    command = RECORD_PREFIX + (
        "LABELROUNDS_LONG_TESTS=1 " if LONG else ""
    ) + ".venv/bin/python -m pytest tests/reliability/test_load.py"
    write_figures("load", "Load: rounds and API clients at once (issue 5 §6)", command, rows, summary)
