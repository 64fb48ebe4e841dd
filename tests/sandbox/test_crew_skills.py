"""A crew that labels for real: per-login skill, pace and a quality-judging reviewer, on a real synthetic sandbox.

Oracles are independent of the crew's code: the truth read through `GET /_sandbox/truth`, the annotations and
`jobs.stats` read back over the API, the skills and paces as the test's spec states them, and simple counts (objects
written vs truth objects, a per-class count bound on F1). The F1 itself is measured with `labelrounds.quality`
(the measuring instrument, a separate module from the crew).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import JobStatus
from labelrounds.quality import score_annotations, score_many
from labelrounds.sandbox.bitmaps import png_size
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.crew_labeling import Skill, simulate_annotation
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.spec_parsing import SpecError
from labelrounds.sandbox.truth import LEMON_OBJECTS, TRUTH_PATH, lemon_truth_documents, synthetic_truth

from .test_crew import CrewSandbox, crew_config, crew_sandbox

SEED = "synthetic:1x120"
SKILLS = {"labeler_1": 0.95, "labeler_2": 0.85, "labeler_3": 0.6}
PACES = {"labeler_1": 20.0, "labeler_2": 40.0, "labeler_3": 80.0}
PACE_SPREAD = 0.25  # stated by the spec: each image's time is the pace ±25%
MIN_F1 = 0.8
SPEC = (
    "skill=labeler_1:0.95+labeler_2:0.85+labeler_3:0.6,"
    "pace=labeler_1:20s+labeler_2:40s+labeler_3:80s,min-f1=0.8,seed=11,poll=20ms"
)
F1_TOLERANCE = 0.07  # about two standard deviations of an F1 over ~140 truth objects at skill 0.6
WAIT_LIMIT = 60.0  # a bound so that a broken crew fails the test instead of hanging it; never a speed check
__all__ = ["crew_sandbox"]  # the fixture, shared with the http crew's tests
LEMON_CLASSES = {"kiwi": "bitmap", "lemon": "bitmap"}
SYNTHETIC_CLASSES = {"kiwi": "bitmap", "lemon": "bitmap", "crate": "rectangle", "leaf": "polygon"}


class TestSkillSpec:
    def test_per_login_values_and_a_default_for_everyone_else(self) -> None:
        config = CrewConfig.parse(
            "skill=0.8+labeler_1:0.95,speed=labeler_2:2s+0.5,pace=40s+labeler_3:90s,min-f1=0.7"
        )
        assert (config.skill, config.skill_by_login) == (0.8, {"labeler_1": 0.95})
        skill = config.skill_of("labeler_1")
        assert skill is not None and skill.recall == 0.95
        assert (skill.jitter, skill.wrong_class_rate) == (pytest.approx(0.0125), pytest.approx(0.025))
        assert config.skill_of("someone") == Skill.from_level(0.8)
        assert (config.label_seconds("labeler_2"), config.label_seconds("x")) == (2.0, 0.5)
        assert (config.review_seconds("labeler_2"), config.review_seconds("x")) == (2.0, 0.5)
        assert (config.pace_of("labeler_3"), config.pace_of("x"), config.min_f1) == (90.0, 40.0, 0.7)
        assert CrewConfig.parse(config.to_spec()) == config

    def test_without_skill_nobody_draws(self) -> None:
        config = CrewConfig.parse("speed=0,reject=0.3,seed=7")
        assert config.skill_of("labeler_1") is None and config.min_f1 is None
        assert CrewConfig.parse(config.to_spec()) == config

    @pytest.mark.parametrize(
        ("spec", "complaint"),
        [
            ("skill=1.2", "crew option 'skill': '1.2' is not between 0 and 1"),
            ("skill=labeler_1:high", "crew option 'skill' for 'labeler_1': 'high' is not a number"),
            ("skill=labeler_1:0.9+labeler_1:0.8", "login 'labeler_1' is given twice"),
            ("skill=0.9+0.8", "more than one value for everyone"),
            ("skill=:0.9", "empty login or value"),
            ("skill=labeler_1:", "empty login or value"),
            ("skill=labeler_1:0.9++labeler_2:0.8", "empty login or value"),
            ("pace=labeler_1:slow", "crew option 'pace' for 'labeler_1': 'slow' is not a duration"),
            ("speed=labeler_1:2,label=1", "give either speed or those"),
            ("min-f1=2", "crew option 'min-f1': '2' is not between 0 and 1"),
        ],
    )
    def test_bad_specs_name_the_problem(self, spec: str, complaint: str) -> None:
        with pytest.raises(SpecError) as raised:
            CrewConfig.parse(spec)
        assert complaint in str(raised.value)


class TestDrawing:
    def test_the_same_seed_job_and_image_draw_the_same_annotation(self) -> None:
        truth = synthetic_truth("picture", 1280, 960)
        draw = [
            simulate_annotation(truth, Skill.from_level(0.6), SYNTHETIC_CLASSES, seed=1, job_id=2, image_id=3)
            for _ in range(2)
        ]
        assert draw[0] == draw[1]
        others = [
            simulate_annotation(
                truth, Skill.from_level(0.6), SYNTHETIC_CLASSES, seed=seed, job_id=2, image_id=3
            )
            for seed in range(2, 12)
        ]
        assert any(other != draw[0] for other in others)

    def test_skill_1_draws_the_truth_itself(self) -> None:
        truth = synthetic_truth("picture", 1280, 960)
        drawn = simulate_annotation(
            truth, Skill.from_level(1.0), SYNTHETIC_CLASSES, seed=1, job_id=2, image_id=3
        )
        assert [(o["classTitle"], o["points"]) for o in drawn["objects"]] == [
            (o["classTitle"], o["points"]) for o in truth["objects"]
        ]

    def test_every_drawn_point_stays_inside_the_image(self) -> None:
        for index in range(200):
            truth = synthetic_truth(f"p{index}", 640, 480)
            drawn = simulate_annotation(
                truth,
                Skill.from_level(0.0 + index % 3 * 0.3),
                SYNTHETIC_CLASSES,
                seed=index,
                job_id=1,
                image_id=index,
            )
            for obj in drawn["objects"]:
                assert all(0 <= x <= 640 and 0 <= y <= 480 for x, y in obj["points"]["exterior"])

    def test_bitmaps_are_shifted_inside_the_image_and_swap_to_the_other_fruit(self) -> None:
        truth = {"size": {"width": 1000, "height": 750}, "objects": []}
        for document in lemon_truth_documents(1000, 750).values():
            truth["objects"] += orjson.loads(document)["objects"]
        drawings = [
            simulate_annotation(truth, Skill.from_level(0.2), LEMON_CLASSES, seed=seed, job_id=1, image_id=1)
            for seed in range(20)
        ]
        drawn = [obj for drawing in drawings for obj in drawing["objects"]]
        assert drawn and all(obj["geometryType"] == "bitmap" for obj in drawn)
        for obj in drawn:
            width, height = png_size(obj["bitmap"]["data"])
            left, top = obj["bitmap"]["origin"]
            assert 0 <= left <= 1000 - width and 0 <= top <= 750 - height
        truth_origins = {tuple(obj["bitmap"]["origin"]) for obj in truth["objects"]}
        assert any(tuple(obj["bitmap"]["origin"]) not in truth_origins for obj in drawn)
        swapped = [obj for obj in drawn if not obj["tags"]]  # a swapped object loses its size tag
        assert swapped and all(obj["classTitle"] in LEMON_CLASSES for obj in swapped)


# --- the crew at work ------------------------------------------------------------------------------------------


@dataclass
class CrewRun:
    """What a crew did on a fresh synthetic sandbox, read back over the API: one job per labeler and dataset."""

    jobs: dict[str, int]
    truth: dict[int, dict[str, Any]]
    annotations: dict[int, dict[str, Any]]
    labeler_of: dict[int, str]
    stats: dict[str, dict[str, Any]]

    def images_of(self, login: str) -> list[int]:
        return sorted(image_id for image_id, labeler in self.labeler_of.items() if labeler == login)


async def run_crew(spec: str) -> CrewRun:
    """Start a sandbox with a crew of this spec, split its images between the labelers, read everything back.

    One `jobs.add` creates every labeler's job at once, so job ids (which the draws depend on) are the same in
    every run of the same spec.
    """
    with SandboxServer(seed=SEED, crew=CrewConfig.parse(spec)) as server:
        assert server.store is not None
        user_ids = {
            login: add_user(server.store, login, role=role, team_id=server.team_id).id
            for login, role in [*((login, Role.ANNOTATOR) for login in SKILLS), ("reviewer", Role.REVIEWER)]
        }
        login_of = {user_id: login for login, user_id in user_ids.items()}
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        headers = {"x-api-key": server.admin_token.get_secret_value()}
        async with (
            SuperviselyClient(settings) as api,
            httpx.AsyncClient(base_url=server.url, headers=headers) as raw,
        ):
            image_ids = [image.id for image in await api.list_images(server.dataset_id)]
            job_ids = await api.add_jobs(
                "skilled",
                server.dataset_id,
                [user_ids[login] for login in SKILLS],
                classes=["crate", "leaf"],
                tags=[],
                entity_ids=image_ids,
                reviewer_id=user_ids["reviewer"],
            )
            await wait_until_completed(api, job_ids)
            jobs, labeler_of, stats = {}, {}, {}
            for job_id in job_ids:
                job = await api.get_job(job_id)
                assert job is not None and job.user_id is not None
                login = login_of[job.user_id]
                jobs[login] = job_id
                labeler_of.update(dict.fromkeys(job.entity_ids(), login))
                reply = await raw.post("/public/api/v3/jobs.stats", json={"id": job_id})
                stats[login] = reply.raise_for_status().json()
            assert sorted(labeler_of) == sorted(image_ids)
            reply = await raw.get(TRUTH_PATH, params={"dataset_id": server.dataset_id})
            truth = {item["imageId"]: item["annotation"] for item in reply.raise_for_status().json()}
            annotations = {}
            for info in await api.list_annotations(server.dataset_id):
                annotations[info.image_id] = info.annotation.to_wire()
                writers = {label.labeler_login for label in info.annotation.objects}
                assert writers <= {labeler_of[info.image_id]}, f"image {info.image_id} drawn by {writers}"
    return CrewRun(jobs, truth, annotations, labeler_of, stats)


async def wait_until_completed(api: SuperviselyClient, job_ids: list[int]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_LIMIT
    while True:
        jobs = [await api.get_job(job_id) for job_id in job_ids]
        if all(job is not None and job.status == JobStatus.COMPLETED for job in jobs):
            return
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"jobs never all completed: {[(job.id, job.status) for job in jobs if job]}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
async def http_run() -> CrewRun:
    """The crew of SPEC (skills 0.95 / 0.85 / 0.6, paces 20 / 40 / 80 s, reviewer at F1 0.8) over HTTP."""
    return await run_crew(f"{SPEC},mode=http")


@pytest.fixture(scope="module")
async def instant_run() -> CrewRun:
    """The crew of SPEC in instant mode: everything drawn, stored and reviewed in bulk inside the store."""
    return await run_crew(f"{SPEC},mode=instant")


@pytest.fixture(params=["http", "instant"])
def skilled(request: pytest.FixtureRequest) -> CrewRun:
    """The crew of SPEC, in each mode."""
    return request.getfixturevalue(f"{request.param}_run")


def drawings(run: CrewRun) -> dict[int, list[tuple[str, Any]]]:
    """Each image's objects as (class, geometry), without ids, logins and dates."""
    return {
        image_id: [
            (obj["classTitle"], obj.get("points") or obj.get("bitmap")) for obj in annotation["objects"]
        ]
        for image_id, annotation in run.annotations.items()
    }


async def test_the_same_spec_and_seed_draw_the_same_annotations_in_both_modes(
    http_run: CrewRun, instant_run: CrewRun
) -> None:
    assert len(drawings(http_run)) == 120
    assert drawings(http_run) == drawings(instant_run)
    other_seed = await run_crew(f"{SPEC.replace('seed=11', 'seed=12')},mode=instant")
    assert drawings(other_seed) != drawings(instant_run)


def measured_f1(run: CrewRun) -> dict[str, float]:
    """Each labeler's F1 over its images against the full truth."""
    return {
        login: score_many((run.truth[image], run.annotations[image]) for image in run.images_of(login)).f1
        for login in SKILLS
    }


def ranking_problems(measured: Mapping[str, float], skills: Mapping[str, float]) -> list[str]:
    """Why the measured F1s do not follow the skills: a wrong order, or a value far from its skill."""
    problems = []
    by_skill = sorted(skills, key=skills.__getitem__, reverse=True)
    by_measure = sorted(measured, key=measured.__getitem__, reverse=True)
    if by_measure != by_skill:
        problems.append(f"ranked {by_measure}, skills rank {by_skill}")
    problems += [
        f"{login}: F1 {measured[login]:.3f}, skill {skill}"
        for login, skill in skills.items()
        if abs(measured[login] - skill) > F1_TOLERANCE
    ]
    return problems


def test_the_labelers_f1_follows_their_skill(skilled: CrewRun) -> None:
    assert ranking_problems(measured_f1(skilled), SKILLS) == []


def test_each_labeler_writes_about_skill_times_the_truth_objects(skilled: CrewRun) -> None:
    for login, skill in SKILLS.items():
        images = skilled.images_of(login)
        truth_objects = sum(len(skilled.truth[image]["objects"]) for image in images)
        written = sum(len(skilled.annotations[image]["objects"]) for image in images)
        assert truth_objects > 100
        assert abs(written / truth_objects - skill) < F1_TOLERANCE, (login, written, truth_objects)


async def test_mutant_a_crew_that_ignores_skill_fails_the_ranking() -> None:
    uniform_skill = SPEC.replace("labeler_2:0.85+labeler_3:0.6", "labeler_2:0.95+labeler_3:0.95")
    uniform = await run_crew(f"{uniform_skill},mode=instant")
    assert ranking_problems(measured_f1(uniform), SKILLS) != []


def count_bound_f1(truth: Mapping[str, Any], drawn: Mapping[str, Any]) -> float:
    """An upper bound of an image's F1 from class counts alone (a match needs the same class, one to one)."""
    truth_counts = Counter(obj["classTitle"] for obj in truth["objects"])
    drawn_counts = Counter(obj["classTitle"] for obj in drawn["objects"])
    total = sum(truth_counts.values()) + sum(drawn_counts.values())
    matched = sum((truth_counts & drawn_counts).values())
    return 1.0 if total == 0 else 2 * matched / total


def review_problems(run: CrewRun) -> list[str]:
    """Images whose review status disagrees with their F1 against the truth (rejected iff under MIN_F1)."""
    problems = []
    for login in SKILLS:
        for image in run.stats[login]["images"]["images"]:
            image_id, status = image["id"], image["reviewStatus"]
            truth, drawn = run.truth[image_id], run.annotations[image_id]
            f1 = score_annotations(truth, drawn).f1
            if (status == "rejected") != (f1 < MIN_F1):
                problems.append(f"image {image_id}: F1 {f1:.2f} but {status}")
            if count_bound_f1(truth, drawn) < MIN_F1 and status != "rejected":
                problems.append(
                    f"image {image_id}: at most F1 {count_bound_f1(truth, drawn):.2f} but {status}"
                )
    return problems


def test_the_quality_reviewer_rejects_exactly_the_images_under_the_threshold(skilled: CrewRun) -> None:
    assert review_problems(skilled) == []
    rejected = {
        login: sum(image["reviewStatus"] == "rejected" for image in skilled.stats[login]["images"]["images"])
        for login in SKILLS
    }
    assert rejected["labeler_1"] < rejected["labeler_2"] < rejected["labeler_3"], rejected


def test_mutant_a_review_status_flipped_is_caught(skilled: CrewRun) -> None:
    image = skilled.stats["labeler_3"]["images"]["images"][0]
    flipped = {**image, "reviewStatus": "accepted" if image["reviewStatus"] == "rejected" else "rejected"}
    stats = {**skilled.stats["labeler_3"], "images": {"images": [flipped]}}
    mutant = CrewRun(
        skilled.jobs,
        skilled.truth,
        skilled.annotations,
        skilled.labeler_of,
        {
            **{login: {"images": {"images": []}} for login in SKILLS},
            "labeler_3": stats,
        },
    )
    assert review_problems(mutant) != []


def duration_problems(stats: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Durations that are not the stated pace ±25% per image, or a job total that is not their sum."""
    problems = []
    for login, pace in PACES.items():
        images = stats[login]["images"]["images"]
        for image in images:
            if not pace * (1 - PACE_SPREAD) <= image["annotationDuration"] <= pace * (1 + PACE_SPREAD):
                problems.append(
                    f"{login} image {image['id']}: {image['annotationDuration']} s at pace {pace}"
                )
        total = sum(image["annotationDuration"] for image in images)
        if abs(stats[login]["job"]["annotationDuration"] - total) > 1e-6:
            problems.append(
                f"{login}: job duration {stats[login]['job']['annotationDuration']} is not {total}"
            )
    return problems


def test_jobs_stats_durations_follow_each_labelers_pace(skilled: CrewRun) -> None:
    assert duration_problems(skilled.stats) == []
    totals = [skilled.stats[login]["job"]["annotationDuration"] for login in PACES]
    assert 0 < totals[0] < totals[1] < totals[2]


def test_mutant_swapped_durations_are_caught(skilled: CrewRun) -> None:
    swapped = {
        **skilled.stats,
        "labeler_1": skilled.stats["labeler_3"],
        "labeler_3": skilled.stats["labeler_1"],
    }
    assert duration_problems(swapped) != []


@crew_config(skill_by_login={"labeler_1": 0.5}, seed=3)
async def test_on_lemons_the_crew_writes_shifted_bitmaps_with_tags_through_the_api(
    crew_sandbox: CrewSandbox,
) -> None:
    job_id = await crew_sandbox.add_job("labeler_1", crew_sandbox.image_ids)
    await crew_sandbox.wait_for([job_id], JobStatus.COMPLETED)
    assert (await crew_sandbox.wait_for_crew(job_completed=1))["failed_call"] == 0

    dataset_id = crew_sandbox.server.dataset_id
    infos = await crew_sandbox.api.list_annotations(dataset_id)
    objects = [obj for info in infos for obj in info.annotation.to_wire()["objects"]]
    truth_objects = sum(len(fruits) for fruits in LEMON_OBJECTS.values())
    assert 0 < len(objects) < truth_objects
    assert {(obj["classTitle"], obj["geometryType"]) for obj in objects} <= {
        ("kiwi", "bitmap"),
        ("lemon", "bitmap"),
    }
    assert {label.labeler_login for info in infos for label in info.annotation.objects} == {"labeler_1"}
    assert any(obj["tags"] for obj in objects)  # the size tags of objects drawn with their class survive
