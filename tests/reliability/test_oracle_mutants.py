"""Mutants: each independent oracle (tests/oracles.py, `check_round`) passes on an honest round and FAILS when the
data is corrupted (an image dropped from a job, an image in two jobs, a duplicated job, a planning step that
silently drops an image, a review status that differs from the report)."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from oracles import RawApi, assert_report_matches, round_key_of

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps import validate
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.meta import prepare_round_meta
from labelrounds.steps.report import RoundReport
from labelrounds.steps.sequence import ClientRoundSteps, run_round
from labelrounds.steps.users import ensure_round_users
from labelrounds.steps.validate import validate_round

from .rounds import PASSWORD, RoundCheck, admin_client, check_round, round_spec

#: Rejects about half of the six lemons images once, so the round has a rework cycle.
CREW = CrewConfig(reject_rate=0.5, max_rejections_per_image=1, poll_interval=0.1, seed=3)


@pytest.fixture
def lemons() -> Iterator[SandboxServer]:
    """A fresh lemons sandbox whose crew works instantly (for the whole round; the first-cycle checks need no crew
    and use the session's sandbox, reset to lemons: `sandbox`)."""
    with SandboxServer(seed="lemons", crew=CREW) as server:
        yield server


async def create_first_cycle(api: SuperviselyClient, spec: RoundSpec) -> pd.DataFrame:
    """Validate the round, ensure its people and meta, create its first-cycle jobs; return the jobs frame."""
    validated = await validate_round(api, spec, PASSWORD)
    people = await ensure_round_users(api, spec, PASSWORD)
    await prepare_round_meta(api, validated.target.project.id, spec)
    return await create_jobs(api, validated.target, spec, validated.plan, people.user_ids)


async def run_whole_round(api: SuperviselyClient, spec: RoundSpec) -> RoundReport:
    """The whole round (the one composition, `steps.sequence.run_round`), waiting at the gate for the crew."""
    return (await run_round(ClientRoundSteps(api, PASSWORD), spec)).report


def store_write(server: SandboxServer, sql: str, *params: object) -> None:
    """Corrupt the sandbox's data directly (what no API call of the round would do)."""
    assert server.store is not None
    with server.store.transaction(write=True) as db:
        assert db.execute(sql, params).rowcount == 1


async def test_check_round_passes_on_an_honest_round(sandbox: SandboxServer) -> None:
    spec = round_spec(round_name="honest")
    async with admin_client(sandbox) as api:
        await create_first_cycle(api, spec)
    check = check_round(sandbox, spec)
    assert (check.first_cycle_jobs, check.selected_images, check.duplicates) == (2, 6, 0)


async def test_check_round_fails_when_an_image_is_dropped_from_a_job(sandbox: SandboxServer) -> None:
    spec = round_spec(round_name="dropped")
    async with admin_client(sandbox) as api:
        jobs = await create_first_cycle(api, spec)
    job_id = int(jobs["job_id"].iloc[0])
    with RawApi.of(sandbox) as raw:
        image_id = min(raw.entities(job_id))
    store_write(sandbox, "DELETE FROM job_entities WHERE job_id = ? AND image_id = ?", job_id, image_id)
    store_write(sandbox, "UPDATE jobs SET images_count = images_count - 1 WHERE id = ?", job_id)
    with pytest.raises(AssertionError, match="in no first-cycle job"):
        check_round(sandbox, spec)


async def test_check_round_fails_when_an_image_is_in_two_jobs(sandbox: SandboxServer) -> None:
    spec = round_spec(round_name="twice")
    async with admin_client(sandbox) as api:
        jobs = await create_first_cycle(api, spec)
    first, second = (int(job_id) for job_id in jobs["job_id"])
    with RawApi.of(sandbox) as raw:
        image_id = min(raw.entities(first))
    store_write(sandbox, "INSERT INTO job_entities (job_id, image_id) VALUES (?, ?)", second, image_id)
    with pytest.raises(AssertionError, match="several first-cycle jobs"):
        check_round(sandbox, spec)


async def test_check_round_fails_on_a_duplicated_job(sandbox: SandboxServer) -> None:
    spec = round_spec(round_name="duplicated")
    async with admin_client(sandbox) as api:
        jobs = await create_first_cycle(api, spec)
    job_id = int(jobs["job_id"].iloc[0])
    with RawApi.of(sandbox) as raw:
        info = raw.call("jobs.info", {"id": job_id})
        raw.call(
            "jobs.add",
            {
                "name": info["name"] + " (copy)",
                "datasetId": info["datasetId"],
                "userIds": [info["createdBy"]],
                "meta": {"entityIds": [min(raw.entities(job_id))]},
                "customData": info["customData"],
            },
        )
    with pytest.raises(AssertionError, match="duplicated jobs"):
        check_round(sandbox, spec)


async def test_check_round_fails_when_planning_silently_drops_an_image(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The mutant of issue 10: the selection loses one image, in the round and in any check that replans."""
    select = validate.select_round_images

    async def select_all_but_one(*args: object, **kwargs: object) -> pd.DataFrame:
        return (await select(*args, **kwargs)).iloc[:-1]

    monkeypatch.setattr(validate, "select_round_images", select_all_but_one)
    spec = round_spec(round_name="mutant")
    async with admin_client(sandbox) as api:
        jobs = await create_first_cycle(api, spec)
    assert int(jobs["images"].sum()) == 5  # the mutant really dropped one of the six images
    with pytest.raises(AssertionError, match="in no first-cycle job"):
        check_round(sandbox, spec)


async def test_report_matches_read_back_statuses_and_fails_on_a_changed_one(lemons: SandboxServer) -> None:
    spec = round_spec(round_name="statuses", end_action="keep", max_rework_cycles=1)
    async with admin_client(lemons) as api:
        report = await run_whole_round(api, spec)
    check: RoundCheck = check_round(lemons, spec)
    assert report.totals.rework_jobs >= 1, "the crew rejected nothing: no rework to check"
    assert report.problems(check.selected_images) == []
    assert_report_matches(report.totals, check.selected, check.jobs)

    # mutant 1: the report says one more image was accepted than the server holds
    wrong = report.totals.model_copy(update={"accepted": report.totals.accepted + 1})
    with pytest.raises(AssertionError, match="≠ read back"):
        assert_report_matches(wrong, check.selected, check.jobs)

    # mutant 2: an accepted image turns rejected on the server after the report was made
    project_id = lemons.project_id or 0
    with RawApi.of(lemons) as raw:
        jobs = raw.round_jobs(lemons.team_id, round_key_of(spec.round_name, project_id))
    job, image = next(
        (job, image) for job in jobs for image, status in job.entities.items() if status == "accepted"
    )
    store_write(
        lemons,
        "UPDATE job_entities SET review_status = 'rejected' WHERE job_id = ? AND image_id = ?",
        job.id,
        image,
    )
    changed = check_round(lemons, spec)
    with pytest.raises(AssertionError, match="≠ read back"):
        assert_report_matches(report.totals, changed.selected, changed.jobs)


async def test_check_round_fails_on_an_uneven_split(sandbox: SandboxServer) -> None:
    spec = round_spec(round_name="uneven")
    async with admin_client(sandbox) as api:
        jobs = await create_first_cycle(api, spec)
    first, second = (int(job_id) for job_id in jobs["job_id"])
    with RawApi.of(sandbox) as raw:
        image_id = min(raw.entities(first))
    store_write(
        sandbox,
        "UPDATE job_entities SET job_id = ? WHERE job_id = ? AND image_id = ?",
        second,
        first,
        image_id,
    )
    with pytest.raises(AssertionError, match="uneven split"):
        check_round(sandbox, spec)


async def test_check_round_fails_on_a_job_for_someone_outside_the_round(sandbox: SandboxServer) -> None:
    spec = round_spec(round_name="stranger")
    async with admin_client(sandbox) as api:
        jobs = await create_first_cycle(api, spec)
    job_id = int(jobs["job_id"].iloc[0])
    with RawApi.of(sandbox) as raw:
        info = raw.call("jobs.info", {"id": job_id})
        lineage = {**info["customData"]["labelrounds"], "labeler": "stranger", "share": "s-stranger"}
        raw.call(
            "jobs.add",
            {
                "name": "a stranger's job",
                "datasetId": info["datasetId"],
                "userIds": [info["createdBy"]],
                "meta": {"entityIds": [min(raw.entities(job_id))]},
                "customData": {"labelrounds": lineage},
            },
        )
    with pytest.raises(AssertionError, match="outside the round's datasets × labelers"):
        check_round(sandbox, spec)
