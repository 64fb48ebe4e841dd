"""The typed webhook methods against the sandbox: add, list, get, update, test and remove; secrets stay hidden."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bench.capture_server import capture_server
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models.webhooks import LABELING_JOB_COMPLETED
from labelrounds.sandbox.server import SandboxServer


async def test_round_trip_and_the_secret_header(sandbox: SandboxServer) -> None:
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    secret = SecretStr("hook-secret-value")
    with capture_server() as capture:
        async with SuperviselyClient(settings) as api:
            webhook_id = await api.add_webhook(
                sandbox.team_id,
                capture.url,
                LABELING_JOB_COMPLETED,
                headers={"x-secret": secret},
                retries_delay=0,
            )
            listed = await api.list_webhooks(sandbox.team_id)
            assert [webhook.id for webhook in listed] == [webhook_id]
            info = await api.get_webhook(webhook_id)
            assert info is not None and info.url == capture.url and info.team_id == sandbox.team_id
            assert (info.meta.retries_count, info.meta.retries_delay) == (5, 0)
            assert "hook-secret-value" not in repr(info)
            updated = await api.update_webhook(webhook_id, retries_count=1)
            assert updated.meta.retries_count == 1 and updated.url == capture.url
            await api.test_webhook(sandbox.team_id, webhook_id, {"ping": True})
            (request,) = capture.wait_for(lambda got: len(got) >= 1)
            await api.remove_webhooks([webhook_id])
            assert await api.get_webhook(webhook_id) is None
    assert request.headers["x-secret"] == "hook-secret-value"
    assert request.body["data"] == {"ping": True} and request.body["webhookId"] == webhook_id


async def test_bad_arguments_fail_before_sending(sandbox: SandboxServer) -> None:
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings) as api:
        with pytest.raises(ValueError, match="action"):
            await api.add_webhook(sandbox.team_id, "http://127.0.0.1:9/", "job.done")
        with pytest.raises(TypeError, match="SecretStr"):
            await api.add_webhook(
                sandbox.team_id,
                "http://127.0.0.1:9/",
                LABELING_JOB_COMPLETED,
                headers={"x": "plain"},  # type: ignore[dict-item]
            )
        assert await api.list_webhooks(sandbox.team_id) == []
