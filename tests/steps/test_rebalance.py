"""Adaptive rounds (`assignment: adaptive`) through `run_round`, and the sandbox's `jobs.split` they move images with.

Oracles are raw HTTP reads (`tests/oracles.py`): the dataset's images (`images.list`), the round's jobs found by
their customData lineage with their `jobs.info` entities and `parentJobId`, and the team's activity log
(`teams.activity`: who marked which image of which job) — never the figures the code under test computed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx
import pytest
from oracles import RawApi, RawJob, assert_each_image_once, assert_unique_identities

from labelrounds.client import ConnectionSettings, InvalidRequestError, SuperviselyClient
from labelrounds.client.models import JobStatus, ReviewStatus
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import Crew, CrewConfig
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import TEAM_NAME, add_user
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundError, RoundNotReadyError
from labelrounds.steps.lineage import JobLineage, jobs_frame
from labelrounds.steps.sequence import ClientRoundSteps, run_round
from labelrounds.steps.targets import RoundTarget
from tasks.rebalance import check_and_rebalance

from .support import PASSWORD, LoseReplies, admin_client, lemons_spec

SEED = "synthetic:1x40"
IMAGES = 40
SLOW = "labeler_1"
LABELERS = [SLOW, "labeler_2", "labeler_3", "labeler_4"]
# The slow labeler spends 250 ms per image, the others 20 ms: an even split of 10 each leaves the slow one with
# most of the round, unless images move.
LABEL_SECONDS = {login: 0.25 if login == SLOW else 0.02 for login in LABELERS}
MARK_ACTION = "review_status_changed"


@pytest.fixture(scope="module")
def adaptive_server() -> Iterator[SandboxServer]:
    """A synthetic sandbox whose http crew has one slow labeler and three fast ones, and rejects nothing."""
    crew = Crew(CrewConfig(label_seconds_by_login=LABEL_SECONDS, poll_interval=0.02, seed=3))
    with SandboxServer(seed=SEED, crew=crew) as server:
        yield server


def adaptive_spec(**overrides: Any) -> RoundSpec:
    """One labeling pass (to on_review) over the seed's dataset in adaptive mode, the jobs kept."""
    fields: dict[str, Any] = {
        "round_name": "adaptive-1",
        "team": TEAM_NAME,
        "project": SEED.replace("synthetic:", "Synthetic "),
        "labelers": LABELERS,
        "reviewer": "reviewer_1",
        "classes": [{"name": "crate", "shape": "rectangle"}],
        "assignment": "adaptive",
        "target_status": "on_review",
        "max_rework_cycles": 0,
        "end_action": "keep",
        "poll_interval_seconds": 0.05,
        "timeout_seconds": 60,
    }
    fields.update(overrides)
    return parse_round_spec(fields)


class LoseMoveReplies(LoseReplies):
    """`LoseReplies` for moves only: validation's `jobs.split` capability probe (an empty body) is answered."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(f"/{self.method}") and json.loads(request.content) == {}:
            return await self._inner.handle_async_request(request)
        return await super().handle_async_request(request)


def labeler_marks(
    raw: RawApi, team_id: int, logins: Iterable[str], job_ids: Collection[int]
) -> list[tuple[int, int]]:
    """(job, image) of every image mark the labelers made in these jobs, from the raw team activity log."""
    wanted = set(logins)
    return [
        (int(event["jobId"]), int(event["entityId"]))
        for event in raw.list_all("teams.activity", {"teamId": team_id})
        if event["action"] == MARK_ACTION and event["userLogin"] in wanted and event["jobId"] in job_ids
    ]


def assert_labeled_once(
    selected: Mapping[int, set[int]], jobs: Iterable[RawJob], marks: Iterable[tuple[int, int]]
) -> None:
    """Every selected image was marked by a labeler exactly once, in the job that holds it now.

    Args:
        selected: the selection, image ids by dataset id.
        jobs: the round's jobs as read back.
        marks: (job, image) of each labeler mark, from the activity log.
    """
    expected = {image for images in selected.values() for image in images}
    holder = {image: job.id for job in jobs if job.cycle == 0 for image in job.entities}
    marks = [(job_id, image) for job_id, image in marks if image in expected]
    per_image = Counter(image for _, image in marks)
    assert set(per_image) == expected, f"images never labeled: {sorted(expected - set(per_image))}"
    twice = sorted(image for image, count in per_image.items() if count > 1)
    assert not twice, f"images labeled more than once: {twice}"
    elsewhere = sorted((job_id, image) for job_id, image in marks if holder.get(image) != job_id)
    assert not elsewhere, f"(job, image) labeled in a job that does not hold the image: {elsewhere}"


async def test_an_adaptive_round_moves_the_slow_labelers_untouched_images_and_labels_each_image_once(
    adaptive_server: SandboxServer,
) -> None:
    """Also: the first `jobs.split` reply is lost; the listing after the moves finds its job and the gate waits."""
    spec = adaptive_spec()
    transport = LoseMoveReplies("jobs.split")
    async with admin_client(adaptive_server, transport) as api:
        run = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        with RawApi.of(adaptive_server) as raw:
            (dataset_id,) = raw.dataset_ids(run.target.project.id)
            selected = raw.image_ids_by_dataset([dataset_id])
            jobs = raw.round_jobs(adaptive_server.team_id, run.target.round_key)
            marks = labeler_marks(raw, adaptive_server.team_id, LABELERS, {job.id for job in jobs})
            infos = {job.id: raw.call("jobs.info", {"id": job.id}) for job in jobs}

        assert len(selected[dataset_id]) == IMAGES
        (slow_job,) = [
            job for job in jobs if job.lineage["labeler"] == SLOW and "moved_from" not in job.lineage
        ]
        moved = [job for job in jobs if "moved_from" in job.lineage]
        assert moved, "no image moved away from the slow labeler"
        assert transport.lost == 1
        assert all(info["status"] in ("on_review", "completed") for info in infos.values())  # the gate waited
        for job in moved:  # lineage: round, cycle and parent, on our side and the server's
            assert job.lineage["moved_from"] == slow_job.id == infos[job.id]["parentJobId"]
            assert job.lineage["round"] == run.target.round_key and job.cycle == 0
            assert job.lineage["labeler"] != SLOW
        assert len(slow_job.entities) < IMAGES // len(LABELERS)
        assert_unique_identities(jobs)
        assert_each_image_once(selected, jobs)
        assert_labeled_once(selected, jobs, marks)
        held: Counter[str] = Counter()
        for job in jobs:
            held[job.lineage["labeler"]] += len(job.entities)
        reported = dict(zip(run.report.labelers["labeler"], run.report.labelers["images"], strict=True))
        assert reported == dict(held) and sum(reported.values()) == IMAGES
        assert run.report.problems(IMAGES) == []
        assert sorted(run.job_ids_per_cycle[0]) == sorted(job.id for job in jobs)

        splits, adds = api.stats.calls["jobs.split"], api.stats.calls["jobs.add"]
        again = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        # The re-run's one jobs.split is validation's capability probe (an empty body, which moves nothing).
        assert (api.stats.calls["jobs.split"], api.stats.calls["jobs.add"]) == (splits + 1, adds)
        assert sorted(again.job_ids_per_cycle[0]) == sorted(job.id for job in jobs)


async def test_the_flows_adaptive_gate_moves_images_and_waits_for_the_moved_to_job(
    sandbox: SandboxServer, api: SuperviselyClient, target: RoundTarget, prefect_backend: None
) -> None:
    """The flow's gate (`tasks.rebalance`), made deterministic without a crew: the admin plays the labelers. Fast
    marks 4 images done and submits before slow has 3 of 6 done, so fast's pace is higher whatever the timing
    and slow gives 2 of its 3 untouched images (never the first). Each attempt is the task's body (`.fn`, no flow
    run: its retries only repeat it); once every job is submitted, the next attempt opens the gate and returns
    the cycle's jobs with the moved-to one, adopted from the server's listing."""
    assert sandbox.store is not None
    slow, fast, reviewer = (
        add_user(sandbox.store, login, role=Role.ANNOTATOR, team_id=target.team.id)
        for login in ("gate_slow", "gate_fast", "gate_reviewer")
    )
    spec = lemons_spec(
        assignment="adaptive",
        labelers=[slow.login, fast.login],
        reviewer=reviewer.login,
        target_status="on_review",
        poll_interval_seconds=0.05,
    )
    dataset = target.datasets[0]
    images = sorted(image.id for image in await api.list_images(dataset.id))
    user_ids = {slow.login: slow.id, fast.login: fast.id, reviewer.login: reviewer.id}
    rows = []
    for person, entity_ids in ((slow, images), (fast, images[:4])):
        lineage = JobLineage(
            round=target.round_key, dataset=dataset.id, labeler=person.login, share=person.login, cycle=0
        )
        (job_id,) = await api.add_jobs(
            person.login,
            dataset.id,
            [person.id],
            classes=["lemon"],
            tags=[],
            entity_ids=entity_ids,
            reviewer_id=reviewer.id,
            custom_data=lineage.custom_data(),
        )
        await api.set_job_status(job_id, JobStatus.IN_PROGRESS)
        rows.append(
            (
                job_id,
                person.login,
                target.round_key,
                person.login,
                0,
                None,
                person.login,
                person.id,
                dataset.id,
                dataset.name,
                len(entity_ids),
                "created",
            )
        )
    slow_job, fast_job = rows[0][0], rows[1][0]
    for image_id in images[:4]:
        await api.set_entity_review_status(fast_job, image_id, ReviewStatus.DONE)
    await api.set_job_status(fast_job, JobStatus.ON_REVIEW)
    for image_id in images[:3]:
        await api.set_entity_review_status(slow_job, image_id, ReviewStatus.DONE)
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    jobs = jobs_frame(rows)

    with pytest.raises(RoundNotReadyError):
        await check_and_rebalance.fn(settings, target, spec, jobs, user_ids, 0, spec.round_name)
    with RawApi.of(sandbox) as raw:
        round_jobs = {job.id: job for job in raw.round_jobs(target.team.id, target.round_key)}
    (moved,) = [job for job in round_jobs.values() if job.lineage.get("moved_from") == slow_job]
    assert moved.lineage["labeler"] == fast.login and sorted(moved.entities) == images[4:6]
    assert sorted(round_jobs[slow_job].entities) == images[:4]

    for job_id, image_ids in ((slow_job, [images[3]]), (moved.id, images[4:6])):
        if job_id == moved.id:
            await api.set_job_status(job_id, JobStatus.IN_PROGRESS)
        for image_id in image_ids:
            await api.set_entity_review_status(job_id, image_id, ReviewStatus.DONE)
        await api.set_job_status(job_id, JobStatus.ON_REVIEW)

    cycle = await check_and_rebalance.fn(settings, target, spec, jobs, user_ids, 0, spec.round_name)
    assert sorted(int(job_id) for job_id in cycle["job_id"]) == sorted(round_jobs)


def test_the_oracles_fail_on_an_image_moved_but_left_in_the_slow_job_or_labeled_twice() -> None:
    """Mutants: a moved image still in the donor job, and an image labeled in two jobs."""
    base = {"round": "r@1", "dataset": 1, "share": "s", "cycle": 0}
    donor = RawJob(
        id=1, dataset_id=1, disabled=False, lineage={**base, "labeler": "a"}, entities={10: "done"}
    )
    taker = RawJob(
        id=2,
        dataset_id=1,
        disabled=False,
        lineage={**base, "labeler": "b", "moved_from": 1},
        entities={11: "done"},
    )
    selected = {1: {10, 11}}
    assert_each_image_once(selected, [donor, taker])
    assert_labeled_once(selected, [donor, taker], [(1, 10), (2, 11)])
    left_behind = replace(donor, entities={10: "done", 11: "none"})
    with pytest.raises(AssertionError, match="several first-cycle jobs"):
        assert_each_image_once(selected, [left_behind, taker])
    with pytest.raises(AssertionError, match="labeled more than once"):
        assert_labeled_once(selected, [donor, taker], [(1, 10), (1, 11), (2, 11)])
    with pytest.raises(AssertionError, match="does not hold the image"):
        assert_labeled_once(selected, [donor, taker], [(1, 10), (1, 11)])


async def test_split_moves_only_untouched_images_in_one_step_and_refuses_before_writing(
    sandbox: SandboxServer, api: SuperviselyClient, target: RoundTarget
) -> None:
    assert sandbox.store is not None
    labeler, taker, reviewer = (
        add_user(sandbox.store, login, role=Role.ANNOTATOR, team_id=target.team.id).id
        for login in ("split_labeler", "split_taker", "split_reviewer")
    )
    dataset_id = target.datasets[0].id
    images = sorted(image.id for image in await api.list_images(dataset_id))[:4]
    (job_id,) = await api.add_jobs(
        "split me", dataset_id, [labeler], classes=["lemon"], tags=[], entity_ids=images, reviewer_id=reviewer
    )
    with pytest.raises(InvalidRequestError, match="empty"):
        await api.split_job(job_id, images, user_id=taker)
    await api.set_job_status(job_id, JobStatus.IN_PROGRESS)
    await api.set_entity_review_status(job_id, images[1], ReviewStatus.DONE)  # touched: it stays
    with pytest.raises(InvalidRequestError, match="not images of labeling job"):
        await api.split_job(job_id, [images[0], 10**9], user_id=taker)
    with pytest.raises(InvalidRequestError, match="already labels"):
        await api.split_job(job_id, images, user_id=labeler)
    unchanged = await api.get_job(job_id)
    assert unchanged is not None and sorted(unchanged.entity_ids()) == images

    split = await api.split_job(job_id, images[1:], user_id=taker, custom_data={"k": 1})
    assert split.entity_ids == [images[2], images[3]] and split.skipped_ids == [images[1]]
    with RawApi.of(sandbox) as raw:
        donor, new = raw.call("jobs.info", {"id": job_id}), raw.call("jobs.info", {"id": split.id})
    assert sorted(entity["id"] for entity in donor["entities"]) == [images[0], images[1]]
    assert donor["imagesCount"] == 2 and donor["finishedImagesCount"] == 1
    assert sorted(entity["id"] for entity in new["entities"]) == [images[2], images[3]]
    assert (new["parentJobId"], new["userId"], new["customData"]) == (job_id, taker, {"k": 1})
    with pytest.raises(InvalidRequestError, match="No images found to move"):
        await api.split_job(job_id, [images[1]], user_id=taker)


def test_adaptive_mode_refuses_what_would_move_with_the_images() -> None:
    with pytest.raises(ValueError, match="gold checks need static jobs: assignment 'adaptive'"):
        adaptive_spec(gold={"source": "ds1", "share": 0.1})
    with pytest.raises(ValueError, match="consensus needs static replica jobs: assignment 'adaptive'"):
        adaptive_spec(consensus={"overlap": 2, "adjudicator": "reviewer_1"})


async def test_steps_without_the_adaptive_gate_refuse_an_adaptive_round_before_writing() -> None:
    class StaticOnly:
        """Round steps that know nothing of rebalancing."""

    with pytest.raises(RoundError, match="assignment 'adaptive'"):
        await run_round(StaticOnly(), adaptive_spec(round_name="adaptive-refused"))  # type: ignore[arg-type]
