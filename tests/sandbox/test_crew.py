"""The simulated crew: its config and spec parser, and the crew working real jobs on a real sandbox over HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import JobStatus, LabelingJobInfo, ReviewStatus
from labelrounds.sandbox.crew import Crew, CrewAction, CrewConfig, Pace
from labelrounds.sandbox.faults import FaultInjector, FaultPlan
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.spec_parsing import SpecError


class TestCrewSpec:
    def test_empty_spec_gives_the_defaults(self) -> None:
        assert CrewConfig.parse("") == CrewConfig()
        assert CrewConfig().max_rejections_per_image == 1

    def test_every_option(self) -> None:
        config = CrewConfig.parse(
            "label=250ms, review=2s, reject=0.3, max-rejections=2, poll=0.05, seed=7, logins=labeler_1+reviewer"
        )
        assert config == CrewConfig(
            label_seconds_per_image=0.25,
            review_seconds_per_image=2.0,
            reject_rate=0.3,
            max_rejections_per_image=2,
            poll_interval=0.05,
            seed=7,
            logins=("labeler_1", "reviewer"),
        )

    def test_a_config_round_trips_through_its_spec(self) -> None:
        config = CrewConfig(label_seconds_per_image=0.25, reject_rate=0.3, seed=7, logins=("a", "b"))
        assert CrewConfig.parse(config.to_spec()) == config
        assert CrewConfig.parse(CrewConfig().to_spec()) == CrewConfig()

    def test_speed_sets_labeling_and_review(self) -> None:
        config = CrewConfig.parse("speed=0.5,reject=1")
        assert (config.label_seconds_per_image, config.review_seconds_per_image, config.reject_rate) == (
            0.5,
            0.5,
            1,
        )

    @pytest.mark.parametrize(
        ("spec", "complaint"),
        [
            ("speed=fast", "crew option 'speed': 'fast' is not a duration"),
            ("reject=1.5", "crew option 'reject': '1.5' is not between 0 and 1"),
            ("reject=-0.1", "crew option 'reject': '-0.1' is not between 0 and 1"),
            ("reject=nan", "crew option 'reject': 'nan' is not between 0 and 1"),
            ("max-rejections=-1", "crew option 'max-rejections': -1 is below the minimum 0"),
            ("seed=x", "crew option 'seed': 'x' is not an integer"),
            ("poll=0", "poll_interval: Input should be greater than 0"),
            ("speedy=1", "unknown crew option 'speedy'; known: speed, label, review"),
            ("seed=1,seed=2", "crew option 'seed' is given twice"),
            ("speed=1,label=2", "give either speed or those"),
            ("reject", "'reject' is not of the form key=value"),
            ("seed=1,,reject=0", "empty item"),
            ("logins=a++b", "empty login in 'a++b'"),
        ],
    )
    def test_bad_specs_are_refused_with_a_clear_message(self, spec: str, complaint: str) -> None:
        with pytest.raises(SpecError) as raised:
            CrewConfig.parse(spec)
        assert complaint in str(raised.value)

    def test_decisions_are_deterministic_and_follow_the_rate(self) -> None:
        config = CrewConfig(reject_rate=0.3, seed=7)
        decisions = [config.rejects(job_id=1, image_id=image) for image in range(2000)]
        assert decisions == [CrewConfig(reject_rate=0.3, seed=7).rejects(1, image) for image in range(2000)]
        assert 0.25 < sum(decisions) / len(decisions) < 0.35
        assert decisions != [CrewConfig(reject_rate=0.3, seed=8).rejects(1, image) for image in range(2000)]
        assert all(CrewConfig(reject_rate=1.0).rejects(1, image) for image in range(500))
        assert not any(CrewConfig(reject_rate=0.0).rejects(1, image) for image in range(500))


class TestPace:
    """A crew member's clock, on a hand-driven clock: the waits are computed by hand, never measured."""

    @staticmethod
    def waits(per_item: float, calls: list[float]) -> list[float]:
        """The waits a pace asks for when each item is followed by calls taking these seconds."""
        now = [100.0]
        pace = Pace(clock=lambda: now[0])
        waits = []
        for call_seconds in calls:
            wait = pace.wait_for_next(per_item)
            waits.append(wait)
            now[0] += wait + call_seconds
        return waits

    def test_the_calls_after_an_image_come_out_of_the_next_images_time(self) -> None:
        # 2 s images, 0.5 s of calls after each: image n is due at 100 + 2n, so 2 s then 1.5 s waits (a fixed
        # 2 s sleep, the crew before, would give 2.5 s per image).
        assert self.waits(2.0, [0.5, 0.5, 0.5]) == pytest.approx([2.0, 1.5, 1.5])

    def test_calls_longer_than_an_image_delay_it_and_the_labeler_never_sprints_to_catch_up(self) -> None:
        # Due 102, 104; the 3 s calls end at 107: the third image is done at once (due max(106, 107)), the
        # fourth 2 s after that, not sooner.
        assert self.waits(2.0, [0.5, 3.0, 0.5, 0.0]) == pytest.approx([2.0, 1.5, 0.0, 1.5])

    def test_an_instant_crew_never_waits(self) -> None:
        assert self.waits(0.0, [0.5, 0.0, 1.0]) == [0.0, 0.0, 0.0]


# --- the crew at work on a real sandbox -------------------------------------------------------------------------

FAST = {"poll_interval": 0.02}
WAIT_LIMIT = 30.0  # a bound so that a broken crew fails the test instead of hanging it; never a speed check


@dataclass
class CrewSandbox:
    """A running lemons sandbox with a crew, its users, and an admin client."""

    server: SandboxServer
    crew: Crew
    traffic: FaultInjector
    api: SuperviselyClient
    user_ids: dict[str, int]
    image_ids: list[int]

    async def add_users(self) -> None:
        """Create labeler_1, labeler_2 (annotators) and reviewer in the seeded team (in the store: no bcrypt)."""
        assert self.server.store is not None
        for login, role in (
            ("labeler_1", Role.ANNOTATOR),
            ("labeler_2", Role.ANNOTATOR),
            ("reviewer", Role.REVIEWER),
        ):
            user = add_user(self.server.store, login, role=role, team_id=self.server.team_id)
            self.user_ids[login] = user.id
        self.image_ids = [image.id for image in await self.api.list_images(self.server.dataset_id)]

    async def add_job(self, labeler: str, images: list[int], *, reviewer: str = "reviewer") -> int:
        reviewer_id = self.server.admin_id if reviewer == "admin" else self.user_ids[reviewer]
        (job_id,) = await self.api.add_jobs(
            f"job of {labeler}",
            self.server.dataset_id,
            [self.user_ids[labeler]],
            classes=["kiwi", "lemon"],
            tags=["size"],
            entity_ids=images,
            reviewer_id=reviewer_id,
        )
        return job_id

    async def wait_for(self, job_ids: list[int], status: JobStatus) -> list[LabelingJobInfo]:
        """Poll (as the admin) until every job has `status`; fail after WAIT_LIMIT seconds."""
        deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
        while True:
            jobs = [await self.job(job_id) for job_id in job_ids]
            if all(job.status == status for job in jobs):
                return jobs
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"jobs never all reached {status}: {[(job.id, job.status) for job in jobs]}")
            await asyncio.sleep(0.02)

    async def wait_for_crew(self, **expected: int) -> dict[str, int]:
        """Wait until the crew has recorded these counts (it records an action just after the server applied
        it, so a job can look finished a moment before the crew has counted it); fail after WAIT_LIMIT."""
        deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
        while True:
            counts = self.crew.stats.snapshot()
            if all(counts[action] == count for action, count in expected.items()):
                return counts
            if asyncio.get_running_loop().time() > deadline:
                pytest.fail(f"the crew never counted {expected}: {counts}")
            await asyncio.sleep(0.02)

    async def job(self, job_id: int) -> LabelingJobInfo:
        info = await self.api.get_job(job_id)
        assert info is not None
        return info


def crew_config(**config: Any) -> pytest.MarkDecorator:
    """Run the test with a crew configured by these `CrewConfig` fields (and a fault plan spec as `faults`)."""
    return pytest.mark.parametrize("crew_sandbox", [config], indirect=True, ids=[""])


@pytest.fixture
async def crew_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[CrewSandbox]:
    """A lemons sandbox with labeler_1, labeler_2 (annotators) and reviewer, and a crew configured by the
    test's `crew_config(...)` (keyword arguments of `CrewConfig`)."""
    config = dict(getattr(request, "param", {}))
    plan = FaultPlan.parse(config.pop("faults", ""))
    with SandboxServer(seed="lemons", crew=CrewConfig(**{**FAST, **config}), faults=plan) as server:
        assert server.crew is not None
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        async with SuperviselyClient(settings) as api:
            sandbox = CrewSandbox(server, server.crew, server.traffic, api, user_ids={}, image_ids=[])
            await sandbox.add_users()
            yield sandbox


def review_statuses(job: LabelingJobInfo) -> set[ReviewStatus]:
    return {entity.review_status for entity in job.entities or ()}


@crew_config(reject_rate=0.0)
async def test_crew_labels_and_accepts_everything_at_reject_rate_0(crew_sandbox: CrewSandbox) -> None:
    first, second = crew_sandbox.image_ids[:3], crew_sandbox.image_ids[3:]
    job_ids = [
        await crew_sandbox.add_job("labeler_1", first),
        await crew_sandbox.add_job("labeler_2", second),
    ]

    jobs = await crew_sandbox.wait_for(job_ids, JobStatus.COMPLETED)

    for job in jobs:
        assert review_statuses(job) == {ReviewStatus.ACCEPTED}
        assert (job.images_count, job.accepted_images_count, job.rejected_images_count) == (3, 3, 0)
        assert job.started_at is not None and job.finished_at is not None
    assert await crew_sandbox.wait_for_crew(job_completed=2) == {
        "job_started": 2,
        "image_labeled": 6,
        "job_submitted": 2,
        "image_accepted": 6,
        "image_rejected": 0,
        "job_completed": 2,
        "job_sent_back": 0,
        "failed_call": 0,
    }
    assert crew_sandbox.crew.members == ["labeler_1", "labeler_2", "reviewer"]


@crew_config(reject_rate=1.0)
async def test_rejected_images_are_rejected_once_so_a_restart_job_converges(
    crew_sandbox: CrewSandbox,
) -> None:
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids)

    (job,) = await crew_sandbox.wait_for([job_id], JobStatus.COMPLETED)
    assert review_statuses(job) == {ReviewStatus.REJECTED}
    assert (job.rejected_images_count, job.accepted_images_count) == (6, 0)

    restart_ids = await crew_sandbox.api.restart_job(
        job_id, user_ids=[crew_sandbox.user_ids["labeler_2"]], reviewer_id=crew_sandbox.user_ids["reviewer"]
    )
    (rework,) = await crew_sandbox.wait_for(restart_ids, JobStatus.COMPLETED)

    assert rework.user_id == crew_sandbox.user_ids["labeler_2"]
    assert sorted(rework.entity_ids()) == sorted(crew_sandbox.image_ids)
    assert review_statuses(rework) == {ReviewStatus.ACCEPTED}
    assert rework.rejected_images_count == 0
    stats = await crew_sandbox.wait_for_crew(job_completed=2)
    assert (stats["image_rejected"], stats["image_accepted"]) == (6, 6)


@crew_config(reject_rate=0.5, seed=11)
async def test_decisions_follow_the_seeded_rate_image_by_image(crew_sandbox: CrewSandbox) -> None:
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids)

    (job,) = await crew_sandbox.wait_for([job_id], JobStatus.COMPLETED)

    config = crew_sandbox.crew.config
    expected = {
        image_id: ReviewStatus.REJECTED if config.rejects(job_id, image_id) else ReviewStatus.ACCEPTED
        for image_id in crew_sandbox.image_ids
    }
    assert {entity.id: entity.review_status for entity in job.entities or ()} == expected
    assert job.rejected_images_count == sum(status == ReviewStatus.REJECTED for status in expected.values())


@crew_config(reject_rate=0.0)
async def test_only_non_admin_users_act_by_default(crew_sandbox: CrewSandbox) -> None:
    """The admin reviews nothing on its own: a job it reviews waits on review."""
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[:2], reviewer="admin")

    (job,) = await crew_sandbox.wait_for([job_id], JobStatus.ON_REVIEW)

    assert review_statuses(job) == {ReviewStatus.DONE}
    assert crew_sandbox.crew.members == ["labeler_1"]
    assert crew_sandbox.server.admin_login not in crew_sandbox.crew.members


@crew_config(logins=("labeler_1",))
async def test_only_the_chosen_logins_act(crew_sandbox: CrewSandbox) -> None:
    acting = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[:3])
    idle = await crew_sandbox.add_job("labeler_2", crew_sandbox.image_ids[3:])

    await crew_sandbox.wait_for([acting], JobStatus.ON_REVIEW)  # the reviewer is not in the crew

    assert (await crew_sandbox.job(idle)).status == JobStatus.PENDING
    assert crew_sandbox.crew.members == ["labeler_1"]


async def test_crew_requests_are_counted_apart_and_never_log_a_token(
    crew_sandbox: CrewSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = crew_sandbox.traffic.snapshot()
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[:2])
    await crew_sandbox.wait_for([job_id], JobStatus.COMPLETED)
    crew_counts = await crew_sandbox.wait_for_crew(job_completed=1)

    after = crew_sandbox.traffic.snapshot()
    # What the test itself sent: one jobs.add, then jobs.info polls; the crew's status changes are not in there.
    own = {method: after.requests[method] - before.requests.get(method, 0) for method in after.requests}
    assert own["jobs.add"] == 1
    assert "jobs.set-status" not in after.requests
    assert "jobs.entities.update-review-status" not in after.requests
    # labeler: pending → in_progress → on_review; reviewer: → completed. Two images labeled, two reviewed.
    assert after.crew_requests["jobs.set-status"] == 3
    assert after.crew_requests["jobs.entities.update-review-status"] == 4
    assert after.crew == crew_counts
    tokens = [crew_sandbox.server.admin_token.get_secret_value()]
    assert crew_sandbox.server.store is not None
    tokens += [
        token.get_secret_value()
        for login in crew_sandbox.user_ids
        if (token := crew_sandbox.server.store.api_token(login))
    ]
    assert any("crew:" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert not any(token in record.getMessage() for token in tokens)
    assert not any(token in repr(crew_sandbox.crew) for token in tokens)


@crew_config(label_seconds_per_image=3600.0)
async def test_stopping_interrupts_a_crew_member_in_the_middle_of_an_image(crew_sandbox: CrewSandbox) -> None:
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[:2])
    (job,) = await crew_sandbox.wait_for([job_id], JobStatus.IN_PROGRESS)
    assert review_statuses(job) == {ReviewStatus.NONE}  # an hour per image: the labeler is still on the first

    # Stopping the server stops the crew (from the app's lifespan); it must not wait out the hour
    # (pytest-timeout would fail the test).
    crew_sandbox.server.stop()

    assert crew_sandbox.crew.members == []


@crew_config(reject_rate=1.0)
async def test_the_crew_carries_on_after_the_sandbox_is_reset(crew_sandbox: CrewSandbox) -> None:
    """A reset wipes the users (their tokens die), the images' history and the counts: new users are enlisted
    and the fresh images can be rejected again."""
    (before,) = await crew_sandbox.wait_for(
        [await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids)], JobStatus.COMPLETED
    )
    crew_sandbox.server.reset("lemons")
    await crew_sandbox.add_users()

    (after,) = await crew_sandbox.wait_for(
        [await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids)], JobStatus.COMPLETED
    )

    assert review_statuses(before) == review_statuses(after) == {ReviewStatus.REJECTED}
    counts = await crew_sandbox.wait_for_crew(job_completed=1)  # the reset started the counts over
    assert counts["image_rejected"] == 6


@crew_config(
    reject_rate=0.5,
    faults="jobs.set-status:drop=0.3,jobs.entities.update-review-status:5xx=0.2,jobs.info:drop=0.2,crew=on,seed=4",
)
async def test_the_crew_finishes_its_work_despite_faults_in_its_own_requests(
    crew_sandbox: CrewSandbox,
) -> None:
    """Every crew step starts from the job's current state, so a lost reply is simply looked at again."""
    job_ids = [
        await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids[:3]),
        await crew_sandbox.add_job("labeler_2", crew_sandbox.image_ids[3:]),
    ]

    jobs = await crew_sandbox.wait_for(job_ids, JobStatus.COMPLETED)

    faults = crew_sandbox.traffic.snapshot().fault_totals
    assert faults.get("drop", 0) > 0 and sum(faults.values()) > faults["drop"]
    assert crew_sandbox.crew.stats[CrewAction.FAILED_CALL] > 0
    config = crew_sandbox.crew.config
    for job in jobs:  # each image decided exactly as the seeded rule says, faults or not
        for entity in job.entities or ():
            expected = ReviewStatus.REJECTED if config.rejects(job.id, entity.id) else ReviewStatus.ACCEPTED
            assert entity.review_status == expected


async def test_a_subprocess_sandbox_runs_the_crew_and_faults_given_as_config() -> None:
    """`SandboxServer(mode="subprocess")` passes them to `labelrounds sandbox serve --crew ... --faults ...`;
    the counts come back over `GET /_sandbox/stats`."""
    crew = CrewConfig(reject_rate=1.0, poll_interval=0.05)
    plan = FaultPlan.parse("instance.version:503=1@0s")
    with SandboxServer(seed="lemons", mode="subprocess", crew=crew, faults=plan) as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        async with SuperviselyClient(settings) as api:
            labeler = await api.add_user("labeler_1", SecretStr("labeler-password"))
            reviewer = await api.add_user("reviewer", SecretStr("reviewer-password"))
            await api.add_member(server.team_id, "labeler_1", Role.ANNOTATOR)
            await api.add_member(server.team_id, "reviewer", Role.REVIEWER)
            (job_id,) = await api.add_jobs(
                "subprocess",
                server.dataset_id,
                [labeler],
                classes=["kiwi"],
                tags=[],
                entity_ids=[],
                reviewer_id=reviewer,
            )
            deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
            while (job := await api.get_job(job_id)) is None or job.status != JobStatus.COMPLETED:
                assert asyncio.get_running_loop().time() < deadline, "the crew never completed the job"
                await asyncio.sleep(0.05)
        with httpx.Client(
            base_url=server.url, headers={"x-api-key": server.admin_token.get_secret_value()}
        ) as raw:
            assert raw.post("/public/api/v3/instance.version", json={}).status_code == 503
        stats = server.traffic_stats()

    assert job.rejected_images_count == 6
    assert stats.plan == plan.to_spec()
    assert stats.faults == {"instance.version": {"503": 1}}
    assert stats.crew is not None and stats.crew["image_rejected"] == 6
    assert stats.crew_requests["jobs.set-status"] >= 3
