"""Reading webhook notices without trusting them, and the shared-secret check."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from labelrounds.job_notices import MAX_NOTICE_BYTES, JobNotice, parse_notice, secret_matches


@pytest.mark.parametrize(
    "payload",
    [
        {"action": "labeling_job.completed", "teamId": 8, "data": {"jobId": 41, "status": "completed"}},
        {"teamId": 8, "payload": {"jobId": 41}},
        {"teamId": 8, "job": {"id": 41}},
        {"teamId": 8, "jobId": 41},
    ],
)
def test_the_team_and_job_are_read_from_plausible_shapes(payload: dict[str, Any]) -> None:
    assert parse_notice(orjson.dumps(payload)) == JobNotice(team_id=8, job_id=41)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"[8, 41]",
        b'"teamId"',
        orjson.dumps({"data": {"jobId": 41}}),  # no team
        orjson.dumps({"teamId": 8}),  # no job
        orjson.dumps({"teamId": "8", "data": {"jobId": 41}}),  # a string id
        orjson.dumps({"teamId": True, "data": {"jobId": 41}}),  # a bool is no id
        orjson.dumps({"teamId": 8, "data": {"jobId": 0}}),
        orjson.dumps({"teamId": 8, "data": {"jobId": -4}}),
        orjson.dumps({"teamId": 8, "data": {"jobId": 2**63}}),
        orjson.dumps({"teamId": 8, "data": [41]}),
        orjson.dumps({"teamId": 8, "data": {"jobId": 41}, "pad": "x" * MAX_NOTICE_BYTES}),  # too large
    ],
)
def test_anything_else_is_no_notice(body: bytes) -> None:
    assert parse_notice(body) is None


def test_the_secret_must_match_exactly() -> None:
    expected = SecretStr("s3cret")
    assert secret_matches("s3cret", expected)
    for given in (None, "", "s3cre", "s3cret ", "S3CRET", "s3crets"):
        assert not secret_matches(given, expected), given
