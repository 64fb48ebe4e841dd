"""Benchmark of the sandbox API: big `jobs.add`, walking 10,000 jobs and 100,000 images, small-call latency.

Run: `python -m bench.sandbox_api --out bench/results/sandbox_api.json` (also writes the `.md` beside it).
The server runs in a subprocess (as `labelrounds sandbox serve`), so client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.output import write_figures
from labelrounds.sandbox.server import SandboxServer

IMAGES = 100_000
JOBS = 10_000
LABELERS = 10


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile of the samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def summary(samples: list[float], **extra: Any) -> dict[str, Any]:
    """Request count, p50/p95/max in milliseconds and the total in seconds."""
    return {
        "requests": len(samples),
        "p50_ms": round(percentile(samples, 0.50) * 1000, 2),
        "p95_ms": round(percentile(samples, 0.95) * 1000, 2),
        "max_ms": round(max(samples) * 1000, 2),
        "total_s": round(sum(samples), 3),
        **extra,
    }


class Caller:
    """Timed raw API calls with one token."""

    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=f"{url}/public/api/v3/", headers={"x-api-key": token}, timeout=300
        )

    def timed(self, method: str, body: dict[str, Any]) -> tuple[float, Any]:
        """One call: its duration (request sent → whole body received) and its parsed reply."""
        started = time.perf_counter()
        response = self.client.post(method, json=body)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{method} -> {response.status_code} {response.text[:300]}")
        return elapsed, response.json()

    def ok(self, method: str, body: dict[str, Any]) -> Any:
        """One untimed call."""
        return self.timed(method, body)[1]


def walk(caller: Caller, method: str, body: dict[str, Any], per_page: int | None) -> tuple[list[float], int]:
    """Walk every page like the SDK does; returns per-request durations and the number of entities seen."""
    durations, seen, page, pages = [], 0, 1, 1
    while page <= pages:
        paging = {"page": page, "per_page": per_page} if per_page else ({"page": page} if page > 1 else {})
        elapsed, reply = caller.timed(method, body | paging)
        durations.append(elapsed)
        seen += len(reply["entities"])
        pages, per_page = reply["pagesCount"], reply["perPage"]
        page += 1
    return durations, seen


def repeat(times: int, run: Callable[[], tuple[list[float], int]], expected: int) -> list[float]:
    """Run a walk several times, checking it sees every entity each time."""
    samples: list[float] = []
    for _ in range(times):
        durations, seen = run()
        if seen != expected:
            raise RuntimeError(f"walk saw {seen} entities, expected {expected}")
        samples += durations
    return samples


def run_benchmark(repeats: int) -> dict[str, Any]:
    """Seed a 100k-image sandbox, prepare 10k jobs, measure, and return the figures."""
    results: dict[str, Any] = {}
    started = time.perf_counter()
    with SandboxServer(seed=f"synthetic:1x{IMAGES}", mode="subprocess") as server:
        results["startup_with_100k_images_s"] = round(time.perf_counter() - started, 2)
        admin = Caller(server.url, server.admin_token.get_secret_value())
        dataset = server.dataset_id
        image_ids = [
            image["id"]
            for image in admin.ok("images.list", {"datasetId": dataset, "fields": ["id"]})["entities"]
        ]
        while len(image_ids) < IMAGES:
            reply = admin.ok(
                "images.list", {"datasetId": dataset, "fields": ["id"], "page": len(image_ids) // 20_000 + 1}
            )
            image_ids += [image["id"] for image in reply["entities"]]

        big = [
            admin.timed(
                "jobs.add",
                {
                    "name": f"big {k}",
                    "datasetId": dataset,
                    "userIds": [server.admin_id],
                    "meta": {"classes": ["lemon"], "entityIds": image_ids},
                },
            )[0]
            for k in range(repeats)
        ]
        results["jobs.add_100k_entityIds"] = summary(big, entity_ids=IMAGES)

        labelers = []
        for k in range(LABELERS):
            labelers.append(
                admin.ok("users.add", {"login": f"bench_{k}", "password": "bench-pass"})["userId"]
            )
            admin.ok("members.add", {"login": f"bench_{k}", "teamId": server.team_id, "roleId": 3})
        small = []
        for k in range((JOBS - repeats) // LABELERS):
            body = {
                "name": f"job {k}",
                "datasetId": dataset,
                "userIds": labelers,
                "meta": {"classes": ["kiwi"], "entityIds": image_ids[k * 10 : (k + 1) * 10]},
            }
            small.append(admin.timed("jobs.add", body)[0])
        results["jobs.add_10_users_10_images"] = summary(small)
        total_jobs = admin.ok("jobs.list", {"teamId": server.team_id, "per_page": 1})["total"]

        team = {"teamId": server.team_id, "filter": [], "sort": "id", "sort_order": "asc"}
        samples = repeat(repeats, lambda: walk(admin, "jobs.list", team, None), total_jobs)
        results["jobs.list_walk_default_pages"] = summary(samples, jobs=total_jobs, per_page=500)
        images = {"datasetId": dataset, "filter": [], "sort": "id", "sort_order": "asc"}
        samples = repeat(repeats, lambda: walk(admin, "images.list", images, None), IMAGES)
        results["images.list_walk_default_pages"] = summary(samples, images=IMAGES, per_page=20_000)
        samples = repeat(repeats, lambda: walk(admin, "images.list", images, 1000), IMAGES)
        results["images.list_walk_1000_per_page"] = summary(samples, images=IMAGES, per_page=1000)

        job_id = admin.ok("jobs.list", {"teamId": server.team_id, "per_page": 1, "sort_order": "desc"})[
            "entities"
        ][0]["id"]
        results["jobs.info_10_images"] = summary(
            [admin.timed("jobs.info", {"id": job_id})[0] for _ in range(200)]
        )
        results["users.me"] = summary([admin.timed("users.me", {})[0] for _ in range(200)])
    return results


def markdown(figures: dict[str, Any]) -> str:
    """The figures as a short markdown report."""
    lines = [
        "# Sandbox API benchmark",
        "",
        f"`python -m bench.sandbox_api` on {figures['environment']['machine']}, "
        f"{figures['environment']['cpus']} CPUs, Python {figures['environment']['python']}; "
        "server in a subprocess, client httpx (sync, keep-alive); times are per HTTP request, body received.",
        "",
        f"Startup with {IMAGES:,} seeded images: {figures['results']['startup_with_100k_images_s']} s",
        "",
        "| measurement | requests | p50 ms | p95 ms | max ms | total s |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in figures["results"].items():
        if isinstance(row, dict):
            lines.append(
                f"| {name} | {row['requests']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} | {row['total_s']} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse arguments, run, write the JSON and the markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/sandbox_api.json"))
    parser.add_argument(
        "--repeats", type=int, default=3, help="repetitions of each walk and of the big jobs.add"
    )
    arguments = parser.parse_args()
    figures = {
        "environment": {
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_before": os.getloadavg(),
        },
        "results": run_benchmark(arguments.repeats),
    }
    figures["environment"]["load_average_after"] = os.getloadavg()
    write_figures(arguments.out, figures, markdown(figures))
    print(f"written to {arguments.out} and {arguments.out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
