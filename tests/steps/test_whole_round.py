"""Every step in a row, as the flow will compose them, against a sandbox whose simulated crew does the work."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.crew import Crew, CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.archive import finish_jobs
from labelrounds.steps.gate import wait_until_ready
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.meta import prepare_round_meta
from labelrounds.steps.report import RoundReport, build_round_report
from labelrounds.steps.rework import create_rework_jobs
from labelrounds.steps.users import ensure_round_users
from labelrounds.steps.validate import validate_round

from .support import PASSWORD, admin_client, lemons_spec


@pytest.fixture(scope="module")
def crewed_sandbox() -> Iterator[SandboxServer]:
    """A lemons sandbox whose crew works instantly and rejects about half of the images once."""
    crew = Crew(CrewConfig(reject_rate=0.5, max_rejections_per_image=1, poll_interval=0.02, seed=3))
    with SandboxServer(seed="lemons", crew=crew) as server:
        yield server


async def run_round(api: SuperviselyClient, spec: RoundSpec) -> tuple[RoundReport, list[pd.DataFrame]]:
    """The round's steps in order, waiting with `wait_until_ready` (the CLI's way, without Prefect)."""
    validated = await validate_round(api, spec, PASSWORD)
    target = validated.target
    people = await ensure_round_users(api, spec, PASSWORD)
    await prepare_round_meta(api, target.project.id, spec)
    cycle = await create_jobs(api, target, spec, validated.plan, people.user_ids)
    cycles = [cycle]
    while not cycle.empty:
        await wait_until_ready(
            api, target.team.id, cycle["job_id"].tolist(), spec.target_status, poll_interval=0.05, timeout=60
        )
        cycle = await create_rework_jobs(api, target, spec, cycle, people.user_ids)
        cycles.append(cycle)
    every_job = pd.concat(cycles)["job_id"].tolist()
    await finish_jobs(api, target.team.id, every_job, spec.end_action, spec.target_status)
    return await build_round_report(api, target.team.id, target.project.id, target.round_key), cycles


async def test_a_round_runs_to_the_end_with_one_rework_cycle(crewed_sandbox: SandboxServer) -> None:
    spec = lemons_spec(max_rework_cycles=2)
    async with admin_client(crewed_sandbox) as api:
        report, cycles = await run_round(api, spec)
        visible = await api.list_jobs(crewed_sandbox.team_id)

        assert report.totals.balanced and report.totals.selected_images == 6
        assert report.totals.rework_jobs >= 1 and report.totals.unreviewed == 0
        assert report.totals.accepted == 6  # each image is rejected at most once, so the rework is accepted
        assert set(report.jobs["status"]) == {"completed"} and report.jobs["archived"].all()
        assert visible == []  # every job archived
        assert sorted(report.labelers["labeler"]) == ["labeler_1", "labeler_2"]
        assert [int(frame["cycle"].max()) for frame in cycles if not frame.empty] == list(
            range(len(cycles) - 1)
        )

        # the same round again: everything is found and reused, nothing is created
        adds = (
            api.stats.calls["jobs.add"]
            + api.stats.calls["users.add"]
            + api.stats.calls["projects.meta.update"]
        )
        again, _ = await run_round(api, spec)
        assert (
            api.stats.calls["jobs.add"]
            + api.stats.calls["users.add"]
            + api.stats.calls["projects.meta.update"]
            == adds
        )
        pd.testing.assert_frame_equal(again.jobs, report.jobs)
