"""Helpers of the flow tests: the example round with a fast gate, the connection in the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import LabelingJobInfo
from labelrounds.round_spec import RoundSpec, load_round_spec
from labelrounds.sandbox.server import SandboxServer

REPO_DIR = Path(__file__).resolve().parents[2]
EXAMPLE_ROUND = REPO_DIR / "examples" / "round.yaml"
PASSWORD = SecretStr("Flow-labeler-2026")
FAST_GATE = {"poll_interval_seconds": 0.05, "timeout_seconds": 60}


def round_spec(**overrides: Any) -> RoundSpec:
    """The example round (lemons) with a fast gate, and any field overridden."""
    data = load_round_spec(EXAMPLE_ROUND).model_dump(mode="json")
    return RoundSpec.model_validate({**data, **FAST_GATE, **overrides})


def settings_of(sandbox: SandboxServer) -> ConnectionSettings:
    """The sandbox admin's connection."""
    return ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)


def admin_client(sandbox: SandboxServer) -> SuperviselyClient:
    """A client with the sandbox admin's token."""
    return SuperviselyClient(settings_of(sandbox))


def write_requests(server: SandboxServer) -> dict[str, int]:
    """Requests of write methods the sandbox received so far (the crew's apart), by method."""
    from labelrounds.sandbox.registry import API_METHODS

    requests = server.traffic_stats().requests
    return {method: count for method, count in requests.items() if method in API_METHODS and API_METHODS[method].write}


async def round_jobs(server: SandboxServer) -> list[LabelingJobInfo]:
    """Every job of the sandbox's team, archived ones included."""
    async with admin_client(server) as api:
        return await api.list_jobs(server.team_id, show_disabled=True)
