"""Sandbox webhooks: the `webhooks.*` wire, and deliveries to a capture server on 127.0.0.1 after a job
completes (headers, retries, and the drop/delay/dup delivery faults).

Oracles are independent of the code under test: what the capture server received (ids from the test's own
`jobs.add` replies and the seed), and raw reads of the delivery outbox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.capture_server import Captured, capture_server
from labelrounds.sandbox.auth import Actor
from labelrounds.sandbox.faults import FaultInjector, FaultPlan
from labelrounds.sandbox.jobs_core import set_job_status
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.registry import Context, PageSizes
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.wire import now_iso

from .api_client import Api

SECRET_HEADER = "x-labelrounds-secret"


def new_job(admin: Api, sandbox: SandboxServer, name: str) -> int:
    """A one-image job labeled and reviewed by the admin."""
    image_id = admin.ok("images.list", {"datasetId": sandbox.dataset_id})["entities"][0]["id"]
    body = {
        "name": name,
        "datasetId": sandbox.dataset_id,
        "userIds": [sandbox.admin_id],
        "reviewerId": sandbox.admin_id,
        "meta": {"classes": ["lemon"], "entityIds": [image_id]},
    }
    return int(admin.ok("jobs.add", body)[0]["id"])


def complete(admin: Api, job_id: int) -> None:
    """Move a job to `completed`."""
    admin.ok("jobs.set-status", {"id": job_id, "status": "completed"})


def add_webhook(admin: Api, sandbox: SandboxServer, url: str, **meta: Any) -> int:
    """A `labeling_job.completed` webhook of the seeded team."""
    body = {"teamId": sandbox.team_id, "url": url, "action": "labeling_job.completed", "meta": meta}
    return int(admin.ok("webhooks.add", body)["id"])


def job_ids_delivered(captured: list[Captured]) -> list[int]:
    """The job ids of the non-test deliveries received, in arrival order."""
    return [request.body["data"]["jobId"] for request in captured if not request.body["test"]]


def delivered_once_each(captured: list[Captured], job_ids: list[int]) -> bool:
    """The oracle: each job's completion arrived exactly once, and nothing else arrived."""
    return sorted(job_ids_delivered(captured)) == sorted(job_ids)


def delivery_states(sandbox: SandboxServer) -> list[tuple[str, int]]:
    """(state, attempts) of every delivery in the outbox, oldest first (a raw read of the store)."""
    assert sandbox.store is not None
    with sandbox.store.transaction(write=False) as db:
        return [
            tuple(row) for row in db.execute("SELECT state, attempts FROM webhook_deliveries ORDER BY id")
        ]


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll a condition until it holds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


@pytest.fixture
def faults(sandbox: SandboxServer) -> Iterator[FaultInjector]:
    """The session sandbox's fault injector, restored to no faults afterwards."""
    yield sandbox.traffic
    sandbox.traffic.plan = FaultPlan()


def test_the_wire_of_add_list_info_update_remove(sandbox: SandboxServer, admin: Api) -> None:
    body = {
        "teamId": sandbox.team_id,
        "url": "http://127.0.0.1:9/hook",
        "action": "labeling_job.completed",
        "meta": {"retriesCount": 2, "retriesDelay": 1, "headers": {SECRET_HEADER: "s3cret"}},
    }
    added = admin.ok("webhooks.add", body)
    assert added["teamId"] == sandbox.team_id and added["url"] == body["url"]
    assert added["action"] == "labeling_job.completed"
    assert added["meta"] == {
        "retriesCount": 2,
        "retriesDelay": 1,
        "headers": {SECRET_HEADER: "********"},  # the value never comes back
        "followRedirect": True,
        "rejectUnauthorized": True,
    }
    assert "s3cret" not in str(admin.ok("webhooks.list", {"teamId": sandbox.team_id}))
    listed = admin.ok("webhooks.list", {"teamId": sandbox.team_id})
    assert listed["total"] == 1 and listed["entities"][0] == added
    assert admin.ok("webhooks.info", {"id": added["id"]}) == added
    updated = admin.ok("webhooks.update", {"id": added["id"], "meta": {"retriesCount": 0}})
    assert updated["meta"]["retriesCount"] == 0 and updated["meta"]["retriesDelay"] == 1
    assert updated["url"] == body["url"] and updated["meta"]["headers"] == {SECRET_HEADER: "********"}
    assert admin.ok("webhooks.bulk.remove", {"ids": [added["id"]]}) == {"success": True}
    admin.error("webhooks.info", {"id": added["id"]}, 404)
    assert admin.ok("webhooks.list", {"teamId": sandbox.team_id})["total"] == 0


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1/hook", "127.0.0.1:9/hook", "http:///nohost", "http://a b/", "javascript:alert(1)"],
)
def test_a_url_that_is_not_http_is_refused_and_nothing_written(
    sandbox: SandboxServer, admin: Api, url: str
) -> None:
    details = admin.error(
        "webhooks.add", {"teamId": sandbox.team_id, "url": url, "action": "labeling_job.completed"}, 400
    )
    assert "url" in details["message"]
    assert admin.ok("webhooks.list", {"teamId": sandbox.team_id})["total"] == 0


def test_only_team_admins_and_managers_see_webhooks(
    sandbox: SandboxServer, admin: Api, make_user: Callable[..., Api]
) -> None:
    webhook_id = add_webhook(admin, sandbox, "http://127.0.0.1:9/hook")
    manager = make_user("hook_manager", Role.MANAGER)
    developer = make_user("hook_developer", Role.DEVELOPER)
    outsider = make_user("hook_outsider", None)
    assert manager.ok("webhooks.info", {"id": webhook_id})["id"] == webhook_id
    developer.error("webhooks.info", {"id": webhook_id}, 403)
    developer.error("webhooks.list", {"teamId": sandbox.team_id}, 403)
    outsider.error("webhooks.info", {"id": webhook_id}, 404)


def test_a_completed_job_is_posted_once_with_the_headers(sandbox: SandboxServer, admin: Api) -> None:
    with capture_server() as capture:
        add_webhook(admin, sandbox, capture.url, headers={SECRET_HEADER: "s3cret", "x-extra": "1"})
        first, second = new_job(admin, sandbox, "first"), new_job(admin, sandbox, "second")
        admin.ok("jobs.set-status", {"id": first, "status": "in_progress"})  # not an event
        complete(admin, first)
        complete(admin, first)  # repeating `completed` is no new event
        complete(admin, second)  # arrives after the first's, so the repeat had its chance to show
        captured = capture.wait_for(lambda got: len(job_ids_delivered(got)) >= 2)
        capture.wait_for(lambda got: all(state == "delivered" for state, _ in delivery_states(sandbox)))
    assert delivered_once_each(capture.snapshot(), [first, second])
    # Each delivery is its own task (a slow receiver holds up no other): the two may arrive in either order.
    for request in captured:
        assert request.headers[SECRET_HEADER] == "s3cret" and request.headers["x-extra"] == "1"
        assert request.headers["content-type"] == "application/json"
        assert request.body["action"] == "labeling_job.completed"
        assert request.body["teamId"] == sandbox.team_id
    payloads = sorted((request.body["data"] for request in captured), key=lambda data: data["jobId"])
    assert payloads == [{"jobId": first, "status": "completed"}, {"jobId": second, "status": "completed"}]
    assert len({request.body["deliveryId"] for request in captured}) == 2


def test_the_delivery_oracle_catches_a_duplicate_and_a_loss() -> None:
    def delivery(job_id: int) -> Captured:
        return Captured("/hook", {}, {"test": False, "data": {"jobId": job_id}})

    assert delivered_once_each([delivery(1), delivery(2)], [1, 2])
    assert not delivered_once_each([delivery(1), delivery(1), delivery(2)], [1, 2])  # mutant: duplicated
    assert not delivered_once_each([delivery(1)], [1, 2])  # mutant: lost


def test_failed_attempts_are_retried_then_given_up(sandbox: SandboxServer, admin: Api) -> None:
    with capture_server(statuses=[500, 503]) as capture:
        add_webhook(admin, sandbox, capture.url, retriesCount=3, retriesDelay=0)
        job_id = new_job(admin, sandbox, "retried")
        complete(admin, job_id)
        wait_until(lambda: delivery_states(sandbox) == [("delivered", 3)])
        captured = capture.snapshot()
    assert job_ids_delivered(captured) == [job_id] * 3
    assert len({request.body["deliveryId"] for request in captured}) == 1

    with capture_server(statuses=[500] * 10) as capture:
        admin.ok(
            "webhooks.update",
            {"id": add_webhook(admin, sandbox, capture.url), "meta": {"retriesCount": 1, "retriesDelay": 0}},
        )
        job_id = new_job(admin, sandbox, "given up")
        complete(admin, job_id)
        wait_until(lambda: delivery_states(sandbox)[-1] == ("failed", 2))
        # the first webhook (now pointing at a closed server) fails too; only this server's attempts count here
        assert job_ids_delivered(capture.snapshot()) == [job_id] * 2


def test_test_events_carry_the_callers_payload(sandbox: SandboxServer, admin: Api) -> None:
    with capture_server() as capture:
        webhook_id = add_webhook(admin, sandbox, capture.url)
        reply = admin.ok(
            "webhooks.test", {"teamId": sandbox.team_id, "id": webhook_id, "payload": {"hello": 1}}
        )
        assert reply == {"success": True, "queued": 1}
        (request,) = capture.wait_for(lambda got: len(got) >= 1)
    assert request.body["test"] is True and request.body["data"] == {"hello": 1}
    assert request.body["webhookId"] == webhook_id


def test_dropped_deliveries_never_arrive_and_duplicated_ones_arrive_twice(
    sandbox: SandboxServer, admin: Api, faults: FaultInjector
) -> None:
    with capture_server() as capture:
        add_webhook(admin, sandbox, capture.url, retriesDelay=0)
        faults.plan = FaultPlan.parse("webhook:drop=1")
        lost = new_job(admin, sandbox, "lost")
        complete(admin, lost)
        wait_until(lambda: delivery_states(sandbox) == [("dropped", 0)])
        faults.plan = FaultPlan.parse("webhook:dup=1,webhook:delay=1@200ms")
        doubled = new_job(admin, sandbox, "doubled")
        complete(admin, doubled)
        captured = capture.wait_for(lambda got: len(got) >= 2)
        wait_until(lambda: delivery_states(sandbox)[-1] == ("delivered", 1))
    assert job_ids_delivered(captured) == [doubled, doubled]
    assert captured[0].body == captured[1].body  # the same delivery, twice
    assert faults.snapshot().faults["webhook"] == {"drop": 1, "dup": 1, "delay": 1}


def test_delivery_faults_are_deterministic_per_seed() -> None:
    def fates(seed: int) -> list[tuple[bool, float, int]]:
        injector = FaultInjector(
            FaultPlan.parse(f"webhook:drop=0.3,webhook:delay=0.3@1s,webhook:dup=0.3,seed={seed}")
        )
        return [
            (fault.drop, fault.delay, fault.copies)
            for fault in (injector.decide_delivery() for _ in range(40))
        ]

    assert fates(7) == fates(7)
    assert fates(7) != fates(8)  # the seed matters
    kinds = set(fates(7))
    assert any(drop for drop, _, _ in kinds) and any(delay for _, delay, _ in kinds)
    assert any(copies == 2 for _, _, copies in kinds) and (False, 0.0, 1) in kinds


@pytest.mark.parametrize(
    "spec",
    ["webhook:latency=0.5", "webhook:429=0.5", "jobs.add:dup=0.5", "*:delay=0.5@1s", "webhook:dup=1@1s"],
)
def test_delivery_rules_are_checked(spec: str) -> None:
    with pytest.raises(ValueError, match="webhook|dup|delay"):
        FaultPlan.parse(spec)


def test_a_rolled_back_request_sends_nothing(sandbox: SandboxServer, admin: Api) -> None:
    """The event is written in the request's transaction: when that rolls back, no delivery exists."""
    assert sandbox.store is not None
    with capture_server() as capture:
        add_webhook(admin, sandbox, capture.url, retriesDelay=0)
        rolled_back, committed = new_job(admin, sandbox, "rolled back"), new_job(admin, sandbox, "committed")
        actor = Actor(id=sandbox.admin_id, login=sandbox.admin_login, is_instance_admin=True)
        with pytest.raises(RuntimeError, match="after the status"):
            with sandbox.store.transaction(write=True) as db:
                set_job_status(Context(db, actor, now_iso(), PageSizes()), rolled_back, "completed")
                raise RuntimeError("the request fails after the status was set")
        assert admin.job(rolled_back)["status"] == "pending"
        complete(admin, committed)  # a later delivery as the sync point
        captured = capture.wait_for(lambda got: len(got) >= 1)
        wait_until(lambda: [state for state, _ in delivery_states(sandbox)] == ["delivered"])
    assert job_ids_delivered(captured) == [committed]


def test_delivery_rules_round_trip_through_the_spec() -> None:
    plan = FaultPlan.parse("webhook:drop=0.1,webhook:delay=0.2@1.5s,webhook:dup=0.3,jobs.add:drop=0.5,seed=4")
    assert FaultPlan.parse(plan.to_spec()) == plan
