"""Benchmark of round notifications: from a round event to its message at a capture server, through Prefect.

Run: `python -m bench.notify_latency --out bench/results/notify_latency.json` (starts `prefect server start` in a
temporary home; `--api-url URL` uses a running server instead). Writes a `.md` beside the JSON.

Real parts: the Prefect server's triggers and actions services, a `CustomWebhookNotificationBlock` posting to a
capture server on 127.0.0.1, the automations `labelrounds deploy --notify` creates. Reactive: `started` events
emitted one at a time (each waits for its message), latency = arrival - the event's `occurred`. Proactive: one
round flow run that starts and goes silent; delay = the alert's arrival - the `started` event's `occurred`, to be
compared with the window (Prefect evaluates proactive triggers every 5 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from prefect import flow
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from bench.capture_server import Captured, CaptureServer, capture_server
from bench.output import write_figures
from deployments.automations import (
    ROUND_NOTICES,
    ensure_automation,
    no_progress_automation,
    round_notice_automation,
)
from deployments.notify_checks import resolve_notification_blocks
from tasks import events

EVENTS = 20
WINDOW = timedelta(seconds=10)


def _started(round_key: str) -> dict[str, Any]:
    """A `started` payload as the flow makes it."""
    return {"round_name": round_key, "images": 6, "labelers": ["labeler_1"], "reviewer": "reviewer_1",
            "target_status": "completed", "due": None}  # fmt: skip


@flow(name="bench-silent-round")
def silent_round(round_key: str) -> float:
    """A round that starts and says nothing more; when its `started` event occurred (epoch seconds)."""
    event = events.announce_started(round_key, _started(round_key))
    assert event is not None, "events are off in this process"
    return event.occurred.timestamp()


def _arrived(capture: CaptureServer, subject: str, timeout: float = 120.0) -> Captured:
    """The first captured message with this subject."""
    captured = capture.wait_for(lambda got: any(item.body["subject"] == subject for item in got), timeout=timeout)
    return next(item for item in captured if item.body["subject"] == subject)


def _seconds(samples: list[float]) -> dict[str, float]:
    """Median, 90th percentile and max of latencies in seconds."""
    ordered = sorted(samples)
    return {
        "median_s": round(statistics.median(ordered), 3),
        "p90_s": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max_s": round(ordered[-1], 3),
    }


async def _cleanup(block_name: str, automation_ids: list[Any]) -> None:
    """Delete the benchmark's automations and block."""
    async with get_client() as client:
        for automation_id in automation_ids:
            await client.delete_automation(automation_id)
        block = await client.read_block_document_by_name(block_name, "custom-webhook")
        await client.delete_block_document(block.id)


def measure(api_url: str, count: int = EVENTS, window: timedelta = WINDOW) -> dict[str, Any]:
    """Time `count` notifications of `started` events and one no-progress alert (see the module docstring)."""
    block_name = f"bench-capture-{uuid4().hex[:8]}"
    with temporary_settings({PREFECT_API_URL: api_url}), capture_server() as capture:
        CustomWebhookNotificationBlock(
            name=block_name, url=capture.url, json_data={"subject": "{{subject}}", "body": "{{body}}"}
        ).save(block_name)
        (target,) = asyncio.run(resolve_notification_blocks((block_name,)))
        started = next(notice for notice in ROUND_NOTICES if notice.event == events.ROUND_STARTED)
        wanted = [round_notice_automation(target, started), no_progress_automation(target, window)]
        automation_ids = [asyncio.run(ensure_automation(automation)) for automation in wanted]
        try:
            load_before = os.getloadavg()
            latencies = []
            for number in range(count):
                key = f"bench-{number}@1"
                event = events.emit_round_event(events.ROUND_STARTED, key, _started(key))
                assert event is not None, "events are off in this process"
                latencies.append(_arrived(capture, f"Round {key} started").received_at - event.occurred.timestamp())
            occurred = silent_round("bench-silent@1")
            alert = _arrived(capture, f"Round bench-silent@1: no progress for {int(window.total_seconds())} s")
            load_after = os.getloadavg()
        finally:
            asyncio.run(_cleanup(block_name, automation_ids))
    return {
        "events": count,
        "event_to_message": _seconds(latencies),
        "window_s": window.total_seconds(),
        "silence_to_alert_s": round(alert.received_at - occurred, 3),
        "load_average_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
    }


def to_markdown(figures: dict[str, Any]) -> str:
    """The figures as a short page."""
    latency = figures["event_to_message"]
    return (
        "# Round notifications: event to message\n\n"
        "`python -m bench.notify_latency` — real `prefect server start` (SQLite), a CustomWebhookNotificationBlock "
        "posting to a capture server on 127.0.0.1, the automations of `labelrounds deploy --notify`.\n\n"
        "| what | figure |\n|---|---|\n"
        f"| `started` event → message ({figures['events']} events, one at a time) | median {latency['median_s']} s, "
        f"p90 {latency['p90_s']} s, max {latency['max_s']} s |\n"
        f"| silent round → no-progress alert (window {figures['window_s']:g} s) | {figures['silence_to_alert_s']} s |\n"
        f"| load average (1 min) before / after | {figures['load_average_1m_before_after']} |\n"
    )


def main() -> None:
    """Use the given Prefect server or start one, measure, write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/notify_latency.json"))
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--api-url", help="a running Prefect server's API (default: start one)")
    args = parser.parse_args()
    if args.api_url:
        figures = measure(args.api_url, args.events)
    else:
        from tests.e2e.processes import PrefectServer

        with tempfile.TemporaryDirectory() as home:
            server = PrefectServer(home=Path(home), database_url=f"sqlite+aiosqlite:///{home}/prefect.db")
            try:
                server.start()
                figures = measure(server.api_url, args.events)
            finally:
                server.stop()
    write_figures(args.out, figures, to_markdown(figures))


if __name__ == "__main__":
    main()
