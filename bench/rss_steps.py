"""Where in a round the memory peak falls: resident memory sampled while each library step runs (diagnostics).

`bench.ours_round` uses it when LABELROUNDS_BENCH_RSS_STEPS=FILE is set (it passes through `bench.round_scale`,
e.g. `LABELROUNDS_BENCH_RSS_STEPS=/tmp/rss.json python -m bench.round_scale --images 1000000 --datasets 10
--labelers 50 --sides ours`). A thread reads VmRSS every 2 ms and keeps the highest value under the innermost
step running (the names in STEPS, wrapped where their callers look them up); FILE gets those maxima, each step's
RSS on entry and exit in order, and the process's `ru_maxrss`. Sampling costs a little CPU: not for CPU figures.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: (module, function) pairs wrapped: each name where the round's composition looks it up.
STEPS: tuple[tuple[str, str], ...] = (
    ("labelrounds.steps.sequence", "validate_round"),
    ("labelrounds.steps.validate", "select_round_images"),
    ("labelrounds.steps.split", "list_images"),
    ("labelrounds.steps.split", "select_images"),
    ("labelrounds.steps.validate", "plan_round"),
    ("labelrounds.steps.validate", "plan_lineages"),
    ("labelrounds.steps.validate", "idle_labeler_warnings"),
    ("labelrounds.steps.sequence", "ensure_round_users"),
    ("labelrounds.steps.sequence", "create_jobs"),
    ("labelrounds.steps.jobs", "planned_jobs"),
    ("labelrounds.steps.jobs", "create_round_jobs"),
    ("labelrounds.steps.sequence", "wait_until_ready"),
    ("labelrounds.steps.sequence", "create_rework_jobs"),
    ("labelrounds.steps.sequence", "finish_jobs"),
    ("labelrounds.steps.sequence", "build_round_report"),
)
_SAMPLE_SECONDS = 0.002


def resident_mb() -> float:
    """This process's resident set now (VmRSS), in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class StepSampler:
    """Samples RSS in a thread and attributes each sample to the innermost wrapped step running."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.running: list[str] = ["outside steps"]
        self.highest: dict[str, float] = {}
        self.events: list[tuple[float, str, float]] = []

    def start(self, steps: tuple[tuple[str, str], ...] = STEPS) -> None:
        """Wrap the steps and start the sampling thread (a daemon: it ends with the process)."""
        for module_name, name in steps:
            module = importlib.import_module(module_name)
            step = f"{module_name.rsplit('.', 1)[-1]}.{name}"
            setattr(module, name, self._wrapped(getattr(module, name), step))
        threading.Thread(target=self._sample, name="rss-steps", daemon=True).start()

    def write(self, path: str | Path) -> None:
        """Write the maxima by step, the entry/exit events and `ru_maxrss` (MB) as JSON."""
        figures = {
            "highest_rss_mb_by_step": {step: round(value, 1) for step, value in self.highest.items()},
            "events": [
                {"s": round(at, 3), "step": step, "rss_mb": round(rss, 1)} for at, step, rss in self.events
            ],
            "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        Path(path).write_text(json.dumps(figures, indent=1), encoding="utf-8")

    def _sample(self) -> None:
        while True:
            value, step = resident_mb(), self.running[-1]
            if value > self.highest.get(step, 0.0):
                self.highest[step] = value
            time.sleep(_SAMPLE_SECONDS)

    def _note(self, mark: str) -> None:
        self.events.append((time.perf_counter() - self.started, mark, resident_mb()))

    def _wrapped(self, function: Callable[..., Any], step: str) -> Callable[..., Any]:
        """`function` noting its step on entry and exit (a coroutine function stays one)."""
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def step_coroutine(*args: Any, **kwargs: Any) -> Any:
                self._enter(step)
                try:
                    return await function(*args, **kwargs)
                finally:
                    self._leave(step)

            return step_coroutine

        @functools.wraps(function)
        def step_function(*args: Any, **kwargs: Any) -> Any:
            self._enter(step)
            try:
                return function(*args, **kwargs)
            finally:
                self._leave(step)

        return step_function

    def _enter(self, step: str) -> None:
        self.running.append(step)
        self._note(f"+{step}")

    def _leave(self, step: str) -> None:
        self._note(f"-{step}")
        self.running.remove(step)  # concurrent steps may end out of order
