"""Every API method refuses a missing or wrong token with a 401 in Supervisely's error shape, writing nothing."""

from __future__ import annotations

import httpx
import pytest

from labelrounds.sandbox.faults import STATS_PATH
from labelrounds.sandbox.registry import API_METHODS
from labelrounds.sandbox.server import SandboxServer

from .world import SAMPLE_BODIES, World, call, fingerprint

AUTHENTICATED = sorted(name for name, method in API_METHODS.items() if method.authenticated)
BAD_TOKENS = {
    "no token": (None, "Missing x-api-key header"),
    "empty token": ("", "Missing x-api-key header"),
    "wrong token": ("0" * 128, "Invalid API token"),
}


def test_the_sample_bodies_cover_every_registered_method() -> None:
    assert sorted(SAMPLE_BODIES) == sorted(API_METHODS)


def test_only_the_version_is_public() -> None:
    assert sorted(set(API_METHODS) - set(AUTHENTICATED)) == ["instance.version"]


@pytest.mark.parametrize("method", AUTHENTICATED)
def test_every_method_refuses_a_missing_or_wrong_token(
    sandbox: SandboxServer, world: World, method: str
) -> None:
    assert sandbox.store is not None
    body = SAMPLE_BODIES[method](world)
    before = fingerprint(sandbox.store)
    for case, (token, message) in BAD_TOKENS.items():
        reply = call(world.url, token, method, body)
        assert reply.status_code == 401, f"{method} with {case} -> {reply.status_code} {reply.text}"
        assert reply.json() == {"error": message, "details": None}, case
    assert fingerprint(sandbox.store) == before


def test_a_disabled_users_token_is_refused_everywhere(sandbox: SandboxServer, world: World) -> None:
    call(
        world.url,
        world.instance_admin_token,
        "users.disable",
        {"id": world.user_ids["manager"], "disable": True},
    )
    for method in AUTHENTICATED:
        reply = call(world.url, world.tokens["manager"], method, SAMPLE_BODIES[method](world))
        assert reply.status_code == 401, method
        assert reply.json() == {"error": "User 'sec_manager' is disabled", "details": None}


def test_the_stats_endpoint_is_for_the_instance_admin_only(world: World) -> None:
    def status(token: str | None) -> int:
        headers = {"x-api-key": token} if token is not None else {}
        return httpx.get(world.url + STATS_PATH, headers=headers, timeout=30).status_code

    assert status(None) == status("0" * 128) == 401
    assert {status(world.tokens[role]) for role in world.tokens} == {403}  # even the team admin
    assert status(world.instance_admin_token) == 200
