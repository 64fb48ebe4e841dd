"""Webhook notices about labeling jobs: read one without trusting it, and confirm it with the API.

A delivery only ever means "something about job N in team T may have changed". `parse_notice` pulls those two
ids out of a payload (accepting the sandbox's shape, `{"teamId", "data": {"jobId"}}`, and a few plausible
others, since the real format is not documented); `confirm_completion` then reads the job with `jobs.info` and
keeps it only when it exists, belongs to team T, carries a round's lineage (`customData.labelrounds`) and is
`completed` now. Anything else (a forged, stale, test or foreign notice) yields nothing. The same completion
may be confirmed more than once (a duplicated delivery, a retry): consumers dedupe on `ConfirmedCompletion.key`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import SecretStr

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import JobStatus
from labelrounds.steps.lineage import JobLineage

#: The request header carrying the receiver's shared secret (set on the webhook by `labelrounds deploy`).
SECRET_HEADER = "x-labelrounds-secret"  # noqa: S105 - a header name
MAX_NOTICE_BYTES = 64 * 1024
_MAX_ID = 2**63 - 1
# Where a job id may sit in a payload, in order of preference.
_JOB_ID_PATHS = (("data", "jobId"), ("payload", "jobId"), ("job", "id"), ("jobId",), ("labelingJobId",))


@dataclass(frozen=True)
class JobNotice:
    """What a webhook delivery claims: job `job_id` of team `team_id` may have changed."""

    team_id: int
    job_id: int


@dataclass(frozen=True)
class ConfirmedCompletion:
    """A job of a round that the API confirms is completed."""

    team_id: int
    job_id: int
    round_key: str
    cycle: int
    finished_at: str | None

    @property
    def key(self) -> str:
        """Identifies this completion (a job completed again after a restart is a new one)."""
        return f"{self.team_id}/{self.job_id}/{self.finished_at or ''}"


def secret_matches(given: str | None, expected: SecretStr) -> bool:
    """Whether a request's secret header equals the expected secret (constant-time; absent never matches)."""
    if given is None:
        return False
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def _positive_id(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_ID:
        return None
    return value


def _dig(payload: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = payload
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def parse_notice(body: bytes) -> JobNotice | None:
    """The team and job a payload names, or None when it is not a JSON object naming both as positive ints."""
    if len(body) > MAX_NOTICE_BYTES:
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(payload, dict):
        return None
    team_id = _positive_id(payload.get("teamId"))
    job_id = next(
        (found for path in _JOB_ID_PATHS if (found := _positive_id(_dig(payload, path))) is not None), None
    )
    if team_id is None or job_id is None:
        return None
    return JobNotice(team_id=team_id, job_id=job_id)


async def confirm_completion(api: SuperviselyClient, notice: JobNotice) -> ConfirmedCompletion | None:
    """The completion a notice may announce, as the API confirms it (`jobs.info`), or None.

    Args:
        api: a client with a token that may read the team's jobs.
        notice: the untrusted claim.
    """
    job = await api.get_job(notice.job_id)
    if job is None or job.team_id != notice.team_id or job.status != JobStatus.COMPLETED:
        return None
    lineage = JobLineage.of(job)
    if lineage is None:
        return None
    return ConfirmedCompletion(
        team_id=notice.team_id,
        job_id=job.id,
        round_key=lineage.round,
        cycle=lineage.cycle,
        finished_at=job.finished_at.isoformat() if job.finished_at else None,
    )
