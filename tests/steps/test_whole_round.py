"""The round's one composition (`run_round`) over the library's steps, against a sandbox whose crew does the work.

What the round did is checked against the server read back with raw HTTP (`tests/oracles.py`), not against the
figures the code under test computed; a mutant composition that drops an image shows those checks can fail.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from oracles import (
    RawApi,
    RawJob,
    assert_each_image_once,
    assert_even_split,
    assert_one_job_per_share,
    assert_report_matches,
    assert_unique_identities,
)

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.crew import Crew, CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.report import RoundReport
from labelrounds.steps.sequence import ClientRoundSteps, RoundRun, run_round
from labelrounds.steps.validate import ValidatedRound

from .support import PASSWORD, admin_client, lemons_spec

LEMONS_IMAGES = 6  # the lemons seed's one dataset
LABELERS = ["labeler_1", "labeler_2"]


@pytest.fixture(scope="module")
def crewed_server() -> Iterator[SandboxServer]:
    """A lemons sandbox whose crew works instantly and rejects about half of the images once."""
    crew = Crew(CrewConfig(reject_rate=0.5, max_rejections_per_image=1, poll_interval=0.02, seed=3))
    with SandboxServer(seed="lemons", crew=crew) as server:
        yield server


@pytest.fixture
def crewed_sandbox(crewed_server: SandboxServer) -> SandboxServer:
    """The crewed sandbox, reset to the lemons seed."""
    crewed_server.reset("lemons")
    return crewed_server


def fast_round(**overrides: object) -> RoundSpec:
    """The lemons round with a fast gate."""
    return lemons_spec(poll_interval_seconds=0.05, timeout_seconds=60, **overrides)


def read_back(server: SandboxServer, run: RoundRun[RoundReport]) -> tuple[dict[int, set[int]], list[RawJob]]:
    """The project's images by dataset and the round's jobs (archived ones included), through raw HTTP."""
    with RawApi.of(server) as raw:
        selected = raw.image_ids_by_dataset(raw.dataset_ids(run.target.project.id))
        jobs = raw.round_jobs(server.team_id, run.target.round_key)
    return selected, jobs


async def test_a_round_runs_to_the_end_with_rework_and_a_rerun_reuses_everything(
    crewed_sandbox: SandboxServer,
) -> None:
    spec = fast_round(max_rework_cycles=2)
    async with admin_client(crewed_sandbox) as api:
        run = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        visible = await api.list_jobs(crewed_sandbox.team_id)
        selected, jobs = read_back(crewed_sandbox, run)

        assert sum(len(images) for images in selected.values()) == LEMONS_IMAGES
        assert_each_image_once(selected, jobs)
        assert_one_job_per_share(jobs, selected, LABELERS)
        assert_even_split(jobs, LABELERS)
        assert sum(job.cycle == 0 for job in jobs) == len(LABELERS)  # one dataset: one first-cycle job each
        assert_unique_identities(jobs)
        assert_report_matches(run.report.totals, selected, jobs)
        assert sorted(job.id for job in jobs) == sorted(i for ids in run.job_ids_per_cycle for i in ids)
        assert len(run.cycles) >= 2  # about half the images rejected once: one rework cycle, accepted after it
        assert [sorted(set(frame["cycle"])) for frame in run.cycles] == [[c] for c in range(len(run.cycles))]
        assert run.report.totals.accepted == LEMONS_IMAGES and run.report.totals.unreviewed == 0
        assert visible == [] and all(job.disabled for job in jobs)  # every job archived
        assert sorted(run.end.changed) == sorted(job.id for job in jobs)

        # the same round again: everything is found and reused, nothing is created
        writes = _writes(api)
        again = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        assert _writes(api) == writes
        assert again.job_ids_per_cycle == run.job_ids_per_cycle
        assert again.report.totals == run.report.totals


async def test_without_rework_cycles_the_rejected_images_stay_rejected(crewed_sandbox: SandboxServer) -> None:
    async with admin_client(crewed_sandbox) as api:
        run = await run_round(ClientRoundSteps(api, PASSWORD), fast_round(max_rework_cycles=0))
        selected, jobs = read_back(crewed_sandbox, run)

    assert len(run.cycles) == 1 and all(job.cycle == 0 for job in jobs)
    assert_each_image_once(selected, jobs)
    assert_report_matches(run.report.totals, selected, jobs)
    rejected = sum(status == "rejected" for job in jobs for status in job.entities.values())
    assert rejected > 0 and run.report.totals.still_rejected == rejected


def _writes(api: SuperviselyClient) -> int:
    """The client's creating requests so far."""
    return sum(api.stats.calls[method] for method in ("jobs.add", "users.add", "projects.meta.update"))


class DroppingOneImage(ClientRoundSteps):
    """A mutant composition whose job creation silently leaves out the plan's last image."""

    async def create_jobs(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """Create the jobs of the plan without its last row."""
        return await create_jobs(self.api, validated.target, spec, validated.plan.iloc[:-1], user_ids)


async def test_the_oracles_catch_a_round_that_drops_an_image(crewed_sandbox: SandboxServer) -> None:
    async with admin_client(crewed_sandbox) as api:
        run = await run_round(DroppingOneImage(api, PASSWORD), fast_round())
    selected, jobs = read_back(crewed_sandbox, run)

    with pytest.raises(AssertionError, match="selected images in no first-cycle job"):
        assert_each_image_once(selected, jobs)
    with pytest.raises(AssertionError, match="'selected_images': 5"):
        assert_report_matches(run.report.totals, selected, jobs)
