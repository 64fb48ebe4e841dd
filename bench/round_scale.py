"""Benchmark: a whole round at scale, this project's way (A) against the SDK tutorial's way (B), in one run.

One point: `python -m bench.round_scale --images N --datasets D --labelers L --out FILE` (in `.venv`) starts a
subprocess sandbox (file database in a temporary directory, seed `synthetic:Dx(N/D)`, crew in instant mode so the
jobs finish at once and uncounted), runs side A (`bench.ours_round`, this interpreter) and side B
(`bench/sdk_round.py`, the official SDK's interpreter: $LABELROUNDS_SDK_PYTHON or `.venv-sdk/bin/python`), each in
its own process, and writes FILE (JSON), FILE with `.md` and a `.png` of the phases.
Sweep: `python -m bench.round_scale --sweep [--large]` writes `bench/results/round_scale_sweep.json|md|png`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.ours_round import round_spec
from bench.phases import PHASES, RESULT_MARK
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.sandbox import server as sandbox_server
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.models import MAX_PER_PAGE
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.users import ensure_round_users

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "bench" / "results"
SDK_SCRIPT = REPO_ROOT / "bench" / "sdk_round.py"
INSTANT_CREW = CrewConfig.parse("mode=instant,poll=20ms")
SIDE_DEADLINE_SECONDS = 3 * 3600
SEED_SECONDS_PER_IMAGE = 2e-4  # a generous start budget: seeding runs at ~80,000 images/s on an idle machine
# (images, labelers): images grow at 50 labelers, labelers grow at 10k images, plus the target point.
SWEEP_POINTS = [(1_000, 50), (10_000, 50), (100_000, 50), (10_000, 5), (10_000, 200), (100_000, 100)]
LARGE_POINTS = [(1_000_000, 50)]
SWEEP_DATASETS = 4
SIDES = ("ours", "sdk")
RATIO_KEYS = (
    "requests",
    "setup_requests",
    "teardown_requests",
    "setup_s",
    "teardown_s",
    "wall_s",
    "client_cpu_s",
    "peak_rss_mb",
)


def sdk_python() -> Path:
    """The official SDK's interpreter; a clear error when it is missing (never a silent skip)."""
    configured = os.environ.get("LABELROUNDS_SDK_PYTHON")
    python = Path(configured) if configured else REPO_ROOT / ".venv-sdk" / "bin" / "python"
    if not python.exists():
        raise SystemExit(
            f"The official SDK's interpreter was not found at {python}; create it with `make .venv-sdk/.installed` "
            "or point LABELROUNDS_SDK_PYTHON at a python that has supervisely installed."
        )
    return python


def side_environment(server: SandboxServer, home: Path) -> dict[str, str]:
    """The environment of a side's process: the sandbox's address and admin token, nothing else of Supervisely."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SUPERVISELY_", "SERVER_ADDRESS", "API_TOKEN", "TEAM_ID", "PROJECT_ID"))
    }
    return inherited | {
        "HOME": str(home),
        "NO_PROXY": "127.0.0.1,localhost",
        "SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK": "1",
        "SERVER_ADDRESS": server.url,
        "API_TOKEN": server.admin_token.get_secret_value(),
    }


def run_side(name: str, command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run one side's process and return the figures it printed; its failure stops the benchmark."""
    completed = subprocess.run(  # noqa: S603 - our own interpreters and scripts, no shell
        command,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=SIDE_DEADLINE_SECONDS,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(
            f"side {name} failed (exit {completed.returncode}); stderr tail:\n{completed.stderr[-3000:]}"
        )
    figures: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    return figures


async def create_people(server: SandboxServer, labelers: int) -> None:
    """Create both sides' labelers and reviewers beforehand (outside the measurement), as team members."""
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    async with SuperviselyClient(settings) as api:
        for side in SIDES:
            spec = round_spec(server.project_id or 0, labelers, 1.0, side)
            await ensure_round_users(api, spec, SecretStr(secrets.token_urlsafe(16)))


def run_point(
    images: int,
    datasets: int,
    labelers: int,
    *,
    poll: float,
    driver: str,
    sides: tuple[str, ...] = SIDES,
    users: str = "new",
    rtt_ms: int = 0,
) -> dict[str, Any]:
    """Seed a sandbox, run side A then side B against it, and return both sides' figures with their ratios.

    `users`: `new` (each side creates its labelers and reviewer) or `existing` (they exist beforehand).
    `rtt_ms`: a network round trip added to every API request (the sandbox's latency fault, slept before the
    request is handled, so concurrent requests overlap as they do over a real network); 0 = loopback.
    """
    if images % datasets:
        raise SystemExit(f"--images ({images}) must be a multiple of --datasets ({datasets})")
    python_b = sdk_python() if "sdk" in sides else None
    # Seeding a million images can take longer than the sandbox's default start budget on a busy machine.
    sandbox_server._START_TIMEOUT = max(sandbox_server._START_TIMEOUT, SEED_SECONDS_PER_IMAGE * images)  # noqa: SLF001
    with tempfile.TemporaryDirectory(prefix="round-scale-") as workdir:
        started = time.perf_counter()
        with SandboxServer(
            seed=f"synthetic:{datasets}x{images // datasets}",
            db_path=Path(workdir) / "sandbox.db",
            mode="subprocess",
            crew=INSTANT_CREW,
            faults=FaultPlan.parse(f"*:latency=1@{rtt_ms}ms") if rtt_ms else None,
        ) as server:
            seeded_s = time.perf_counter() - started
            if users == "existing":
                asyncio.run(create_people(server, labelers))
            env = side_environment(server, Path(workdir))
            common = [
                "--project-id",
                str(server.project_id),
                "--labelers",
                str(labelers),
                "--poll",
                str(poll),
            ]
            figures: dict[str, Any] = {}
            if "ours" in sides:
                figures["ours"] = run_side(
                    "ours",
                    [sys.executable, "-m", "bench.ours_round", *common, "--driver", driver],
                    env | {"PYTHONPATH": str(REPO_ROOT)},  # the SDK's side must not see the repo's packages
                )
            if python_b is not None:
                figures["sdk"] = run_side(
                    "sdk", [str(python_b), str(SDK_SCRIPT), *common, "--team-id", str(server.team_id)], env
                )
    both = len(figures) == len(SIDES)
    floor = api_floor(images, datasets, labelers, users)
    return {
        "sizes": {
            "images": images,
            "datasets": datasets,
            "labelers": labelers,
            "poll_s": poll,
            "users": users,
            "rtt_ms": rtt_ms,
        },
        "seed_s": round(seeded_s, 2),
        **figures,
        "floor": floor,
        "over_floor": {side: over_floor(side_figures, floor) for side, side_figures in figures.items()},
        "ratios": ratios(figures["ours"], figures["sdk"]) if both else {},
        "targets": targets(figures["ours"], figures["sdk"], floor, rtt_ms) if both else {},
    }


def api_floor(images: int, datasets: int, labelers: int, users: str) -> dict[str, Any]:
    """The requests no client can avoid for a round of these sizes (the API floor), by method and in total.

    One `users.add` and one `members.add` per new person (the labelers and the reviewer), one `jobs.add` and one
    `jobs.archive` per job, and the `images.list` pages of the largest page the API allows. The fewest jobs: a
    job belongs to one dataset and every labeler gets an even share, so with equal datasets a group of jobs can
    close on a dataset boundary only where a share boundary falls too: `labelers + datasets - gcd(labelers,
    datasets)` (assumes every labeler gets at least one image). The gate's checks are left out: how many a round
    needs depends on how fast people work.
    """
    people = labelers + 1 if users == "new" else 0
    jobs = labelers + datasets - math.gcd(labelers, datasets)
    by_method = {
        "users.add": people,
        "members.add": people,
        "images.list": datasets * math.ceil(images / datasets / MAX_PER_PAGE),
        "jobs.add": jobs,
        "jobs.archive": jobs,
    }
    return {
        "jobs": jobs,
        "requests": sum(by_method.values()),
        "setup_requests": sum(by_method.values()) - jobs,
        "teardown_requests": jobs,
        "requests_by_method": {method: count for method, count in by_method.items() if count},
    }


def over_floor(side: dict[str, Any], floor: dict[str, Any]) -> dict[str, float]:
    """How many times the API floor a side sent: all its requests, and those of setup and teardown only."""
    outside_wait = side.get("setup_requests", 0) + side.get("teardown_requests", 0)
    return {
        "requests": round(side["requests"] / floor["requests"], 3),
        "setup_and_teardown_requests": round(outside_wait / floor["requests"], 3),
    }


def ratios(ours: dict[str, Any], sdk: dict[str, Any]) -> dict[str, float | None]:
    """B/A for each compared figure (how many times more the SDK's way costs)."""
    return {
        key: round(sdk[key] / ours[key], 2) if ours.get(key) else None
        for key in RATIO_KEYS
        if key in ours and key in sdk
    }


def targets(
    ours: dict[str, Any], sdk: dict[str, Any], floor: dict[str, Any], rtt_ms: int = 0
) -> dict[str, bool]:
    """The issues' targets, checked on this point (they are stated for 100k images × 100 labelers).

    With a network round trip (`rtt_ms`), also issue 14's: setup at least 4x faster than the SDK way.
    """
    found = ratios(ours, sdk)
    wait = ours.get("phases", {}).get("wait", {})
    with_latency = {f"setup_4x_faster_at_{rtt_ms}ms_rtt": (found.get("setup_s") or 0) >= 4} if rtt_ms else {}
    return with_latency | {
        "requests_within_1_05x_of_the_api_floor": ours["requests"] <= 1.05 * floor["requests"],
        "client_cpu_5x_lower_than_the_sdk_way": sdk["client_cpu_s"] >= 5 * ours["client_cpu_s"],
        "setup_and_teardown_5x_fewer_requests": min(
            found.get("setup_requests") or 0, found.get("teardown_requests") or 0
        )
        >= 5,
        "setup_and_teardown_3x_less_wall_time": min(found.get("setup_s") or 0, found.get("teardown_s") or 0)
        >= 3,
        "wait_one_list_request_per_check": wait.get("requests_by_method")
        == {"jobs.list": ours.get("wait_checks")},
        "client_share_under_20_percent": ours["client_share"] < 0.2,
    }


def growth(points: list[dict[str, Any]], axis: str, fixed: str, value: int) -> dict[str, Any]:
    """How each side's requests and wall time grow along `axis` with `fixed` = value: log-log slopes (1 = linear)."""
    series = sorted(
        (point for point in points if point["sizes"][fixed] == value), key=lambda point: point["sizes"][axis]
    )
    slopes: dict[str, Any] = {}
    for side in ("ours", "sdk"):
        for figure in ("requests", "wall_s"):
            steps = [
                round(
                    math.log(later[side][figure] / earlier[side][figure])
                    / math.log(later["sizes"][axis] / earlier["sizes"][axis]),
                    2,
                )
                for earlier, later in zip(series, series[1:], strict=False)
                if earlier[side][figure] and later[side][figure]
            ]
            slopes[f"{side}.{figure}"] = steps
    return {"axis": axis, fixed: value, "sizes": [point["sizes"][axis] for point in series], "slopes": slopes}


def table(points: list[dict[str, Any]]) -> str:
    """A markdown table: one row per point and side, the API floor, then the B/A ratios."""
    header = (
        "| images | labelers | side | jobs | requests (setup/wait/teardown) | × floor | setup s | wait s "
        "| teardown s | wall s | client CPU s | client share | peak RSS MB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for point in points:
        sizes = point["sizes"]
        for side in (side for side in SIDES if side in point):
            figures = point[side]
            split = "/".join(str(figures.get(f"{phase}_requests", "-")) for phase in PHASES)
            over = point.get("over_floor", {}).get(side, {}).get("requests", "-")
            rows.append(
                f"| {sizes['images']:,} | {sizes['labelers']} | {side} | {figures.get('jobs', '-')} "
                f"| {figures['requests']:,} ({split}) | {over}x | {figures.get('setup_s', '-')} "
                f"| {figures.get('wait_s', '-')} | {figures.get('teardown_s', '-')} | {figures['wall_s']} "
                f"| {figures.get('client_cpu_s', '-')} | {figures['client_share']:.0%} | {figures['peak_rss_mb']} |"
            )
        if "floor" in point:
            floor = point["floor"]
            rows.append(
                f"| {sizes['images']:,} | {sizes['labelers']} | API floor | {floor['jobs']} "
                f"| {floor['requests']:,} ({floor['setup_requests']}/0/{floor['teardown_requests']}) | 1x "
                "| | | | | | | |"
            )
        found = point["ratios"]
        if not found:
            continue
        rows.append(
            f"| {sizes['images']:,} | {sizes['labelers']} | **B/A** | | {found.get('requests')}x "
            f"(setup {found.get('setup_requests')}x, teardown {found.get('teardown_requests')}x) | "
            f"| {found.get('setup_s')}x | | {found.get('teardown_s')}x | {found.get('wall_s')}x "
            f"| {found.get('client_cpu_s')}x | | {found.get('peak_rss_mb')}x |"
        )
    return "\n".join([header, *rows])


def markdown(title: str, command: str, points: list[dict[str, Any]], extra: str = "") -> str:
    """The results page: how it was made, the table, the targets of each point."""
    checks = "\n".join(
        f"- {point['sizes']['images']:,} images × {point['sizes']['labelers']} labelers: "
        + ", ".join(f"{name} {'met' if met else 'NOT met'}" for name, met in point["targets"].items())
        for point in points
    )
    return (
        f"# {title}\n\nMade by `{command}` on {platform.machine()} ({os.cpu_count()} cores), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Crew: `{INSTANT_CREW.to_spec()}`. "
        f"People: {points[0]['sizes']['users']} (each side's labelers and reviewer). "
        f"Network round trip added per request: {points[0]['sizes'].get('rtt_ms', 0)} ms. "
        "Requests are counted by the sandbox (crew excluded); client share = the side's CPU time / its wall time. "
        "API floor: the requests no client can avoid (one `users.add` and `members.add` per new person, one "
        "`jobs.add` and `jobs.archive` per job of the fewest jobs an even split allows, the `images.list` pages "
        f"of {MAX_PER_PAGE:,} images); × floor = the side's requests / the floor.\n\n"
        f"{table(points)}\n\nTargets:\n{checks}\n{extra}"
    )


def phase_chart(point: dict[str, Any], path: Path) -> None:
    """Bars of wall time and requests per phase, ours against the SDK's."""
    import matplotlib  # noqa: PLC0415 - a dev-only dependency, loaded only to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, (times, counts) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.4
    for offset, side in ((-width / 2, "ours"), (width / 2, "sdk")):
        positions = [index + offset for index in range(len(PHASES))]
        times.bar(positions, [point[side].get(f"{phase}_s", 0) for phase in PHASES], width, label=side)
        counts.bar(
            positions, [point[side].get(f"{phase}_requests", 0) for phase in PHASES], width, label=side
        )
    for axes, label in ((times, "wall time (s)"), (counts, "HTTP requests")):
        axes.set_xticks(range(len(PHASES)), PHASES)
        axes.set_ylabel(label)
        axes.legend()
    sizes = point["sizes"]
    figure.suptitle(f"A round of {sizes['images']:,} images, {sizes['labelers']} labelers")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def sweep_chart(points: list[dict[str, Any]], path: Path) -> None:
    """Log-log lines of requests and wall time against images (at 50 labelers) and labelers (at 10k images)."""
    import matplotlib  # noqa: PLC0415 - a dev-only dependency, loaded only to draw

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, grid = plt.subplots(2, 2, figsize=(11, 8))
    for column, (axis, fixed, value) in enumerate(
        (("images", "labelers", 50), ("labelers", "images", 10_000))
    ):
        series = sorted(
            (point for point in points if point["sizes"][fixed] == value),
            key=lambda point: point["sizes"][axis],
        )
        sizes = [point["sizes"][axis] for point in series]
        for row, (figure_key, label) in enumerate(
            (("requests", "HTTP requests"), ("wall_s", "wall time (s)"))
        ):
            axes = grid[row][column]
            for side in ("ours", "sdk"):
                axes.plot(sizes, [point[side][figure_key] for point in series], marker="o", label=side)
            axes.set_xscale("log")
            axes.set_yscale("log")
            axes.set_xlabel(f"{axis} ({fixed} = {value:,})")
            axes.set_ylabel(label)
            axes.legend()
    figure.suptitle("Cost of a whole round: this project (ours) against the SDK tutorial's way (sdk)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def write(path: Path, payload: dict[str, Any], page: str) -> None:
    """Write the JSON and the markdown beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
    path.with_suffix(".md").write_text(page + "\n")


def main() -> None:
    """Run one point or the sweep and write the result files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=SWEEP_DATASETS)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between two checks, both sides")
    parser.add_argument(
        "--driver", choices=("steps", "flow"), default="steps", help="how side A runs the round"
    )
    parser.add_argument(
        "--users",
        choices=("new", "existing"),
        default="new",
        help="whether the round's people exist beforehand",
    )
    parser.add_argument(
        "--rtt-ms", type=int, default=0, help="network round trip added to every API request (0 = loopback)"
    )
    parser.add_argument("--sides", default="ours,sdk", help="which sides to run (one alone: for profiling)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--sweep", action="store_true", help="run the sweep instead of one point")
    parser.add_argument("--large", action="store_true", help="with --sweep: add 1M images")
    args = parser.parse_args()
    command = "python -m bench.round_scale " + " ".join(sys.argv[1:])
    if not args.sweep:
        out = args.out or RESULTS / "round_scale.json"
        sides = tuple(side for side in SIDES if side in args.sides.split(","))
        point = run_point(
            args.images,
            args.datasets,
            args.labelers,
            poll=args.poll,
            driver=args.driver,
            sides=sides,
            users=args.users,
            rtt_ms=args.rtt_ms,
        )
        if sides != SIDES and args.out is None:
            print(json.dumps(point, indent=2))
            return
        title = "A round at scale: " + ("ours against the SDK tutorial's way" if sides == SIDES else sides[0])
        write(out, point, markdown(title, command, [point]))
        if sides == SIDES:
            phase_chart(point, out.with_suffix(".png"))
        print(out.with_suffix(".md").read_text())
        return
    out = args.out or RESULTS / "round_scale_sweep.json"
    points = []
    for images, labelers in SWEEP_POINTS + (LARGE_POINTS if args.large else []):
        print(f"point: {images:,} images × {labelers} labelers", flush=True)
        points.append(run_point(images, SWEEP_DATASETS, labelers, poll=args.poll, driver=args.driver))
        payload = {
            "points": points,
            "growth": [
                growth(points, "images", "labelers", 50),
                growth(points, "labelers", "images", 10_000),
            ],
        }
        page = markdown(
            "Round cost sweep: ours against the SDK tutorial's way",
            command,
            points,
            "\nGrowth (log-log slope between neighbouring sizes; 1 = linear, 2 = quadratic):\n"
            + "\n".join(
                f"- along {item['axis']}: {json.dumps(item['slopes'])}" for item in payload["growth"]
            ),
        )
        write(out, payload, page)  # after every point, so a long sweep leaves what it measured
    sweep_chart(points, out.with_suffix(".png"))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    main()
