"""Listing a team's jobs while another client creates and removes them: every job that exists for the whole
listing comes exactly once (`busy_team.assert_listed_once`, fed by raw reads and the other client's own log).

Two kinds of concurrency against a real sandbox: writes placed exactly between two pages (deterministic; the old
page-number walk provably loses a job there, kept as a mutant), and a writer running freely during several
listings. A mutant listing that skips one job shows the oracle can fail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import pytest

import labelrounds.client.core as client_core
from labelrounds.client import ConnectionSettings, Filter, SuperviselyClient
from labelrounds.client.errors import PaginationError
from labelrounds.client.models.pagination import Page
from labelrounds.client.pagination import ReadCall, iter_pages
from labelrounds.client.parsing import parse_model
from labelrounds.sandbox.server import SandboxServer

from .busy_team import (
    Bystanders,
    Churn,
    add_bystander_jobs,
    add_bystanders,
    assert_listed_once,
    project_job_ids,
)

JOBS = 1_100
PER_PAGE = 100


@pytest.fixture(scope="module")
def busy_server() -> Iterator[SandboxServer]:
    """A lemons sandbox (no crew) whose project holds 50 bystanders' 1,100 jobs."""
    with SandboxServer(seed="lemons") as server:
        yield server


@pytest.fixture
def busy(busy_server: SandboxServer) -> tuple[SandboxServer, Bystanders, set[int]]:
    """The busy sandbox reset to the lemons seed plus 1,100 bystander jobs, and the project's jobs read raw."""
    busy_server.reset("lemons")
    bystanders = add_bystanders(busy_server)
    add_bystander_jobs(busy_server, bystanders, JOBS)
    assert busy_server.project_id is not None
    before = project_job_ids(busy_server, busy_server.project_id)
    assert len(before) == JOBS
    return busy_server, bystanders, before


class WritesBetweenPages(httpx.AsyncBaseTransport):
    """Forwards every request; before each `jobs.list` request but the first, lets the churn take one step."""

    def __init__(self, churn: Churn) -> None:
        self.churn = churn
        self.listings = 0
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/jobs.list"):
            if self.listings:
                await self.churn.step()
            self.listings += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def client(server: SandboxServer, transport: httpx.AsyncBaseTransport | None = None) -> SuperviselyClient:
    """The admin's client (optionally over a custom transport)."""
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    return SuperviselyClient(settings, transport=transport)


async def list_project_jobs(api: SuperviselyClient, server: SandboxServer) -> list[int]:
    """The code under test: the project's jobs, archived included, as a round lists them."""
    assert server.project_id is not None
    jobs = await api.list_jobs(
        server.team_id, [Filter.eq("projectId", server.project_id)], show_disabled=True, per_page=PER_PAGE
    )
    return [job.id for job in jobs]


async def list_with_writes_between_pages(busy: tuple[SandboxServer, Bystanders, set[int]]) -> None:
    """List once while each page boundary sees one job created and the lowest one removed; check the oracle."""
    server, bystanders, before = busy
    async with Churn(server, bystanders, removable=sorted(before)) as churn:
        transport = WritesBetweenPages(churn)
        async with client(server, transport) as api:
            started = time.monotonic()
            listed = await list_project_jobs(api, server)
            ended = time.monotonic()
    assert not churn.failures
    assert transport.listings >= JOBS // PER_PAGE and len(churn.removed) == transport.listings - 1
    assert_listed_once(listed, churn.lasting(before, started, ended), churn.ever(before))


async def test_each_lasting_job_is_listed_once_with_writes_between_pages(busy) -> None:
    await list_with_writes_between_pages(busy)


async def old_page_number_walk(
    read: ReadCall, method: str, body: Mapping[str, Any], *, per_page: int = 500
) -> AsyncIterator[dict[str, Any]]:
    """The listing before keyset pagination: pages 1..pagesCount, failing only when `total` changes."""
    request = {"sort": "id", "sort_order": "asc", **body}
    expected_total, collected, page_number = None, 0, 1
    while True:
        page = parse_model(
            Page, await read(method, {**request, "page": page_number, "per_page": per_page}), method
        )
        expected_total = page.total if expected_total is None else expected_total
        if page.total != expected_total:
            raise PaginationError(200, "pagination mismatch", {"message": "total changed"}, method)
        for entity in page.entities:
            yield entity
        collected += len(page.entities)
        if page_number >= page.pages_count or not page.entities:
            break
        page_number += 1


async def test_mutant_the_old_page_number_walk_loses_a_job(busy, monkeypatch: pytest.MonkeyPatch) -> None:
    # One job created and one removed per page boundary: `total` never moves, so the old walk did not even notice
    # that each removal shifted the rows and it skipped one job per page.
    monkeypatch.setattr(client_core, "iter_pages", old_page_number_walk)
    with pytest.raises(AssertionError, match="lasting jobs not listed"):
        await list_with_writes_between_pages(busy)


async def test_mutant_a_listing_that_skips_one_job_fails_the_oracle(
    busy, monkeypatch: pytest.MonkeyPatch
) -> None:
    def skipping_one(
        read: ReadCall, method: str, body: Mapping[str, Any], **options: Any
    ) -> AsyncIterator[Any]:
        async def walk() -> AsyncIterator[dict[str, Any]]:
            position = 0
            async for entity in iter_pages(read, method, body, **options):
                position += 1
                if position != 2 * PER_PAGE + 7:
                    yield entity

        return walk()

    monkeypatch.setattr(client_core, "iter_pages", skipping_one)
    with pytest.raises(AssertionError, match="1 lasting jobs not listed"):
        await list_with_writes_between_pages(busy)


async def test_each_lasting_job_is_listed_once_while_another_client_writes_freely(busy) -> None:
    server, bystanders, before = busy
    stop = asyncio.Event()
    async with Churn(server, bystanders, removable=sorted(before), pause=0.0) as churn:
        writer = asyncio.create_task(churn.run_until(stop))
        listings = []
        async with client(server) as api:
            for _ in range(4):
                started = time.monotonic()
                listed = await list_project_jobs(api, server)
                listings.append((listed, started, time.monotonic()))
        stop.set()
        await writer
    assert not churn.failures
    writes = [write.answered for write in [*churn.created, *churn.removed]]
    during = [sum(started < moment < ended for moment in writes) for _, started, ended in listings]
    assert all(during), f"writes during each listing: {during}"  # the writer really ran during the listings
    for listed, started, ended in listings:
        assert_listed_once(listed, churn.lasting(before, started, ended), churn.ever(before))
    # And the listing agrees with a raw read of the server once it is quiet.
    assert server.project_id is not None
    async with client(server) as api:
        assert sorted(await list_project_jobs(api, server)) == sorted(
            project_job_ids(server, server.project_id)
        )
