"""Benchmark: a round's makespan with labelers of speeds 1x..4x: static even jobs, one labeling queue, adaptive jobs.

Run: `python -m bench.makespan --out bench/results/makespan.json` (also writes a `.md` beside it);
`--assignments adaptive` runs only some.

Each run starts a synthetic sandbox in a subprocess whose http crew labels at `BASE_SECONDS / k` seconds per image
for the k-th labeler (speeds 1x..4x), and runs the round through the library's steps (`steps.sequence.run_round`)
to the target `on_review`, so the makespan is the labeling alone: the time of the round's gate phase (from the
jobs or queue existing to every image labeled). The ideal is total work over total speed:
`images × BASE_SECONDS / (1 + 2 + 3 + 4)`. The report's per-labeler images are checked to add up to the selection.
The crew's own cost per image (a few API calls, ~13 ms here) is not in the ideal, so short simulated times
inflate the ratio (at 0.25 s/image at 1x queue mode measured 1.18x); at 1 s/image it is a few percent.

Exact accounting, read back raw (plain HTTP, not our client or report): each job of the round (`customData`
lineage) with its `jobs.info` entities; an image counts as labeled by a job's labeler when its review status is not
`none`. The labeled sets of the jobs must be disjoint and cover the dataset, and the report's images per labeler
must equal the read-back ones. Adaptive: how many jobs took over images (`moved_from`) and how many images moved.
The machine's load average is recorded beside the times: on a loaded machine the crew's own calls take a good
part of each image's time, which the nominal ideal leaves out. So the static run also measures the speed each
labeler achieved (images / time from opening their job to submitting it, raw `startedAt`/`annotationFinishedAt`),
and every run is also compared with the ideal at those achieved speeds (`× achieved ideal`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from bench.output import write_figures
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.sequence import ClientRoundSteps, RoundPhase, run_round

PASSWORD = SecretStr("Bench-makespan-2026")
BASE_SECONDS = 1.0  # per image at speed 1x
SPEEDS = (1, 2, 3, 4)
IMAGES = 200
TAKE_COUNT = 4  # images a queue labeler takes at a time (one take request per batch)
LABELERS = [f"ms_labeler_{speed}x" for speed in SPEEDS]
ASSIGNMENTS = ("static", "queue", "adaptive")


def bench_spec(team_id: int, project_id: int, assignment: str) -> RoundSpec:
    """One pass to on_review (no review wait in the makespan), the jobs kept."""
    return parse_round_spec(
        {
            "round_name": f"bench-makespan-{assignment}",
            "team": team_id,
            "project": project_id,
            "labelers": LABELERS,
            "reviewer": "ms_reviewer",
            "classes": [{"name": "ms_mango"}],
            "assignment": assignment,
            "target_status": "on_review",
            "max_rework_cycles": 0,
            "end_action": "keep",
            "poll_interval_seconds": 0.05,
            "timeout_seconds": 600,
        }
    )


class PhaseClock:
    """Wall time of each phase of the round."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: RoundPhase) -> Iterator[None]:
        """Time one phase (added up when it repeats)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


async def run_once(assignment: str, base_seconds: float = BASE_SECONDS) -> dict[str, Any]:
    """One round on a fresh sandbox; its gate time, the per-labeler images of its report."""
    crew = CrewConfig(
        label_seconds_by_login={
            login: base_seconds / speed for login, speed in zip(LABELERS, SPEEDS, strict=True)
        },
        poll_interval=0.02,
        take_count=TAKE_COUNT,
    )
    with SandboxServer(seed=f"synthetic:1x{IMAGES}", mode="subprocess", crew=crew) as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        clock = PhaseClock()
        async with SuperviselyClient(settings) as api:
            steps = ClientRoundSteps(api, passwords=PASSWORD, meter=clock.phase)
            run = await run_round(steps, bench_spec(server.team_id, server.project_id or 0, assignment))
        accounting = raw_accounting(server, run.target.round_key)
    per_labeler = {str(row.labeler): int(row.images) for row in run.report.labelers.itertuples(index=False)}
    ideal = IMAGES * base_seconds / sum(SPEEDS)
    return {
        "assignment": assignment,
        "makespan_seconds": round(clock.seconds["gate"], 3),
        "ideal_seconds": round(ideal, 3),
        "ratio_to_ideal": round(clock.seconds["gate"] / ideal, 3),
        "images_per_labeler": per_labeler,
        "report_adds_up": sum(per_labeler.values()) == IMAGES == run.report.totals.selected_images,
        "read_back": accounting,
        "exact": accounting["labeled_per_labeler"] == per_labeler
        and accounting["labeled_twice"] == 0
        and accounting["labeled_images"] == accounting["dataset_images"] == IMAGES,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def raw_accounting(server: SandboxServer, round_key: str) -> dict[str, Any]:
    """Who labeled what, read back with plain HTTP: per-labeler labeled images, images in two jobs, moves."""
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    with httpx.Client(base_url=f"{server.url}/public/api/v3/", headers=headers, timeout=60) as http:

        def call(method: str, body: dict[str, Any]) -> Any:
            reply = http.post(method, json=body)
            reply.raise_for_status()
            found = reply.json()
            if isinstance(found, dict) and "total" in found and len(found["entities"]) != found["total"]:
                raise RuntimeError(
                    f"{method} listed {len(found['entities'])} of {found['total']} on one page"
                )
            return found

        (dataset_id,) = server.dataset_ids
        images = call("images.list", {"datasetId": dataset_id, "per_page": 10_000})["entities"]
        listed = call("jobs.list", {"teamId": server.team_id, "showDisabled": True, "per_page": 10_000})[
            "entities"
        ]
        jobs = [
            job
            for job in listed
            if ((job.get("customData") or {}).get("labelrounds") or {}).get("round") == round_key
        ]
        labeled: Counter[int] = Counter()
        per_labeler: Counter[str] = Counter()
        seconds: Counter[str] = Counter()
        moved_jobs = moved_images = 0
        for job in jobs:
            lineage = job["customData"]["labelrounds"]
            entities = call("jobs.info", {"id": job["id"]})["entities"]
            done = [entity["id"] for entity in entities if entity["reviewStatus"] != "none"]
            labeled.update(done)
            per_labeler[str(lineage["labeler"])] += len(done)
            if job.get("startedAt") and job.get("annotationFinishedAt"):
                opened = datetime.fromisoformat(job["startedAt"])
                seconds[str(lineage["labeler"])] += (
                    datetime.fromisoformat(job["annotationFinishedAt"]) - opened
                ).total_seconds()
            if lineage.get("moved_from") is not None:
                moved_jobs += 1
                moved_images += len(entities)
    return {
        "dataset_images": len(images),
        "labeled_images": len(labeled),
        "labeled_twice": sum(1 for count in labeled.values() if count > 1),
        "labeled_per_labeler": dict(per_labeler),
        "jobs": len(jobs),
        "moved_jobs": moved_jobs,
        "moved_images": moved_images,
        "achieved_seconds_per_image": {
            login: round(seconds[login] / count, 4) for login, count in per_labeler.items() if seconds[login]
        },
    }


def achieved_ideal(static_run: dict[str, Any]) -> float | None:
    """Total work / total speed at the speeds the static run's labelers achieved (None if one is unknown)."""
    per_image = static_run["read_back"]["achieved_seconds_per_image"]
    if set(per_image) != set(LABELERS):
        return None
    return IMAGES / sum(1 / per_image[login] for login in LABELERS)


def markdown(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    lines = [
        f"# Makespan, speeds {'/'.join(f'{s}x' for s in SPEEDS)}, {IMAGES} images, "
        f"{results['base_seconds']:g} s/image at 1x",
        "",
        f"Command: `python -m bench.makespan --base-seconds {results['base_seconds']:g} "
        "--out bench/results/makespan.json`",
        "",
        "Achieved ideal: total work / total speed at the speeds the labelers achieved in the static run "
        f"({results['achieved_ideal_seconds']} s).",
        "",
        "| assignment | makespan (s) | ideal (s) | × ideal | × achieved ideal | images per labeler (1x..4x) "
        "| report adds up | exact (read back) | labeled twice | jobs (moved-to) | images moved | load avg |",
        "|---|---:|---:|---:|---:|---|---|---|---:|---|---:|---:|",
    ]
    for run in results["runs"]:
        shares = ", ".join(str(run["images_per_labeler"].get(login, 0)) for login in LABELERS)
        back = run["read_back"]
        lines.append(
            f"| {run['assignment']} | {run['makespan_seconds']:.2f} | {run['ideal_seconds']:.2f} | "
            f"{run['ratio_to_ideal']:.2f} | {run.get('ratio_to_achieved_ideal') or '–'} | {shares} | "
            f"{run['report_adds_up']} | {run['exact']} | "
            f"{back['labeled_twice']} | {back['jobs']} ({back['moved_jobs']}) | {back['moved_images']} | "
            f"{run['load_average_1m']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run each assignment once (static, queue, adaptive by default) and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/makespan.json"))
    parser.add_argument("--assignments", nargs="+", choices=ASSIGNMENTS, default=list(ASSIGNMENTS))
    parser.add_argument("--base-seconds", type=float, default=BASE_SECONDS, help="seconds per image at 1x")
    args = parser.parse_args()
    runs = [asyncio.run(run_once(assignment, args.base_seconds)) for assignment in args.assignments]
    static = [run for run in runs if run["assignment"] == "static"]
    achieved = achieved_ideal(static[0]) if static else None
    for run in runs:
        run["ratio_to_achieved_ideal"] = (
            None if achieved is None else round(run["makespan_seconds"] / achieved, 3)
        )
    results = {
        "base_seconds": args.base_seconds,
        "achieved_ideal_seconds": None if achieved is None else round(achieved, 3),
        "runs": runs,
    }
    write_figures(args.out, results, markdown(results))


if __name__ == "__main__":
    main()
