"""Benchmark of consensus merging and agreement: CPU seconds for N images x K replicas x M objects, per geometry.

Run: `python -m bench.consensus_merge --images 10000 --replicas 3 --objects 10` (writes
`bench/results/consensus_merge.json` and `.md`). Each image is a scene of M objects (20-120 px in a 1000 px image,
built as in `bench.scoring`); each replica finds each object with probability 0.9, shifted by a few pixels
(normal, sigma 3 px), and adds a stray object with probability 0.2. Timed: `merge_many` and `agreement_tables` on
the JSON dicts (bitmap decoding and polygon building included; building the data is not). The merged result is
scored against the scene with `score_many`, so that the figure says what the merge is worth, not only how fast.
Each kind runs in a fresh process (see `bench.scoring`). The load average is recorded with the figures.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.output import write_figures
from bench.scoring import CLASSES, IMAGE_SIZE, _object, _outline
from labelrounds.quality import agreement_tables, merge_many, score_many

KINDS = ("rectangle", "polygon", "bitmap", "mix")
TARGET_SECONDS = 10.0
FOUND_RATE = 0.9
STRAY_RATE = 0.2


def make_image(
    kind: str, objects: int, replicas: int, rng: np.random.Generator
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A scene of `objects` objects and `replicas` labelers' versions of it."""
    kinds = [KINDS[i % 3] for i in range(objects)] if kind == "mix" else [kind] * objects
    boxes = np.column_stack(
        [rng.uniform(0, IMAGE_SIZE - 120, (objects, 2)), rng.uniform(20, 120, (objects, 2))]
    )
    titles = [CLASSES[int(i)] for i in rng.integers(0, len(CLASSES), objects)]
    outlines = [_outline(rng) for _ in range(objects + 1)]
    scene = {"objects": [_object(kinds[i], boxes[i], outlines[i], titles[i], True) for i in range(objects)]}
    versions = []
    for _ in range(replicas):
        found = rng.random(objects) < FOUND_RATE
        shifted = boxes.copy()
        shifted[:, :2] += rng.normal(0, 3, (objects, 2))
        drawn = [_object(kinds[i], shifted[i], outlines[i], titles[i], True) for i in np.nonzero(found)[0]]
        if rng.random() < STRAY_RATE:
            stray = np.array([*rng.uniform(0, IMAGE_SIZE - 120, 2), 40, 40])
            drawn.append(_object(kinds[0], stray, outlines[objects], titles[0], True))
        versions.append({"objects": drawn, "tags": [{"name": "daylight", "value": None}]})
    return scene, versions


def measure(kind: str, images: int, replicas: int, objects: int, seed: int) -> dict[str, Any]:
    """Time merging and agreement of `images` images of geometry `kind`; score merge and replicas against the scene."""
    rng = np.random.default_rng(seed)
    data = [make_image(kind, objects, replicas, rng) for _ in range(images)]
    scenes = [scene for scene, _ in data]
    versions = [replica_list for _, replica_list in data]
    gc.collect()
    gc.freeze()  # the generated JSON is not the merge's garbage (see bench.scoring)
    try:
        started, started_cpu = time.perf_counter(), time.process_time()
        merged = merge_many(versions)
        merge_seconds, merge_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        started_cpu = time.process_time()
        tables = agreement_tables(
            {
                index: {f"labeler_{r}": v for r, v in enumerate(replica_list)}
                for index, replica_list in enumerate(versions)
            }
        )
        agreement_cpu = time.process_time() - started_cpu
    finally:
        gc.unfreeze()
    merged_f1 = score_many(zip(scenes, merged, strict=True)).f1
    single_f1 = [score_many((scene, v[r]) for scene, v in data).f1 for r in range(replicas)]
    return {
        "geometry": kind,
        "images": images,
        "replicas": replicas,
        "objects_per_image": objects,
        "merge_seconds": round(merge_seconds, 3),
        "merge_cpu_seconds": round(merge_cpu, 3),
        "agreement_cpu_seconds": round(agreement_cpu, 3),
        "mean_agreement": round(float(tables.per_image["mean_f1"].mean()), 4),
        "merged_f1_vs_scene": round(merged_f1, 4),
        "best_single_replica_f1_vs_scene": round(max(single_f1), 4),
        "under_target": merge_cpu < TARGET_SECONDS,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }


def _in_fresh_process(job: tuple[str, int, int, int, int]) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(processes=1) as pool:
        return pool.apply(measure, job)


def to_markdown(figures: dict[str, Any]) -> str:
    """The figures as a markdown table."""
    lines = [
        "# Consensus merge",
        "",
        f"{figures['images']} images x {figures['replicas']} replicas x {figures['objects']} objects "
        f"(found {FOUND_RATE:.0%}, ~3 px jitter, a stray object on {STRAY_RATE:.0%} of replicas). "
        f"Command: `{figures['command']}`. {figures['note']}",
        "",
        "| geometry | merge CPU s | merge wall s | agreement CPU s | mean agreement | merged F1 | best single F1 "
        "| load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in figures["results"]:
        lines.append(
            f"| {row['geometry']} | {row['merge_cpu_seconds']} | {row['merge_seconds']} | "
            f"{row['agreement_cpu_seconds']} | {row['mean_agreement']} | {row['merged_f1_vs_scene']} | "
            f"{row['best_single_replica_f1_vs_scene']} | {row['load_average_1min']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure each geometry kind in a fresh process and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--note", default="")
    parser.add_argument("--out", type=Path, default=Path("bench/results/consensus_merge.json"))
    args = parser.parse_args()
    jobs = [(kind, args.images, args.replicas, args.objects, args.seed) for kind in args.kinds.split(",")]
    figures = {
        "images": args.images,
        "replicas": args.replicas,
        "objects": args.objects,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": f"python -m bench.consensus_merge --images {args.images} --replicas {args.replicas} "
        f"--objects {args.objects} --kinds {args.kinds}",
        "note": args.note,
        "results": [_in_fresh_process(job) for job in jobs],
    }
    write_figures(args.out, figures, to_markdown(figures))


if __name__ == "__main__":
    main()
