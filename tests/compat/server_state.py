"""Raw HTTP reads of the sandbox's state, independent of the SDK, for the assertions after an SDK script."""

from __future__ import annotations

from typing import Any

import httpx

from .sdk_runner import ServerAccess


class ServerState:
    """Calls the public API v3 directly with the admin's token (plain httpx, no client library)."""

    def __init__(self, server: ServerAccess) -> None:
        self._http = httpx.Client(
            base_url=f"{server.url}/public/api/v3/",
            headers={"x-api-key": server.admin_token.get_secret_value()},
            timeout=30,
        )

    def __enter__(self) -> ServerState:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._http.close()

    def call(self, method: str, **body: Any) -> Any:
        """POST one method; anything but 200 fails the calling test with the server's reply."""
        response = self._http.post(method, json=body)
        assert response.status_code == 200, f"{method} {body} -> {response.status_code} {response.text}"
        return response.json()

    def status_of(self, method: str, **body: Any) -> int:
        """POST one method and return only the HTTP status (for lookups that should be 404)."""
        return self._http.post(method, json=body).status_code

    def job(self, job_id: int) -> dict[str, Any]:
        """`jobs.info` of one job."""
        return self.call("jobs.info", id=job_id)

    def count(self, method: str, **body: Any) -> int:
        """The `total` of a list method's envelope."""
        return self.call(method, **body)["total"]

    def users_with_login(self, login: str) -> int:
        """How many users have this login."""
        return self.count("users.list", filter=[{"field": "login", "operator": "=", "value": login}])

    def world_variables(self) -> dict[str, str]:
        """The SDK's id variables (TEAM_ID, WORKSPACE_ID, PROJECT_ID, DATASET_ID, USER_ID, USER_LOGIN) of the
        caller's first team, workspace, project and dataset, read from the server itself."""
        me = self.call("users.me")
        team = self.call("teams.list")["entities"][0]
        workspace = self.call("workspaces.list", teamId=team["id"])["entities"][0]
        project = self.call("projects.list", workspaceId=workspace["id"])["entities"][0]
        dataset = self.call("datasets.list", projectId=project["id"])["entities"][0]
        ids = {"TEAM_ID": team["id"], "WORKSPACE_ID": workspace["id"], "PROJECT_ID": project["id"],
               "DATASET_ID": dataset["id"], "USER_ID": me["id"]}
        return {name: str(value) for name, value in ids.items()} | {"USER_LOGIN": me["login"]}
