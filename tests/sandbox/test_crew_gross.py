"""A crew labeler with a gross error rate botches that share of its images, the same ones in every run.

Oracles: the truth (synthetic truths of the seed, `GET /_sandbox/truth` for the served round), the annotations read
back over the API, and the rates as the test's spec states them. A labeler of skill 1 draws the truth exactly, so
an image whose F1 against the truth is under 1 is one it botched; the F1 is measured with `labelrounds.quality`
(the measuring instrument, a module apart from the crew). Tolerances are binomial: about three standard deviations.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest

from labelrounds.quality import score_annotations
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.crew_labeling import Skill, simulate_annotation
from labelrounds.sandbox.spec_parsing import SpecError
from labelrounds.sandbox.truth import synthetic_truth

from .test_crew_skills import SKILLS, SYNTHETIC_CLASSES, CrewRun, run_crew

GROSS = 0.2
IMAGES = 120


def botched_share(f1s: list[float]) -> float:
    """Share of images a skill-1 labeler did not draw exactly."""
    return sum(f1 < 1.0 for f1 in f1s) / len(f1s)


def rate_tolerance(rate: float, images: int) -> float:
    return 3 * math.sqrt(max(rate * (1 - rate), 0.01) / images)


@functools.cache
def truths() -> list[dict[str, Any]]:
    return [synthetic_truth(f"picture-{image_id}", 640, 480) for image_id in range(IMAGES)]


def drawn_f1s(skill: Skill, login: str, *, job_id: int = 1, seed: int = 3) -> dict[int, float]:
    """Each synthetic picture's F1 against its truth, drawn by this labeler."""
    scores = {}
    for image_id, truth in enumerate(truths()):
        drawn = simulate_annotation(
            truth, skill, SYNTHETIC_CLASSES, seed=seed, job_id=job_id, image_id=image_id, login=login
        )
        scores[image_id] = score_annotations(truth, drawn).f1
    return scores


class TestGrossSpec:
    def test_per_login_rates_reach_the_skill_and_parse_back(self) -> None:
        config = CrewConfig.parse("skill=0.9,gross=labeler_3:0.1")
        assert config.skill_of("labeler_3") == Skill.from_level(0.9, gross_error_rate=0.1)
        assert config.skill_of("labeler_1") == Skill.from_level(0.9)
        assert CrewConfig.parse(config.to_spec()) == config

    @pytest.mark.parametrize(
        ("spec", "complaint"),
        [
            ("gross=0.1", "crew option 'gross' needs 'skill'"),
            (
                "skill=0.9,gross=labeler_3:1.5",
                "crew option 'gross' for 'labeler_3': '1.5' is not between 0 and 1",
            ),
            ("skill=0.9,gross=labeler_3:0.1+labeler_3:0.2", "login 'labeler_3' is given twice"),
        ],
    )
    def test_bad_specs_name_the_problem(self, spec: str, complaint: str) -> None:
        with pytest.raises(SpecError) as raised:
            CrewConfig.parse(spec)
        assert complaint in str(raised.value)


class TestBotching:
    def test_the_botched_share_is_the_rate_and_botched_images_score_about_zero(self) -> None:
        f1s = drawn_f1s(Skill.from_level(1.0, gross_error_rate=GROSS), "labeler_3")
        assert abs(botched_share(list(f1s.values())) - GROSS) <= rate_tolerance(GROSS, IMAGES)
        botched = [f1 for f1 in f1s.values() if f1 < 1.0]
        assert sum(botched) / len(botched) < 0.1

    def test_the_same_login_botches_the_same_images_in_any_job_and_another_login_others(self) -> None:
        skill = Skill.from_level(1.0, gross_error_rate=GROSS)
        first = {image for image, f1 in drawn_f1s(skill, "labeler_3", job_id=1).items() if f1 < 1}
        again = {image for image, f1 in drawn_f1s(skill, "labeler_3", job_id=9).items() if f1 < 1}
        other = {image for image, f1 in drawn_f1s(skill, "labeler_2", job_id=1).items() if f1 < 1}
        assert first == again
        assert first != other and abs(len(other) / IMAGES - GROSS) <= rate_tolerance(GROSS, IMAGES)

    def test_mutant_without_the_rate_the_oracle_sees_no_botching(self) -> None:
        """The share check fails on a labeler who never botches (as a crew ignoring `gross` would)."""
        f1s = drawn_f1s(Skill.from_level(1.0), "labeler_3")
        assert abs(botched_share(list(f1s.values())) - GROSS) > rate_tolerance(GROSS, IMAGES)


RUN_GROSS = 0.3
SPEC = f"skill=1.0,gross=labeler_3:{RUN_GROSS},seed=5,poll=20ms,mode=instant"


def gross_problems(run: CrewRun, rates: dict[str, float]) -> list[str]:
    """Why the served annotations do not show each labeler botching its stated share of images."""
    problems = []
    for login in SKILLS:
        images = run.images_of(login)
        share = botched_share([score_annotations(run.truth[i], run.annotations[i]).f1 for i in images])
        rate = rates.get(login, 0.0)
        if abs(share - rate) > rate_tolerance(rate, len(images)):
            problems.append(f"{login}: botched {share:.2f} of {len(images)} images, rate {rate}")
    return problems


async def test_a_served_crew_botches_the_stated_share_of_one_labelers_images() -> None:
    run = await run_crew(SPEC)
    assert gross_problems(run, {"labeler_3": RUN_GROSS}) == []
    # mutant: the same run read as if nobody botched fails the oracle
    assert gross_problems(run, {}) != []
