"""Garbage never produces a 5xx: every method, many malformed bodies, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from labelrounds.sandbox.registry import API_METHODS

from .api_client import Api

GARBAGE = [
    b"",
    b"{",
    b"[{}]",
    b"null",
    b'"x"',
    b"{}",
    b'{"id": 9223372036854775808, "teamId": "8", "filter": "all", "per_page": -5, "page": "x"}',
    b'{"id": 1e400, "filter": [{"field": "id", "operator": "in", "value": [[1]]}], "teamId": 8, "datasetId": 1001}',
    b'{"id": NaN, "filter": [{"field": "id"}], "teamId": 8, "projectId": 13487, "datasetId": 1001}',
    b'{"meta": [], "id": 13487, "datasetId": 1001, "userIds": [7], "name": "x", "settings": "x"}',
    b'{"meta": {"entityIds": {"a": 1}}, "datasetId": 1001, "userIds": [7], "name": "x", "ids": []}',
    b'{"id": {"a": 1}, "jobId": "a", "entityId": null, "status": 5, "mode": "some", "customData": [1]}',
    b'{"login": "\\u0000", "password": "\\ud800", "name": "\\udfff", "teamId": 8, "roleId": 3, "id": 7}',
    b'{"a":' * 200 + b"1" + b"}" * 200,
    b"\xff\xfe\x00",
]


@pytest.mark.parametrize("method", sorted(API_METHODS))
def test_no_garbage_body_gives_a_5xx(http: httpx.Client, admin: Api, method: str) -> None:
    for body in GARBAGE:
        response = http.post(
            f"/public/api/v3/{method}",
            content=body,
            headers={"x-api-key": admin.token, "content-type": "application/json"},
        )
        assert response.status_code < 500, (method, body, response.status_code, response.text)
        if response.status_code != 200:
            assert set(response.json()) == {"error", "details"}, response.text


def test_a_form_body_is_400(http: httpx.Client, admin: Api) -> None:
    response = http.post("/public/api/v3/jobs.info", data={"id": "1"}, headers={"x-api-key": admin.token})
    assert response.status_code == 400 and response.json()["error"] == "Invalid request"
