"""Consensus rounds (`steps.consensus` through `run_round`) on a synthetic sandbox whose instant crew labels with skills.

Oracles are independent of the code under test: everything is read back raw (`tests/oracles.py`: datasets, images,
jobs with their entities, annotations), the seed's images are listed raw before the round, and the merge a test
expects on an original image is recomputed from the replicas read raw, with `labelrounds.quality.consensus` as the
measuring instrument (not the consensus step). "Nothing written" is the store's fingerprint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from oracles import RawApi, RawJob, assert_unique_identities, round_key_of
from security.world import fingerprint

from labelrounds.quality.consensus import merge_many
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.defaults import DEFAULT_ADMIN_LOGIN
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.seed import TEAM_NAME
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundValidationError, UnresolvedWriteError
from labelrounds.steps.scorecard import labeler_scorecard
from labelrounds.steps.sequence import ClientRoundSteps, run_round

from .support import PASSWORD, admin_client

LABELERS = ["labeler_1", "labeler_2", "labeler_3"]
SEED = "synthetic:1x12"
PROJECT = "Synthetic 1x12"
CREW = "skill=0.95+labeler_3:0.7,seed=5,poll=20ms,mode=instant"
CLASSES = [{"name": "crate", "shape": "rectangle"}, {"name": "leaf", "shape": "polygon"}]
CONSENSUS_KEY = "labelrounds_consensus"  # documented customData key of replica datasets


class StopRound(Exception):
    """Raised by a test's steps to kill a round in the middle."""


@pytest.fixture(scope="module")
def consensus_server() -> Iterator[SandboxServer]:
    """A synthetic sandbox (one dataset of 12 images) whose instant crew labels with skills 0.95 / 0.95 / 0.7."""
    with SandboxServer(seed=SEED, crew=CrewConfig.parse(CREW)) as server:
        yield server


@pytest.fixture
def server(consensus_server: SandboxServer) -> SandboxServer:
    """The sandbox reset to its seed."""
    consensus_server.reset(SEED)
    return consensus_server


def consensus_spec(**consensus: Any) -> RoundSpec:
    """The round over ds1 with dynamic overlap 2 → 3, threshold 0.8, reviewer_1 adjudicating, a fast gate."""
    fields: dict[str, Any] = {
        "round_name": "cons-1",
        "team": TEAM_NAME,
        "project": PROJECT,
        "datasets": ["ds1"],
        "labelers": LABELERS,
        "reviewer": "reviewer_1",
        "classes": CLASSES,
        "poll_interval_seconds": 0.05,
        "timeout_seconds": 60,
        "consensus": {
            "overlap": 2,
            "max_overlap": 3,
            "agreement_threshold": 0.8,
            "adjudicator": "reviewer_1",
            **consensus,
        },
    }
    return parse_round_spec(fields)


@dataclass
class ConsensusState:
    """What the server holds of a consensus round, read raw."""

    replica_datasets: list[dict[str, Any]]
    copies: dict[int, dict[int, str]]  # replica dataset id → copy id → name
    jobs: list[RawJob]
    originals: dict[int, str]  # original image id → name
    annotations: dict[int, dict[str, Any]] = field(default_factory=dict)  # image id (original or copy) → annotation

    def replica_jobs(self) -> list[RawJob]:
        """The round's jobs over replica datasets."""
        ids = {int(dataset["id"]) for dataset in self.replica_datasets}
        return [job for job in self.jobs if job.dataset_id in ids]

    def adjudication_jobs(self, source_id: int) -> list[RawJob]:
        """The round's jobs over the original dataset."""
        return [job for job in self.jobs if job.dataset_id == source_id]

    def replicas_of(self) -> dict[int, dict[str, dict[str, Any]]]:
        """Original image id → labeler → that labeler's annotation, from the raw reads."""
        original_by_name = {name: image_id for image_id, name in self.originals.items()}
        found: dict[int, dict[str, dict[str, Any]]] = {}
        for job in self.replica_jobs():
            for copy_id in job.entities:
                name = self.copies[job.dataset_id][copy_id]
                found.setdefault(original_by_name[name], {})[str(job.lineage["labeler"])] = self.annotations[copy_id]
        return found


def read_state(server: SandboxServer, source_id: int) -> ConsensusState:
    """The round's replica datasets, their copies and annotations, its jobs, and the originals, read raw."""
    assert server.project_id is not None
    with RawApi.of(server) as raw:
        children = raw.list_all(
            "datasets.list",
            {
                "projectId": server.project_id,
                "recursive": True,
                "filter": [{"field": "parentId", "operator": "=", "value": source_id}],
            },
        )
        replicas = [child for child in children if CONSENSUS_KEY in (child.get("customData") or {})]
        copies = {
            int(d["id"]): {int(i["id"]): i["name"] for i in raw.list_all("images.list", {"datasetId": d["id"]})}
            for d in replicas
        }
        originals = {int(i["id"]): i["name"] for i in raw.list_all("images.list", {"datasetId": source_id})}
        annotations = {}
        for dataset_id in [source_id, *copies]:
            for item in raw.list_all("annotations.list", {"datasetId": dataset_id}):
                annotations[int(item["imageId"])] = item["annotation"]
        jobs = raw.round_jobs(server.team_id, round_key_of("cons-1", server.project_id))
    return ConsensusState(replicas, copies, jobs, originals, annotations)


def assert_no_duplicates(state: ConsensusState) -> None:
    """One replica dataset per name, each copy in exactly one job, one job per (replica, labeler), no labeler with
    two replicas of one image, every original in at most one adjudication job, unique job identities."""
    names = Counter(dataset["name"] for dataset in state.replica_datasets)
    assert all(count == 1 for count in names.values()), f"replica datasets twice: {names}"
    assert_unique_identities(state.jobs)
    per_replica = Counter((job.dataset_id, job.lineage["labeler"]) for job in state.replica_jobs())
    assert all(count == 1 for count in per_replica.values()), f"two jobs for one replica labeler: {per_replica}"
    held = Counter(copy_id for job in state.replica_jobs() for copy_id in job.entities)
    for dataset_id, copies in state.copies.items():
        assert Counter(copies.values()).most_common(1)[0][1] == 1 if copies else True, "a name copied twice"
        assert all(held[copy_id] == 1 for copy_id in copies), f"a copy of replica {dataset_id} not in one job"
    seen: Counter[tuple[str, str]] = Counter()
    for job in state.replica_jobs():
        for copy_id in job.entities:
            seen[(str(job.lineage["labeler"]), state.copies[job.dataset_id][copy_id])] += 1
    twice = [key for key, count in seen.items() if count > 1]
    assert not twice, f"labelers with two replicas of one image: {twice}"


def assert_merged_and_adjudicated(state: ConsensusState, source_id: int, threshold: float) -> tuple[int, int]:
    """Each original either carries the merge of its replicas (agreeing images) or sits in one adjudication job;
    return (merged, adjudicated)."""
    adjudicated = Counter(i for job in state.adjudication_jobs(source_id) for i in job.entities)
    assert all(count == 1 for count in adjudicated.values()), "an image in two adjudication jobs"
    replicas = state.replicas_of()
    assert set(replicas) == set(state.originals), "an original without replicas"
    merged = 0
    for image_id, drawn in replicas.items():
        if image_id in adjudicated:
            continue
        # Numbers as floats, as the client's models give them: the merge breaks a medoid tie by content, and
        # 1035 and 1035.0 sort differently.
        expected = merge_many([[_floats(replica) for replica in drawn.values()]])[0]
        stored = state.annotations[image_id]
        assert _objects(stored) == _objects(expected), f"image {image_id}: not the merge of its replicas"
        merged += 1
    return merged, len(adjudicated)


def _objects(annotation: dict[str, Any]) -> list[tuple[Any, ...]]:
    """An annotation's objects as comparable tuples (class, geometry), sorted."""
    return sorted(
        (o["classTitle"], o["geometryType"], repr(_floats(o.get("points"))), repr(o.get("bitmap")))
        for o in annotation.get("objects") or []
    )


def _floats(value: Any) -> Any:
    """Numbers as floats (1035 and 1035.0 are the same coordinate), in nested lists and dicts."""
    if isinstance(value, dict):
        return {key: _floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_floats(item) for item in value]
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def with_a_duplicated_replica_job(state: ConsensusState) -> ConsensusState:
    """Mutant: the copies of a replica job labeled again in a second job whose lineage names another labeler (so
    the job identities stay unique and only the consensus oracle can see it)."""
    job = state.replica_jobs()[0]
    twin = RawJob(
        id=max(j.id for j in state.jobs) + 1,
        dataset_id=job.dataset_id,
        disabled=False,
        lineage={**job.lineage, "labeler": "someone_else", "share": "copy"},
        entities=job.entities,
    )
    return replace(state, jobs=[*state.jobs, twin])


@dataclass
class KillingSteps(ClientRoundSteps):
    """The library's steps, killed right after the `kill_after`-th call of one step."""

    kill_after: tuple[str, int] | None = None
    calls: Counter[str] = field(default_factory=Counter)

    def _count(self, name: str) -> None:
        self.calls[name] += 1
        if self.kill_after == (name, self.calls[name]):
            raise StopRound(f"killed after {name} #{self.calls[name]}")

    async def replicate(self, *args: Any) -> Any:
        result = await super().replicate(*args)
        self._count("replicate")
        return result

    async def wait_for_review(self, *args: Any) -> None:
        await super().wait_for_review(*args)
        self._count("wait_for_review")

    async def measure_agreement(self, *args: Any) -> Any:
        result = await super().measure_agreement(*args)
        self._count("measure_agreement")
        return result

    async def merge_consensus(self, *args: Any) -> Any:
        result = await super().merge_consensus(*args)
        self._count("merge_consensus")
        return result

    async def adjudicate(self, *args: Any) -> Any:
        result = await super().adjudicate(*args)
        self._count("adjudicate")
        return result

    async def record_consensus(self, *args: Any) -> None:
        await super().record_consensus(*args)
        self._count("record_consensus")

    async def finish(self, *args: Any) -> Any:
        result = await super().finish(*args)
        self._count("finish")
        return result


KILL_POINTS = [
    ("replicate", 1),  # the first pass half made
    ("wait_for_review", 1),
    ("replicate", 3),  # the dynamic replica made, not yet labeled
    ("merge_consensus", 1),
    ("adjudicate", 1),
    ("record_consensus", 1),
]


async def test_a_consensus_round_killed_at_each_step_and_run_again_duplicates_nothing(server: SandboxServer) -> None:
    """Dynamic overlap 2 → 3, killed after each step in turn (each re-run gets further), then run to the end: replicas
    blind and once, agreeing images merged, the rest in one adjudication job, figures equal to the raw counts
    (labels = copies + adjudicated images); a re-run of the finished round without keep_replicas removes the replica
    images and changes nothing else; the scorecard reads each labeler's agreement with the consensus back."""
    spec = consensus_spec(keep_replicas=True)
    async with admin_client(server) as api:
        for point in KILL_POINTS:
            with pytest.raises(StopRound):
                await run_round(KillingSteps(api, PASSWORD, kill_after=point), spec)
        done = await run_round(ClientRoundSteps(api, PASSWORD), spec)
        source_id = server.dataset_ids[0]
        state = read_state(server, source_id)
        again = await run_round(ClientRoundSteps(api, PASSWORD), consensus_spec(keep_replicas=False))
        card = await labeler_scorecard(api, server.team_id)
    assert_no_duplicates(state)
    with pytest.raises(AssertionError, match="not in one job"):
        assert_no_duplicates(with_a_duplicated_replica_job(state))
    merged, adjudicated = assert_merged_and_adjudicated(state, source_id, 0.8)
    figures = done.consensus
    assert figures is not None and again.consensus == figures and done.report.consensus == figures
    copies = sum(len(copies) for copies in state.copies.values())
    assert (figures.merged, figures.adjudicated, figures.images) == (merged, adjudicated, len(state.originals))
    assert figures.labels == copies + adjudicated
    assert len(state.originals) * 2 < copies <= len(state.originals) * 3  # some images got a third replica
    assert adjudicated > 0 and merged > 0
    assert {job.lineage["labeler"] for job in state.adjudication_jobs(source_id)} == {"reviewer_1"}
    kept = card.rows.set_index("labeler")  # read back from the server by the scorecard
    assert {login: kept.loc[login, "consensus_f1"] for login in LABELERS} == pytest.approx(
        {login: agreement.f1 for login, agreement in figures.per_labeler.items()}
    )
    after = read_state(server, source_id)
    assert [d["id"] for d in after.replica_datasets] == [d["id"] for d in state.replica_datasets]
    assert all(not copies for copies in after.copies.values()), "replica images left after the round"
    assert sorted(job.id for job in after.jobs) == sorted(job.id for job in state.jobs)
    assert {i: _objects(after.annotations[i]) for i in after.originals} == {
        i: _objects(state.annotations[i]) for i in state.originals
    }


@pytest.mark.parametrize(
    ("consensus", "complaint"),
    [
        ({"adjudicator": "nobody_here"}, "consensus.adjudicator 'nobody_here' is not in team"),
        ({"adjudicator": DEFAULT_ADMIN_LOGIN}, None),  # a team admin may label: accepted (validated only)
    ],
)
async def test_an_adjudicator_outside_the_team_is_refused_before_anything_is_written(
    server: SandboxServer, consensus: dict[str, Any], complaint: str | None
) -> None:
    assert server.store is not None
    before = fingerprint(server.store)
    async with admin_client(server) as api:
        steps = ClientRoundSteps(api, PASSWORD)
        if complaint is None:
            await steps.validate(consensus_spec(**consensus))
            return
        with pytest.raises(RoundValidationError) as refused:
            await run_round(steps, consensus_spec(**consensus))
    assert fingerprint(server.store) == before
    assert complaint in str(refused.value)


#: Lost replies (the write commits, the reply never arrives) on every write a consensus round makes.
LOST_REPLIES = (
    "datasets.add:drop=0.5,images.bulk.add:drop=0.5,jobs.add:drop=0.3,annotations.bulk.add:drop=0.3,"
    "jobs.editInfo:drop=0.3,seed=4"
)


async def test_lost_replies_to_every_consensus_write_duplicate_nothing(server: SandboxServer) -> None:
    """With replies to the round's writes dropped after they commit, the round (run again after an unresolved
    write, as documented) ends with every replica dataset, copy and job once and the merges in place."""
    spec = consensus_spec(keep_replicas=True)
    server.traffic.plan = FaultPlan.parse(LOST_REPLIES)
    try:
        async with admin_client(server) as api:
            for _attempt in range(6):
                try:
                    await run_round(ClientRoundSteps(api, PASSWORD), spec)
                    break
                except UnresolvedWriteError:
                    continue
            else:
                pytest.fail("the round did not finish in 6 runs")
        dropped = server.traffic_stats().faults
    finally:
        server.traffic.plan = FaultPlan.parse("")
    lost = {method for method, kinds in dropped.items() if kinds.get("drop")}
    assert {"datasets.add", "images.bulk.add", "jobs.add"} <= lost, f"replies dropped only to {lost}"
    state = read_state(server, server.dataset_ids[0])
    assert_no_duplicates(state)
    assert_merged_and_adjudicated(state, server.dataset_ids[0], 0.8)
