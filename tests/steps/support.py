"""Helpers of the step tests: the lemons round spec, a reply-losing transport, people who work jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import httpx
import jwt
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import JobStatus, ReviewStatus
from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.sandbox.server import SandboxServer

PASSWORD = SecretStr("Lemon-labeler-2026")
LEMON_CLASSES = [{"name": "kiwi"}, {"name": "lemon"}]
LEMON_TAGS = [
    {
        "name": "size",
        "value_type": "oneof_string",
        "values": ["small", "medium", "large"],
        "applicable_type": "objectsOnly",
        "classes": ["lemon", "kiwi"],
    },
    {
        "name": "origin",
        "value_type": "any_string",
        "applicable_type": "objectsOnly",
        "classes": ["lemon", "kiwi"],
    },
]

SpecFactory = Callable[..., RoundSpec]


def lemons_spec(**overrides: Any) -> RoundSpec:
    """The demo's round on the lemons seed: two labelers, one reviewer, kiwi/lemon, size/origin."""
    fields: dict[str, Any] = {
        "round_name": "round-1",
        "team": "my team",
        "project": "Lemons (Test)",
        "labelers": ["labeler_1", "labeler_2"],
        "reviewer": "reviewer_1",
        "classes": LEMON_CLASSES,
        "tags": LEMON_TAGS,
        "poll_interval_seconds": 1,
    }
    fields.update(overrides)
    return parse_round_spec(fields)


class LoseReplies(httpx.AsyncBaseTransport):
    """Forwards every request to the real server, then drops the reply of the first `times` calls of `method`.

    The request really reached the server and was committed; the client sees a read error, as when a connection
    dies after the server answered.
    """

    def __init__(self, method: str, times: int = 1) -> None:
        self.method = method
        self.remaining = times
        self.lost = 0
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path.endswith(f"/{self.method}") and self.remaining > 0:
            self.remaining -= 1  # before any await: concurrent replies must not all pass the check
            self.lost += 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadError("connection dropped after the server replied", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def admin_client(
    sandbox: SandboxServer, transport: httpx.AsyncBaseTransport | None = None
) -> SuperviselyClient:
    """A client with the sandbox admin's token (optionally over a custom transport)."""
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    return SuperviselyClient(settings, transport=transport)


class Workers:
    """Acts as the round's labelers and reviewer through the API, each with their own token (log-in by password)."""

    def __init__(self, sandbox: SandboxServer) -> None:
        self._sandbox = sandbox
        self._clients: dict[str, SuperviselyClient] = {}

    async def client(self, login: str) -> SuperviselyClient:
        """A logged-in client for `login` (password PASSWORD), opened once."""
        if login not in self._clients:
            async with httpx.AsyncClient(base_url=self._sandbox.url) as http:
                reply = await http.post(
                    "/api/account", data={"login": login, "password": PASSWORD.get_secret_value()}
                )
                reply.raise_for_status()
            token = jwt.decode(reply.json()["token"], options={"verify_signature": False})["apiToken"]
            settings = ConnectionSettings(server_address=self._sandbox.url, api_token=SecretStr(token))
            self._clients[login] = await SuperviselyClient(settings).__aenter__()
        return self._clients[login]

    async def label(self, job_id: int, admin: SuperviselyClient) -> None:
        """As the job's labeler: start, mark every image done, submit for review."""
        job = await admin.get_job(job_id)
        assert job is not None and job.labeler_login is not None
        labeler = await self.client(job.labeler_login)
        await labeler.set_job_status(job_id, JobStatus.IN_PROGRESS)
        for image_id in job.entity_ids():
            await labeler.set_entity_review_status(job_id, image_id, ReviewStatus.DONE)
        await labeler.set_job_status(job_id, JobStatus.ON_REVIEW)

    async def review(self, job_id: int, admin: SuperviselyClient, reject: Iterable[int] = ()) -> None:
        """As the job's reviewer: reject the given images, accept the others, complete the job."""
        job = await admin.get_job(job_id)
        assert job is not None and job.reviewer_login is not None
        reviewer = await self.client(job.reviewer_login)
        rejected = set(reject)
        for image_id in job.entity_ids():
            decision = ReviewStatus.REJECTED if image_id in rejected else ReviewStatus.ACCEPTED
            await reviewer.set_entity_review_status(job_id, image_id, decision)
        await reviewer.set_job_status(job_id, JobStatus.COMPLETED)

    async def finish(self, job_id: int, admin: SuperviselyClient, reject: Iterable[int] = ()) -> None:
        """Label and review a job."""
        await self.label(job_id, admin)
        await self.review(job_id, admin, reject)

    async def close(self) -> None:
        """Close every logged-in client."""
        for client in self._clients.values():
            await client.aclose()
