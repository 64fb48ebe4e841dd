"""Benchmark of consensus rounds with dynamic overlap: gross errors caught, labels spent, merged F1 against the truth.

Run: `python -m bench.consensus --images 600 --crew-seeds 21,22,23 --out bench/results/consensus.json` (also writes a
`.md`). Each run starts a synthetic sandbox (ds1: the round's images) whose instant crew labels with the skills of
SKILLS, one of them (`GROSS_LABELER`) making gross errors on 10% of the images it labels (crew option `gross`: each
object dropped or moved clear of its place, the images chosen by the crew's seeded rule `makes_gross_error`, which
the bench asks about the first pass's copies), and runs a consensus round (overlap 2, up to 3, threshold
`--threshold`, adjudicator reviewer_1) through `run_round`.
Figures:
- flagged: share of the first-pass gross-error images whose agreement fell under the threshold (target >= 90%);
- cost: labels (replica images labeled + adjudicated images) per image, against the first pass of 2 labelers
  (target <= 1.4x) and against a static overlap of 3;
- F1 against the truth (`GET /_sandbox/truth`, scored with `labelrounds.quality`): the final labels on ds1 (merged
  or adjudicated) against each labeler's own replicas (target: above the best single labeler).
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from labelrounds.quality import score_many
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.crew_labeling import makes_gross_error
from labelrounds.sandbox.seed import TEAM_NAME
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH
from labelrounds.steps.consensus import read_replicas
from labelrounds.steps.sequence import ClientRoundSteps, run_round
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound

SKILLS = {"labeler_1": 0.97, "labeler_2": 0.96, "labeler_3": 0.95, "reviewer_1": 0.98}
GROSS_LABELER = "labeler_3"
GROSS_SHARE = 0.10
PASSWORD = SecretStr("Consensus-bench-2026")
CLASSES = [{"name": "crate", "shape": "rectangle"}, {"name": "leaf", "shape": "polygon"}]


@dataclass
class FirstPassSteps(ClientRoundSteps):
    """The library's steps, noting the images the gross labeler botched in the first pass and the first agreement."""

    crew_seed: int = 0
    botched_first_pass: set[int] = field(default_factory=set)
    first_agreement: pd.DataFrame | None = None

    async def wait_for_review(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
    ) -> None:
        """The gate; after the first one, the originals of the gross labeler's botched copies (the crew's rule)."""
        await super().wait_for_review(spec, target, jobs, cycle)
        if cycle:
            return
        originals = {image.name: image.id for image in await self.api.list_images(target.dataset_ids[0])}
        for row in jobs.itertuples(index=False):
            if row.labeler != GROSS_LABELER:
                continue
            copies = {image.id: image.name for image in await self.api.list_images(int(row.dataset_id))}
            job = await self.api.get_job(int(row.job_id))
            assert job is not None
            self.botched_first_pass.update(
                originals[copies[copy_id]]
                for copy_id in job.entity_ids()
                if makes_gross_error(GROSS_SHARE, seed=self.crew_seed, login=GROSS_LABELER, image_id=copy_id)
            )

    async def measure_agreement(
        self, spec: RoundSpec, validated: ValidatedRound, replicas: int
    ) -> pd.DataFrame:
        """The agreement step; the first pass's is kept."""
        agreement = await super().measure_agreement(spec, validated, replicas)
        if self.first_agreement is None:
            self.first_agreement = agreement
        return agreement


def truth_of(server: SandboxServer, dataset_id: int) -> dict[int, dict[str, Any]]:
    """Each image's truth through the sandbox's truth endpoint."""
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    reply = httpx.get(
        server.url + TRUTH_PATH, params={"dataset_id": dataset_id}, headers=headers, timeout=300
    )
    return {item["imageId"]: item["annotation"] for item in reply.raise_for_status().json()}


async def one_run(images: int, threshold: float, crew_seed: int) -> dict[str, Any]:
    """One sandbox, one consensus round; the flagged share, the cost and the F1 figures."""
    seed = f"synthetic:1x{images}"
    crew = CrewConfig.parse(
        "skill="
        + "+".join(f"{login}:{skill}" for login, skill in SKILLS.items())
        + f",gross={GROSS_LABELER}:{GROSS_SHARE},seed={crew_seed},poll=20ms,mode=instant"
    )
    with SandboxServer(seed=seed, crew=crew) as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        spec = parse_round_spec(
            {
                "round_name": f"consensus-bench-{crew_seed}",
                "team": TEAM_NAME,
                "project": seed.replace("synthetic:", "Synthetic "),
                "datasets": ["ds1"],
                "labelers": [login for login in SKILLS if login.startswith("labeler")],
                "reviewer": "reviewer_1",
                "classes": CLASSES,
                "poll_interval_seconds": 0.05,
                "timeout_seconds": 1200,
                "max_rework_cycles": 0,
                "consensus": {
                    "overlap": 2,
                    "max_overlap": 3,
                    "agreement_threshold": threshold,
                    "adjudicator": "reviewer_1",
                    "keep_replicas": True,
                },
            }
        )
        async with SuperviselyClient(settings) as api:
            steps = FirstPassSteps(api, PASSWORD, crew_seed=crew_seed)
            cpu, wall = time.process_time(), time.perf_counter()
            done = await run_round(steps, spec)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            replicas = await read_replicas(api, done.target, spec, done.validated.selected, 3)
            final = {
                info.image_id: info.annotation.to_wire()
                for info in await api.list_annotations(done.target.dataset_ids[0])
            }
            adjudicated_ids = [
                i
                for jobs in done.cycles
                for _, row in jobs.iterrows()
                if int(row["dataset_id"]) in done.target.dataset_ids
                for i in (await api.get_job(int(row["job_id"]))).entity_ids()  # type: ignore[union-attr]
            ]
        truth = truth_of(server, server.dataset_ids[0])
    figures = done.consensus
    assert figures is not None and steps.first_agreement is not None
    first = steps.first_agreement.set_index("image_id")["agreement"]
    botched = sorted(steps.botched_first_pass)
    flagged = [i for i in botched if first[i] < threshold]
    per_labeler = {
        login: score_many((truth[i], drawn[login]) for i, drawn in replicas.items() if login in drawn).f1
        for login in SKILLS
        if login.startswith("labeler")
    }
    final_f1 = score_many((truth[i], final[i]) for i in replicas).f1
    merged_images = set(replicas) - {int(i) for i in adjudicated_ids}
    merged_f1 = score_many((truth[i], final[i]) for i in merged_images).f1
    on_merged = {
        login: score_many((truth[i], replicas[i][login]) for i in merged_images if login in replicas[i]).f1
        for login in per_labeler
    }
    return {
        "crew_seed": crew_seed,
        "images": figures.images,
        "gross_images_first_pass": len(botched),
        "flagged": len(flagged),
        "flagged_share": round(len(flagged) / len(botched), 4) if botched else None,
        "labels": figures.labels,
        "labels_per_image": round(figures.labels_per_image, 4),
        "vs_first_pass": round(figures.labels / figures.first_pass_labels, 4),
        "vs_static_overlap_3": round(figures.labels / (3 * figures.images), 4),
        "merged": figures.merged,
        "adjudicated": figures.adjudicated,
        "mean_agreement": round(figures.mean_agreement, 4),
        "labeler_f1": {login: round(value, 4) for login, value in per_labeler.items()},
        "best_single_f1": round(max(per_labeler.values()), 4),
        "final_f1": round(final_f1, 4),
        "merged_images_f1": round(merged_f1, 4),
        "best_single_f1_on_merged_images": round(max(on_merged.values()), 4),
        "round_seconds": round(wall, 2),
        "round_cpu_seconds": round(cpu, 2),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def markdown(result: dict[str, Any]) -> str:
    """The result as a markdown table."""
    lines = [
        f"# Consensus: {result['images']} images, overlap 2 up to 3, threshold {result['threshold']}, "
        f"{GROSS_LABELER} botches {GROSS_SHARE:.0%} of its images",
        "",
        "| crew seed | gross images | flagged | labels/image | vs 2-labeler pass | vs static 3 | merged | "
        "adjudicated | best single F1 | final F1 | merged images: F1 (best single) | round s (CPU s) | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['crew_seed']} | {run['gross_images_first_pass']} | {run['flagged_share']:.1%} | "
            f"{run['labels_per_image']:.2f} | {run['vs_first_pass']:.2f}x | {run['vs_static_overlap_3']:.2f}x | "
            f"{run['merged']} | {run['adjudicated']} | {run['best_single_f1']:.3f} | {run['final_f1']:.3f} | "
            f"{run['merged_images_f1']:.3f} ({run['best_single_f1_on_merged_images']:.3f}) | {run['round_seconds']} ({run['round_cpu_seconds']}) | {run['load_average'][0]} |"
        )
    lines += [
        "",
        f"Worst flagged share {result['min_flagged_share']:.1%} (target >= 90%); most labels "
        f"{result['max_vs_first_pass']:.2f}x the 2-labeler first pass (target <= 1.4x); final F1 above the best "
        f"single labeler in every run: {result['final_beats_best_single']}.",
        "",
        f"Command: `{result['command']}`",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Parse the arguments, run, write the JSON and markdown figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--crew-seeds", default="21,22,23")
    parser.add_argument("--out", type=Path, default=Path("bench/results/consensus.json"))
    args = parser.parse_args()
    runs = [
        asyncio.run(one_run(args.images, args.threshold, int(seed))) for seed in args.crew_seeds.split(",")
    ]
    result = {
        "images": args.images,
        "threshold": args.threshold,
        "skills": SKILLS,
        "gross_labeler": GROSS_LABELER,
        "gross_share": GROSS_SHARE,
        "runs": runs,
        "min_flagged_share": min(run["flagged_share"] or 0.0 for run in runs),
        "max_vs_first_pass": max(run["vs_first_pass"] for run in runs),
        "final_beats_best_single": all(run["final_f1"] > run["best_single_f1"] for run in runs),
        "command": f"python -m bench.consensus --images {args.images} --threshold {args.threshold} "
        f"--crew-seeds {args.crew_seeds}",
        "python": platform.python_version(),
    }
    write_figures(args.out, result, markdown(result))


if __name__ == "__main__":
    main()
