"""Benchmark: what the Prefect flow adds to a round over the plain steps, the two drivers alternated in one run.

`python -m bench.flow_overhead --images 10000 --datasets 4 --labelers 50 --repeat 3 --out FILE` runs
`bench.round_scale`'s point (a fresh subprocess sandbox per round, side `ours` only) with `--driver steps` and
`--driver flow` in turn, `--repeat` times, and writes FILE (JSON) and its markdown page: each round's wall, client
CPU and requests, the flow's task-run times from the Prefect API, its Prefect API requests by endpoint, events and
task runs (counted in the flow's process: machine-independent), the load average before each round, and the
medians, and the excess of each flow round over the steps round just before it (the two ran at about the same load).
The flow's Prefect server start and warm-up are timed apart (`prefect_start_s`, `prefect_warmup_s`).
`--users existing` creates the round's people beforehand, outside the measurement: the round then hashes no password
(bcrypt in the sandbox, the same CPU work for both drivers, whose wall time swings with the machine's load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from bench.output import write_figures
from bench.round_scale import RESULTS, run_point

DRIVERS = ("steps", "flow")
KEPT = ("wall_s", "client_cpu_s", "requests", "server_busy_s", "prefect_start_s", "prefect_warmup_s")
#: The flow's own figures: Prefect API requests and events of the round (`bench.prefect_requests`), task runs.
COUNTS = ("prefect_requests", "prefect_events", "task_runs")
FLOW_ONLY = (
    "task_runs_s", "outside_task_runs_s", *COUNTS, "prefect_requests_by_endpoint", "prefect_events_by_name"
)


def one_round(
    images: int, datasets: int, labelers: int, poll: float, driver: str, users: str = "new"
) -> dict[str, Any]:
    """One round with `driver` on a fresh sandbox: the side's main figures and the load average before it."""
    load_before = round(os.getloadavg()[0], 2)
    figures = run_point(images, datasets, labelers, poll=poll, driver=driver, sides=("ours",), users=users)["ours"]
    kept = {key: figures[key] for key in KEPT if key in figures}
    if driver == "flow":
        kept |= {key: figures[key] for key in FLOW_ONLY if key in figures}
    return {"driver": driver, "load_1min_before": load_before, **kept}


def medians(rounds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per driver, the median of each numeric figure over the rounds."""
    result: dict[str, dict[str, float]] = {}
    for driver in DRIVERS:
        mine = [item for item in rounds if item["driver"] == driver]
        keys = [key for key in KEPT + ("load_1min_before", "outside_task_runs_s") + COUNTS if key in mine[0]]
        result[driver] = {key: round(statistics.median(item[key] for item in mine), 3) for key in keys}
    return result


def pair_excess(rounds: list[dict[str, Any]]) -> list[float]:
    """Each flow round's wall time minus that of the steps round run just before it (the drivers alternate)."""
    return [
        round(flow["wall_s"] - steps["wall_s"], 2)
        for steps, flow in zip(rounds, rounds[1:], strict=False)
        if steps["driver"] == "steps" and flow["driver"] == "flow"
    ]


def markdown(command: str, rounds: list[dict[str, Any]], summary: dict[str, dict[str, float]]) -> str:
    """The page: each round, then the medians and the flow's excess over the steps."""
    lines = [
        "# The Prefect flow against the plain steps",
        "",
        f"Command: `{command}`",
        "",
        "| # | driver | wall s | client CPU s | requests | load (1 min) before | outside task runs s |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, item in enumerate(rounds, 1):
        outside = item.get("outside_task_runs_s", "")
        lines.append(
            f"| {index} | {item['driver']} | {item['wall_s']:.2f} | {item['client_cpu_s']:.2f} | {item['requests']} "
            f"| {item['load_1min_before']} | {outside} |"
        )
    flow, steps = summary["flow"], summary["steps"]
    lines += [
        "",
        f"Medians: flow {flow['wall_s']:.2f} s wall / {flow['client_cpu_s']:.2f} s CPU, steps {steps['wall_s']:.2f} s "
        f"/ {steps['client_cpu_s']:.2f} s; the flow's excess {flow['wall_s'] - steps['wall_s']:+.2f} s wall, "
        f"{flow['client_cpu_s'] - steps['client_cpu_s']:+.2f} s CPU. Prefect start (apart): "
        f"{flow.get('prefect_start_s', 0):.1f} s, warm-up flow (apart): {flow.get('prefect_warmup_s', 0):.1f} s.",
        "",
        f"The flow's excess over the steps round just before it, pair by pair: "
        f"{', '.join(f'{excess:+.2f}' for excess in pair_excess(rounds))} s (median "
        f"{statistics.median(pair_excess(rounds)):+.2f} s).",
        "",
        "The flow's task runs (last flow round, Prefect's run time of each): "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in last_flow(rounds).get("task_runs_s", {}).items())
        + ".",
        "",
        f"The flow's round (median): {flow.get('prefect_requests', 0):.0f} Prefect API requests, "
        f"{flow.get('prefect_events', 0):.0f} events, {flow.get('task_runs', 0):.0f} task runs. Requests by endpoint "
        "(last flow round):",
        "",
    ]
    requests = last_flow(rounds).get("prefect_requests_by_endpoint", {})
    lines += [f"- {count} `{endpoint}`" for endpoint, count in requests.items()]
    lines.append("")
    return "\n".join(lines)


def last_flow(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The last flow round."""
    return [item for item in rounds if item["driver"] == "flow"][-1]


def main() -> None:
    """Alternate the drivers, then write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--datasets", type=int, default=4)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--users", choices=("new", "existing"), default="new", help="existing: the people exist before the round"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "flow_overhead.json")
    args = parser.parse_args()
    command = "python -m bench.flow_overhead " + " ".join(sys.argv[1:])
    rounds = []
    for _ in range(args.repeat):
        for driver in DRIVERS:
            rounds.append(one_round(args.images, args.datasets, args.labelers, args.poll, driver, args.users))
            print(rounds[-1], flush=True)
    summary = medians(rounds)
    payload = {
        "command": command,
        "sizes": vars(args) | {"out": str(args.out)},
        "rounds": rounds,
        "medians": summary,
        "flow_excess_per_pair_s": pair_excess(rounds),
    }
    write_figures(args.out, payload, markdown(command, rounds, summary))


if __name__ == "__main__":
    main()
