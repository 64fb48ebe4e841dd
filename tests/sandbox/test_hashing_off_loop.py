"""The sandbox hashes and checks passwords off its event loop: other requests are served meanwhile.

Ordering, not time: the password work is made to wait until the test says so, and the test only says so once a
`users.me` sent after it started has been answered. Were the work on the event loop (or inside the store's
lock), that `users.me` could not be answered before it, and the orders below would be reversed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from labelrounds.sandbox import auth
from labelrounds.sandbox.handlers import users as user_handlers
from labelrounds.sandbox.server import SandboxServer

HELD_SECONDS = 5.0  # how long held password work waits at most when the test never releases it (the mutant)


class HeldWork:
    """Wraps a password function so each call waits, in its thread, until released (or HELD_SECONDS pass)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.started = threading.Event()
        self.released = threading.Event()

    def __call__(self, *args: Any) -> Any:
        self.started.set()
        self.released.wait(HELD_SECONDS)
        return self.function(*args)


def admin_http(sandbox: SandboxServer) -> httpx.AsyncClient:
    """An httpx client sending the sandbox admin's token."""
    headers = {"x-api-key": sandbox.admin_token.get_secret_value()}
    return httpx.AsyncClient(base_url=sandbox.url, headers=headers, timeout=60)


async def finishing_order(
    sandbox: SandboxServer, held: HeldWork, slow: Callable[[httpx.AsyncClient], Awaitable[Any]]
) -> list[str]:
    """Start the slow request, wait until its password work runs, then send `users.me`; the order replies came in."""
    order: list[str] = []
    async with admin_http(sandbox) as http:

        async def slow_request() -> None:
            await slow(http)
            order.append("slow")

        task = asyncio.create_task(slow_request())
        try:
            assert await asyncio.to_thread(held.started.wait, 30), "the password work never started"
            reply = await http.post("/public/api/v3/users.me", json={})
            assert reply.status_code == 200 and reply.json()["login"] == sandbox.admin_login
            order.append("users.me")
        finally:
            held.released.set()
            await task
    return order


async def add_user(http: httpx.AsyncClient) -> None:
    """`users.add` of labeler_1 with a password; it must succeed."""
    reply = await http.post(
        "/public/api/v3/users.add", json={"login": "labeler_1", "password": "11111abc", "isRestricted": True}
    )
    assert reply.status_code == 200, reply.text


def can_log_in(sandbox: SandboxServer, password: str) -> bool:
    """Whether labeler_1 logs in with `password` (`POST /api/account`)."""
    reply = httpx.post(
        f"{sandbox.url}/api/account", data={"login": "labeler_1", "password": password}, timeout=30
    )
    return reply.status_code == 200


async def test_users_me_is_served_while_users_add_hashes(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldWork(auth.hash_password)
    monkeypatch.setattr(auth, "hash_password", held)

    assert await finishing_order(sandbox, held, add_user) == ["users.me", "slow"]
    monkeypatch.undo()
    assert can_log_in(sandbox, "11111abc") and not can_log_in(
        sandbox, "wrong"
    )  # the hash made off-loop is stored


async def test_users_me_is_served_while_a_login_checks_its_password(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with admin_http(sandbox) as http:
        await add_user(http)
    held = HeldWork(auth.password_matches)
    monkeypatch.setattr(auth, "password_matches", held)

    async def log_in(http: httpx.AsyncClient) -> None:
        reply = await http.post("/api/account", data={"login": "labeler_1", "password": "11111abc"})
        assert reply.status_code == 200 and "token" in reply.json()

    assert await finishing_order(sandbox, held, log_in) == ["users.me", "slow"]


async def test_mutant_hashing_inside_the_transaction_reverses_the_order(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check can fail: with hashing moved back into the handler, `users.add` finishes first."""
    held = HeldWork(auth.hash_password)
    monkeypatch.setattr(user_handlers, "hash_ahead", lambda password: None)  # no hash before the transaction
    monkeypatch.setattr(user_handlers, "hash_password", held)

    assert await finishing_order(sandbox, held, add_user) == ["slow", "users.me"]


async def test_a_refused_token_gets_its_401_without_a_hash(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No bcrypt work for a caller without a valid token: the 401 comes first (oracle: the hash function's calls)."""
    calls: list[object] = []
    monkeypatch.setattr(auth, "hash_password", lambda password: calls.append(password) or "never-stored")
    body = {"login": "labeler_9", "password": "11111abc", "isRestricted": True}
    async with httpx.AsyncClient(base_url=sandbox.url, headers={"x-api-key": "not-a-token"}, timeout=60) as http:
        reply = await http.post("/public/api/v3/users.add", json=body)
    assert reply.status_code == 401 and calls == []
    async with admin_http(sandbox) as http:  # the same body with the admin's token does hash: the oracle can fail
        assert (await http.post("/public/api/v3/users.add", json=body)).status_code == 200
    assert len(calls) == 1
