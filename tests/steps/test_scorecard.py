"""Labeler scorecards across rounds (`steps.scorecard`), rebuilt from a sandbox where three small rounds ran.

The oracle is what the test knows without the code under test: the crew's configured paces (images per hour
within the ±25% jitter of 3600 / pace), each first-pass job's review statuses and the rework jobs read back raw
(`jobs.info`, `jobs.list`), each job's review timestamps read raw, and the rounds the test ran, in order. Mutants
(a job dropped, a job duplicated) show the oracle can fail.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from statistics import mean

import pandas as pd
import pytest
from oracles import RawApi, RawJob

from labelrounds.client.models import JobStatus
from labelrounds.round_spec import RoundSpec, RoundSpecError, SplitStrategy, parse_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.crew_labeling import PACE_SPREAD
from labelrounds.sandbox.seed import TEAM_NAME
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.scorecard import (
    CHART_METRICS,
    GOLD_COLUMNS,
    Scorecard,
    build_scorecard,
    collect_job_facts,
    collect_objects,
    labeler_scorecard,
)
from labelrounds.steps.scorecard_charts import write_charts
from labelrounds.steps.sequence import ClientRoundSteps, run_round
from labelrounds.steps.throughput import measured_images_per_hour, throughput_weights
from labelrounds.steps.validate import validate_round

from .support import PASSWORD, admin_client

PACES = {"labeler_1": 20.0, "labeler_2": 45.0, "labeler_3": 90.0}
CREW = (
    "skill=0.9,pace=labeler_1:20s+labeler_2:45s+labeler_3:90s,reject=0.35,max-rejections=1,"
    "seed=5,poll=20ms,mode=instant"
)
SEED = "synthetic:3x12"
IMAGES_PER_DATASET = 12
#: The rounds the test runs, in this order (names not in alphabetical order), each on its own dataset.
ROUNDS = [("r-west", "ds1"), ("r-east", "ds2"), ("r-central", "ds3")]
CLASSES = [{"name": "crate", "shape": "rectangle"}, {"name": "leaf", "shape": "polygon"}]


@dataclass(frozen=True)
class RanRounds:
    """The sandbox after the rounds, the round keys in the order they ran, and their jobs read back raw."""

    server: SandboxServer
    round_keys: list[str]
    raw_jobs: dict[str, list[RawJob]]
    raw_infos: dict[int, dict[str, object]]


def round_spec(name: str, dataset: str) -> RoundSpec:
    """A small round over one dataset of the synthetic seed, three labelers, one rework cycle, a fast gate."""
    return parse_round_spec(
        {
            "round_name": name,
            "team": TEAM_NAME,
            "project": SEED.replace("synthetic:", "Synthetic "),
            "datasets": [dataset],
            "labelers": list(PACES),
            "reviewer": "reviewer_1",
            "classes": CLASSES,
            "poll_interval_seconds": 0.05,
            "timeout_seconds": 60,
            "max_rework_cycles": 1,
        }
    )


@pytest.fixture(scope="module")
def crewed_server() -> Iterator[SandboxServer]:
    """A synthetic sandbox whose instant crew labels with known paces and rejects about a third of the images once."""
    with SandboxServer(seed=SEED, crew=CrewConfig.parse(CREW)) as server:
        yield server


@pytest.fixture(scope="module")
async def ran(crewed_server: SandboxServer) -> RanRounds:
    """Run the three rounds one after the other; read their jobs back raw."""
    keys = []
    async with admin_client(crewed_server) as api:
        for name, dataset in ROUNDS:
            run = await run_round(ClientRoundSteps(api, PASSWORD), round_spec(name, dataset))
            keys.append(run.target.round_key)
    with RawApi.of(crewed_server) as raw:
        jobs = {key: raw.round_jobs(crewed_server.team_id, key) for key in keys}
        infos = {job.id: raw.call("jobs.info", {"id": job.id}) for found in jobs.values() for job in found}
    return RanRounds(crewed_server, keys, jobs, infos)


def _seconds_between(info: dict[str, object], start: str, end: str) -> float | None:
    """Seconds from one raw timestamp of a job to another (None when either is missing)."""
    if not info.get(start) or not info.get(end):
        return None
    begin = datetime.fromisoformat(str(info[start]).replace("Z", "+00:00"))
    return (datetime.fromisoformat(str(info[end]).replace("Z", "+00:00")) - begin).total_seconds()


def assert_scorecard_matches(scorecard: Scorecard, ran: RanRounds) -> None:
    """The scorecard agrees with the raw read-back and the crew's configuration (see the module docstring)."""
    assert scorecard.rounds == ran.round_keys, "rounds not in the order they ran"
    rows = scorecard.rows.set_index(["round_key", "labeler"])
    expected_rows = {(key, job.lineage["labeler"]) for key, jobs in ran.raw_jobs.items() for job in jobs}
    assert set(rows.index) == expected_rows and rows.index.is_unique
    for key, jobs in ran.raw_jobs.items():
        per_labeler: dict[str, list[RawJob]] = defaultdict(list)
        for job in jobs:
            per_labeler[str(job.lineage["labeler"])].append(job)
        for labeler, own in per_labeler.items():
            row = rows.loc[(key, labeler)]
            first = [status for job in own if job.cycle == 0 for status in job.entities.values()]
            accepted = Counter(first)["accepted"]
            assert row["images"] == len(first), (key, labeler, "first-pass images")
            assert row["first_pass_accepted"] == accepted, (key, labeler, "first-pass accepted")
            assert row["first_pass_acceptance"] == pytest.approx(accepted / len(first))
            assert row["rework_jobs"] == sum(job.cycle > 0 for job in own), (key, labeler, "rework jobs")
            assert row["jobs"] == len(own), (key, labeler, "jobs")
            labeled = sum(len(job.entities) for job in own)
            assert row["labeled_images"] == labeled, (key, labeler, "labeled (job, image) pairs")
            pace = PACES[labeler]
            slowest, fastest = round(pace * (1 + PACE_SPREAD)), round(pace * (1 - PACE_SPREAD))
            assert 3600 / slowest <= row["images_per_hour"] <= 3600 / fastest, (key, labeler, "pace")
            latencies = [
                _seconds_between(ran.raw_infos[job.id], "annotationFinishedAt", "reviewFinishedAt") for job in own
            ]
            known = [latency for latency in latencies if latency is not None]
            assert known, (key, labeler, "no finished review read back")
            assert row["review_latency_seconds"] == pytest.approx(mean(known)), (key, labeler, "latency")


async def test_the_scorecard_matches_the_rounds_read_back(ran: RanRounds) -> None:
    async with admin_client(ran.server) as api:
        scorecard = await labeler_scorecard(api, TEAM_NAME)

    assert_scorecard_matches(scorecard, ran)
    rows = scorecard.rows
    assert (rows["rework_jobs"] > 0).any(), "the crew rejected nothing: the rework figures prove nothing"
    assert (rows["objects"] > 0).all() and rows["objects_per_hour"].notna().all()
    assert rows[list(GOLD_COLUMNS)].isna().all().all()  # no gold scores given: the gold columns stay empty
    speed = rows.groupby("labeler")["images_per_hour"].mean()
    assert list(speed.sort_values(ascending=False).index) == ["labeler_1", "labeler_2", "labeler_3"]
    table = scorecard.metric("images_per_hour")
    assert list(table.columns) == ran.round_keys and sorted(table.index) == sorted(PACES)


async def test_rounds_and_labelers_can_be_chosen_by_name(ran: RanRounds) -> None:
    chosen_rounds = [ROUNDS[2][0], ran.round_keys[0]]  # a round name and a round key
    async with admin_client(ran.server) as api:
        scorecard = await labeler_scorecard(api, ran.server.team_id, chosen_rounds, ["labeler_2"])

    assert scorecard.rounds == [ran.round_keys[0], ran.round_keys[2]]
    assert set(scorecard.rows["labeler"]) == {"labeler_2"} and len(scorecard.rows) == 2


async def test_gold_scores_given_per_round_fill_the_gold_columns(ran: RanRounds) -> None:
    gold = {
        ran.round_keys[1]: pd.DataFrame(
            [("labeler_1", 3, 0.9, 0.8, 0.847)], columns=["labeler", *GOLD_COLUMNS]
        )
    }
    async with admin_client(ran.server) as api:
        scorecard = await labeler_scorecard(api, TEAM_NAME, gold=gold)

    rows = scorecard.rows.set_index(["round_key", "labeler"])
    assert rows.loc[(ran.round_keys[1], "labeler_1"), "gold_f1"] == pytest.approx(0.847)
    assert rows.loc[(ran.round_keys[1], "labeler_1"), "gold_images"] == 3
    assert rows.drop(index=(ran.round_keys[1], "labeler_1"))["gold_f1"].isna().all()


async def test_a_scorecard_fed_one_job_less_or_a_duplicated_job_fails_the_oracle(ran: RanRounds) -> None:
    async with admin_client(ran.server) as api:
        facts = await collect_job_facts(api, TEAM_NAME)
        objects = await collect_objects(api, facts)
    assert_scorecard_matches(build_scorecard(facts, objects), ran)  # the unchanged facts pass

    rework = next(index for index, fact in enumerate(facts) if fact.lineage.cycle > 0)
    one_less = facts[:rework] + facts[rework + 1 :]
    with pytest.raises(AssertionError):
        assert_scorecard_matches(build_scorecard(one_less, objects), ran)
    first = next(fact for fact in facts if fact.lineage.cycle == 0)
    duplicated = [*facts, replace(first)]
    with pytest.raises(AssertionError):
        assert_scorecard_matches(build_scorecard(duplicated, objects), ran)


async def test_one_chart_per_metric_is_written(ran: RanRounds, tmp_path: Path) -> None:
    async with admin_client(ran.server) as api:
        scorecard = await labeler_scorecard(api, TEAM_NAME)

    written = write_charts(scorecard, tmp_path)

    assert set(written) == set(CHART_METRICS) - {"gold_f1"}  # no gold values: no gold chart
    for path in written.values():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def assert_throughput_split(plan: pd.DataFrame, images: int) -> None:
    """Each labeler's share lies between the bounds the crew's paces allow (each pace ±25%, largest remainder)."""
    fastest = {login: 3600 / round(pace * (1 - PACE_SPREAD)) for login, pace in PACES.items()}
    slowest = {login: 3600 / round(pace * (1 + PACE_SPREAD)) for login, pace in PACES.items()}
    counts = plan.groupby("labeler")["image_id"].nunique()
    for login in PACES:
        others_fast = sum(rate for other, rate in fastest.items() if other != login)
        others_slow = sum(rate for other, rate in slowest.items() if other != login)
        low = math.floor(images * slowest[login] / (slowest[login] + others_fast))
        high = math.ceil(images * fastest[login] / (fastest[login] + others_slow))
        assert low <= counts.get(login, 0) <= high, (login, counts.get(login, 0), low, high)


async def test_a_throughput_split_follows_the_measured_paces_and_is_stable(ran: RanRounds) -> None:
    spec = round_spec("r-next", "ds1").model_copy(update={"split_strategy": SplitStrategy.THROUGHPUT})
    async with admin_client(ran.server) as api:
        planned = await validate_round(api, spec, PASSWORD)
        again = await validate_round(api, spec, PASSWORD)
        even = await validate_round(api, round_spec("r-next", "ds1"), PASSWORD)

    assert_throughput_split(planned.plan, IMAGES_PER_DATASET)
    pd.testing.assert_frame_equal(planned.plan, again.plan)
    with pytest.raises(AssertionError):  # mutant: the even split does not follow the paces
        assert_throughput_split(even.plan, IMAGES_PER_DATASET)


def test_weights_with_a_throughput_split_are_refused() -> None:
    fields = round_spec("r-next", "ds1").model_dump(mode="json")
    fields["split_strategy"] = "throughput"
    fields["labelers"][0]["weight"] = 2.0
    with pytest.raises(RoundSpecError, match="split_strategy is 'throughput'"):
        parse_round_spec(fields)


async def test_throughput_counts_only_finished_rounds_started_before_the_planned_one(ran: RanRounds) -> None:
    async with admin_client(ran.server) as api:
        facts = await collect_job_facts(api, TEAM_NAME)
    first_only = [fact for fact in facts if fact.lineage.round == ran.round_keys[0]]

    # planning the second round again: only the first round started before it
    assert set(measured_images_per_hour(first_only, "another")) == set(PACES)
    assert measured_images_per_hour(facts, ran.round_keys[1]) == measured_images_per_hour(first_only, "another")
    # a round whose jobs are not all over does not count
    unfinished = [replace(fact, job=fact.job.model_copy(update={"status": JobStatus.IN_PROGRESS})) for fact in first_only]
    assert measured_images_per_hour(unfinished, "another") == {}
    assert throughput_weights(["labeler_1", "new_labeler"], {"labeler_1": 120.0}) == [120.0, 120.0]
