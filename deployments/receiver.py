"""The webhook receiver: a small ASGI app that turns Supervisely's job webhooks into Prefect events.

`POST /webhooks/supervisely` checks the shared secret header (constant-time; 401 and nothing else without it),
reads "job N of team T may have changed" from the payload and nothing more, confirms with `jobs.info` that the
job is a round's job and is completed, and announces it (`tasks.round_events.announce_completion`: the event
`labelrounds.job.completed`, then `labelrounds.round.ready` for each paused run of the round whose gate's jobs one
`jobs.list` shows ready; an automation resumes that run). Every authenticated delivery gets 202, with whether an
event was emitted: the sender has nothing to retry when a notice was not about a round's completed job. When the
events cannot be handed to Prefect (server down), the answer is 503, so the sender delivers the notice again.
`GET /healthz` answers 200.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.job_notices import (
    MAX_NOTICE_BYTES,
    SECRET_HEADER,
    ConfirmedCompletion,
    confirm_completion,
    parse_notice,
    secret_matches,
)

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/supervisely"
Announcer = Callable[[SuperviselyClient, ConfirmedCompletion], Awaitable[Any]]


def create_receiver_app(secret: SecretStr, settings: ConnectionSettings, announce: Announcer) -> FastAPI:
    """The receiver's app.

    Args:
        secret: the shared secret deliveries must carry.
        settings: the Supervisely connection used to confirm notices.
        announce: called once per confirmed completion with the receiver's client (e.g.
            `tasks.round_events.announce_completion`); a `ready_runs` attribute of its result goes into the reply.
    """
    if not secret.get_secret_value():
        raise ValueError("the receiver's secret is empty")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with SuperviselyClient(settings) as api:
            app.state.api = api
            yield

    app = FastAPI(title="labelrounds webhook receiver", lifespan=lifespan, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(WEBHOOK_PATH, status_code=202)
    async def receive(request: Request) -> JSONResponse:
        if not secret_matches(request.headers.get(SECRET_HEADER), secret):
            return JSONResponse({"error": "missing or wrong secret"}, status_code=401)
        body = await _read_limited(request)
        notice = parse_notice(body) if body is not None else None
        if notice is None:
            return JSONResponse({"emitted": False, "reason": "no team and job id in the payload"}, 202)
        completion = await confirm_completion(request.app.state.api, notice)
        if completion is None:
            logger.info(
                "notice about job %s of team %s: not a round's completed job", notice.job_id, notice.team_id
            )
            return JSONResponse({"emitted": False, "reason": "not a completed job of a round"}, 202)
        try:
            announced = await announce(request.app.state.api, completion)
        except Exception as error:  # any failure to announce: the sender's retry is the remedy
            logger.warning(
                "job %s: could not announce (%s); asking for a retry", completion.job_id, type(error).__name__
            )
            return JSONResponse({"error": "could not announce the completion; retry later"}, status_code=503)
        ready_runs = [str(run_id) for run_id in getattr(announced, "ready_runs", [])]
        logger.info(
            "job %s of round %s completed: event emitted; ready runs: %s",
            completion.job_id,
            completion.round_key,
            ready_runs or "none",
        )
        return JSONResponse(
            {
                "emitted": True,
                "round": completion.round_key,
                "job_id": completion.job_id,
                "ready_runs": ready_runs,
            },
            202,
        )

    return app


async def _read_limited(request: Request) -> bytes | None:
    """The request body, or None when it is larger than a notice may be."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_NOTICE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
