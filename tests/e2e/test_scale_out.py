"""Scale-out: the round deployment on a highly available Prefect server, two workers, six rounds at once.

The server is two API replicas (`prefect server start --no-services`) and one background-services process, on
their own database of the local PostgreSQL (127.0.0.1:5432, user postgres; created for this module, dropped after)
and a private `redis-server` on a free loopback port (messaging, event ordering, concurrency leases, service
coordination). Each worker polls its own replica. Six rounds, one per dataset of a
`synthetic:6x4` sandbox, each with its own name, are started together; each must complete with exactly its own jobs
over its own dataset, and both replicas must report the same final states.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.lineage import JobLineage

from .prefect_rest import PrefectRest
from .processes import PrefectServer, free_port, labelrounds_deploy, start_process

POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
POOL = "scale"
ROUNDS = 6
IMAGES_PER_DATASET = 4
ANNOTATOR_PASSWORD = "Lemon-scale-2026"
# Real servers and processes on two shared cores: a generous bound per test (setup included), not a speed check.
pytestmark = pytest.mark.timeout(900)


async def _admin(statement: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE cannot run in a transaction)."""
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh database for this module's Prefect server; its SQLAlchemy URL. Dropped afterwards."""
    name = f"labelrounds_e2e_{os.getpid()}"
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}"'))
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) is needed: {error}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def redis_settings(e2e_home: Path) -> Iterator[dict[str, str]]:
    """A private `redis-server` on a free loopback port, and the server settings that put messaging, event ordering,
    concurrency leases and service coordination on it (private, so concurrent test runs never share streams)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is needed for the HA scale-out test (Debian package redis-server)")
    port = free_port()
    server = start_process(
        "redis-server",
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        env=dict(os.environ),
        log_path=e2e_home / "redis" / "redis.log",
        cwd=e2e_home,
    )
    try:
        _wait_for_redis(port)
        yield {
            "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
            "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
            "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
            "PREFECT_REDIS_MESSAGING_HOST": "127.0.0.1",
            "PREFECT_REDIS_MESSAGING_PORT": str(port),
            "PREFECT_REDIS_MESSAGING_DB": "0",
            "PREFECT_SERVER_DOCKET_URL": f"redis://127.0.0.1:{port}/1",
        }
    finally:
        server.stop()


def _wait_for_redis(port: int, timeout: float = 30) -> None:
    """Wait until the Redis server on `port` answers PING."""
    deadline = time.monotonic() + timeout
    with redis.Redis(host="127.0.0.1", port=port) as client:
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)


@pytest.fixture(scope="module")
def replicas(
    e2e_home: Path, postgres_database: str, redis_settings: dict[str, str]
) -> Iterator[tuple[PrefectServer, PrefectServer]]:
    """Two API replicas on PostgreSQL and Redis (the first migrates the database), and the background services."""
    first = PrefectServer(home=e2e_home / "replica-1", database_url=postgres_database, server_env=redis_settings)
    second = PrefectServer(
        home=e2e_home / "replica-2",
        database_url=postgres_database,
        server_env={**redis_settings, "PREFECT_API_DATABASE_MIGRATE_ON_START": "false"},
    )
    try:
        first.start("--no-services")
        second.start("--no-services")
        first.start_services()
        yield first, second
    finally:
        second.stop()
        first.stop()


@pytest.fixture(scope="module")
def synthetic_sandbox() -> Iterator[SandboxServer]:
    """Six datasets of four images, and a crew that works instantly and rejects nothing."""
    with SandboxServer(
        seed=f"synthetic:{ROUNDS}x{IMAGES_PER_DATASET}", mode="subprocess", crew=CrewConfig.parse("speed=0,poll=0.2")
    ) as server:
        yield server


def _round_parameters(defaults: dict[str, Any], index: int) -> dict[str, Any]:
    """Round `index` of the six: its own name, its own dataset, the synthetic project."""
    spec = {
        **defaults["spec"],
        "round_name": f"scale-{index}",
        "project": f"Synthetic {ROUNDS}x{IMAGES_PER_DATASET}",
        "datasets": [f"ds{index}"],
        "poll_interval_seconds": 0.5,
        "timeout_seconds": 300,
    }
    return {**defaults, "spec": spec, "gate_mode": "poll"}


def test_six_rounds_at_once_on_two_workers_each_get_their_own_jobs(
    replicas: tuple[PrefectServer, PrefectServer], synthetic_sandbox: SandboxServer
) -> None:
    first, second = replicas
    labelrounds_deploy(first, synthetic_sandbox, POOL, ANNOTATOR_PASSWORD, "--only", "lemons", "--only", "onboarding")
    # Each worker holds at most half the rounds and polls every second, so both must run some: a fast worker
    # cannot take all six (it took them all on a loaded machine when it was unlimited and polled every 10 s).
    workers = [
        replica.start_worker(
            POOL, f"scale-worker-{n}", "--limit", str(ROUNDS // 2), PREFECT_WORKER_QUERY_SECONDS="1"
        )
        for n, replica in enumerate(replicas, start=1)
    ]
    rest, other = PrefectRest(first.api_url), PrefectRest(second.api_url)
    try:
        lemons = rest.deployment("labeling-round", "lemons")
        # the annotators first (one onboarding run), so six rounds do not race to create the same accounts
        onboarding = rest.deployment("onboard-annotators", "onboarding")
        onboarded = rest.run_from_form(onboarding["id"], onboarding["parameters"])
        assert rest.wait_for(onboarded["id"], {"COMPLETED"}, timeout=180)["state"]["type"] == "COMPLETED"

        runs = [rest.run_from_form(lemons["id"], _round_parameters(lemons["parameters"], i)) for i in range(1, ROUNDS + 1)]
        finished = [rest.wait_for(run["id"], {"COMPLETED"}, timeout=300) for run in runs]
        assert [run["state"]["type"] for run in finished] == ["COMPLETED"] * ROUNDS, [
            (run["name"], run["state"]) for run in finished
        ]
        assert [other.flow_run(run["id"])["state"]["type"] for run in runs] == ["COMPLETED"] * ROUNDS
        worker_logs = [worker.log_path.read_text() for worker in workers]
        assert all(any(run["id"] in log for run in finished) for log in worker_logs), "one worker ran every round"
    finally:
        rest.close()
        other.close()

    jobs = asyncio.run(_every_job(synthetic_sandbox))
    dataset_ids = dict(zip((f"ds{i}" for i in range(1, ROUNDS + 1)), synthetic_sandbox.dataset_ids, strict=True))
    project_id = synthetic_sandbox.project_id
    for index in range(1, ROUNDS + 1):
        own = [(job, lineage) for job, lineage in jobs if lineage.round == f"scale-{index}@{project_id}"]
        assert own, f"round scale-{index} has no job"
        assert {job.dataset_id for job, _ in own} == {dataset_ids[f"ds{index}"]}
        assert {lineage.dataset for _, lineage in own} == {dataset_ids[f"ds{index}"]}
        assert sum(job.images_count for job, _ in own) == IMAGES_PER_DATASET
    assert len(jobs) == len({job.id for job, _ in jobs})


async def _every_job(sandbox: SandboxServer) -> list[tuple[Any, JobLineage]]:
    """Every job of the sandbox's team (archived included) with its lineage."""
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings) as api:
        listed = await api.list_jobs(sandbox.team_id, show_disabled=True)
    pairs = [(job, JobLineage.of(job)) for job in listed]
    return [(job, lineage) for job, lineage in pairs if lineage is not None]
