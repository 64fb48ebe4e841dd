"""Chaos rounds: the labeling round flow under 10% transient errors, 2% dropped replies on every write and some
429s on everything, with the crew working. After each, from raw API reads (tests/oracles.py): one job per
(dataset, labeler), every image of the project in exactly one first-cycle job, no duplicated job, user, class or
tag, and the report's totals equal to the review statuses read back. Every run, failed ones too, is recorded in
bench/results/chaos_runs.jsonl, summed up (pass rate) in chaos.json|md.

`make test` runs one seed of the twelve, rotating with the commit (`budget.rotating`: the same seed for the same
commit, all twelve across commits); `make test-long` runs all twelve."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from oracles import assert_report_matches

from flows.labeling_round import labeling_round
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer
from tasks.credentials import PASSWORD_ENV

from .budget import LONG, rotating, scaled
from .figures import RECORD_PREFIX
from .rounds import PASSWORD, check_round, round_spec

SEEDS = list(range(1, 13))
#: How many seeds a run takes (one in `make test`): the seed itself is picked inside the test, so that the
#: collected test ids do not depend on the commit (pytest-xdist workers must collect the same tests even if HEAD
#: moves between their collections).
RUNS = scaled(default=1, long=len(SEEDS))
WORLD = "synthetic:3x20"
PROJECT = "Synthetic 3x20"
# The plan, then more dropped jobs.add/users.add replies: a round makes only a few dozen writes, so 2%
# alone would rarely drop one, and a lost creation reply is the case that could duplicate.
FAULTS = "write:5xx=0.1,write:drop=0.02,*:429=0.02@0s,jobs.add:drop=0.25,users.add:drop=0.25,seed={seed}"
#: Where every run is recorded (see conftest.run_record).
RUN_LOG = "chaos"
RUN_TITLE = f"Chaos rounds: {WORLD}, crew reject=0.3, 3 labelers, faults {FAULTS.format(seed='<seed>')}"
RUN_COMMAND = (
    RECORD_PREFIX
    + ("LABELROUNDS_LONG_TESTS=1 " if LONG else "")
    + ".venv/bin/python -m pytest tests/reliability/test_chaos_rounds.py"
)


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


@pytest.mark.parametrize("run", range(RUNS))
async def test_a_round_under_faults_duplicates_and_loses_nothing(
    run: int,
    prefect_backend: None,
    monkeypatch: pytest.MonkeyPatch,
    retry_counter: RetryCounter,
    run_record: dict[str, Any],
) -> None:
    seed = rotating(SEEDS)[run]
    # The crew looks for work 10 times a second (was 50: each look lists teams and jobs, a CPU cost the round's
    # faults do not need), so the gate waits at most 0.1 s more per cycle.
    crew = CrewConfig(reject_rate=0.3, max_rejections_per_image=1, poll_interval=0.1, seed=seed)
    plan = FaultPlan.parse(FAULTS.format(seed=seed))
    spec = round_spec(
        round_name=f"chaos-{seed}", project=PROJECT, labelers=["labeler_1", "labeler_2", "labeler_3"]
    )
    run_record.update(seed=seed)
    with SandboxServer(seed=WORLD, crew=crew, faults=plan) as server:
        monkeypatch.setenv("SERVER_ADDRESS", server.url)
        monkeypatch.setenv("API_TOKEN", server.admin_token.get_secret_value())
        monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
        try:
            outcome = await labeling_round(spec)
        finally:
            traffic = server.traffic_stats()
            run_record.update(
                requests=traffic.total_requests,
                faults=sum(traffic.fault_totals.values()),
                client_retries=retry_counter.retries,
            )
        server.traffic.plan = FaultPlan.parse("")  # the raw checks read the server as it is, undisturbed
        check = check_round(server, spec)
        run_record.update(check.as_dict())
        totals = outcome.report.totals
        run_record.update(accepted=totals.accepted, still_rejected=totals.still_rejected)
        assert outcome.status == "finished", f"seed {seed}"
        assert totals.problems(check.selected_images) == []
        assert_report_matches(totals, check.selected, check.jobs)
    assert traffic.fault_totals, "no fault was injected: the chaos test tested nothing"
    assert check.duplicates == 0
