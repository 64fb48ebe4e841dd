"""The webhook delivery worker: sends the outbox's events after their request committed, with retries.

It runs beside the server (started and stopped with the app's lifespan), polls `webhook_deliveries` for due
rows and sends each as its own asyncio task, so a slow receiver never holds up the others nor any request. A
delivery is a `POST` of the JSON payload to the webhook's URL with the webhook's headers; a 2xx reply delivers
it, anything else (or no reply) is retried `retriesCount` times, `retriesDelay` seconds apart, and then fails.
URL, headers and retry settings are read at each attempt, so an update applies to pending deliveries and a
removed webhook's deliveries go nowhere. Delivery is at least once: a restart resends what was in flight.

Fault injection decides once per delivery, before its first attempt (see `faults.FaultInjector.decide_delivery`):
a dropped delivery is never sent nor retried (the sender believes it sent it), a delayed one waits first, a
duplicated one is sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import httpx
import orjson

from labelrounds.sandbox.store import Store

logger = logging.getLogger(__name__)

USER_AGENT = "labelrounds-sandbox-webhooks"
_POLL_INTERVAL = 0.1
_ATTEMPT_TIMEOUT = 10.0
_BATCH = 100


@dataclass(frozen=True)
class DeliveryFault:
    """What fault injection does to one delivery."""

    drop: bool = False
    delay: float = 0.0
    copies: int = 1


NO_DELIVERY_FAULT = DeliveryFault()


@runtime_checkable
class DeliveryFaults(Protocol):
    """Decides the fault of each delivery (the sandbox's `FaultInjector`)."""

    def decide_delivery(self) -> DeliveryFault:
        """The fault of the next delivery."""


@dataclass(frozen=True)
class _Due:
    """A delivery to attempt now, with its webhook's current settings."""

    id: int
    webhook_id: int
    event: str
    attempts: int
    url: str
    meta: dict[str, Any]

    def payload(self) -> bytes:
        """The JSON body: the event with the webhook's and the delivery's ids."""
        event = orjson.loads(self.event)
        return orjson.dumps({**event, "webhookId": self.webhook_id, "deliveryId": self.id})


class WebhookDispatcher:
    """Sends pending webhook deliveries of a store in the background.

    Args:
        store: the sandbox state (the outbox lives in it).
        faults: decides delivery faults; none when None.
        poll_interval: seconds between two looks at the outbox.
        attempt_timeout: seconds one attempt may take.
    """

    def __init__(
        self,
        store: Store,
        *,
        faults: DeliveryFaults | None = None,
        poll_interval: float = _POLL_INTERVAL,
        attempt_timeout: float = _ATTEMPT_TIMEOUT,
    ) -> None:
        self._store = store
        self._faults = faults
        self._poll_interval = poll_interval
        self._attempt_timeout = attempt_timeout
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        # One pooled client per (followRedirect, rejectUnauthorized): a new client per attempt costs ~30 ms.
        self._clients: dict[tuple[bool, bool], httpx.AsyncClient] = {}

    def __repr__(self) -> str:
        return f"WebhookDispatcher(store={self._store!r}, in_flight={len(self._in_flight)})"

    async def start(self) -> None:
        """Start polling the outbox."""
        self._loop_task = asyncio.create_task(self._run(), name="labelrounds-webhook-dispatcher")

    async def stop(self) -> None:
        """Stop polling and cancel the attempts in flight (they are resent at the next start)."""
        tasks = [task for task in (self._loop_task, *self._in_flight.values()) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._loop_task = None
        self._in_flight.clear()
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    async def _run(self) -> None:
        while True:
            try:
                due = self._claim_due()
            except sqlite3.Error:  # the store is being wiped or closed: look again later
                logger.debug("webhook outbox unreadable for now", exc_info=True)
                due = []
            for delivery in due:
                task = asyncio.create_task(self._deliver(delivery), name=f"webhook-delivery-{delivery.id}")
                self._in_flight[delivery.id] = task
            await asyncio.sleep(self._poll_interval)

    def _claim_due(self) -> list[_Due]:
        """The pending deliveries whose time has come and that no task is attempting."""
        with self._store.transaction(write=False) as db:
            rows = db.execute(
                "SELECT d.id, d.webhook_id, d.event, d.attempts, w.url, w.meta FROM webhook_deliveries d"
                " JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.state = 'pending' AND d.next_attempt_at <= ? ORDER BY d.id LIMIT ?",
                (time.time(), _BATCH + len(self._in_flight)),
            ).fetchall()
        return [
            _Due(row[0], row[1], row[2], row[3], row[4], orjson.loads(row[5]))
            for row in rows
            if row[0] not in self._in_flight
        ]

    async def _deliver(self, delivery: _Due) -> None:
        try:
            fault = NO_DELIVERY_FAULT
            if delivery.attempts == 0 and self._faults is not None:
                fault = self._faults.decide_delivery()
            if fault.drop:
                logger.info("fault: dropping webhook delivery %s", delivery.id)
                self._record(delivery, state="dropped", status=None)
                return
            if fault.delay:
                await asyncio.sleep(fault.delay)
            statuses = [await self._attempt(delivery) for _ in range(fault.copies)]
            self._settle(delivery, next((status for status in statuses if _is_success(status)), statuses[-1]))
        except sqlite3.Error:
            logger.debug(
                "webhook delivery %s not recorded (store wiped or closed)", delivery.id, exc_info=True
            )
        finally:
            self._in_flight.pop(delivery.id, None)

    async def _attempt(self, delivery: _Due) -> int | None:
        """POST the payload once; the reply's status, or None when no reply came."""
        headers = {
            **delivery.meta.get("headers", {}),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        client = self._client(
            bool(delivery.meta.get("followRedirect", True)), bool(delivery.meta.get("rejectUnauthorized", True))
        )
        try:
            reply = await client.post(delivery.url, content=delivery.payload(), headers=headers)
        except httpx.HTTPError as error:
            logger.info("webhook delivery %s: no reply (%s)", delivery.id, type(error).__name__)
            return None
        return reply.status_code

    def _client(self, follow_redirects: bool, verify: bool) -> httpx.AsyncClient:
        """The pooled client for these settings (created on first use)."""
        key = (follow_redirects, verify)
        if key not in self._clients:
            self._clients[key] = httpx.AsyncClient(
                timeout=self._attempt_timeout, follow_redirects=follow_redirects, verify=verify, trust_env=False
            )
        return self._clients[key]

    def _settle(self, delivery: _Due, status: int | None) -> None:
        """Record an attempt: delivered on a 2xx, else retried later or, out of retries, failed."""
        if _is_success(status):
            self._record(delivery, state="delivered", status=status)
        elif delivery.attempts + 1 > int(delivery.meta.get("retriesCount", 0)):
            self._record(delivery, state="failed", status=status)
        else:
            retry_at = time.time() + float(delivery.meta.get("retriesDelay", 0))
            self._record(delivery, state="pending", status=status, next_attempt_at=retry_at)

    def _record(
        self, delivery: _Due, *, state: str, status: int | None, next_attempt_at: float | None = None
    ) -> None:
        # Matching the event too: after a wipe of an in-memory store (tests), a new delivery may reuse the id.
        with self._store.transaction(write=True) as db:
            db.execute(
                "UPDATE webhook_deliveries SET state = ?, attempts = attempts + ?, last_status = ?,"
                " next_attempt_at = coalesce(?, next_attempt_at) WHERE id = ? AND event = ?",
                (state, 0 if state == "dropped" else 1, status, next_attempt_at, delivery.id, delivery.event),
            )


def _is_success(status: int | None) -> bool:
    """Whether a reply status delivers the event (any 2xx)."""
    return status is not None and 200 <= status < 300
