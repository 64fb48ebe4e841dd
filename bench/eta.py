"""Benchmark: how far the round's ETA (`labelrounds.steps.eta`) is from the real finish, for a crew of steady speed.

Run: `python -m bench.eta --out bench/results/eta.json` (also writes a `.md` beside it).

Each run starts a synthetic sandbox in a subprocess whose http crew labels (and reviews) at a fixed number of
seconds per image, runs a round over the library's steps (`steps.sequence.run_round`, as the flow does) and keeps
every gate snapshot. The real finish is read from the jobs afterwards (the last `annotationFinishedAt` for the
target on_review, the last `reviewFinishedAt` for completed). At the first check at or past half of the gate's
way (images done for on_review, reviewed for completed), the error is
`|ETA - real finish| / (real finish - cycle start)`, the cycle starting at its first job's `startedAt`; the error
against the time still to go at that check is reported too. The target is under 15 % of the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.output import write_figures
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, TargetStatus, parse_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.eta import estimate_round
from labelrounds.steps.gate import GateSnapshot
from labelrounds.steps.sequence import ClientRoundSteps, run_round

PASSWORD = SecretStr("Bench-eta-2026")
TARGET_ERROR = 0.15
#: (name, target, labelers, images per labeler, seconds per image)
SCENARIOS: list[tuple[str, TargetStatus, int, int, float]] = [
    ("3 labelers x 40 images, to on_review", TargetStatus.ON_REVIEW, 3, 40, 0.1),
    ("3 labelers x 20 images + review, to completed", TargetStatus.COMPLETED, 3, 20, 0.1),
]


def bench_spec(team_id: int, project_id: int, target: TargetStatus, labelers: int) -> RoundSpec:
    """One cycle (no rework), the jobs kept at the end so that their timestamps can be read."""
    return parse_round_spec(
        {
            "round_name": "bench-eta",
            "team": team_id,
            "project": project_id,
            "labelers": [f"eta_labeler_{index}" for index in range(1, labelers + 1)],
            "reviewer": "eta_reviewer",
            "classes": [{"name": "eta_mango"}],
            "target_status": target.value,
            "max_rework_cycles": 0,
            "end_action": "keep",
            "poll_interval_seconds": 0.2,
            "timeout_seconds": 600,
        }
    )


def gate_share(snapshot: GateSnapshot) -> float:
    """The gate's way: images reviewed when the target is completed, else images done."""
    return snapshot.share_reviewed if snapshot.target is TargetStatus.COMPLETED else snapshot.share_done


async def run_once(target: TargetStatus, labelers: int, per_labeler: int, seconds: float) -> dict[str, Any]:
    """One round on a fresh sandbox; the ETA's error at half progress against the real finish."""
    crew = CrewConfig(label_seconds_per_image=seconds, review_seconds_per_image=seconds, poll_interval=0.05)
    seed = f"synthetic:1x{labelers * per_labeler}"
    with SandboxServer(seed=seed, mode="subprocess", crew=crew) as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        snapshots: list[GateSnapshot] = []
        async with SuperviselyClient(settings) as api:
            steps = ClientRoundSteps(api, passwords=PASSWORD, on_check=snapshots.append)
            run = await run_round(steps, bench_spec(server.team_id, server.project_id or 0, target, labelers))
            jobs = await api.list_jobs(server.team_id, show_disabled=True)
    round_jobs = [job for job in jobs if job.id in set(run.job_ids_per_cycle[0])]
    finishes = [job.annotation_finished_at if target is TargetStatus.ON_REVIEW else job.review_finished_at
                for job in round_jobs]  # fmt: skip
    starts = [job.started_at for job in round_jobs if job.started_at is not None]
    if not starts or any(finish is None for finish in finishes):
        raise RuntimeError("the jobs lack their start or finish timestamps")
    real_finish = max(finish for finish in finishes if finish is not None)
    start = min(starts)
    half = next(snapshot for snapshot in snapshots if gate_share(snapshot) >= 0.5)
    estimate = estimate_round(half)
    if estimate.finish is None:
        raise RuntimeError("no estimate at half progress")
    miss = abs((estimate.finish - real_finish).total_seconds())
    return {
        "share_at_check": round(gate_share(half), 3),
        "checks": len(snapshots),
        "duration_s": round((real_finish - start).total_seconds(), 3),
        "eta_minus_real_s": round((estimate.finish - real_finish).total_seconds(), 3),
        "error_of_duration": round(miss / (real_finish - start).total_seconds(), 4),
        "error_of_remaining": round(miss / max((real_finish - half.checked_at).total_seconds(), 1e-6), 4),
    }


async def run_all(repeats: int) -> dict[str, Any]:
    """Every scenario `repeats` times; the worst and median errors of each."""
    results: dict[str, Any] = {}
    for name, target, labelers, per_labeler, seconds in SCENARIOS:
        runs = [await run_once(target, labelers, per_labeler, seconds) for _ in range(repeats)]
        errors = [run["error_of_duration"] for run in runs]
        results[name] = {
            "target": target.value,
            "labelers": labelers,
            "images_per_labeler": per_labeler,
            "seconds_per_image": seconds,
            "runs": runs,
            "median_error_of_duration": round(statistics.median(errors), 4),
            "max_error_of_duration": max(errors),
            "passed": max(errors) < TARGET_ERROR,
        }
    return results


def markdown(results: dict[str, Any]) -> str:
    """The figures as a markdown table."""
    lines = [
        "# ETA error at half progress, steady sandbox crew",
        "",
        f"Target: under {TARGET_ERROR:.0%} of the round's duration. Command: `python -m bench.eta`.",
        "",
        "| scenario | runs | median error | max error | ETA - real (s) per run | duration (s) | passed |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figures in results.items():
        deltas = ", ".join(f"{run['eta_minus_real_s']:+.2f}" for run in figures["runs"])
        durations = ", ".join(f"{run['duration_s']:.1f}" for run in figures["runs"])
        lines.append(
            f"| {name} | {len(figures['runs'])} | {figures['median_error_of_duration']:.1%} | "
            f"{figures['max_error_of_duration']:.1%} | {deltas} | {durations} | {figures['passed']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the benchmark and write its JSON and markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/eta.json"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(run_all(args.repeats))
    write_figures(args.out, results, markdown(results))


if __name__ == "__main__":
    main()
