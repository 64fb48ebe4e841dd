"""Benchmark of gold checks' accuracy: per labeler, gold F1 against the F1 over the full truth of their images.

Run: `python -m bench.gold_accuracy --images-per-labeler 1000 --share 0.05 --crew-seeds 11,12,13
--out bench/results/gold_accuracy.json` (also writes a `.md`). Each run starts a synthetic sandbox (ds1: the round's
images, ds2: the gold source, its first `--gold-set` images annotated with their truth) whose instant crew labels
with skills 0.95 / 0.85 / 0.6 and rejects under F1 0.8, runs a round with `gold.share` through `run_round`, and
compares each labeler's gold F1 (the round's result) with the F1 of their first-pass annotations against the truth
of all their images (read at the first gate, truth through `GET /_sandbox/truth`, both scored with
`labelrounds.quality`). No rework cycle, so the first pass is what both figures see.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from pydantic import SecretStr

from bench.output import write_figures
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import Annotation
from labelrounds.quality import score_many
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.seed import TEAM_NAME
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH
from labelrounds.steps.sequence import ClientRoundSteps, run_round
from labelrounds.steps.targets import RoundTarget

SKILLS = {"labeler_1": 0.95, "labeler_2": 0.85, "labeler_3": 0.6}
PASSWORD = SecretStr("Gold-bench-2026")
CLASSES = [{"name": "crate", "shape": "rectangle"}, {"name": "leaf", "shape": "polygon"}]


@dataclass
class FirstPassSteps(ClientRoundSteps):
    """The library's steps, reading each first-pass job's images and their annotations at the first gate."""

    first_pass: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)

    async def wait_for_review(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
    ) -> None:
        """The gate; after the first one, each labeler's images (gold copies left out) with their annotations."""
        await super().wait_for_review(spec, target, jobs, cycle)
        if cycle:
            return
        dataset_id = target.dataset_ids[0]
        drawn = {
            info.image_id: info.annotation.to_wire() for info in await self.api.list_annotations(dataset_id)
        }
        for row in jobs.itertuples(index=False):
            job = await self.api.get_job(int(row.job_id))
            assert job is not None
            self.first_pass[str(row.labeler)] = {image: drawn[image] for image in job.entity_ids()}


def truth_of(server: SandboxServer, dataset_id: int) -> dict[int, dict[str, Any]]:
    """Each image's truth through the sandbox's truth endpoint."""
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    reply = httpx.get(
        server.url + TRUTH_PATH, params={"dataset_id": dataset_id}, headers=headers, timeout=300
    )
    return {item["imageId"]: item["annotation"] for item in reply.raise_for_status().json()}


async def one_run(images_per_labeler: int, share: float, gold_set: int, crew_seed: int) -> dict[str, Any]:
    """One sandbox, one round; per labeler: gold images and objects, gold F1, full-truth F1, gap."""
    images = images_per_labeler * len(SKILLS)
    seed = f"synthetic:2x{max(images, gold_set)}"
    crew = CrewConfig.parse(
        "skill="
        + "+".join(f"{login}:{skill}" for login, skill in SKILLS.items())
        + f",min-f1=0.8,seed={crew_seed},poll=20ms,mode=instant"
    )
    with SandboxServer(seed=seed, crew=crew) as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        async with SuperviselyClient(settings) as api:
            reference = truth_of(server, server.dataset_ids[1])
            chosen = sorted(reference)[:gold_set]
            await api.upload_annotations(
                server.dataset_ids[1], {i: Annotation.model_validate(reference[i]) for i in chosen}
            )
            round_images = sorted(truth_of(server, server.dataset_ids[0]))[:images]
            spec = parse_round_spec(
                {
                    "round_name": f"gold-bench-{crew_seed}",
                    "team": TEAM_NAME,
                    "project": seed.replace("synthetic:", "Synthetic "),
                    "datasets": ["ds1"],
                    "labelers": list(SKILLS),
                    "reviewer": "reviewer_1",
                    "classes": CLASSES,
                    "image_selection": "explicit",
                    "image_ids": round_images,
                    "poll_interval_seconds": 0.05,
                    "timeout_seconds": 600,
                    "max_rework_cycles": 0,
                    "gold": {"source": "ds2", "share": share},
                }
            )
            steps = FirstPassSteps(api, PASSWORD)
            started = time.perf_counter()
            done = await run_round(steps, spec)
            seconds = time.perf_counter() - started
        truth = truth_of(server, server.dataset_ids[0])
    assert done.gold is not None
    gold = done.gold.set_index("labeler")
    rows = []
    for login, skill in SKILLS.items():
        first = steps.first_pass[login]
        planned = [image for image in first if image in truth]
        full = score_many((truth[i], first[i]) for i in planned)
        gold_f1 = float(gold.loc[login, "gold_f1"])
        rows.append(
            {
                "labeler": login,
                "skill": skill,
                "images": len(planned),
                "gold_images": int(gold.loc[login, "gold_images"]),
                "gold_f1": round(gold_f1, 4),
                "full_truth_f1": round(full.f1, 4),
                "gap": round(gold_f1 - full.f1, 4),
            }
        )
    ranked_right = [r["labeler"] for r in sorted(rows, key=lambda r: -r["gold_f1"])] == list(SKILLS)
    return {
        "crew_seed": crew_seed,
        "round_seconds": round(seconds, 2),
        "ranked_right": ranked_right,
        "labelers": rows,
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a markdown table."""
    lines = [
        f"# Gold accuracy: {result['images_per_labeler']} images per labeler, gold share {result['share']}",
        "",
        "| crew seed | labeler | skill | gold images | gold F1 | full-truth F1 | gap | ranked right |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        for row in run["labelers"]:
            lines.append(
                f"| {run['crew_seed']} | {row['labeler']} | {row['skill']} | {row['gold_images']} | "
                f"{row['gold_f1']:.3f} | {row['full_truth_f1']:.3f} | {row['gap']:+.3f} | {run['ranked_right']} |"
            )
    lines += [
        "",
        f"Largest gap: {result['max_abs_gap']:.3f}; every run ranked right: {result['all_ranked_right']}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments, run, write the JSON and markdown figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-labeler", type=int, default=1000)
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--gold-set", type=int, default=500)
    parser.add_argument("--crew-seeds", default="11,12,13")
    parser.add_argument("--out", type=Path, default=Path("bench/results/gold_accuracy.json"))
    args = parser.parse_args()
    runs = [
        asyncio.run(one_run(args.images_per_labeler, args.share, args.gold_set, int(seed)))
        for seed in args.crew_seeds.split(",")
    ]
    gaps = [abs(row["gap"]) for run in runs for row in run["labelers"]]
    result = {
        "images_per_labeler": args.images_per_labeler,
        "share": args.share,
        "gold_set": args.gold_set,
        "runs": runs,
        "max_abs_gap": max(gaps),
        "all_ranked_right": all(run["ranked_right"] for run in runs),
        "python": platform.python_version(),
    }
    write_figures(args.out, result, markdown(result))


if __name__ == "__main__":
    main()
