"""Users, members, jobs and archives are sent concurrently, never more at once than the client's max_concurrency.

Oracle: a transport under the client counts the requests of each method in flight (each one pauses there first,
so requests sent together are seen together), and the server's own listings check that each item exists once.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import EndAction, TargetStatus
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.archive import finish_jobs
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import resolve_target
from labelrounds.steps.users import ensure_round_users

from .support import PASSWORD, Workers, lemons_spec

PAUSE_SECONDS = 0.05  # in the transport, so that requests sent together overlap there (no time is measured)
LABELERS = [f"labeler_{number}" for number in range(1, 5)]  # 4 labelers + 1 reviewer: 5 new people, 4 jobs


class CountInFlight(httpx.AsyncBaseTransport):
    """Forwards every request to the real server after a short pause; records each method's peak in flight."""

    def __init__(self) -> None:
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        self.in_flight[method] += 1
        self.peak[method] = max(self.peak[method], self.in_flight[method])
        try:
            await asyncio.sleep(PAUSE_SECONDS)
            return await self._inner.handle_async_request(request)
        finally:
            self.in_flight[method] -= 1

    async def aclose(self) -> None:
        await self._inner.aclose()


async def round_peaks(sandbox: SandboxServer, max_concurrency: int) -> tuple[Counter[str], list[int]]:
    """Run users, jobs and archive of a 4-labeler round; each method's peak in flight and the jobs created."""
    transport = CountInFlight()
    spec = lemons_spec(labelers=LABELERS)
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings, transport=transport, max_concurrency=max_concurrency) as api:
        people = await ensure_round_users(api, spec, PASSWORD)
        target = await resolve_target(api, spec)
        jobs = await create_jobs(api, target, spec, await split_images(api, target, spec), people.user_ids)
        job_ids = [int(job_id) for job_id in jobs["job_id"]]
        workers = Workers(sandbox)
        try:
            for job_id in job_ids:
                await workers.finish(job_id, api)
        finally:
            await workers.close()
        ended = await finish_jobs(api, target.team.id, job_ids, EndAction.ARCHIVE, TargetStatus.COMPLETED)
        assert ended.changed == sorted(job_ids)
        # Each item exactly once, read back from the server (not from the step's results).
        people_logins = {*LABELERS, "reviewer_1"}
        members = [member.login for member in await api.list_members(target.team.id)]
        assert sorted(login for login in members if login in people_logins) == sorted(people_logins)
        listed = await api.list_jobs(target.team.id, show_disabled=True)
        assert sorted(job.id for job in listed) == sorted(job_ids) and all(job.disabled for job in listed)
    return transport.peak, job_ids


async def test_sends_are_concurrent_and_bounded_by_max_concurrency(sandbox: SandboxServer) -> None:
    peak, job_ids = await round_peaks(sandbox, max_concurrency=2)

    assert len(job_ids) == len(LABELERS)
    for method in ("users.add", "members.add", "jobs.add", "jobs.archive"):
        assert peak[method] == 2, (method, dict(peak))  # concurrent (more than one), never above the limit


async def test_mutant_a_larger_limit_is_visible_to_the_oracle(sandbox: SandboxServer) -> None:
    """The bound check can fail: with a limit of 8 the same round has more than 2 of each in flight."""
    peak, _ = await round_peaks(sandbox, max_concurrency=8)

    assert peak["users.add"] == 5 and peak["members.add"] == 5
    assert peak["jobs.add"] == 4 and peak["jobs.archive"] == 4
