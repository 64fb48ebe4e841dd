"""The Prefect server's REST API as the UI uses it: plain JSON over httpx, no Prefect client settings involved."""

from __future__ import annotations

import time
from typing import Any

import httpx

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 0.0)


class PrefectRest:
    """A small synchronous REST client of one Prefect server."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.http = httpx.Client(base_url=api_url, timeout=30)

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """Send one request; a 503 (SQLite busy under load) is retried as Prefect's own client does."""
        for delay in RETRY_DELAYS:
            reply = self.http.request(method, path, json=body)
            if reply.status_code != 503:
                break
            time.sleep(delay)
        return reply.raise_for_status()

    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """`request`'s JSON reply."""
        return self.request(method, path, body).json()

    def deployment(self, flow_name: str, deployment_name: str) -> dict[str, Any]:
        """A deployment by its flow's and its own name."""
        return dict(self._json("GET", f"/deployments/name/{flow_name}/{deployment_name}"))

    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment on the server."""
        return list(self._json("POST", "/deployments/filter", {}))

    def delete_deployments(self) -> None:
        """Delete every deployment on the server (their runs stay)."""
        for deployment in self.deployments():
            # Through the retries too: a 503 here failed a clean-clone CI run once (30 Nov, test_serve's setup).
            self.request("DELETE", f"/deployments/{deployment['id']}")

    def work_pool(self, name: str) -> dict[str, Any]:
        """A work pool by name."""
        return dict(self._json("GET", f"/work_pools/{name}"))

    def tag_limit(self, tag: str) -> dict[str, Any]:
        """The task concurrency limit of a tag."""
        return dict(self._json("GET", f"/concurrency_limits/tag/{tag}"))

    def run_from_form(self, deployment_id: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """Start a run the way the UI's "Custom run" form does: the form's values as JSON, scheduled now."""
        body = {
            "state": {"type": "SCHEDULED", "message": "Run from the Prefect UI", "state_details": {}},
            "parameters": parameters,
            "enforce_parameter_schema": True,
        }
        return dict(self._json("POST", f"/deployments/{deployment_id}/create_flow_run", body))

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        """A flow run with its current state."""
        return dict(self._json("GET", f"/flow_runs/{flow_run_id}"))

    def wait_for(self, flow_run_id: str, state_types: set[str], timeout: float) -> dict[str, Any]:
        """Poll the run until its state type is one of `state_types` (or final); fail on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.flow_run(flow_run_id)
            state_type = run["state"]["type"]
            if state_type in state_types or state_type in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run['name']} still {state_type} after {timeout:g} s")
            time.sleep(0.5)

    def artifacts(self, flow_run_id: str) -> list[dict[str, Any]]:
        """Every artifact of a flow run (its tasks' included)."""
        body = {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
        return list(self._json("POST", "/artifacts/filter", body))

    def logs(self, flow_run_id: str) -> list[str]:
        """The run's log messages, oldest first."""
        body = {"logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200}
        return [entry["message"] for entry in self._json("POST", "/logs/filter", body)]
