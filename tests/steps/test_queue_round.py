"""A round in queue mode (`assignment: queue`) through `run_round`, against a sandbox whose crew takes from queues.

Oracles are raw HTTP reads (`tests/oracles.py`): the dataset's images listed with `images.list`, the round's jobs
found by their customData lineage with their `jobs.info` entities, and the team's queues from
`labeling-queues.list`; never the figures the code under test computed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from oracles import RawApi, RawJob, assert_each_image_once, assert_report_matches

from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import Crew, CrewConfig
from labelrounds.sandbox.seed import TEAM_NAME
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundError
from labelrounds.steps.queues import queue_name
from labelrounds.steps.sequence import ClientRoundSteps, run_round

from .support import PASSWORD, LoseReplies, admin_client

SEED = "synthetic:1x40"
IMAGES = 40
LABELERS = ["labeler_1", "labeler_2", "labeler_3", "labeler_4"]
# Speeds 1x..4x: labeler_k spends 20/k ms per image.
LABEL_SECONDS = {login: 0.02 / speed for speed, login in enumerate(LABELERS, start=1)}
CLASSES = [{"name": "crate", "shape": "rectangle"}, {"name": "leaf", "shape": "polygon"}]


@pytest.fixture(scope="module")
def queue_server() -> Iterator[SandboxServer]:
    """A synthetic sandbox whose http crew has speeds 1x..4x and rejects about a third of the images once."""
    crew = Crew(
        CrewConfig(
            label_seconds_by_login=LABEL_SECONDS,
            reject_rate=0.3,
            max_rejections_per_image=1,
            poll_interval=0.02,
            take_count=2,
            seed=5,
        )
    )
    with SandboxServer(seed=SEED, crew=crew) as server:
        yield server


def queue_spec(**overrides: Any) -> RoundSpec:
    """The round over the seed's one dataset in queue mode, with a fast gate."""
    fields: dict[str, Any] = {
        "round_name": "queue-1",
        "team": TEAM_NAME,
        "project": SEED.replace("synthetic:", "Synthetic "),
        "labelers": LABELERS,
        "reviewer": "reviewer_1",
        "classes": CLASSES,
        "assignment": "queue",
        "poll_interval_seconds": 0.05,
        "timeout_seconds": 60,
    }
    fields.update(overrides)
    return parse_round_spec(fields)


def raw_queue_names(raw: RawApi, team_id: int) -> list[str]:
    """The names of the team's active labeling queues, from a raw `labeling-queues.list`."""
    return sorted(str(queue["name"]) for queue in raw.list_all("labeling-queues.list", {"teamId": team_id}))


async def test_a_queue_round_labels_every_image_once_reports_exactly_and_a_rerun_adds_no_queue(
    queue_server: SandboxServer,
) -> None:
    spec = queue_spec()
    async with admin_client(queue_server) as api:
        run = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        with RawApi.of(queue_server) as raw:
            (dataset_id,) = raw.dataset_ids(run.target.project.id)
            selected = raw.image_ids_by_dataset([dataset_id])
            jobs = raw.round_jobs(queue_server.team_id, run.target.round_key)
            queues = raw_queue_names(raw, queue_server.team_id)

        assert len(selected[dataset_id]) == IMAGES
        assert queues == [queue_name(run.target.round_key, dataset_id)]
        assert len(jobs) == len(LABELERS)  # one queue job per labeler, each with the round's lineage
        assert_each_image_once(selected, jobs)
        assert all(status == "accepted" for job in jobs for status in job.entities.values())
        assert_report_matches(run.report.totals, selected, jobs)
        per_labeler = dict(zip(run.report.labelers["labeler"], run.report.labelers["images"], strict=True))
        held = {job.lineage["labeler"]: len(job.entities) for job in jobs}
        assert per_labeler == held and sum(per_labeler.values()) == IMAGES

        adds = api.stats.calls["labeling-queues.add"]
        again = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        with RawApi.of(queue_server) as raw:
            assert raw_queue_names(raw, queue_server.team_id) == queues
        assert api.stats.calls["labeling-queues.add"] == adds
        assert again.report.totals == run.report.totals


async def test_a_lost_queue_creation_reply_is_resolved_by_listing_not_by_a_second_queue(
    queue_server: SandboxServer,
) -> None:
    spec = queue_spec(round_name="queue-lost-reply")
    transport = LoseReplies("labeling-queues.add")
    async with admin_client(queue_server, transport) as api:
        run = await run_round(ClientRoundSteps(api, PASSWORD), spec)
    assert transport.lost == 1
    with RawApi.of(queue_server) as raw:
        (dataset_id,) = raw.dataset_ids(run.target.project.id)
        names = raw_queue_names(raw, queue_server.team_id)
        jobs = raw.round_jobs(queue_server.team_id, run.target.round_key)
        selected = raw.image_ids_by_dataset([dataset_id])
    assert names.count(queue_name(run.target.round_key, dataset_id)) == 1
    assert_each_image_once(selected, jobs)


def test_the_once_each_oracle_fails_on_an_image_held_by_two_queue_jobs() -> None:
    """Mutant: one image in two jobs of the queue, or one image missing, fails `assert_each_image_once`."""
    lineage = {"round": "r@1", "dataset": 1, "labeler": "a", "share": "s", "cycle": 0}
    jobs = [
        RawJob(id=1, dataset_id=1, disabled=False, lineage=lineage, entities={10: "accepted", 11: "accepted"}),
        RawJob(id=2, dataset_id=1, disabled=False, lineage=lineage, entities={12: "accepted"}),
    ]
    assert_each_image_once({1: {10, 11, 12}}, jobs)
    twice = [jobs[0], replace(jobs[1], entities={12: "accepted", 11: "accepted"})]
    with pytest.raises(AssertionError, match="several first-cycle jobs"):
        assert_each_image_once({1: {10, 11, 12}}, twice)
    with pytest.raises(AssertionError, match="in no first-cycle job"):
        assert_each_image_once({1: {10, 11, 12}}, jobs[:1])


async def test_steps_without_queue_support_refuse_a_queue_round_before_writing(
    queue_server: SandboxServer,
) -> None:
    class StaticOnly:
        """Round steps that know nothing of queues."""

    with pytest.raises(RoundError, match="lack the queue steps"):
        await run_round(StaticOnly(), queue_spec(round_name="queue-refused"))  # type: ignore[arg-type]


def test_queue_mode_refuses_options_it_cannot_honour() -> None:
    with pytest.raises(ValueError, match="gold checks need static jobs"):
        queue_spec(gold={"source": "ds1", "share": 0.1})
    with pytest.raises(ValueError, match="has no effect with assignment 'queue'"):
        queue_spec(split_strategy="throughput")
