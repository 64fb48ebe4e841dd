"""Benchmark of label-quality scoring: seconds to score N image pairs of M objects, per geometry type.

Run: `python -m bench.scoring --pairs 10000 --objects 10 --out bench/results/scoring.json` (also writes a `.md`).
Each pair is a reference annotation and a labeler's version of it (geometric jitter, a missed object, a wrong
class, a wrong tag, an extra object), as Supervisely JSON. The timed part is `score_many` on the JSON dicts, so
decoding bitmaps and building polygons is included; building the annotations is not. Objects are 20-120 px in a
1000 px image; "mix" cycles rectangle, polygon, bitmap. Both wall and CPU time (of this process) are recorded:
on a shared machine the CPU time is the steadier figure, and the target is judged on it. The generated data is
frozen out of the garbage collector before timing (`gc.freeze`), so that collections triggered during scoring do
not spend their time walking the benchmark's own millions of JSON objects. Each geometry kind is measured in a
fresh process (`--same-process` to opt out): in one process, bitmaps measured after polygons took about 50% more CPU
(5.8 vs 3.7 s), from the heap the polygon run left behind (a `malloc_trim` between the two removed the gap), which is
the benchmark's order, not scoring.
Bitmap masks are ellipses of whole-pixel sizes, so many repeat across images and the mask cache decodes each
once; `--distinct-masks` flips a few random pixels of every mask so that no two are alike (every one decoded).
One pair is scored before the timed part and its CPU time recorded apart (`first_pair_cpu_seconds`): it holds
numba's one-time load of the compiled loops (~0.25-0.35 s a process), a cost of starting a process like its
imports. Their compilation is in neither figure once numba has cached it on disk (the first run on a machine after
a fresh clone compiles, ~2-3 s, in the first pair).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import multiprocessing
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from labelrounds.quality import encode_bitmap, score_many
from labelrounds.quality.geometry import MaskCache
from labelrounds.quality.scoring import _parse_annotations, parse_annotations

IMAGE_SIZE = 1000
CLASSES = ("lemon", "leaf", "stem")
KINDS = ("rectangle", "polygon", "bitmap", "mix")
TARGET_SECONDS = 5.0


def _rectangle(left: float, top: float, width: float, height: float) -> dict[str, Any]:
    right, bottom = left + width - 1, top + height - 1
    return {
        "geometryType": "rectangle",
        "points": {"exterior": [[left, top], [right, bottom]], "interior": []},
    }


def _outline(rng: np.random.Generator) -> np.ndarray:
    """A star-shaped outline: 8 to 16 (angle, radius) vertices, radius a share of the box's half-size."""
    vertices = int(rng.integers(8, 17))
    return np.column_stack([np.sort(rng.uniform(0, 2 * math.pi, vertices)), rng.uniform(0.7, 1.0, vertices)])


def _polygon(left: float, top: float, width: float, height: float, outline: np.ndarray) -> dict[str, Any]:
    angles, radii = outline[:, 0], outline[:, 1]
    xs = left + width / 2 * (1 + radii * np.cos(angles))
    ys = top + height / 2 * (1 + radii * np.sin(angles))
    exterior = np.round(np.column_stack([xs, ys]), 1).tolist()
    return {"geometryType": "polygon", "points": {"exterior": exterior, "interior": []}}


def _bitmap(
    left: float, top: float, width: float, height: float, noise: np.random.Generator | None = None
) -> dict[str, Any]:
    rows, columns = max(int(height), 1), max(int(width), 1)
    ys, xs = np.mgrid[0:rows, 0:columns]
    ellipse = ((xs + 0.5 - columns / 2) / (columns / 2)) ** 2 + ((ys + 0.5 - rows / 2) / (rows / 2)) ** 2 <= 1
    if noise is not None:  # a few flipped pixels: a mask like no other (1 in 10^9 chance of a repeat)
        flips = noise.integers(0, rows * columns, 4)
        ellipse.flat[flips] = ~ellipse.flat[flips]
    return {
        "geometryType": "bitmap",
        "bitmap": {"data": encode_bitmap(ellipse), "origin": [int(left), int(top)]},
    }


def _object(
    kind: str,
    box: np.ndarray,
    outline: np.ndarray,
    title: str,
    ripe: bool,
    noise: np.random.Generator | None = None,
) -> dict[str, Any]:
    left, top, width, height = (float(value) for value in box)
    if kind == "rectangle":
        geometry = _rectangle(round(left), round(top), round(width), round(height))
    elif kind == "polygon":
        geometry = _polygon(left, top, width, height, outline)
    else:
        geometry = _bitmap(left, top, width, height, noise)
    return {"classTitle": title, "tags": [{"name": "ripe", "value": ripe}], **geometry}


def make_pair(
    kind: str, objects: int, rng: np.random.Generator, distinct_masks: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A reference annotation of `objects` objects and a labeler's imperfect copy of it (with `distinct_masks`,
    every bitmap mask unlike any other)."""
    noise = rng if distinct_masks else None
    kinds = [KINDS[i % 3] for i in range(objects)] if kind == "mix" else [kind] * objects
    sizes = rng.uniform(20, 120, (objects, 2))
    corners = rng.uniform(0, IMAGE_SIZE - 120, (objects, 2))
    boxes = np.column_stack([corners, sizes])
    titles = [CLASSES[int(i)] for i in rng.integers(0, len(CLASSES), objects)]
    jitter = boxes + np.column_stack([rng.normal(0, 3, (objects, 2)), rng.normal(0, 2, (objects, 2))])
    jitter[:, 2:] = np.maximum(jitter[:, 2:], 5)
    outlines = [_outline(rng) for _ in range(objects + 1)]
    ripe = rng.random(objects + 1) < 0.5
    reference = [_object(kinds[i], boxes[i], outlines[i], titles[i], ripe[i], noise) for i in range(objects)]
    # The labeler misses object 0, gives object 1 a wrong class and the last a wrong tag, and adds an object.
    candidate = [
        _object(kinds[i], jitter[i], outlines[i], titles[i], ripe[i], noise) for i in range(1, objects)
    ]
    if candidate:
        candidate[0]["classTitle"] = "wrong-" + candidate[0]["classTitle"]
        candidate[-1]["tags"][0]["value"] = not candidate[-1]["tags"][0]["value"]
    extra = np.array([*rng.uniform(0, IMAGE_SIZE - 120, 2), 40, 40])
    candidate.append(_object(kinds[0], extra, outlines[objects], titles[0], ripe[objects], noise))
    image_tags = [{"name": "daylight", "value": None}]
    return {"objects": reference, "tags": image_tags}, {"objects": candidate, "tags": image_tags}


def measure(kind: str, pairs: int, objects: int, seed: int, distinct_masks: bool = False) -> dict[str, Any]:
    """Time scoring of `pairs` pairs of geometry `kind`; also the share spent reading the annotations."""
    rng = np.random.default_rng(seed)
    annotations = [make_pair(kind, objects, rng, distinct_masks) for _ in range(pairs)]
    # The generated JSON (millions of objects) would otherwise be traversed by every full garbage collection the
    # timed part triggers: a cost of this benchmark's data set, not of scoring.
    gc.collect()
    gc.freeze()
    try:
        return {**_timed(kind, pairs, objects, annotations), "distinct_masks": distinct_masks}
    finally:
        gc.unfreeze()


def _timed(
    kind: str, pairs: int, objects: int, annotations: list[tuple[dict[str, Any], dict[str, Any]]]
) -> dict[str, Any]:
    # One pair first: numba loads its compiled loops once per process (a cost of starting, like the imports).
    started_cpu = time.process_time()
    score_many(annotations[:1])
    first_pair_cpu_seconds = time.process_time() - started_cpu
    started, started_cpu = time.perf_counter(), time.process_time()
    score = score_many(annotations)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    flat = [annotation for pair in annotations for annotation in pair]
    started_cpu = time.process_time()
    masks = MaskCache()
    for start in range(0, len(flat), 256):  # as score_many reads them: a batch of images at a time, one cache
        _parse_annotations(flat[start : start + 256], masks)
    parse_cpu_seconds = time.process_time() - started_cpu
    # Gold checks score several labelers against the same reference: read it once, outside the timed part.
    references = parse_annotations([reference for reference, _ in annotations])
    parsed = [
        (reference, candidate) for reference, (_, candidate) in zip(references, annotations, strict=True)
    ]
    started_cpu = time.process_time()
    score_many(parsed)
    parsed_reference_cpu_seconds = time.process_time() - started_cpu
    return {
        "geometry": kind,
        "pairs": pairs,
        "objects_per_image": objects,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "first_pair_cpu_seconds": round(first_pair_cpu_seconds, 3),
        "pairs_per_second": round(pairs / seconds),
        "of_which_reading_json_cpu_seconds": round(parse_cpu_seconds, 3),
        "cpu_seconds_with_references_parsed_beforehand": round(parsed_reference_cpu_seconds, 3),
        "under_target": cpu_seconds < TARGET_SECONDS,
        "score": {name: round(value, 4) for name, value in score.as_row().items()},
    }


def to_markdown(figures: dict[str, Any]) -> str:
    """A short human-readable table of the figures."""
    lines = [
        "# Scoring",
        "",
        f"{figures['pairs']} image pairs of {figures['objects']} objects, target < {TARGET_SECONDS} s"
        f"{', every bitmap mask distinct' if figures.get('distinct_masks') else ''}. "
        f"{figures['note']}",
        "",
        "| geometry | wall s | CPU s | pairs/s (wall) | of which reading JSON, CPU s | CPU s, references read before "
        "| F1 | mean IoU | tag acc. | one pair first (process start), CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in figures["results"]:
        score = row["score"]
        lines.append(
            f"| {row['geometry']} | {row['seconds']} | {row['cpu_seconds']} | {row['pairs_per_second']} | "
            f"{row['of_which_reading_json_cpu_seconds']} | {row['cpu_seconds_with_references_parsed_beforehand']} | "
            f"{score['f1']} | {score['mean_iou']} | "
            f"{score['tag_accuracy']} | {row.get('first_pair_cpu_seconds', '')} |"
        )
    return "\n".join(lines) + "\n"


def _in_fresh_process(job: tuple[str, int, int, int, bool]) -> dict[str, Any]:
    """`measure(*job)` in a new interpreter, so that no kind runs on the heap another kind left behind."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, *job).result()


def main() -> None:
    """Measure every geometry kind and write the figures to `--out` (JSON) and the same path with `.md`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument(
        "--kinds", default=",".join(KINDS), help="comma-separated subset of " + ",".join(KINDS)
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--note", default="", help="conditions of the run (e.g. machine load), kept with the figures"
    )
    parser.add_argument(
        "--same-process", action="store_true", help="measure every kind in this process, one after the other"
    )
    parser.add_argument(
        "--distinct-masks",
        action="store_true",
        help="no two bitmap masks alike (no mask decoded from the cache)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/scoring.json"))
    args = parser.parse_args()
    jobs = [
        (kind, args.pairs, args.objects, args.seed, args.distinct_masks) for kind in args.kinds.split(",")
    ]
    if args.same_process:
        results = [measure(*job) for job in jobs]
    else:
        results = [_in_fresh_process(job) for job in jobs]
    figures = {
        "pairs": args.pairs,
        "objects": args.objects,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "note": args.note,
        "distinct_masks": args.distinct_masks,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(to_markdown(figures))
    print(to_markdown(figures))


if __name__ == "__main__":
    main()
