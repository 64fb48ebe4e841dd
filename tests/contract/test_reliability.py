"""Client ⇄ sandbox with injected faults: retries, Retry-After, and writes whose outcome is unknown.

The sandbox's fault middleware produces real 429/5xx replies, dropped connections and latency; the client
waits through a fake sleep, so no test waits for real.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from labelrounds.client import (
    AmbiguousWriteError,
    ConnectionSettings,
    Filter,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    SuperviselyClient,
    TransportError,
)
from labelrounds.sandbox.faults import FaultInjector, FaultPlan
from labelrounds.sandbox.server import SandboxServer

ATTEMPTS = 3


class Recorded:
    """A fake sleep that records the waits."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[SandboxServer, FaultInjector]]:
    injector = FaultInjector()
    with SandboxServer(seed="lemons", faults=injector) as server:
        yield server, injector


@pytest.fixture
def injector(faulty: tuple[SandboxServer, FaultInjector]) -> Iterator[FaultInjector]:
    """The module's injector with no plan and zeroed counters; a test sets `plan`."""
    _, injector = faulty
    injector.plan = FaultPlan()
    injector.reset()
    yield injector
    injector.plan = FaultPlan()


def client(
    server: SandboxServer, sleep: Recorded, *, timeout: float = 30.0, attempts: int = ATTEMPTS
) -> SuperviselyClient:
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    policy = RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=2.0, max_total=60.0, jitter=False)
    return SuperviselyClient(settings, retry_policy=policy, sleep=sleep, timeout=timeout)


async def _add_job(api: SuperviselyClient, server: SandboxServer, name: str) -> list[int]:
    return await api.add_jobs(
        name, server.dataset_id, [server.admin_id], classes=["kiwi"], tags=[], entity_ids=[]
    )


async def _jobs_named(server: SandboxServer, name: str) -> list[int]:
    async with client(server, Recorded()) as api:
        return [job.id for job in await api.list_jobs(server.team_id, [Filter.eq("name", name)])]


async def test_server_errors_on_a_read_are_retried_up_to_the_bound(faulty, injector: FaultInjector) -> None:
    server, _ = faulty
    injector.plan = FaultPlan.parse("jobs.list:500=1")
    sleep = Recorded()
    async with client(server, sleep) as api:
        with pytest.raises(ServerError) as caught:
            await api.list_jobs(server.team_id)
        assert api.stats.requests["jobs.list"] == ATTEMPTS
    assert caught.value.status_code == 500 and "fault injected" in (caught.value.message or "")
    assert injector.snapshot().requests["jobs.list"] == ATTEMPTS
    assert sleep.sleeps == [0.5, 1.0]


async def test_rate_limits_honour_retry_after(faulty, injector: FaultInjector) -> None:
    server, _ = faulty
    injector.plan = FaultPlan.parse("teams.list:429=1@3s")
    sleep = Recorded()
    async with client(server, sleep) as api:
        with pytest.raises(RateLimitedError) as caught:
            await api.list_teams()
    assert caught.value.retry_after == 3.0
    assert sleep.sleeps == [3.0, 3.0]
    assert injector.snapshot().faults["teams.list"]["429"] == ATTEMPTS


async def test_some_failures_then_success(faulty, injector: FaultInjector) -> None:
    server, _ = faulty
    # Decisions are seeded, so which calls fail is fixed; 8 attempts outlast every failure streak of this seed.
    injector.plan = FaultPlan.parse("projects.info:5xx=0.5,seed=11")
    async with client(server, Recorded(), attempts=8) as api:
        projects = [await api.get_project(13487) for _ in range(10)]
        retries = api.stats.retries["projects.info"]
    stats = injector.snapshot()
    assert all(project is not None and project.name == "Lemons (Test)" for project in projects)
    assert retries == sum(stats.faults["projects.info"].values()) > 0
    assert stats.requests["projects.info"] == 10 + retries


async def test_a_dropped_reply_to_jobs_add_is_ambiguous_and_the_job_exists(
    faulty, injector: FaultInjector
) -> None:
    server, _ = faulty
    injector.plan = FaultPlan.parse("jobs.add:drop=1")
    async with client(server, Recorded()) as api:
        with pytest.raises(AmbiguousWriteError) as caught:
            await _add_job(api, server, "reliability dropped")
        assert api.stats.requests["jobs.add"] == 1
    injector.plan = FaultPlan()
    assert caught.value.status_code is None and isinstance(caught.value.cause, TransportError)
    assert len(await _jobs_named(server, "reliability dropped")) == 1


async def test_a_500_on_jobs_add_is_ambiguous_without_retry(faulty, injector: FaultInjector) -> None:
    server, _ = faulty
    injector.plan = FaultPlan.parse("jobs.add:500=1")
    async with client(server, Recorded()) as api:
        with pytest.raises(AmbiguousWriteError) as caught:
            await _add_job(api, server, "reliability 500")
    injector.plan = FaultPlan()
    assert caught.value.status_code == 500
    assert injector.snapshot().requests["jobs.add"] == 1
    assert await _jobs_named(server, "reliability 500") == []  # the fault answered instead of the handler


async def test_a_503_with_retry_after_is_retried_even_for_jobs_add(faulty, injector: FaultInjector) -> None:
    server, _ = faulty
    injector.plan = FaultPlan.parse("jobs.add:503=1@2s")
    sleep = Recorded()
    async with client(server, sleep) as api:
        with pytest.raises(ServerError):
            await _add_job(api, server, "reliability 503")
    injector.plan = FaultPlan()
    assert injector.snapshot().requests["jobs.add"] == ATTEMPTS and sleep.sleeps == [2.0, 2.0]
    assert await _jobs_named(server, "reliability 503") == []


async def test_a_slow_server_times_out(faulty, injector: FaultInjector) -> None:
    server, _ = faulty
    injector.plan = FaultPlan.parse("instance.version:latency=1@500ms,jobs.add:latency=1@500ms")
    async with client(server, Recorded(), timeout=0.05) as api:
        with pytest.raises(TransportError, match="ReadTimeout"):
            await api.instance_version()
        assert api.stats.requests["instance.version"] == ATTEMPTS
        with pytest.raises(AmbiguousWriteError):
            await _add_job(api, server, "reliability slow")
        assert api.stats.requests["jobs.add"] == 1
