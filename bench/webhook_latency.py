"""Benchmark of webhook delivery: from a job's completion (the `jobs.set-status` reply) to the POST's arrival.

Run: `python -m bench.webhook_latency --out bench/results/webhook_latency.json` (also writes a `.md` beside it).
The sandbox runs in a subprocess; the receiving end is a capture server on 127.0.0.1 in this process.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench.capture_server import capture_server
from bench.output import write_figures
from labelrounds.sandbox.server import SandboxServer

COMPLETIONS = 100


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def measure(server: SandboxServer, completions: int = COMPLETIONS) -> dict[str, Any]:
    """Complete `completions` one-image jobs one at a time and time each delivery."""
    api = f"{server.url}/public/api/v3/"
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    samples: list[float] = []
    with capture_server() as capture, httpx.Client(headers=headers, timeout=30) as http:
        hook = {"teamId": server.team_id, "url": capture.url, "action": "labeling_job.completed"}
        http.post(api + "webhooks.add", json=hook).raise_for_status()
        image_id = http.post(api + "images.list", json={"datasetId": server.dataset_id}).json()["entities"][
            0
        ]["id"]
        for index in range(completions):
            job = {
                "name": f"latency {index}",
                "datasetId": server.dataset_id,
                "userIds": [server.admin_id],
                "meta": {"entityIds": [image_id]},
            }
            job_id = http.post(api + "jobs.add", json=job).json()[0]["id"]
            http.post(api + "jobs.set-status", json={"id": job_id, "status": "completed"}).raise_for_status()
            completed_at = time.time()
            (arrival,) = capture.wait_for(lambda got, index=index: len(got) > index)[index:]
            assert arrival.body["data"]["jobId"] == job_id
            samples.append((arrival.received_at - completed_at) * 1000)
    return {"completions": completions, "delivery_latency": _percentiles(samples)}


def to_markdown(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown table."""
    latency = figures["delivery_latency"]
    return (
        "# Webhook delivery latency (sandbox subprocess → capture server on 127.0.0.1)\n\n"
        f"{figures['completions']} job completions, one at a time; from the `jobs.set-status` reply to the POST's "
        "arrival. The delivery worker polls its outbox every 0.1 s.\n\n"
        "| p50 | p95 | max |\n|---|---|---|\n"
        f"| {latency['p50_ms']} ms | {latency['p95_ms']} ms | {latency['max_ms']} ms |\n"
    )


def main() -> None:
    """Run the benchmark and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/webhook_latency.json"))
    parser.add_argument("--completions", type=int, default=COMPLETIONS)
    args = parser.parse_args()
    with SandboxServer(seed="lemons", mode="subprocess") as server:
        figures = measure(server, args.completions)
    write_figures(args.out, figures, to_markdown(figures))


if __name__ == "__main__":
    main()
