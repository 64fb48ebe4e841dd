"""Every write method, per team role: the documented outcome, and a refused call writes nothing.

Rules (docs/ARCHITECTURE.md, sandbox permissions): 403 when the caller may see the object but its role may not
act; 404 when the caller may not even see it (an outsider's view of the team's objects, a viewer's view of a
job); 400 when the role may make the move but not in the job's current state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from labelrounds.sandbox.registry import API_METHODS
from labelrounds.sandbox.server import SandboxServer

from .world import ROLES, SAMPLE_BODIES, World, build_world, call, fingerprint

Body = Callable[[World], Any]


def row(default: int, **overrides: int) -> dict[str, int]:
    """Expected statuses per role: `default` unless overridden."""
    return {role: overrides.get(role, default) for role in ROLES}


TEAM_MANAGERS = row(403, admin=200, manager=200)
USER_ADMINISTRATION = row(403, outsider=404)  # only the instance admin (or the user itself) edits a user
JOB_MANAGERS = row(403, admin=200, manager=200, developer=200, outsider=404)
ON_THE_JOB = row(403, admin=200, manager=200, developer=200, viewer=404, outsider=404)
# The reviewer's part includes the move, but only while the job is on review; the job is pending.
REVIEWER_TOO_EARLY = {**ON_THE_JOB, "reviewer": 400}

CASES: dict[str, tuple[str, Body | None, dict[str, int]]] = {
    "users.add": ("users.add", None, TEAM_MANAGERS),
    "users.editInfo": ("users.editInfo", None, USER_ADMINISTRATION),
    "users.disable": ("users.disable", None, USER_ADMINISTRATION),
    "members.add": ("members.add", None, TEAM_MANAGERS),
    "members.editInfo": ("members.editInfo", None, TEAM_MANAGERS),
    "members.remove": ("members.remove", None, TEAM_MANAGERS),
    "projects.meta.update": ("projects.meta.update", None, JOB_MANAGERS),
    "projects.settings.update": ("projects.settings.update", None, JOB_MANAGERS),
    "jobs.add": ("jobs.add", None, JOB_MANAGERS),
    "jobs.editInfo": ("jobs.editInfo", None, ON_THE_JOB),
    "jobs.stop": ("jobs.stop", None, ON_THE_JOB),
    "jobs.archive": ("jobs.archive", None, ON_THE_JOB),
    "jobs.restart": ("jobs.restart", None, ON_THE_JOB),
    "jobs.split": ("jobs.split", None, ON_THE_JOB),
    # Refused outright for whoever administers jobs in no team, visible job or not.
    "jobs.bulk.remove": ("jobs.bulk.remove", None, row(403, admin=200, manager=200, developer=200)),
    "jobs.bulk.remove(invisible job)": (
        "jobs.bulk.remove",
        lambda w: {"ids": [w.other_job_id]},
        row(403, admin=200, manager=200, developer=200),
    ),
    "jobs.set-status(stopped)": ("jobs.set-status", None, ON_THE_JOB),
    # The labeler starts its own job.
    "jobs.set-status(in_progress)": (
        "jobs.set-status",
        lambda w: {"id": w.job_id, "status": "in_progress"},
        {**REVIEWER_TOO_EARLY, "annotator": 200},
    ),
    "jobs.set-status(completed)": (
        "jobs.set-status",
        lambda w: {"id": w.job_id, "status": "completed"},
        REVIEWER_TOO_EARLY,
    ),
    "jobs.entities.update-review-status(accepted)": (
        "jobs.entities.update-review-status",
        None,
        REVIEWER_TOO_EARLY,
    ),
    "jobs.reject": ("jobs.reject", None, REVIEWER_TOO_EARLY),
    "images.bulk.add": ("images.bulk.add", None, JOB_MANAGERS),
    "images.bulk.remove": ("images.bulk.remove", None, JOB_MANAGERS),
    "datasets.add": ("datasets.add", None, JOB_MANAGERS),
    "datasets.archive": ("datasets.archive", None, JOB_MANAGERS),
    "datasets.remove.permanently": ("datasets.remove.permanently", None, row(403)),
    # Annotators write only on the images of their own active jobs (image_ids[1] is in the annotator's).
    "annotations.bulk.add": ("annotations.bulk.add", None, {**JOB_MANAGERS, "annotator": 200}),
    "annotations.bulk.add(not in the annotator's job)": (
        "annotations.bulk.add",
        lambda w: {"datasetId": w.dataset_id, "annotations": [{"imageId": w.image_ids[4], "annotation": {}}]},
        JOB_MANAGERS,
    ),
    "annotations.bulk.copy": ("annotations.bulk.copy", None, {**JOB_MANAGERS, "annotator": 200}),
    # Queues are created and closed by job managers; only the queue's labelers take images (viewers and
    # outsiders do not even see it).
    "labeling-queues.add": ("labeling-queues.add", None, JOB_MANAGERS),
    "labeling-queues.set-status": ("labeling-queues.set-status", None, ON_THE_JOB),
    "labeling-queues.entities.take": (
        "labeling-queues.entities.take",
        None,
        row(403, annotator=200, viewer=404, outsider=404),
    ),
    # Webhooks are the team managers'; by id, an outsider does not even see them.
    "webhooks.add": ("webhooks.add", None, TEAM_MANAGERS),
    "webhooks.update": ("webhooks.update", None, row(403, admin=200, manager=200, outsider=404)),
    "webhooks.bulk.remove": ("webhooks.bulk.remove", None, row(403, admin=200, manager=200, outsider=404)),
    "webhooks.test": ("webhooks.test", None, TEAM_MANAGERS),
}


def test_every_write_method_has_a_case() -> None:
    writes = {name for name, method in API_METHODS.items() if method.write}
    assert {method for method, _, _ in CASES.values()} == writes


@pytest.mark.parametrize("case", list(CASES))
def test_each_role_gets_the_documented_status_and_a_refusal_writes_nothing(
    sandbox: SandboxServer, case: str
) -> None:
    """Each role acts on a fresh world: reseeded after a call that was allowed (it may have written); a refused
    call is asserted to have written nothing, so the next role acts on the same world without a reseed."""
    method, make_body, expected = CASES[case]
    observed: dict[str, int] = {}
    world: World | None = None
    for role in ROLES:
        if world is None:
            sandbox.reset("lemons")
            world = build_world(sandbox)
        assert sandbox.store is not None
        body = (make_body or SAMPLE_BODIES[method])(world)
        before = fingerprint(sandbox.store)
        reply = call(world.url, world.tokens[role], method, body)
        observed[role] = reply.status_code
        if reply.status_code != 200:
            details = reply.json()["details"]
            assert isinstance(details["message"], str) and details["message"], (role, reply.text)
            assert fingerprint(sandbox.store) == before, f"{case} refused for {role} but wrote"
        else:
            world = None
    assert observed == expected
