"""How long `labelrounds round run` takes to report a dead or silent server (exit 2), as a user would see it.

Run: `python -m bench.cli_failures [--repeats N]`. Each case runs the installed `labelrounds` command in a
subprocess (imports included) against a port that refuses connections and a port that accepts and never
answers; figures go to bench/results/cli_failures.json and .md, with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
RESULTS = REPO_DIR / "bench" / "results"
COMMAND = Path(sys.executable).parent / "labelrounds"


def seconds_to_exit(address: str) -> tuple[float, int]:
    """Wall seconds and exit status of `labelrounds round run` with the example round against `address`."""
    env = {**os.environ, "SERVER_ADDRESS": address, "API_TOKEN": "t" * 128, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(COMMAND), "round", "run", "--config", str(REPO_DIR / "examples" / "round.yaml")],
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    return time.perf_counter() - started, done.returncode


def main() -> None:
    """Measure both cases `--repeats` times and write the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    repeats = parser.parse_args().repeats
    with socket.socket() as refused, socket.socket() as silent:
        refused.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # accepted by the kernel, never answered
        cases = {"refused": refused.getsockname()[1], "silent": silent.getsockname()[1]}
        runs = {name: [seconds_to_exit(f"http://127.0.0.1:{port}") for _ in range(repeats)] for name, port in cases.items()}
    figures = {
        "load_average_1min": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "cases": {
            name: {
                "exit_codes": sorted({code for _, code in results}),
                "seconds": [round(seconds, 2) for seconds, _ in results],
                "median_seconds": round(statistics.median(seconds for seconds, _ in results), 2),
            }
            for name, results in runs.items()
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_failures.json").write_text(json.dumps(figures, indent=2) + "\n")
    lines = ["| server | exit codes | median s | runs (s) |", "|---|---|---|---|"]
    lines += [
        f"| {name} | {case['exit_codes']} | {case['median_seconds']} | {case['seconds']} |"
        for name, case in figures["cases"].items()
    ]
    (RESULTS / "cli_failures.md").write_text(
        f"`labelrounds round run` against a dead server (load average {figures['load_average_1min']:.1f} on "
        f"{figures['cpus']} CPUs, imports included)\n\n" + "\n".join(lines) + "\n"
    )
    print("\n".join(lines))


if __name__ == "__main__":
    main()
