"""Human decisions in the round's composition (`run_round` + `PresetApprovalSteps`) against a real sandbox.

Oracles: the server's state read back with raw HTTP (`tests/oracles.py`): every user, member, job and the project
meta before and after a rejected plan; the round's jobs and each image's review status after a rework-cap decision.
A mutant (an approved plan) shows the "nothing written" check fails on a round that wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from oracles import RawApi, RawJob, assert_each_image_once, assert_unique_identities, round_key_of
from pydantic import SecretStr, ValidationError

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.crew import Crew, CrewConfig
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.approval import (
    PlanDecision,
    PlanRejectedError,
    ReworkCapDecision,
    UnknownLabelerError,
)
from labelrounds.steps.approval_client import PresetApprovalSteps
from labelrounds.steps.errors import RoundError
from labelrounds.steps.preview import preview_round
from labelrounds.steps.sequence import ClientRoundSteps, run_round

PASSWORD = SecretStr("Lemon-approver-2026")
LEMONS_IMAGES = 6
APPROVE = PlanDecision(decision="approve")
REJECT = PlanDecision(decision="reject", comment="too many images for this week")


def lemons_round(**overrides: Any) -> RoundSpec:
    """The lemons round (two new labelers, a new reviewer, a new class) with a fast gate."""
    fields: dict[str, Any] = {
        "round_name": "approved-round",
        "team": "my team",
        "project": "Lemons (Test)",
        "labelers": ["labeler_1", "labeler_2"],
        "reviewer": "reviewer_1",
        "classes": [{"name": "kiwi"}, {"name": "mango", "shape": "rectangle"}],
        "poll_interval_seconds": 0.05,
        "timeout_seconds": 60,
    }
    return parse_round_spec({**fields, **overrides})


def client(server: SandboxServer) -> SuperviselyClient:
    """The sandbox admin's client."""
    return SuperviselyClient(ConnectionSettings(server_address=server.url, api_token=server.admin_token))


def server_state(server: SandboxServer) -> dict[str, Any]:
    """Everything a round could write, read raw: users, team members, every job, the project meta."""
    with RawApi.of(server) as raw:
        return {
            "users": raw.list_all("users.list", {}),
            "members": raw.list_all("members.list", {"teamId": server.team_id}),
            "jobs": raw.list_all("jobs.list", {"teamId": server.team_id, "showDisabled": True}),
            "meta": raw.call("projects.meta", {"id": server.project_id}),
        }


def assert_nothing_written(before: dict[str, Any], after: dict[str, Any]) -> None:
    """The oracle: no user, member, job or meta change between the two raw reads."""
    changed = [part for part in before if before[part] != after[part]]
    assert not changed, f"the round wrote: {changed} changed"


def round_jobs(server: SandboxServer, round_name: str) -> list[RawJob]:
    """The round's jobs read raw by their lineage."""
    assert server.project_id is not None
    with RawApi.of(server) as raw:
        return raw.round_jobs(server.team_id, round_key_of(round_name, server.project_id))


async def test_a_rejected_plan_writes_nothing_and_an_approved_one_creates_the_jobs(
    sandbox: SandboxServer,
) -> None:
    spec = lemons_round(approve_plan=True, max_rework_cycles=0, target_status="on_review")
    before = server_state(sandbox)
    async with client(sandbox) as api:
        steps = PresetApprovalSteps(api, PASSWORD, plan_decision=REJECT)
        with pytest.raises(PlanRejectedError, match="too many images for this week"):
            await run_round(steps, spec)
    assert_nothing_written(before, server_state(sandbox))
    (plan,) = steps.shown  # the plan shown names the people, the new class and all six images
    assert (
        "labeler_1" in plan
        and "reviewer_1" in plan
        and "`mango`" in plan
        and f"{LEMONS_IMAGES} images" in plan
    )

    async with client(
        sandbox
    ) as api:  # the mutant of the oracle: an approved plan writes, and the check says so
        steps = PresetApprovalSteps(api, PASSWORD, plan_decision=APPROVE)
        await api_round_without_gate(steps, spec)
    with pytest.raises(AssertionError, match="the round wrote"):
        assert_nothing_written(before, server_state(sandbox))
    jobs = round_jobs(sandbox, spec.round_name)
    with RawApi.of(sandbox) as raw:
        selected = raw.image_ids_by_dataset(raw.dataset_ids(sandbox.project_id or 0))
    assert_each_image_once(selected, jobs)
    assert {job.lineage["labeler"] for job in jobs} == {"labeler_1", "labeler_2"}
    async with client(sandbox) as api:  # what tells a new run of the round that its plan was approved before
        assert (await preview_round(api, spec, PASSWORD)).reused_jobs == len(jobs)


async def api_round_without_gate(steps: PresetApprovalSteps, spec: RoundSpec) -> None:
    """Run the round until its gate times out (nobody labels here): the setup and jobs are what counts."""
    with pytest.raises(RoundError):
        await run_round(steps, spec.model_copy(update={"timeout_seconds": 0.2, "poll_interval_seconds": 0.1}))


async def test_steps_that_cannot_ask_refuse_a_round_with_approvals_before_writing(
    sandbox: SandboxServer,
) -> None:
    before = server_state(sandbox)
    async with client(sandbox) as api:
        with pytest.raises(RoundError, match="cannot ask a person"):
            await run_round(ClientRoundSteps(api, PASSWORD), lemons_round(approve_plan=True))
    assert_nothing_written(before, server_state(sandbox))


@pytest.fixture(scope="module")
def rejecting_server() -> Iterator[SandboxServer]:
    """A lemons sandbox whose instant crew rejects about half of the images once, and a third labeler in the team."""
    crew = Crew(CrewConfig(reject_rate=0.5, max_rejections_per_image=1, poll_interval=0.02, seed=3))
    with SandboxServer(seed="lemons", crew=crew) as server:
        yield server


@pytest.fixture
def rejecting(rejecting_server: SandboxServer) -> SandboxServer:
    """The crewed sandbox reset to lemons, the round's people in the team, `expert_1` annotator, `viewer_1` viewer."""
    rejecting_server.reset("lemons")
    people = {"labeler_1": Role.ANNOTATOR, "labeler_2": Role.ANNOTATOR, "reviewer_1": Role.REVIEWER}
    for login, role in {**people, "expert_1": Role.ANNOTATOR, "viewer_1": Role.VIEWER}.items():
        add_user(rejecting_server.store, login, role=role)  # in the store: no password hashing to wait for
    return rejecting_server


def rejected_in(jobs: list[RawJob], cycle: int) -> set[int]:
    """Images whose review status is rejected in the jobs of `cycle` (raw reads)."""
    return {
        image
        for job in jobs
        if job.cycle == cycle
        for image, status in job.entities.items()
        if status == "rejected"
    }


async def test_at_the_rework_cap_the_still_rejected_images_go_to_the_chosen_labeler(
    rejecting: SandboxServer,
) -> None:
    spec = lemons_round(round_name="reassigned", max_rework_cycles=0, approve_rework_cap=True)
    decision = ReworkCapDecision(choice="reassign", labeler="expert_1", comment="expert pass")
    async with client(rejecting) as api:
        steps = PresetApprovalSteps(api, PASSWORD, rework_cap_decisions=[decision])
        run = await run_round(steps, spec)
    jobs = round_jobs(rejecting, spec.round_name)
    still_rejected = rejected_in(jobs, 0)
    assert still_rejected, "the crew's seed rejects some images in the first pass"
    rework = [job for job in jobs if job.cycle == 1]
    assert {job.lineage["labeler"] for job in rework} == {"expert_1"}
    assert {image for job in rework for image in job.entities} == still_rejected  # exactly those, once each
    assert sum(len(job.entities) for job in rework) == len(still_rejected)
    assert_unique_identities(jobs)
    assert (
        len(run.cycles) == 2 and not steps.rework_cap_decisions
    )  # asked once: cycle 1 left nothing rejected
    (facts,) = steps.shown
    assert f"{len(still_rejected)} images are still rejected" in facts and "`expert_1`" in facts
    assert "`viewer_1`" not in facts  # a viewer cannot label


async def test_accepting_at_the_cap_ends_the_round_with_the_images_rejected(rejecting: SandboxServer) -> None:
    spec = lemons_round(round_name="accepted", max_rework_cycles=0, approve_rework_cap=True)
    async with client(rejecting) as api:
        steps = PresetApprovalSteps(api, PASSWORD, rework_cap_decisions=[ReworkCapDecision(choice="accept")])
        await run_round(steps, spec)
    jobs = round_jobs(rejecting, spec.round_name)
    assert rejected_in(jobs, 0) and {job.cycle for job in jobs} == {0}


async def test_a_viewer_chosen_at_the_cap_is_refused_before_the_cycle_is_written(
    rejecting: SandboxServer,
) -> None:
    spec = lemons_round(round_name="viewer", max_rework_cycles=0, approve_rework_cap=True)
    async with client(rejecting) as api:
        steps = PresetApprovalSteps(
            api, PASSWORD, rework_cap_decisions=[ReworkCapDecision(choice="reassign", labeler="viewer_1")]
        )
        with pytest.raises(UnknownLabelerError, match="'viewer_1' cannot take the still-rejected images"):
            await run_round(steps, spec)
    assert {job.cycle for job in round_jobs(rejecting, spec.round_name)} == {0}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"choice": "reassign"}, "needs the login"),
        ({"choice": "accept", "labeler": "expert_1"}, "only taken with choice 'reassign'"),
        ({"choice": "reassign", "labeler": "no spaces allowed"}, "is not a login"),
        ({"choice": "later"}, "choice"),
    ],
)
def test_a_rework_cap_decision_names_its_problem(fields: dict[str, str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ReworkCapDecision.model_validate(fields)


def test_queue_rounds_refuse_the_rework_cap_question() -> None:
    with pytest.raises(ValueError, match="approve_rework_cap has no effect with assignment 'queue'"):
        lemons_round(assignment="queue", approve_rework_cap=True)
