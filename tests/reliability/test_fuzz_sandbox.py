"""Fuzz every sandbox method with random and near-miss bodies, as every role: no 5xx, every refusal in
Supervisely's shape, and nothing written by a refused request (a fingerprint of the whole database).

`make test` draws 8 bodies per method (every method, every token drawn from the same set), `make test-long` 400;
the examples are derandomized, so the default's 8 are the same first 8 every run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from security.world import API, ROLES, SAMPLE_BODIES, World, build_world, fingerprint

from labelrounds.sandbox.registry import API_METHODS
from labelrounds.sandbox.server import SandboxServer

from .budget import scaled
from .strategies import JSON, bent

EXAMPLES = scaled(default=8, long=400)
RAW_BODIES = st.sampled_from(
    [b"", b"{", b"[]", b"null", b'{"id": 1', b"\xff\xfe", b'{"id": NaN}', b"{}" * 1000]
)


def body_strategy(valid: Any) -> st.SearchStrategy[Any]:
    """Mostly near-misses of a valid body, some arbitrary JSON, some malformed bytes."""
    return st.one_of(bent(valid), bent(valid), JSON, RAW_BODIES)


@pytest.fixture
def fuzz_world(sandbox: SandboxServer) -> World:
    """A fresh world per method; the examples of one method share it (accepted calls change it)."""
    return build_world(sandbox)


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """A pooled client of the sandbox."""
    with httpx.Client(base_url=sandbox.url, timeout=30) as client:
        yield client


@pytest.mark.parametrize("method", sorted(API_METHODS))
def test_fuzzed_bodies_never_5xx_and_refusals_write_nothing(
    sandbox: SandboxServer, fuzz_world: World, http: httpx.Client, method: str
) -> None:
    world = fuzz_world
    store = sandbox.store
    assert store is not None
    tokens = [world.instance_admin_token, *(world.tokens[role] for role in ROLES)]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=body_strategy(SAMPLE_BODIES[method](world)), token=st.sampled_from(tokens))
    def fuzz(body: Any, token: str) -> None:
        content = body if isinstance(body, bytes) else encode_json(body)
        before = fingerprint(store)
        reply = http.post(
            f"{API}{method}",
            content=content,
            headers={"x-api-key": token, "content-type": "application/json"},
        )
        assert reply.status_code < 500, (
            f"{method} {content[:300]!r} -> {reply.status_code} {reply.text[:300]}"
        )
        if reply.status_code != 200:
            payload = reply.json()
            assert isinstance(payload["error"], str) and payload["error"]
            details = payload["details"]
            if reply.status_code == 401:  # the real server's 401: the text is `error`, details null
                assert details is None
            elif details.get("type") == "NONUNIQUE":  # a duplicate names each existing object
                assert all(
                    isinstance(item["id"], int) and isinstance(item["message"], str)
                    for item in details["errors"]
                )
            else:
                assert isinstance(details["message"], str)
            assert token not in reply.text
            assert fingerprint(store) == before, (
                f"{method} refused ({reply.status_code}) but wrote: {content[:300]!r}"
            )

    fuzz()


def encode_json(body: Any) -> bytes:
    """JSON text for any drawn value; NaN/infinity/huge ints as Python writes them (not valid JSON: a 400)."""
    try:
        return orjson.dumps(body)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(body).encode("utf-8", errors="surrogatepass")
