"""Fixtures for the client unit tests: a client over `httpx.MockTransport` with a fake clock and sleep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from labelrounds.client import RetryPolicy, SuperviselyClient

from .support import FakeTime, Handler, Recorder, fast_policy, settings

ClientFactory = Callable[..., "ClientContext"]


@dataclass
class ClientContext:
    """A client wired to a recorder and a fake time; use with `async with`."""

    client: SuperviselyClient
    recorder: Recorder
    time: FakeTime

    async def __aenter__(self) -> ClientContext:
        await self.client.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()


@pytest.fixture
def make_client() -> ClientFactory:
    """Build a client whose requests go to `handler`; keyword arguments go to `SuperviselyClient`."""

    def factory(handler: Handler, *, retry_policy: RetryPolicy | None = None, **kwargs: Any) -> ClientContext:
        recorder = Recorder(handler)
        fake_time = FakeTime()
        client = SuperviselyClient(
            settings(),
            retry_policy=retry_policy or fast_policy(),
            transport=httpx.MockTransport(recorder),
            sleep=fake_time.sleep,
            clock=fake_time.clock,
            **kwargs,
        )
        return ClientContext(client, recorder, fake_time)

    return factory
