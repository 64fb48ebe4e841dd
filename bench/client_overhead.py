"""Benchmark of the client's own cost: latency against raw httpx, throughput by concurrency, client start-up.

Run: `python -m bench.client_overhead --out bench/results/client_overhead.json` (also writes a `.md` beside it).
The sandbox runs in a subprocess so that the server does not share the benchmark's interpreter. The client's CPU
per request (this process's CPU time, not wall) is compared on the same calls: the client, and raw httpx.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.output import write_figures
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.transport import API_KEY_HEADER, API_PATH
from labelrounds.sandbox.server import SandboxServer

SEQUENTIAL_CALLS = 300
CONCURRENT_CALLS = 400
CONCURRENCY_LEVELS = (1, 4, 8, 16)
CLIENT_STARTS = 50
ROUND_IN_FLIGHT = 8  # the client's default max_concurrency: how many requests a round keeps in flight


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


async def _timed_sequence(call: Callable[[], Awaitable[Any]], count: int) -> dict[str, float]:
    await call()  # warm-up: opens the connection
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return _percentiles(samples)


async def measure(server: SandboxServer) -> dict[str, Any]:
    """All figures, against a running sandbox."""
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    headers = {API_KEY_HEADER: server.admin_token.get_secret_value()}
    figures: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=server.url + API_PATH, headers=headers) as raw:

        async def raw_version() -> Any:
            return (await raw.post("instance.version", json={})).json()

        figures["raw_httpx_instance_version"] = await _timed_sequence(raw_version, SEQUENTIAL_CALLS)
    async with SuperviselyClient(settings) as api:
        figures["client_instance_version"] = await _timed_sequence(api.instance_version, SEQUENTIAL_CALLS)
        figures["client_get_project_typed"] = await _timed_sequence(
            lambda: api.get_project(13487), SEQUENTIAL_CALLS
        )
        figures["client_list_images_typed"] = await _timed_sequence(
            lambda: api.list_images(server.dataset_id), SEQUENTIAL_CALLS
        )
    throughput = {}
    for level in CONCURRENCY_LEVELS:
        async with SuperviselyClient(settings, max_concurrency=level) as api:
            await api.instance_version()
            started = time.perf_counter()
            await asyncio.gather(*(api.get_project(13487) for _ in range(CONCURRENT_CALLS)))
            elapsed = time.perf_counter() - started
        throughput[str(level)] = round(CONCURRENT_CALLS / elapsed, 1)
    figures["get_project_requests_per_second_by_max_concurrency"] = throughput
    started = time.perf_counter()
    for _ in range(CLIENT_STARTS):
        async with SuperviselyClient(settings):
            pass
    figures["client_open_close_ms"] = round((time.perf_counter() - started) * 1000 / CLIENT_STARTS, 3)
    figures["client_cpu_ms_per_request"] = await cpu_per_request(server, settings)
    figures["load_average_1m"] = round(os.getloadavg()[0], 2)
    return figures


async def _cpu_ms_per_call(call: Callable[[], Awaitable[Any]], count: int) -> float:
    """This process's CPU milliseconds per call, over `count` sequential calls after a warm-up."""
    await call()
    started = time.process_time()
    for _ in range(count):
        await call()
    return round((time.process_time() - started) * 1000 / count, 3)


async def _cpu_ms_per_call_in_flight(call: Callable[[], Awaitable[Any]], count: int, in_flight: int) -> float:
    """This process's CPU milliseconds per call, `count` calls with `in_flight` at a time, after a warm-up."""
    gate = asyncio.Semaphore(in_flight)

    async def gated() -> None:
        async with gate:
            await call()

    await asyncio.gather(*(gated() for _ in range(in_flight)))  # opens the connections
    started = time.process_time()
    await asyncio.gather(*(gated() for _ in range(count)))
    return round((time.process_time() - started) * 1000 / count, 3)


async def cpu_per_request(server: SandboxServer, settings: ConnectionSettings) -> dict[str, float]:
    """CPU ms per `instance.version` call: the client and raw httpx, one at a time and ROUND_IN_FLIGHT at a time.

    The round sends its users, members, jobs and archives ROUND_IN_FLIGHT at a time (the client's default
    `max_concurrency`), where httpcore's connection pool costs most; the client's pool runs on asyncio streams
    (`labelrounds.client.network`), raw httpx's on anyio.
    """
    found = {}
    headers = {API_KEY_HEADER: server.admin_token.get_secret_value()}
    limits = httpx.Limits(max_connections=ROUND_IN_FLIGHT, max_keepalive_connections=ROUND_IN_FLIGHT)
    async with SuperviselyClient(settings, max_concurrency=ROUND_IN_FLIGHT) as api:
        found["client"] = await _cpu_ms_per_call(api.instance_version, SEQUENTIAL_CALLS)
        found[f"client_{ROUND_IN_FLIGHT}_in_flight"] = await _cpu_ms_per_call_in_flight(
            api.instance_version, CONCURRENT_CALLS, ROUND_IN_FLIGHT
        )
    async with httpx.AsyncClient(base_url=server.url + API_PATH, headers=headers, limits=limits) as raw:

        async def raw_call() -> Any:
            return await raw.post("instance.version", json={})

        found["raw_httpx"] = await _cpu_ms_per_call(raw_call, SEQUENTIAL_CALLS)
        found[f"raw_httpx_{ROUND_IN_FLIGHT}_in_flight"] = await _cpu_ms_per_call_in_flight(
            raw_call, CONCURRENT_CALLS, ROUND_IN_FLIGHT
        )
    return found


def to_markdown(figures: dict[str, Any]) -> str:
    """A short human-readable table of the figures."""
    lines = ["# Client overhead", "", "| measure | p50 ms | p95 ms | mean ms |", "|---|---|---|---|"]
    for name, value in figures.items():
        if isinstance(value, dict) and "p50_ms" in value:
            lines.append(f"| {name} | {value['p50_ms']} | {value['p95_ms']} | {value['mean_ms']} |")
    lines += ["", "| max_concurrency | get_project requests/s |", "|---|---|"]
    for level, rate in figures["get_project_requests_per_second_by_max_concurrency"].items():
        lines.append(f"| {level} | {rate} |")
    lines += ["", f"Client open + close: {figures['client_open_close_ms']} ms", ""]
    lines += ["| path | client CPU ms per request |", "|---|---|"]
    lines += [f"| {path} | {cpu_ms} |" for path, cpu_ms in figures["client_cpu_ms_per_request"].items()]
    lines += ["", f"Load average (1 min) at the end: {figures['load_average_1m']}", ""]
    return "\n".join(lines)


def main() -> None:
    """Measure and write the figures to `--out` (JSON) and the same path with `.md`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/client_overhead.json"))
    out: Path = parser.parse_args().out
    with SandboxServer(seed="lemons", mode="subprocess") as server:
        figures = asyncio.run(measure(server))
    write_figures(out, figures, to_markdown(figures))


if __name__ == "__main__":
    main()
