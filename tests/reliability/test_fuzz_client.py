"""Property tests of the client's parsing: real sandbox replies bent out of shape (or arbitrary JSON, or not JSON)
reach every typed method, which returns a model or raises `ResponseFormatError`, never another exception.

The replies are recorded once from a real sandbox; only the transport that plays them back bent is a fake
(a real server does not send malformed replies). `make test` plays 10 derandomized replies to every method (the
same 10 each run), `make test-long` 600.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from security.world import SAMPLE_BODIES, World, build_world, ok

from labelrounds.client import ConnectionSettings, RetryPolicy, SuperviselyClient
from labelrounds.client.errors import ResponseFormatError
from labelrounds.client.models import JobStatus, ProjectMeta
from labelrounds.sandbox.server import SandboxServer

from .budget import scaled
from .strategies import JSON, bent
from .test_fuzz_sandbox import encode_json

EXAMPLES = scaled(default=10, long=600)
MAX_REQUESTS_PER_CALL = 50
"""A hostile reply must not make the client loop: more requests than this for one call fails the test."""

Call = Callable[[SuperviselyClient, World], Awaitable[Any]]

# client method → (wire method it reads, the call)
CALLS: dict[str, tuple[str, Call]] = {
    "instance_version": ("instance.version", lambda api, w: api.instance_version()),
    "get_me": ("users.me", lambda api, w: api.get_me()),
    "get_user": ("users.info", lambda api, w: api.get_user(w.bystander_id)),
    "list_users": ("users.list", lambda api, w: api.list_users()),
    "get_user_by_login": ("users.list", lambda api, w: api.get_user_by_login("sec_bystander")),
    "add_user": ("users.add", lambda api, w: api.add_user("fuzz_user", SecretStr("Fuzz-pw-1"))),
    "list_members": ("members.list", lambda api, w: api.list_members(w.team_id)),
    "list_roles": ("roles.list", lambda api, w: api.list_roles()),
    "list_teams": ("teams.list", lambda api, w: api.list_teams()),
    "get_team": ("teams.info", lambda api, w: api.get_team(w.team_id)),
    "list_workspaces": ("workspaces.list", lambda api, w: api.list_workspaces(w.team_id)),
    "get_workspace": ("workspaces.info", lambda api, w: api.get_workspace(w.workspace_id)),
    "list_projects": ("projects.list", lambda api, w: api.list_projects(w.workspace_id)),
    "get_project": ("projects.info", lambda api, w: api.get_project(w.project_id)),
    "get_project_meta": ("projects.meta", lambda api, w: api.get_project_meta(w.project_id)),
    "update_project_meta": (
        "projects.meta.update",
        lambda api, w: api.update_project_meta(
            w.project_id, ProjectMeta.model_validate({"classes": [], "tags": []})
        ),
    ),
    "list_datasets": ("datasets.list", lambda api, w: api.list_datasets(w.project_id)),
    "get_dataset": ("datasets.info", lambda api, w: api.get_dataset(w.dataset_id)),
    "list_images": ("images.list", lambda api, w: api.list_images(w.dataset_id)),
    "get_image": ("images.info", lambda api, w: api.get_image(w.image_ids[0])),
    "get_annotation": ("annotations.info", lambda api, w: api.get_annotation(w.image_ids[1])),
    "get_annotations": (
        "annotations.bulk.info",
        lambda api, w: api.get_annotations(w.dataset_id, list(w.image_ids[:2])),
    ),
    "list_annotations": ("annotations.list", lambda api, w: api.list_annotations(w.dataset_id)),
    "add_jobs": (
        "jobs.add",
        lambda api, w: api.add_jobs(
            "fuzz", w.dataset_id, [w.user_ids["annotator"]], classes=["lemon"], tags=[], entity_ids=[]
        ),
    ),
    "get_job": ("jobs.info", lambda api, w: api.get_job(w.job_id)),
    "list_jobs": ("jobs.list", lambda api, w: api.list_jobs(w.team_id)),
    "get_job_stats": ("jobs.stats", lambda api, w: api.get_job_stats(w.job_id)),
    "restart_job": (
        "jobs.restart",
        lambda api, w: api.restart_job(w.job_id, user_ids=[w.user_ids["annotator"]], reviewer_id=None),
    ),
    "set_job_status": ("jobs.set-status", lambda api, w: api.set_job_status(w.job_id, JobStatus.IN_PROGRESS)),
}


@pytest.fixture(scope="module")
def recorded() -> tuple[World, dict[str, Any]]:
    """One real reply of every wire method the client parses, from a fresh sandbox."""
    with SandboxServer(seed="lemons") as server:
        world = build_world(server)
        # image_ids[1] gets a lemon bitmap, so the annotation replies have an object to bend.
        ok(
            world.url,
            world.instance_admin_token,
            "annotations.bulk.add",
            SAMPLE_BODIES["annotations.bulk.add"](world),
        )
        replies = {
            method: ok(world.url, world.instance_admin_token, method, SAMPLE_BODIES[method](world))
            for method in sorted({method for method, _ in CALLS.values()})
        }
    return world, replies


class PlayBack(httpx.AsyncBaseTransport):
    """Answers every request with the same 200 body (`content`, set per example), counting requests."""

    def __init__(self) -> None:
        self.content = b""
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.requests > MAX_REQUESTS_PER_CALL:
            raise AssertionError(f"the client sent over {MAX_REQUESTS_PER_CALL} requests for one call")
        return httpx.Response(200, content=self.content, headers={"content-type": "application/json"})


def reply_strategy(valid: Any) -> st.SearchStrategy[bytes]:
    """Mostly near-misses of a real reply, some arbitrary JSON, some bytes that are not JSON."""
    not_json = st.sampled_from([b"", b"<html>502</html>", b"{", b"\xff", b'{"total": NaN}'])
    return st.one_of(
        bent(valid).map(encode_json), bent(valid).map(encode_json), JSON.map(encode_json), not_json
    )


class Player:
    """One client over a `PlayBack` transport (a client per example would cost a TLS context each)."""

    def __init__(self) -> None:
        self.transport = PlayBack()
        settings_ = ConnectionSettings(server_address="http://127.0.0.1:9", api_token=SecretStr("fuzz-token"))
        retry = RetryPolicy(max_attempts=1)
        self.api = SuperviselyClient(settings_, transport=self.transport, retry_policy=retry)

    async def outcome(self, name: str, world: World, content: bytes) -> str:
        """Run one typed call while the transport plays `content` back."""
        self.transport.content, self.transport.requests = content, 0
        try:
            await CALLS[name][1](self.api, world)
        except ResponseFormatError as error:
            assert "fuzz-token" not in str(error)
            return "refused"
        return "parsed"


async def outcome(name: str, world: World, content: bytes) -> str:
    """One typed call on a fresh client that plays `content` back."""
    player = Player()
    async with player.api:
        return await player.outcome(name, world, content)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_bent_reply_parses_or_raises_response_format_error(
    recorded: tuple[World, dict[str, Any]], name: str
) -> None:
    world, replies = recorded
    loop = asyncio.new_event_loop()
    try:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(content=reply_strategy(replies[CALLS[name][0]]))
        def fuzz(content: bytes) -> None:
            loop.run_until_complete(player.outcome(name, world, content))

        player = Player()
        loop.run_until_complete(player.api.__aenter__())
        fuzz()
        # The unbent reply itself parses.
        real = encode_json(replies[CALLS[name][0]])
        assert loop.run_until_complete(player.outcome(name, world, real)) == "parsed"
        loop.run_until_complete(player.api.aclose())
    finally:
        loop.close()


def test_a_reply_announcing_endless_pages_stops_at_once(recorded: tuple[World, dict[str, Any]]) -> None:
    world, replies = recorded
    endless = {**replies["roles.list"], "total": 1, "pagesCount": 10**9}
    assert len(endless["entities"]) > 1
    assert asyncio.run(outcome("list_roles", world, encode_json(endless))) == "refused"
