"""The webhook receiver with a real sandbox and a real Prefect API: the sandbox delivers job completions to
the receiver on 127.0.0.1, which confirms them with `jobs.info` and emits `labelrounds.job.completed`; the
oracle reads the events back from the Prefect API (`/events/filter`).

Without the secret: 401 and no event. A notice about a job that is not a round's, or not completed: no event.
A duplicated notice: the same event id, stored once by Prefect.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import PrefectClient, get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from pydantic import SecretStr

from deployments.receiver import WEBHOOK_PATH, create_receiver_app
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.job_notices import SECRET_HEADER
from labelrounds.sandbox.server import SandboxServer, bind_socket, socket_url, uvicorn_server
from labelrounds.webhook_setup import ensure_receiver_webhook
from tasks.gate import ROUND_TAG_PREFIX
from tasks.round_events import JOB_COMPLETED_EVENT, announce_completion, round_resource_id


@flow(name="receiver-test-round")
def round_stand_in() -> None:
    """A flow whose run stands for a round's run (only its tags matter)."""


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yields its base URL."""
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn_server(app, configure_logging=False)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.01)
    try:
        yield socket_url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


async def round_events(client: PrefectClient, round_key: str) -> list[dict[str, Any]]:
    """The `labelrounds.job.completed` events of a round, read from the Prefect API."""
    event_filter = EventFilter(
        event=EventNameFilter(name=[JOB_COMPLETED_EVENT]),
        resource=EventResourceFilter(id=[round_resource_id(round_key)]),
    )
    page = await client.read_events(filter=event_filter, limit=50)
    return [event.model_dump(mode="json") for event in page.events]


async def wait_for_job_event(round_key: str, job_id: int) -> list[dict[str, Any]]:
    """Poll (one client for the whole wait) until an event for `job_id` is stored; returns all the round's events
    then."""
    deadline = time.monotonic() + 30
    async with get_client() as client:
        while True:
            events = await round_events(client, round_key)
            if job_id in jobs_of(events):
                return events
            assert time.monotonic() < deadline, f"no event for job {job_id}; got {events}"
            await asyncio.sleep(0.1)


def jobs_of(events: list[dict[str, Any]]) -> list[int]:
    """The job id of each event, in any order (the oracle: compared as a sorted list)."""
    return sorted(event["payload"]["job_id"] for event in events)


def test_the_event_oracle_catches_a_duplicate_and_a_stray() -> None:
    def event(job_id: int) -> dict[str, Any]:
        return {"payload": {"job_id": job_id}}

    assert jobs_of([event(2), event(1)]) == [1, 2]
    assert jobs_of([event(1), event(1), event(2)]) != [1, 2]  # mutant: stored twice
    assert jobs_of([event(3), event(1), event(2)]) != [1, 2]  # mutant: an unauthorized notice got through


def new_job(
    admin: httpx.Client, sandbox: SandboxServer, name: str, custom_data: dict[str, Any] | None
) -> int:
    """A one-image job of the admin, with a round's lineage in customData (or none)."""
    api = "/public/api/v3/"
    image_id = admin.post(f"{api}images.list", json={"datasetId": sandbox.dataset_id}).json()["entities"][0][
        "id"
    ]
    body: dict[str, Any] = {
        "name": name,
        "datasetId": sandbox.dataset_id,
        "userIds": [sandbox.admin_id],
        "reviewerId": sandbox.admin_id,
        "meta": {"classes": ["lemon"], "entityIds": [image_id]},
    }
    if custom_data is not None:
        body["customData"] = custom_data
    reply = admin.post(f"{api}jobs.add", json=body)
    assert reply.status_code == 200, reply.text
    return int(reply.json()[0]["id"])


def lineage(round_key: str, sandbox: SandboxServer) -> dict[str, Any]:
    """A round's lineage for a first-cycle job of the admin."""
    return {
        "labelrounds": {
            "round": round_key,
            "dataset": sandbox.dataset_id,
            "labeler": sandbox.admin_login,
            "share": "s1",
            "cycle": 0,
        }
    }


def complete(admin: httpx.Client, job_id: int) -> None:
    """Move a job to `completed`."""
    reply = admin.post("/public/api/v3/jobs.set-status", json={"id": job_id, "status": "completed"})
    assert reply.status_code == 200, reply.text


async def test_deliveries_become_one_event_per_completion(
    prefect_backend: None, sandbox: SandboxServer
) -> None:
    secret = SecretStr(f"receiver-secret-{uuid4().hex}")
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    round_key = f"receiver-{uuid4().hex[:8]}"
    async with get_client() as client:
        stand_in = await client.create_flow_run(round_stand_in, tags=[ROUND_TAG_PREFIX + round_key])
    app = create_receiver_app(secret, settings, announce_completion)
    admin = httpx.Client(base_url=sandbox.url, headers={"x-api-key": sandbox.admin_token.get_secret_value()})
    with serving(app) as receiver_base, admin:
        url = receiver_base + WEBHOOK_PATH
        early = new_job(admin, sandbox, "completed before the webhook", lineage(round_key, sandbox))
        foreign = new_job(admin, sandbox, "not a round's job", None)
        later = new_job(admin, sandbox, "completed after", lineage(round_key, sandbox))
        complete(admin, early)  # no webhook yet: only the forged notices below could announce it
        notice = {"teamId": sandbox.team_id, "data": {"jobId": early}}
        async with httpx.AsyncClient() as http:
            assert (await http.post(url, json=notice)).status_code == 401
            assert (await http.post(url, json=notice, headers={SECRET_HEADER: "wrong"})).status_code == 401

            async with SuperviselyClient(settings) as api:
                first = await ensure_receiver_webhook(api, sandbox.team_id, url, secret)
                again = await ensure_receiver_webhook(api, sandbox.team_id, url, secret)
                assert first.created and not again.created and again.webhook_id == first.webhook_id
                assert [webhook.id for webhook in await api.list_webhooks(sandbox.team_id)] == [
                    first.webhook_id
                ]
                await api.update_webhook(first.webhook_id, retries_delay=0)
            complete(admin, foreign)  # delivered, confirmed as no round's job: no event
            complete(admin, later)
            events = await wait_for_job_event(round_key, later)
            assert jobs_of(events) == [later]  # neither the 401s nor the foreign job emitted anything
            (event,) = events
            assert event["resource"]["prefect.resource.id"] == f"labelrounds.round.{round_key}"
            assert event["payload"]["team_id"] == sandbox.team_id and event["payload"]["cycle"] == 0
            related = {item["prefect.resource.id"] for item in event["related"]}
            assert f"prefect.flow-run.{stand_in.id}" in related

            # A duplicate of the delivery, then the early job's notice (now authenticated) as a sync point.
            duplicate = {"teamId": sandbox.team_id, "data": {"jobId": later}}
            reply = await http.post(url, json=duplicate, headers={SECRET_HEADER: secret.get_secret_value()})
            assert reply.status_code == 202 and reply.json()["emitted"] is True
            reply = await http.post(url, json=notice, headers={SECRET_HEADER: secret.get_secret_value()})
            assert reply.status_code == 202 and reply.json()["emitted"] is True
            events = await wait_for_job_event(round_key, early)
    assert jobs_of(events) == sorted([early, later])  # the duplicate is the same event, stored once
    assert isinstance(UUID(events[0]["id"]), UUID)


async def test_a_bad_payload_or_a_stale_notice_emits_nothing(
    prefect_backend: None, sandbox: SandboxServer
) -> None:
    secret = SecretStr("another-secret")
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    emitted: list[Any] = []

    async def record(api: Any, completion: Any) -> None:
        emitted.append(completion)

    round_key = f"stale-{uuid4().hex[:8]}"
    admin = httpx.Client(base_url=sandbox.url, headers={"x-api-key": sandbox.admin_token.get_secret_value()})
    with serving(create_receiver_app(secret, settings, record)) as base, admin:
        job_id = new_job(admin, sandbox, "still pending", lineage(round_key, sandbox))
        headers = {SECRET_HEADER: "another-secret"}
        async with httpx.AsyncClient(base_url=base, headers=headers) as http:
            bodies: list[Any] = [
                {"teamId": sandbox.team_id, "data": {"jobId": job_id}},  # ours, but not completed
                {"teamId": sandbox.team_id + 1000, "data": {"jobId": job_id}},  # the wrong team
                {"teamId": sandbox.team_id, "data": {"jobId": 999_999_999}},  # no such job
                {"teamId": sandbox.team_id, "data": {"jobId": "1"}},  # not an int
                [1, 2],
            ]
            for body in bodies:
                reply = await http.post(WEBHOOK_PATH, json=body)
                assert reply.status_code == 202 and reply.json()["emitted"] is False, body
            reply = await http.post(WEBHOOK_PATH, content=b"{not json")
            assert reply.status_code == 202 and reply.json()["emitted"] is False
            reply = await http.post(WEBHOOK_PATH, content=b"x" * 70_000)
            assert reply.status_code == 202 and reply.json()["emitted"] is False
            assert (await http.get("/healthz")).status_code == 200
    assert emitted == []


def test_an_empty_secret_is_refused() -> None:
    settings = ConnectionSettings(server_address="http://127.0.0.1:9", api_token=SecretStr("t"))
    with pytest.raises(ValueError, match="secret"):
        create_receiver_app(SecretStr(""), settings, announce_completion)


async def test_a_completion_that_cannot_be_announced_is_refused_for_a_retry(sandbox: SandboxServer) -> None:
    secret = SecretStr("retry-secret")
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    attempts: list[int] = []

    async def prefect_down(api: Any, completion: Any) -> None:  # the Prefect server unreachable
        attempts.append(completion.job_id)
        raise httpx.ConnectError("connection refused")

    admin = httpx.Client(base_url=sandbox.url, headers={"x-api-key": sandbox.admin_token.get_secret_value()})
    with serving(create_receiver_app(secret, settings, prefect_down)) as base, admin:
        job_id = new_job(admin, sandbox, "completed while Prefect is down", lineage("down@1", sandbox))
        complete(admin, job_id)
        notice = {"teamId": sandbox.team_id, "data": {"jobId": job_id}}
        reply = httpx.post(base + WEBHOOK_PATH, json=notice, headers={SECRET_HEADER: "retry-secret"}, timeout=30)
    assert reply.status_code == 503 and "retry" in reply.json()["error"]  # a non-2xx: the sender delivers again
    assert attempts == [job_id]
