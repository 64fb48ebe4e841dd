"""`busy_seconds` of the traffic stats: the server's handling time of API requests, the crew's left out."""

from __future__ import annotations

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.sandbox.crew import ACTOR_HEADER, CREW_ACTOR
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
