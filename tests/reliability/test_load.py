"""Load: several labeling rounds at once (flows on the Prefect harness, sharing labelers and the project) while
concurrent API clients read and write against the same sandbox for a bounded time. No request fails, every
round finishes, and raw reads (tests/oracles.py) find every image in one first-cycle job of each round, nothing
duplicated and each report equal to the review statuses read back. Every run, failed ones too, is recorded in
bench/results/load_runs.jsonl (counts and latency percentiles), summed up (pass rate) in load.json|md.

The clients load the sandbox for the first 8 s in `make test` (the rounds' validation, users, meta and first jobs),
for 120 s with 24 clients in `make test-long`."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import defaultdict
from typing import Any

import httpx
import pytest
from oracles import assert_report_matches

from flows.labeling_round import labeling_round
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from tasks.credentials import PASSWORD_ENV

from .budget import LONG, scaled
from .figures import RECORD_PREFIX
from .rounds import PASSWORD, check_round, round_spec

ROUNDS = 3
CLIENTS = scaled(default=8, long=24)
LOAD_SECONDS = scaled(default=8, long=120)
WORLD, PROJECT = "synthetic:3x30", "Synthetic 3x30"
# The crew looks for work every 0.1 s: each look lists teams and jobs, the clients are the load meant here.
CREW = CrewConfig(reject_rate=0.3, max_rejections_per_image=1, poll_interval=0.1, seed=11)
#: Where every run is recorded (see conftest.run_record).
RUN_LOG = "load"
RUN_TITLE = (
    f"Load: {ROUNDS} labeling_round flows sharing labelers and the project on {WORLD} (subprocess sandbox, "
    f"crew reject=0.3) while {CLIENTS} API clients read and write for {LOAD_SECONDS} s"
)
RUN_COMMAND = (
    RECORD_PREFIX
    + ("LABELROUNDS_LONG_TESTS=1 " if LONG else "")
    + ".venv/bin/python -m pytest tests/reliability/test_load.py"
)


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
async def test_rounds_and_api_clients_at_once(
    prefect_backend: None, monkeypatch: pytest.MonkeyPatch, run_record: dict[str, Any]
) -> None:
    specs = [round_spec(round_name=f"load-{number}", project=PROJECT) for number in range(1, ROUNDS + 1)]
    latencies = Latencies()
    with SandboxServer(seed=WORLD, mode="subprocess", crew=CREW) as server:
        monkeypatch.setenv("SERVER_ADDRESS", server.url)
        monkeypatch.setenv("API_TOKEN", server.admin_token.get_secret_value())
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
        started = time.monotonic()
        until = started + LOAD_SECONDS
        clients = [api_client(server, number, latencies, until) for number in range(CLIENTS)]
        results = await asyncio.gather(
            *(labeling_round(spec) for spec in specs), *clients, return_exceptions=True
        )
        elapsed = time.monotonic() - started
        outcomes = results[:ROUNDS]
        errors = [result for result in results if isinstance(result, BaseException)]
        everything = [sample for samples in latencies.seconds.values() for sample in samples]
        run_record.update(
            rounds_finished=sum(getattr(outcome, "status", None) == "finished" for outcome in outcomes),
            round_errors=" / ".join(f"{type(error).__name__}: {error}"[:160] for error in errors),
            wall_seconds=round(elapsed, 1),
            client_calls=len(everything),
            failed_calls=len(latencies.failures),
            **(percentiles(everything) if everything else {}),
            methods={
                method: {"calls": len(samples), **percentiles(samples)}
                for method, samples in sorted(latencies.seconds.items())
            },
        )
        assert not errors, f"{len(errors)} rounds or clients failed: {run_record['round_errors']}"
        checks = [check_round(server, spec) for spec in specs]
        run_record.update(
            selected_images=sum(check.selected_images for check in checks),
            duplicates=sum(check.duplicates for check in checks),
        )
        for outcome, check in zip(outcomes, checks, strict=True):
            assert outcome.report.totals.problems(check.selected_images) == []
            assert_report_matches(outcome.report.totals, check.selected, check.jobs)
    assert latencies.failures == [], latencies.failures[:3]
    assert all(outcome.status == "finished" for outcome in outcomes)
    assert all(check.duplicates == 0 for check in checks)
