"""Per-phase figures of one side of the round benchmark, read from the sandbox's own counters (stdlib only).

Both sides use it: ours (`bench.ours_round`, in `.venv`) and the SDK's (`bench/sdk_round.py`, in `.venv-sdk`,
which has no `labelrounds`), so the two are measured the same way. A phase's requests and server handling time
are the differences of `GET /_sandbox/stats` before and after it (the crew's requests are not counted there);
the client's own time is this process's CPU time; peak memory is this process's maximum resident set.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

PHASES = ("setup", "wait", "teardown")
RESULT_MARK = "@@round-bench@@ "  # the line a side prints its figures on, for the parent to find
_LOOPBACK_PREFIXES = ("http://127.0.0.1:", "http://localhost:")


@dataclass(frozen=True)
class Reading:
    """The sandbox's counters and this process's clocks at one moment."""

    wall: float
    cpu: float
    requests: dict[str, int]
    busy: float


@dataclass
class PhaseMeter:
    """Measures named phases of a round against a sandbox at `server_url`, read with the admin's `token`."""

    server_url: str
    token: str = field(repr=False)
    phases: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.server_url.startswith(_LOOPBACK_PREFIXES):
            raise ValueError(f"the benchmark only talks to a loopback sandbox, not {self.server_url!r}")

    def read(self) -> Reading:
        """Take a reading: `GET /_sandbox/stats` (not an API request, so it counts in no phase) and the clocks."""
        request = urllib.request.Request(  # noqa: S310 - a loopback http URL, checked in __post_init__
            f"{self.server_url}/_sandbox/stats", headers={"x-api-key": self.token}
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - same loopback URL
            stats = json.load(response)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return Reading(
            wall=time.perf_counter(),
            cpu=usage.ru_utime + usage.ru_stime,
            requests=stats["requests"],
            busy=stats["busySeconds"],
        )

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Measure the block as phase `name`: wall time, API requests per method, server busy time, CPU time.

        A phase measured again (e.g. the gate of each rework cycle) adds to its figures.
        """
        before = self.read()
        yield
        after = self.read()
        earlier = self.phases.get(name, {})
        by_method = Counter(after.requests)
        by_method.subtract(before.requests)
        by_method.update(earlier.get("requests_by_method", {}))
        self.phases[name] = {
            "wall_s": round(after.wall - before.wall + earlier.get("wall_s", 0.0), 4),
            "requests": sum(by_method.values()),
            "requests_by_method": {method: count for method, count in sorted(by_method.items()) if count},
            "server_busy_s": round(after.busy - before.busy + earlier.get("server_busy_s", 0.0), 4),
            "client_cpu_s": round(after.cpu - before.cpu + earlier.get("client_cpu_s", 0.0), 4),
        }

    def result(self, **extra: Any) -> dict[str, Any]:
        """The side's figures: per phase, totals over the phases, and the process's peak memory."""
        totals: Counter[str] = Counter()
        for figures in self.phases.values():
            totals.update(figures["requests_by_method"])
        wall = sum(figures["wall_s"] for figures in self.phases.values())
        busy = sum(figures["server_busy_s"] for figures in self.phases.values())
        cpu = sum(figures["client_cpu_s"] for figures in self.phases.values())
        return {
            "requests": sum(totals.values()),
            "requests_by_method": dict(sorted(totals.items())),
            **{f"{name}_s": self.phases[name]["wall_s"] for name in PHASES if name in self.phases},
            **{f"{name}_requests": self.phases[name]["requests"] for name in PHASES if name in self.phases},
            "wall_s": round(wall, 4),
            "server_busy_s": round(busy, 4),
            "client_cpu_s": round(cpu, 4),
            # the client process's own work (CPU time) as a share of the round's wall time
            "client_share": round(cpu / wall, 4) if wall else 0.0,
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "phases": self.phases,
            **extra,
        }


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB (Linux reports kilobytes, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def emit_result(figures: dict[str, Any]) -> None:
    """Print the side's figures on one marked line of stdout, for the parent process."""
    print(RESULT_MARK + json.dumps(figures), flush=True)
