"""A raw HTTP caller of the sandbox API for the tests (no library client: these tests pin the wire)."""

from __future__ import annotations

from typing import Any

import httpx

#: The lemons images the sandbox tests put in their job (conftest `job_id`).
JOB_IMAGES = [1002, 1003, 1004]

class Api:
    """A raw HTTP caller of the sandbox's API v3 with one user's token."""

    def __init__(self, client: httpx.Client, token: str | None, user_id: int = 0, login: str = "") -> None:
        self.client, self.token, self.user_id, self.login = client, token, user_id, login

    def call(self, method: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        """POST one method and return the raw response."""
        headers = {"x-api-key": self.token} if self.token else {}
        return self.client.post(
            f"/public/api/v3/{method}", json=body if body is not None else {}, headers=headers, **kwargs
        )

    def ok(self, method: str, body: Any = None) -> Any:
        """POST one method, require 200 and return the JSON reply."""
        response = self.call(method, body)
        assert response.status_code == 200, f"{method} -> {response.status_code} {response.text}"
        return response.json()

    def job_ids(self, team_id: int, **extra: Any) -> list[int]:
        """Ids of the jobs this caller sees in a team (first page)."""
        return [job["id"] for job in self.ok("jobs.list", {"teamId": team_id, **extra})["entities"]]

    def job(self, job_id: int) -> dict[str, Any]:
        """`jobs.info` of one job."""
        return self.ok("jobs.info", {"id": job_id})

    def error(self, method: str, body: Any, status: int) -> dict[str, Any]:
        """POST one method, require this error status in one of the real server's shapes, and return `details`.

        The shapes: `{"error", "details": {"message"}}`; a duplicate `{"error", "details": {"type": "NONUNIQUE",
        "errors": [{"name", "id", "message"}]}}`; a 401 `{"error", "details": null}`. `details` comes back with
        the readable text as `message` in every case (the first conflict's, or the 401's `error`).
        """
        response = self.call(method, body)
        assert response.status_code == status, f"{method} -> {response.status_code} {response.text}"
        reply = response.json()
        assert set(reply) == {"error", "details"} and isinstance(reply["error"], str) and reply["error"]
        details = reply["details"]
        if status == 401:
            assert details is None, reply
            return {"message": reply["error"]}
        if isinstance(details, dict) and details.get("type") == "NONUNIQUE":
            errors = details["errors"]
            assert errors and all(
                set(item) == {"name", "id", "message"}
                and isinstance(item["name"], str)
                and isinstance(item["id"], int)
                and isinstance(item["message"], str)
                for item in errors
            ), reply
            return {**details, "message": errors[0]["message"]}
        assert isinstance(details["message"], str), reply
        return details
