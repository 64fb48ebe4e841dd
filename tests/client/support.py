"""Helpers of the client unit tests: a fake clock, a request recorder, canned replies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, RetryPolicy

TOKEN = "unit-test-token-4f9a1c"
SERVER = "http://sly.test"
API_PREFIX = "/public/api/v3/"

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


@dataclass
class FakeTime:
    """A monotonic clock that only moves when the client sleeps; records every sleep."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Recorder:
    """Wraps a handler and keeps every request with its decoded JSON body."""

    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.handler(request)
        if isinstance(response, Awaitable):
            response = await response
        return response

    @property
    def methods(self) -> list[str]:
        return [method_of(request) for request in self.requests]

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


def method_of(request: httpx.Request) -> str:
    """The API method of a request, e.g. `jobs.add`."""
    return request.url.path.removeprefix(API_PREFIX)


def settings() -> ConnectionSettings:
    return ConnectionSettings(server_address=SERVER, api_token=SecretStr(TOKEN))


def fast_policy(**overrides: Any) -> RetryPolicy:
    """A retry policy with small, jitter-free delays (the fake clock makes them free anyway)."""
    values: dict[str, Any] = {
        "max_attempts": 4,
        "base_delay": 1.0,
        "max_delay": 8.0,
        "max_total": 100.0,
        "jitter": False,
    }
    return RetryPolicy(**{**values, **overrides})


def reply(payload: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    """A JSON response."""
    return httpx.Response(status, json=payload if payload is not None else {}, headers=headers)


def error_reply(status: int, message: str, error: str = "error", **headers: str) -> httpx.Response:
    """A Supervisely-shaped error response."""
    return httpx.Response(status, json={"error": error, "details": {"message": message}}, headers=headers)


def sequence(*responses: httpx.Response | Exception) -> Handler:
    """A handler answering with each response in turn (raising the exceptions), the last one forever."""
    remaining = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = remaining.pop(0) if len(remaining) > 1 else remaining[0]
        if isinstance(item, Exception):
            raise item
        # A fresh copy each time: an httpx.Response is consumed by the client that reads it.
        return httpx.Response(item.status_code, headers=item.headers, content=item.content)

    return handler
