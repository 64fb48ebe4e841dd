"""A busy team for the concurrency tests: bystanders' 1,000+ jobs in the round's project, another client that keeps
creating and removing them, and the oracle of a listing done meanwhile.

The jobs are created with bulk `jobs.add` calls (hundreds of jobs a call), so a team of 1,100 jobs costs a second.
The churn is a real client over HTTP (bare `httpx`, no labelrounds code) that logs when each write was sent and
answered, so the oracle can tell which jobs existed for the whole of a listing.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

import httpx
from oracles import RawApi

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.seed import add_user
from labelrounds.sandbox.server import SandboxServer

BYSTANDERS = 50
"""Annotators of the crowd; one `jobs.add` makes one job per (distinct) labeler, so this many jobs a call."""


@dataclass(frozen=True)
class Bystanders:
    """The other annotators of the team, whose jobs crowd the round's project."""

    user_ids: tuple[int, ...]
    dataset_id: int
    image_id: int

    def jobs_add_body(self, count: int, name: str) -> dict[str, object]:
        """A `jobs.add` body creating one one-image job for each of `count` bystanders."""
        return {
            "name": name,
            "datasetId": self.dataset_id,
            "userIds": list(self.user_ids[:count]),
            "meta": {"entityIds": [self.image_id]},
        }


def add_bystanders(server: SandboxServer) -> Bystanders:
    """Create the bystander annotators in the store (no password: no bcrypt cost), for the first dataset."""
    assert server.store is not None
    users = [add_user(server.store, f"bystander_{n}", role=Role.ANNOTATOR) for n in range(BYSTANDERS)]
    with RawApi.of(server) as raw:
        image_id = min(raw.image_ids(server.dataset_ids[0]))
    return Bystanders(tuple(user.id for user in users), server.dataset_ids[0], image_id)


def add_bystander_jobs(server: SandboxServer, bystanders: Bystanders, count: int) -> list[int]:
    """Create `count` bystander jobs with bulk `jobs.add` calls (one job per bystander a call); their ids."""
    created: list[int] = []
    with RawApi.of(server) as raw:
        while len(created) < count:
            batch = min(len(bystanders.user_ids), count - len(created))
            reply = raw.call("jobs.add", bystanders.jobs_add_body(batch, f"bystander {len(created)}"))
            created += [int(item["id"]) for item in reply]
    return created


def project_job_ids(server: SandboxServer, project_id: int) -> set[int]:
    """Every job of the project (archived included), read with raw calls on a quiet server."""
    body = {"teamId": server.team_id, "showDisabled": True, "filter": [_project_filter(project_id)]}
    with RawApi.of(server) as raw:
        return {int(job["id"]) for job in raw.list_all("jobs.list", body)}


def _project_filter(project_id: int) -> dict[str, object]:
    return {"field": "projectId", "operator": "=", "value": project_id}


@dataclass(frozen=True)
class Write:
    """One write of the churn: the job it created or removed, and when it was sent and answered (monotonic)."""

    job_id: int
    sent: float
    answered: float


@dataclass
class Churn:
    """Another client of the team: each step creates one bystander job and removes an older one.

    Removals take the lowest ids first, so a page-number walk sees rows shift under it; every write is logged.
    """

    server: SandboxServer
    bystanders: Bystanders
    removable: list[int]
    pause: float = 0.005
    created: list[Write] = field(default_factory=list)
    removed: list[Write] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Churn:
        headers = {"x-api-key": self.server.admin_token.get_secret_value()}
        self._http = httpx.AsyncClient(base_url=self.server.url, headers=headers, timeout=60)
        self.removable = sorted(self.removable)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._http is not None
        await self._http.aclose()

    async def step(self) -> None:
        """Create one job, then remove the lowest removable one."""
        sent = time.monotonic()
        reply = await self._call("jobs.add", self.bystanders.jobs_add_body(1, f"churn {len(self.created)}"))
        if reply is not None:
            self.created.append(Write(int(reply[0]["id"]), sent, time.monotonic()))
        if self.removable:
            job_id = self.removable.pop(0)
            sent = time.monotonic()
            await self._call("jobs.bulk.remove", {"ids": [job_id]})
            self.removed.append(Write(job_id, sent, time.monotonic()))

    async def run_until(self, stop: asyncio.Event) -> None:
        """Step until `stop` is set."""
        while not stop.is_set():
            await self.step()
            await asyncio.sleep(self.pause)

    async def _call(self, method: str, body: dict[str, object]) -> object:
        assert self._http is not None
        reply = await self._http.post(f"/public/api/v3/{method}", json=body)
        if reply.status_code != 200:
            self.failures.append(f"{method} {reply.status_code} {reply.text[:200]}")
            return None
        return reply.json()

    def lasting(self, before: Collection[int], started: float, ended: float) -> set[int]:
        """The jobs that certainly existed for the whole of a listing run from `started` to `ended`.

        Args:
            before: the jobs read before the churn began.
            started: when the listing sent its first request.
            ended: when the listing got its last reply.
        """
        created = {write.job_id for write in self.created if write.answered < started}
        removed = {write.job_id for write in self.removed if write.sent < ended}
        return (set(before) | created) - removed

    def ever(self, before: Collection[int]) -> set[int]:
        """Every job that existed at some time: those read before the churn and those it created."""
        return set(before) | {write.job_id for write in self.created}


def assert_listed_once(listed: Iterable[int], lasting: Collection[int], ever: Collection[int]) -> None:
    """The listing's oracle: each job that lasted the whole listing appears exactly once, no job appears twice,
    and nothing that never existed appears."""
    counts = Counter(listed)
    twice = sorted(job_id for job_id, count in counts.items() if count > 1)
    missing = sorted(set(lasting) - set(counts))
    unknown = sorted(set(counts) - set(ever))
    assert not twice, f"{len(twice)} jobs listed twice: {twice[:10]}"
    assert not missing, f"{len(missing)} lasting jobs not listed: {missing[:10]}"
    assert not unknown, f"{len(unknown)} listed jobs never existed: {unknown[:10]}"
