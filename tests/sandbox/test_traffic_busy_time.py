"""`busy_seconds` of the traffic stats: the server's handling time of API requests, the crew's left out."""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive, Scope, Send

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.sandbox.crew import ACTOR_HEADER, CREW_ACTOR
from labelrounds.sandbox.faults import FaultInjector, FaultPlan
from labelrounds.sandbox.server import SandboxServer


async def test_busy_time_grows_with_api_requests_but_not_with_the_crews() -> None:
    with SandboxServer(seed="lemons") as server:
        settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
        assert server.traffic_stats().busy_seconds == 0.0

        async with SuperviselyClient(settings, headers={ACTOR_HEADER: CREW_ACTOR}) as crew_api:
            await crew_api.list_teams()
        assert server.traffic_stats().busy_seconds == 0.0

        async with SuperviselyClient(settings) as api:
            for _ in range(3):
                await api.list_teams()
        after_api = server.traffic_stats()
        assert after_api.busy_seconds > 0.0 and after_api.requests == {"teams.list": 3}

        server.reset()
        assert server.traffic_stats().busy_seconds == 0.0


async def test_an_injected_latency_is_not_busy_time() -> None:
    """The latency fault is the network's share of a request: while a request sleeps through it, nothing is being
    handled, so `busy_seconds` with `--rtt-ms` is the server's own time."""
    injector = FaultInjector(FaultPlan.parse("teams.list:latency=1@50ms"))
    in_flight_while_answering: list[int] = []

    async def sandbox_app(scope: Scope, receive: Receive, send: Send) -> None:
        in_flight_while_answering.append(injector.in_flight)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/public/api/v3/teams.list", "method": "POST", "headers": []}
    request = asyncio.create_task(injector(sandbox_app)(scope, receive, send))
    await asyncio.sleep(0)  # the request runs up to its first wait: the injected latency
    assert injector.in_flight == 0 and in_flight_while_answering == []
    await request
    assert in_flight_while_answering == [1] and injector.in_flight == 0
    assert [message["type"] for message in sent] == ["http.response.start", "http.response.body"]
    stats = injector.snapshot()
    assert stats.requests == {"teams.list": 1} and stats.faults == {"teams.list": {"latency": 1}}
