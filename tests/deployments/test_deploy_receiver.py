"""`labelrounds deploy --receiver-url`: a bad URL or a missing secret exits 2 before anything is written; the
registration is idempotent (one webhook per team and URL, updated in place)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from pydantic import SecretStr

from deployments.automations import RESUME_READY_ROUNDS, ensure_automation, resume_ready_rounds_automation
from deployments.definitions import deployment_definitions
from deployments.deploy import register_receiver
from deployments.names import RECEIVER_SECRET_ENV
from deployments.receiver import WEBHOOK_PATH
from deployments.serve import ReceiverOptions, serve_with_receiver
from labelrounds.client import ConnectionSettings
from labelrounds.sandbox.server import SandboxServer
from labelrounds.webhook_setup import require_http_url
from tests.e2e.processes import free_port

from .test_deploy_command import deploy, run_labelrounds

SANDBOX_ENV = {"SERVER_ADDRESS": "http://127.0.0.1:9", "API_TOKEN": "t"}


def test_a_receiver_url_that_is_not_http_exits_2_before_writing(tmp_path: Path) -> None:
    url = "ftp://hooks.example.com/in"
    done = deploy(tmp_path, "--receiver-url", url, LABELROUNDS_RECEIVER_SECRET="s", **SANDBOX_ENV)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is not an absolute http:// or https:// URL" in done.stdout
    assert not (tmp_path / "prefect").exists() or not any((tmp_path / "prefect").rglob("*.db"))


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/in", "hooks.example.com/in", "http://", "https://a b/", "http://[::1/x"]
)
def test_only_absolute_http_urls_pass(url: str) -> None:
    with pytest.raises(ValueError, match="not an absolute http"):
        require_http_url(url)
    assert require_http_url("https://hooks.example.com/in") == "https://hooks.example.com/in"


def test_a_receiver_url_without_its_secret_exits_2(tmp_path: Path) -> None:
    done = deploy(tmp_path, "--receiver-url", "https://hooks.example.com/in", **SANDBOX_ENV)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "LABELROUNDS_RECEIVER_SECRET" in done.stdout


async def test_registering_twice_keeps_one_webhook_per_team(sandbox: SandboxServer) -> None:
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    url = "https://receiver.example.com/webhooks/supervisely"
    first = await register_receiver(settings, url, SecretStr("one"), ())
    second = await register_receiver(settings, url, SecretStr("two"), ())
    assert [(hook.team_id, hook.created) for hook in first] == [(sandbox.team_id, True)]
    assert [(hook.team_id, hook.webhook_id, hook.created) for hook in second] == [
        (sandbox.team_id, first[0].webhook_id, False)
    ]
    listed = httpx.post(
        f"{sandbox.url}/public/api/v3/webhooks.list",
        json={"teamId": sandbox.team_id},
        headers={"x-api-key": sandbox.admin_token.get_secret_value()},
    ).json()
    assert [(hook["id"], hook["url"], hook["action"]) for hook in listed["entities"]] == [
        (first[0].webhook_id, url, "labeling_job.completed")
    ]


def test_the_receiver_command_needs_its_secret_from_the_environment(tmp_path: Path) -> None:
    done = run_labelrounds(tmp_path, ["receiver", "serve", "--port", "0"], SANDBOX_ENV, drop=(RECEIVER_SECRET_ENV,))
    assert done.returncode == 2, done.stdout + done.stderr
    assert RECEIVER_SECRET_ENV in done.stderr


async def automations_named(name: str) -> list[dict[str, Any]]:
    """The automations of that name, read from the Prefect API as plain JSON (the oracle)."""
    async with get_client() as client:
        reply = await client._client.post("/automations/filter", json={"automations": {"name": {"any_": [name]}}})
    reply.raise_for_status()
    return list(reply.json())


def test_the_automation_oracle_sees_a_duplicate() -> None:
    one = [{"id": "a", "name": RESUME_READY_ROUNDS}]
    assert len(one) == 1 and len([*one, {"id": "b", "name": RESUME_READY_ROUNDS}]) != 1  # mutant: created twice


async def test_the_resume_automation_is_created_once_and_updated_in_place(prefect_backend: None) -> None:
    automation = resume_ready_rounds_automation()
    first = await ensure_automation(automation)
    second = await ensure_automation(automation.model_copy(update={"description": "changed"}))
    async with get_client() as client:  # a copy a concurrent deploy left behind is removed by the next deploy
        await client.create_automation(automation)
    third = await ensure_automation(automation)
    stored = await automations_named(RESUME_READY_ROUNDS)
    assert first == second == third
    assert [found["id"] for found in stored] == [str(first)]
    (found,) = stored
    assert found["enabled"] is True and found["description"] == automation.description
    assert found["trigger"]["expect"] == ["labelrounds.round.ready"]
    assert found["trigger"]["posture"] == "Reactive" and found["trigger"]["threshold"] == 1
    assert [action["type"] for action in found["actions"]] == ["resume-flow-run"]  # the run the event relates to


async def test_serve_runs_the_receiver_beside_the_flows_on_loopback(prefect_backend: None) -> None:
    settings = ConnectionSettings(server_address="http://127.0.0.1:9", api_token=SecretStr("t"))
    receiver = ReceiverOptions(secret=SecretStr("serve-secret"), settings=settings, port=free_port())
    serving = asyncio.create_task(serve_with_receiver([], receiver, limit=1))
    base = f"http://127.0.0.1:{receiver.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as http:
            deadline = time.monotonic() + 60
            while True:
                assert not serving.done() and time.monotonic() < deadline, "the receiver did not answer"
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            notice = {"teamId": 1, "data": {"jobId": 1}}
            assert (await http.post(WEBHOOK_PATH, json=notice)).status_code == 401
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    assert receiver.host == "127.0.0.1"


def test_the_watcher_interval_is_set_by_deploy() -> None:
    def watcher_interval(**options: int) -> float:
        (watcher,) = [d for d in deployment_definitions(**options) if d.name == "watcher"]  # type: ignore[arg-type]
        assert watcher.schedule is not None and watcher.schedule.interval is not None
        return watcher.schedule.interval.total_seconds()

    assert watcher_interval() == 300
    assert watcher_interval(watch_interval_seconds=3600) == 3600
