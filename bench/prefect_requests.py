"""Count the Prefect API requests and events a process makes: machine-independent figures of the flow's overhead.

`count_prefect_requests()` wraps the `send` of Prefect's httpx clients (async and sync) and the `emit` of its
events clients for as long as it is entered; each logical request counts once (Prefect's own retries of it are not
counted again). Ids in paths are replaced by `{id}`, so the counts group by endpoint:
`POST /v2/concurrency_limits/increment-with-lease`. Events (task-run states travel as events over one websocket)
count by event name: `prefect.task-run.Completed`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

#: A UUID or a number in a path segment.
_ID = re.compile(r"/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+)(?=/|$)")


def endpoint_of(method: str, path: str) -> str:
    """'POST /task_runs/{id}/set_state' from a request's method and URL path (the '/api' prefix dropped)."""
    path = path.removeprefix("/api")
    return f"{method} {_ID.sub('/{id}', path)}"


@dataclass
class PrefectTraffic:
    """What the process sent to Prefect: API requests by endpoint, events by name."""

    requests: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)

    def figures(self) -> dict[str, Any]:
        """Totals, task runs started (their `Running` events) and both counts, largest first."""
        return {
            "prefect_requests": sum(self.requests.values()),
            "prefect_events": sum(self.events.values()),
            "task_runs": self.events["prefect.task-run.Running"],
            "prefect_requests_by_endpoint": dict(self.requests.most_common()),
            "prefect_events_by_name": dict(self.events.most_common()),
        }


@contextmanager
def count_prefect_requests() -> Iterator[PrefectTraffic]:
    """Within the block, every request of Prefect's API clients and every event emitted, counted."""
    from prefect.client.base import PrefectHttpxAsyncClient, PrefectHttpxSyncClient  # noqa: PLC0415
    from prefect.events.clients import EventsClient  # noqa: PLC0415

    traffic = PrefectTraffic()
    counts = traffic.requests
    async_send, sync_send, emit = PrefectHttpxAsyncClient.send, PrefectHttpxSyncClient.send, EventsClient.emit

    async def counted_async_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        counts[endpoint_of(request.method, request.url.path)] += 1
        return await async_send(self, request, *args, **kwargs)

    def counted_sync_send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        counts[endpoint_of(request.method, request.url.path)] += 1
        return sync_send(self, request, *args, **kwargs)

    async def counted_emit(self: Any, event: Any) -> None:
        traffic.events[event.event] += 1
        await emit(self, event)

    PrefectHttpxAsyncClient.send = counted_async_send  # type: ignore[method-assign]
    PrefectHttpxSyncClient.send = counted_sync_send  # type: ignore[method-assign]
    EventsClient.emit = counted_emit  # type: ignore[method-assign]
    try:
        yield traffic
    finally:
        PrefectHttpxAsyncClient.send = async_send  # type: ignore[method-assign]
        PrefectHttpxSyncClient.send = sync_send  # type: ignore[method-assign]
        EventsClient.emit = emit  # type: ignore[method-assign]
