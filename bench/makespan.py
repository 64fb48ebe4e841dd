"""Benchmark: a round's makespan with labelers of speeds 1x..4x: static even jobs, one labeling queue, adaptive jobs.

Run: `python -m bench.makespan --base-seconds 2 --repeat 3` (appends every run to `bench/results/makespan.json`
and rewrites the `.md` beside it); `--assignments queue` runs only some.

Each run starts a synthetic sandbox in a subprocess whose http crew labels at `BASE_SECONDS / k` seconds per image
for the k-th labeler (speeds 1x..4x), and runs the round through the library's steps (`steps.sequence.run_round`)
to the target `on_review`. The ideal is total work over total speed: `images × BASE_SECONDS / (1 + 2 + 3 + 4)`.

The makespan is read from the server's records, not from the round's clock: from the creation of the round's first
job (the moment the first labeler could start; a queue's jobs are created with it) to the last image a labeler
marked done (`teams.activity`, `review_status_changed` by the job's labeler). Beside it, from the same run:
- the detection delay: from that last image to the moment the round's gate returned (the round noticed);
- setup: from the round's start to its first job;
- each labeler's achieved seconds per image (its images over the time from the start to its last image) and the
  ideal at those achieved speeds, which splits the ratio into the crew's speed loss (achieved ideal / ideal: its
  own calls eating into its time on a loaded machine) and the imbalance (makespan / achieved ideal: labelers
  idle at the end while another finishes);
- each labeler's start delay (first job created → its first act on its job) and its idle time at the end
  (makespan end minus its last image).
The crew is enlisted by login (the four labelers and the reviewer), so its members are ready when the round
creates its jobs or queue, as people waiting for work would be, rather than enlisted once they have a job. Each
member keeps its configured speed on a loaded machine (`crew.Pace`): its own calls come out of an image's time.

Exact accounting, read back raw (plain HTTP, not our client or report): each job of the round (`customData`
lineage) with its `jobs.info` entities; an image counts as labeled by a job's labeler when its review status is not
`none`. The labeled sets of the jobs must be disjoint and cover the dataset, and the report's images per labeler
must equal the read-back ones. Adaptive: how many jobs took over images (`moved_from`) and how many images moved.
Every run, failed ones too, is kept with the load average at its start and end and the commit it ran.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
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
TAKE_COUNT = 1  # images a queue labeler takes at a time, as the labeling tool hands out the next image
LABELERS = [f"ms_labeler_{speed}x" for speed in SPEEDS]
REVIEWER = "ms_reviewer"
#: How often an idle crew member looks for work. Idle members (the reviewer all along in a queue round) poll the
#: sandbox that also serves the labelers, two requests a look: even at 0.1 s the polls are ~600 of a queue round's
#: ~1,050 crew requests and ~4,000 of a static round's ~4,400 (bench/results/makespan.json); at 0.02 s, five times
#: as many, they starved the labelers' own calls on a loaded machine. 0.1 s delays a labeler's first image by at
#: most that.
CREW_POLL_SECONDS = 0.1
ASSIGNMENTS = ("static", "queue", "adaptive")
DEFAULT_OUT = Path("bench/results/makespan.json")
#: The files a run's `commit` names the last commit of (the benchmark, the crew, queues and rebalancing).
MEASURED_FILES = (
    "bench/makespan.py",
    "labelrounds/sandbox/crew.py",
    "labelrounds/sandbox/crew_labeling.py",
    "labelrounds/sandbox/queues_core.py",
    "labelrounds/sandbox/handlers/labeling_queues.py",
    "labelrounds/steps/queues.py",
    "labelrounds/steps/rebalance.py",
)


def bench_spec(team_id: int, project_id: int, assignment: str) -> RoundSpec:
    """One pass to on_review (no review wait in the makespan), the jobs kept."""
    return parse_round_spec(
        {
            "round_name": f"bench-makespan-{assignment}",
            "team": team_id,
            "project": project_id,
            "labelers": LABELERS,
            "reviewer": REVIEWER,
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
    """Wall time of each phase of the round, and the UTC time each phase last ended."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.ended: dict[str, datetime] = {}

    @contextlib.contextmanager
    def phase(self, name: RoundPhase) -> Iterator[None]:
        """Time one phase (added up when it repeats)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.ended[name] = datetime.now(UTC)


def parse_time(stamp: str) -> datetime:
    """A server timestamp (`2026-11-28T12:57:55.512Z`) as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def run_once(assignment: str, base_seconds: float, take_count: int) -> dict[str, Any]:
    """One round on a fresh sandbox: its makespan from the server's records, the breakdown, exact accounting."""
    crew = CrewConfig(
        label_seconds_by_login={
            login: base_seconds / speed for login, speed in zip(LABELERS, SPEEDS, strict=True)
        },
        poll_interval=CREW_POLL_SECONDS,
        take_count=take_count,
        logins=(*LABELERS, REVIEWER),  # enlisted once they exist, ready when the round hands out work
    )
    with SandboxServer(seed=f"synthetic:1x{IMAGES}", mode="subprocess", crew=crew) as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        clock = PhaseClock()
        round_started = datetime.now(UTC)
        async with SuperviselyClient(settings) as api:
            steps = ClientRoundSteps(api, passwords=PASSWORD, meter=clock.phase)
            run = await run_round(steps, bench_spec(server.team_id, server.project_id or 0, assignment))
        accounting = raw_accounting(server, run.target.round_key)
        traffic = server.traffic_stats()
    per_labeler = {str(row.labeler): int(row.images) for row in run.report.labelers.itertuples(index=False)}
    timing = timing_breakdown(accounting, round_started, clock.ended["gate"], base_seconds)
    return {
        "assignment": assignment,
        **timing,
        "gate_seconds": round(clock.seconds["gate"], 3),
        "round_requests": sum(traffic.requests.values()),
        "crew_requests": dict(sorted(traffic.crew_requests.items())),
        "images_per_labeler": per_labeler,
        "report_adds_up": sum(per_labeler.values()) == IMAGES == run.report.totals.selected_images,
        "read_back": accounting,
        "exact": accounting["labeled_per_labeler"] == per_labeler
        and accounting["labeled_twice"] == 0
        and accounting["labeled_images"] == accounting["dataset_images"] == IMAGES,
    }


def timing_breakdown(
    accounting: dict[str, Any], round_started: datetime, noticed: datetime, base_seconds: float
) -> dict[str, Any]:
    """Makespan (first job → last image labeled, server clock), its ideal, speed loss, imbalance and delays."""
    work_from = parse_time(accounting["first_job_created"])
    last_by_labeler = {login: parse_time(stamp) for login, stamp in accounting["last_labeled"].items()}
    work_to = max(last_by_labeler.values())
    makespan = (work_to - work_from).total_seconds()
    ideal = IMAGES * base_seconds / sum(SPEEDS)
    per_image = {
        login: (last_by_labeler[login] - work_from).total_seconds() / count
        for login, count in accounting["labeled_per_labeler"].items()
        if count and login in last_by_labeler
    }
    achieved = IMAGES / sum(1 / seconds for seconds in per_image.values())
    return {
        "makespan_seconds": round(makespan, 3),
        "ideal_seconds": round(ideal, 3),
        "ratio_to_ideal": round(makespan / ideal, 3),
        "achieved_ideal_seconds": round(achieved, 3),
        "speed_loss": round(achieved / ideal, 3),
        "imbalance": round(makespan / achieved, 3),
        "detection_delay_seconds": round((noticed - work_to).total_seconds(), 3),
        "setup_seconds": round((work_from - round_started).total_seconds(), 3),
        "achieved_seconds_per_image": {login: round(seconds, 4) for login, seconds in per_image.items()},
        "start_delay_seconds": {
            login: round((parse_time(stamp) - work_from).total_seconds(), 3)
            for login, stamp in accounting["first_action"].items()
        },
        "end_idle_seconds": {
            login: round((work_to - last).total_seconds(), 3) for login, last in last_by_labeler.items()
        },
    }


def raw_accounting(server: SandboxServer, round_key: str) -> dict[str, Any]:
    """Who labeled what and when, read back with plain HTTP: per-labeler labeled images and last labeling time,
    images in two jobs, moves, the first job's creation."""
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
        events = call("teams.activity", {"teamId": server.team_id, "per_page": 20_000})["entities"]
        labeled: Counter[int] = Counter()
        per_labeler: Counter[str] = Counter()
        moved_jobs = moved_images = 0
        labeler_of_job: dict[int, tuple[int, str]] = {}
        for job in jobs:
            lineage = job["customData"]["labelrounds"]
            labeler_of_job[int(job["id"])] = (int(job["userId"]), str(lineage["labeler"]))
            entities = call("jobs.info", {"id": job["id"]})["entities"]
            done = [entity["id"] for entity in entities if entity["reviewStatus"] != "none"]
            labeled.update(done)
            per_labeler[str(lineage["labeler"])] += len(done)
            if lineage.get("moved_from") is not None:
                moved_jobs += 1
                moved_images += len(entities)
    first_action: dict[str, str] = {}
    last_labeled: dict[str, str] = {}
    for event in events:  # a labeler's own acts on its jobs (the reviewer's decisions are the reviewer's)
        user_and_login = labeler_of_job.get(event["jobId"])
        if user_and_login is None or event["userId"] != user_and_login[0]:
            continue
        login, date = user_and_login[1], event["date"]
        first_action[login] = min(first_action.get(login, date), date, key=parse_time)
        if event["action"] == "review_status_changed":
            last_labeled[login] = max(last_labeled.get(login, date), date, key=parse_time)
    return {
        "dataset_images": len(images),
        "labeled_images": len(labeled),
        "labeled_twice": sum(1 for count in labeled.values() if count > 1),
        "labeled_per_labeler": dict(per_labeler),
        "jobs": len(jobs),
        "moved_jobs": moved_jobs,
        "moved_images": moved_images,
        "first_job_created": min((job["createdAt"] for job in jobs), key=parse_time),
        "first_action": first_action,
        "last_labeled": last_labeled,
    }


def commit() -> str:
    """The last commit of `MEASURED_FILES` (short), `+dirty` when one of them differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout.strip()

    last = git("log", "-1", "--format=%h", "--", *MEASURED_FILES)
    return f"{last}+dirty" if git("status", "--porcelain", "--", *MEASURED_FILES) else last


def measured(assignment: str, base_seconds: float, take_count: int) -> dict[str, Any]:
    """One run with its context (time, load at start and end, commit); a failed run is kept with its error."""
    context: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "base_seconds": base_seconds,
        "take_count": take_count,
        "commit": commit(),
        "load_average_1m_start": round(os.getloadavg()[0], 2),
    }
    try:
        figures = asyncio.run(run_once(assignment, base_seconds, take_count))
    except Exception as error:  # noqa: BLE001 - a failed run is a result too
        figures = {"assignment": assignment, "error": f"{type(error).__name__}: {error}"}
    return {**context, **figures, "load_average_1m_end": round(os.getloadavg()[0], 2)}


def per_labeler(run: dict[str, Any], key: str, spec: str) -> str:
    """A run's per-labeler figure `key` in speed order (1x..4x), formatted; `–` where the run lacks it."""
    values = run.get(key)
    if values is None:
        return "–"
    return ", ".join("–" if login not in values else format(values[login], spec) for login in LABELERS)


def crew_requests(run: dict[str, Any]) -> str:
    """The crew's requests in a run and, in brackets, those that looked for work (`teams.list`, `jobs.list`)."""
    counts = run.get("crew_requests")
    if counts is None:
        return "–"
    return f"{sum(counts.values())} ({counts.get('teams.list', 0) + counts.get('jobs.list', 0)})"


def markdown(recorded: dict[str, Any]) -> str:
    """Every recorded run as a Markdown table (newest last), with the median × ideal per assignment and setting."""
    history: list[dict[str, Any]] = recorded["history"]
    lines = [
        f"# Makespan, speeds {'/'.join(f'{s}x' for s in SPEEDS)}, {IMAGES} images",
        "",
        "Command: `python -m bench.makespan --base-seconds 2 --repeat 3` (appends to this file's json).",
        "",
        "Makespan: first job created → last image marked done by a labeler (server records). × ideal = speed "
        "loss (achieved ideal / ideal: the crew slower than configured) × imbalance (makespan / achieved ideal: "
        "labelers idle at the end). Detection delay: last image → the round's gate returned. Start delay: first "
        "job created → the labeler's first act on its job; end idle: its wait after its last image, 1x..4x.",
        "",
        "| when (UTC) | commit | s/img 1x | take | assignment | makespan (s) | ideal (s) | × ideal | speed loss "
        "| imbalance | detection (s) | start delay 1x..4x (s) | end idle 1x..4x (s) | images 1x..4x | exact "
        "| twice | moved | crew requests (polls) | load start/end |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|---|---|---:|---:|---|---|",
    ]
    for run in history:
        head = (
            f"| {run.get('measured_at', '–')} | {run.get('commit', '–')} | {run.get('base_seconds', '–')} | "
            f"{run.get('take_count', '–')} | {run['assignment']} |"
        )
        load = f"{run.get('load_average_1m_start', '–')} / {run.get('load_average_1m_end', '–')}"
        if "error" in run:
            lines.append(f"{head} failed: {run['error'][:120]} | | | | | | | | | | | | | {load} |")
            continue
        idle, delay = (
            per_labeler(run, "end_idle_seconds", ".1f"),
            per_labeler(run, "start_delay_seconds", ".2f"),
        )
        back = run["read_back"]
        lines.append(
            f"{head} {run['makespan_seconds']:.2f} | {run['ideal_seconds']:.2f} | {run['ratio_to_ideal']:.3f} | "
            f"{run['speed_loss']:.3f} | {run['imbalance']:.3f} | {run['detection_delay_seconds']:.2f} | {delay} | "
            f"{idle} | {per_labeler(run, 'images_per_labeler', 'd')} | {run['exact'] and run['report_adds_up']} | "
            f"{back['labeled_twice']} | {back['moved_images']} | {crew_requests(run)} | {load} |"
        )
    if "earlier" in recorded:
        lines += [
            "",
            "The json keeps the first version's figures under `earlier` (the round's gate phase timed, take 4).",
        ]
    lines += ["", "Median × ideal per assignment, per setting (s/img at 1x, take, commit):", ""]
    groups: dict[tuple[Any, ...], list[float]] = {}
    for run in history:
        if "error" not in run:
            key = (run.get("base_seconds"), run.get("take_count"), run.get("commit"), run["assignment"])
            groups.setdefault(key, []).append(run["ratio_to_ideal"])
    for (base, take, sha, assignment), ratios in groups.items():
        lines.append(
            f"- {base} s/img, take {take}, {sha}, {assignment}: median {statistics.median(ratios):.3f} "
            f"over {len(ratios)} run(s) (max {max(ratios):.3f})"
        )
    return "\n".join(lines) + "\n"


def load_recorded(out: Path) -> dict[str, Any]:
    """What `out` holds so far: `history` (runs of this benchmark) and `earlier` (figures of its first version,
    which timed the round's gate phase: kept as they were)."""
    if not out.exists():
        return {"history": []}
    recorded = json.loads(out.read_text(encoding="utf-8"))
    if "history" in recorded:
        return dict(recorded)
    return {"history": [], "earlier": recorded}


def main() -> None:
    """Run each assignment `--repeat` times (static, queue, adaptive by default), append and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--assignments", nargs="+", choices=ASSIGNMENTS, default=list(ASSIGNMENTS))
    parser.add_argument("--base-seconds", type=float, default=BASE_SECONDS, help="seconds per image at 1x")
    parser.add_argument(
        "--take-count", type=int, default=TAKE_COUNT, help="images a queue labeler takes at once"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each assignment")
    args = parser.parse_args()
    recorded = load_recorded(args.out)
    for _ in range(args.repeat):
        for assignment in args.assignments:
            recorded["history"].append(measured(assignment, args.base_seconds, args.take_count))
            write_figures(args.out, recorded, markdown(recorded))  # kept even if a later run dies


if __name__ == "__main__":
    main()
