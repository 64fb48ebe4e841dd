"""Chaos rounds: the labeling round flow under 10% transient errors, 2% dropped replies on every write and some
429s on everything, with the crew working. After each: one job per planned share, every selected image in exactly
one first-cycle job, no duplicate user, class or tag, the report balanced. Figures go to bench/results/chaos.*."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from flows.labeling_round import labeling_round
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer
from tasks.credentials import PASSWORD_ENV

from .budget import LONG, scaled
from .figures import RECORD_PREFIX, write_figures
from .rounds import PASSWORD, check_round, round_spec

SEEDS = list(range(1, scaled(default=2, long=12) + 1))
WORLD = "synthetic:3x20"
PROJECT = "Synthetic 3x20"
# The plan, then more dropped jobs.add/users.add replies: a round makes only a few dozen writes, so 2%
# alone would rarely drop one, and a lost creation reply is the case that could duplicate.
FAULTS = "write:5xx=0.1,write:drop=0.02,*:429=0.02@0s,jobs.add:drop=0.25,users.add:drop=0.25,seed={seed}"


class RetryCounter(logging.Handler):
    """Counts the client's retry warnings (logger `labelrounds.client`)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "; retry " in record.getMessage():
            self.retries += 1


@pytest.fixture
def retry_counter() -> Iterator[RetryCounter]:
    """Attach a retry counter to the client's logger for one test."""
    counter = RetryCounter()
    client_logger = logging.getLogger("labelrounds.client")
    client_logger.addHandler(counter)
    yield counter
    client_logger.removeHandler(counter)


@pytest.fixture(scope="module")
def chaos_figures() -> Iterator[dict[int, dict[str, Any]]]:
    """Collects each seed's figures; once every seed ran, writes bench/results/chaos.json|md."""
    results: dict[int, dict[str, Any]] = {}
    yield results
    if sorted(results) == SEEDS:  # a partial run (-k, a failure) keeps the last complete figures
        write_chaos_figures([results[seed] for seed in SEEDS])


def write_chaos_figures(rows: list[dict[str, Any]]) -> None:
    """The figures of every seed, with totals."""
    kinds = sorted({key for row in rows for key in row if key.startswith("faults_")})
    rows = [{**dict.fromkeys(kinds, 0), **row} for row in rows]
    summary = {
        "world": WORLD + ", crew reject=0.3, 3 labelers",
        "fault plan": FAULTS.format(seed="N"),
        "rounds": len(rows),
        "requests": sum(row["requests"] for row in rows),
        "faults injected": sum(row[kind] for row in rows for kind in kinds),
        "client retries": sum(row["client_retries"] for row in rows),
        "duplicates found": sum(row["duplicates"] for row in rows),
    }
    command = RECORD_PREFIX + (
        "LABELROUNDS_LONG_TESTS=1 " if LONG else ""
    ) + ".venv/bin/python -m pytest tests/reliability/test_chaos_rounds.py"
    write_figures("chaos", "Chaos rounds (issue 5 §2)", command, rows, summary)


@pytest.mark.parametrize("seed", SEEDS)
async def test_a_round_under_faults_duplicates_and_loses_nothing(
    seed: int,
    prefect_backend: None,
    monkeypatch: pytest.MonkeyPatch,
    retry_counter: RetryCounter,
    chaos_figures: dict[int, dict[str, Any]],
) -> None:
    crew = CrewConfig(reject_rate=0.3, max_rejections_per_image=1, poll_interval=0.02, seed=seed)
    plan = FaultPlan.parse(FAULTS.format(seed=seed))
    spec = round_spec(
        round_name=f"chaos-{seed}", project=PROJECT, labelers=["labeler_1", "labeler_2", "labeler_3"]
    )
    with SandboxServer(seed=WORLD, crew=crew, faults=plan) as server:
        monkeypatch.setenv("SERVER_ADDRESS", server.url)
        monkeypatch.setenv("API_TOKEN", server.admin_token.get_secret_value())
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
        outcome = await labeling_round(spec)
        traffic = server.traffic_stats()
        check = await check_round(server, spec)

    totals = outcome.report.totals
    assert outcome.status == "finished" and totals.balanced
    assert totals.selected_images == check.selected_images
    assert traffic.fault_totals, "no fault was injected: the chaos test tested nothing"
    assert check.duplicates == 0
    chaos_figures[seed] = {
        "seed": seed,
        "requests": traffic.total_requests,
        **{f"faults_{kind}": count for kind, count in sorted(traffic.fault_totals.items())},
        "client_retries": retry_counter.retries,
        **check.as_dict(),
        "accepted": totals.accepted,
    }
