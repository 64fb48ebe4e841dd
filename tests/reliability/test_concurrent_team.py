"""A whole round in a busy team: the round's project holds 1,100 jobs of 50 other annotators (three pages of
`jobs.list`) and another client creates and removes their jobs all the time while the round validates, creates
jobs, waits at the gate, reworks, archives and reports (the library composition `run_round`, the sandbox crew doing
the labeling and review).

The round must finish, with nothing duplicated or lost, and touch nothing but its own jobs. Every check reads the
server back with raw calls (`rounds.check_round`, `oracles.assert_report_matches`) or uses the other client's own
log of what it created and removed; none is computed by the code under test. The listing's oracle and its mutants
are in `test_concurrent_listing.py`; the round oracles' mutants are in `test_oracle_mutants.py` and
`tests/steps/test_whole_round.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from oracles import assert_report_matches

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.sequence import ClientRoundSteps, run_round

from .busy_team import Churn, add_bystander_jobs, add_bystanders, project_job_ids
from .rounds import PASSWORD, check_round, round_spec

BYSTANDER_JOBS = 1_100
LABELERS = ("labeler_1", "labeler_2")
# Instant crew over the round's labelers only: the bystanders' jobs stay as the other client leaves them.
CREW = CrewConfig(
    mode="instant", reject_rate=0.5, max_rejections_per_image=1, poll_interval=0.05, seed=5, logins=LABELERS
)


@pytest.fixture
def busy_team() -> Iterator[SandboxServer]:
    """A crewed lemons sandbox."""
    with SandboxServer(seed="lemons", crew=CREW) as server:
        yield server


async def test_a_round_in_a_busy_team_finishes_with_nothing_duplicated_or_lost(
    busy_team: SandboxServer,
) -> None:
    server = busy_team
    assert server.project_id is not None
    bystanders = add_bystanders(server)
    bystander_jobs = add_bystander_jobs(server, bystanders, BYSTANDER_JOBS)
    before = project_job_ids(server, server.project_id)
    assert before == set(bystander_jobs)  # more than two pages of 500: the round's listings walk several
    spec = round_spec(round_name="busy-team", max_rework_cycles=1)
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)

    stop = asyncio.Event()
    async with Churn(server, bystanders, removable=bystander_jobs) as churn:
        writer = asyncio.create_task(churn.run_until(stop))
        try:
            async with SuperviselyClient(settings) as api:
                started = time.monotonic()
                run = await run_round(ClientRoundSteps(api, PASSWORD), spec)
                ended = time.monotonic()
        finally:
            stop.set()
            await writer
    assert not churn.failures, churn.failures[:3]
    during = [write for write in [*churn.created, *churn.removed] if started < write.answered < ended]
    assert len(during) >= 10, f"only {len(during)} writes of the other client during the round"

    check = check_round(server, spec)  # every image in one first-cycle job, one job per share, no duplicates
    assert check.selected_images == 6 and check.duplicates == 0
    assert_report_matches(run.report.totals, check.selected, list(check.jobs))
    round_jobs = {job.id for job in check.jobs}
    assert round_jobs == {job_id for ids in run.job_ids_per_cycle for job_id in ids}
    assert sorted(run.end.changed) == sorted(round_jobs)  # the round archived its own jobs, and only those
    assert all(job.disabled for job in check.jobs)
    # The other client's jobs are exactly what it left: the first ones minus those it removed plus its new ones.
    others = project_job_ids(server, server.project_id) - round_jobs
    removed = {write.job_id for write in churn.removed}
    assert others == (before - removed) | {write.job_id for write in churn.created}
