"""Benchmark: the sandbox's own CPU for the requests a round's setup waits on (`images.list`, `jobs.add`).

Run: `python -m bench.sandbox_setup_cost --images 100000 --datasets 4 --labelers 100 --repeat 3 --out FILE` (writes
FILE and FILE with `.md`). The app runs in this process over a file database (as `labelrounds sandbox serve` does)
and is called through httpx's ASGI transport, one request at a time, so each request's CPU seconds are the server's
whole cost for it (routing, body validation, the handler, serialisation) plus httpx's side of the call and orjson
decoding the reply (the same for any server): no network, no crew. The requests are the ones our round sends in
setup: each dataset's `images.list` walked by keyset with the four `fields` the split reads, then one `jobs.add`
per labeler over an even share of the images (`entityIds`). Each repeat seeds a fresh database; the figures are
the median per method. `--profile FILE` writes a cProfile (CPU seconds) of the last repeat's requests.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.output import write_figures
from labelrounds.sandbox.app import API_PREFIX, create_app
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import SeedSpec, add_user, seed
from labelrounds.sandbox.store import Store

LIST_FIELDS = ["id", "name", "labelsCount", "tags"]  # labelrounds.client.endpoints.images.COLUMN_FIELDS
PAGE = 20_000


class Meter:
    """CPU and wall seconds per API method, over the measured requests."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)

    async def call(self, method: str, body: dict[str, Any]) -> Any:
        """One request, timed; a non-200 reply stops the benchmark."""
        cpu, wall = time.process_time(), time.perf_counter()
        response = await self.client.post(API_PREFIX + method, json=body)
        self.cpu[method] += time.process_time() - cpu
        self.wall[method] += time.perf_counter() - wall
        self.count[method] += 1
        self.bytes[method] += len(response.content)
        if response.status_code != 200:
            raise RuntimeError(f"{method} -> {response.status_code} {response.text[:300]}")
        return orjson.loads(response.content)

    def figures(self) -> dict[str, dict[str, float]]:
        """Per method: requests, CPU s, wall s, reply bytes."""
        return {
            method: {
                "requests": self.count[method],
                "cpu_s": round(self.cpu[method], 3),
                "wall_s": round(self.wall[method], 3),
                "reply_mb": round(self.bytes[method] / 1e6, 2),
            }
            for method in sorted(self.count)
        }


async def run_setup(
    meter: Meter, dataset_ids: tuple[int, ...], labeler_ids: list[int], reviewer_id: int
) -> int:
    """Our setup's heavy requests: list every dataset's images, then one `jobs.add` per labeler; returns jobs."""
    image_ids: dict[int, list[int]] = {}
    for dataset_id in dataset_ids:
        ids: list[int] = []
        after: list[dict[str, Any]] = []
        while True:
            body = {
                "datasetId": dataset_id,
                "filter": after,
                "sort": "id",
                "sort_order": "asc",
                "page": 1,
                "per_page": PAGE,
                "fields": LIST_FIELDS,
            }
            entities = (await meter.call("images.list", body))["entities"]
            ids += [entity["id"] for entity in entities]
            if len(entities) < PAGE:
                break
            after = [{"field": "id", "operator": ">", "value": ids[-1]}]
        image_ids[dataset_id] = ids
    per_dataset = len(labeler_ids) // len(dataset_ids)
    jobs = 0
    for index, dataset_id in enumerate(dataset_ids):
        labelers = labeler_ids[index * per_dataset : (index + 1) * per_dataset]
        ids = image_ids[dataset_id]
        share = len(ids) // len(labelers)
        for offset, labeler_id in enumerate(labelers):
            body = {
                "name": f"bench job {labeler_id}",
                "datasetId": dataset_id,
                "userIds": [labeler_id],
                "reviewerId": reviewer_id,
                "meta": {
                    "classes": ["crate"],
                    "projectTags": [],
                    "imageTags": [],
                    "imageFiguresLimit": 0,
                    "imageTagsLimit": 0,
                    "dynamicClasses": False,
                    "dynamicTags": False,
                    "entityIds": ids[offset * share : (offset + 1) * share],
                    "allowRestore": False,
                },
                "customData": {"labelrounds": {"round": "bench", "labeler": labeler_id}},
            }
            jobs += len(await meter.call("jobs.add", body))
    return jobs


async def measure(images: int, datasets: int, labelers: int, profile: Path | None) -> dict[str, Any]:
    """Seed a file-backed sandbox, add the people, and measure the setup requests."""
    with tempfile.TemporaryDirectory(prefix="sandbox-setup-") as workdir:
        store = Store(Path(workdir) / "sandbox.db")
        summary = seed(store, SeedSpec.parse(f"synthetic:{datasets}x{images // datasets}"))
        labeler_ids = [
            add_user(store, f"labeler_{index:03d}", role=Role.ANNOTATOR).id for index in range(labelers)
        ]
        reviewer_id = add_user(store, "reviewer", role=Role.REVIEWER).id
        app = create_app(store)
        transport = httpx.ASGITransport(app=app)
        headers = {"x-api-key": summary.admin_token.get_secret_value()}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sandbox", headers=headers
        ) as client:
            meter = Meter(client)
            profiler = cProfile.Profile(time.process_time) if profile else None  # CPU seconds: robust to load
            if profiler:
                profiler.enable()
            jobs = await run_setup(meter, summary.dataset_ids, labeler_ids, reviewer_id)
            if profiler:
                profiler.disable()
                profiler.dump_stats(str(profile))
        store.close()
    by_method = meter.figures()
    return {
        "sizes": {"images": images, "datasets": datasets, "labelers": labelers},
        "jobs": jobs,
        "by_method": by_method,
        "cpu_s": round(sum(item["cpu_s"] for item in by_method.values()), 3),
        "machine": f"{platform.machine()} ({platform.python_version()})",
    }


def median_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each method's figures over the repeats, with every repeat's CPU seconds beside it."""
    methods = runs[0]["by_method"]
    by_method = {
        method: {
            key: round(statistics.median(run["by_method"][method][key] for run in runs), 3)
            if key != "requests"
            else methods[method][key]
            for key in methods[method]
        }
        | {"cpu_s_runs": [run["by_method"][method]["cpu_s"] for run in runs]}
        for method in methods
    }
    return {
        **runs[0],
        "repeats": len(runs),
        "by_method": by_method,
        "cpu_s": round(sum(item["cpu_s"] for item in by_method.values()), 3),
    }


def page(figures: dict[str, Any], command: str) -> str:
    """The figures as markdown."""
    lines = [
        "# The sandbox's own cost for a round's setup requests",
        "",
        f"Made by `{command}` on {figures['machine']}, commit {figures['commit']}, load average"
        f" {figures['load_before']} before and {figures['load_after']} after. One request at a time through"
        " httpx's ASGI transport, no crew: CPU seconds are the server's whole cost per method (plus httpx's side of"
        f" the call and decoding the reply); median of {figures['repeats']} repeats on fresh databases.",
        "",
        "| method | requests | CPU s (median) | CPU s (each repeat) | wall s | reply MB |",
        "|---|---|---|---|---|---|",
    ]
    for method, item in figures["by_method"].items():
        lines.append(
            f"| {method} | {item['requests']} | {item['cpu_s']} | {item['cpu_s_runs']} | {item['wall_s']}"
            f" | {item['reply_mb']} |"
        )
    lines.append(f"| **all** | | {figures['cpu_s']} | | | |")
    return "\n".join(lines) + "\n"


def _commit() -> str:
    """The checked-out commit of the code measured (its short hash), or `unknown`."""
    completed = subprocess.run(  # noqa: S603 - fixed git command
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--datasets", type=int, default=4)
    parser.add_argument("--labelers", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=1, help="fresh databases measured; figures are medians")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last repeat's requests here")
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)
    runs = [
        asyncio.run(
            measure(
                args.images, args.datasets, args.labelers, args.profile if run == args.repeat - 1 else None
            )
        )
        for run in range(args.repeat)
    ]
    figures = median_figures(runs) | {
        "commit": os.environ.get("LABELROUNDS_BENCH_COMMIT") or _commit(),
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
    }
    command = (
        f"python -m bench.sandbox_setup_cost --images {args.images} --datasets {args.datasets}"
        f" --labelers {args.labelers} --repeat {args.repeat}"
    )
    if args.out:
        write_figures(args.out, figures, page(figures, command))
    else:
        print(page(figures, command))


if __name__ == "__main__":
    main()
