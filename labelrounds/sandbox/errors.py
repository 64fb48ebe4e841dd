"""Business errors of the sandbox, answered in the real server's shapes.

- most refusals: `{"error": <short text>, "details": {"message": <readable text>}}`;
- a duplicate (`Conflict`): `{"error": "user already exists", "details": {"type": "NONUNIQUE", "errors":
  [{"name", "id", "message"}]}}`, as the real server answers `projects.add` or `teams.add` with a taken name;
- a refused token (`Unauthorized`): `{"error": <readable text>, "details": null}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

#: `details.type` of a refusal because the object exists already.
NONUNIQUE = "NONUNIQUE"


class ApiError(Exception):
    """A request the sandbox refuses; never a 5xx.

    Args:
        message: the human-readable text; must never contain a token or a password.
        headers: extra response headers.
    """

    status_code = 400
    error = "Invalid request"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers

    def details(self) -> Any:
        """The reply's `details`."""
        return {"message": self.message}

    def body(self) -> dict[str, Any]:
        """The JSON reply body."""
        return {"error": self.error, "details": self.details()}


class BadRequest(ApiError):
    """400: malformed or invalid input, or a transition that makes no sense in the current state."""


@dataclass(frozen=True)
class Existing:
    """An object that makes a creation a duplicate: its name (or login), id and the readable reason."""

    name: str
    id: int
    message: str


class Conflict(BadRequest):
    """400 `NONUNIQUE`: the object exists already; `details.errors` names each existing one with its id.

    Args:
        error: the short text, e.g. `user already exists`.
        existing: the objects in the way (at least one).
    """

    def __init__(self, error: str, existing: Sequence[Existing]):
        if not existing:
            raise ValueError("a conflict names at least one existing object")
        super().__init__(existing[0].message)
        self.error = error
        self.existing = tuple(existing)

    def details(self) -> dict[str, Any]:
        """`{"type": "NONUNIQUE", "errors": [{"name", "id", "message"}]}`."""
        return {
            "type": NONUNIQUE,
            "errors": [{"name": item.name, "id": item.id, "message": item.message} for item in self.existing],
        }


class Unauthorized(ApiError):
    """401: missing, unknown or disabled API token, or wrong credentials; the text is `error`, `details` null."""

    status_code = 401

    def body(self) -> dict[str, Any]:
        """`{"error": <message>, "details": null}`, like the real server."""
        return {"error": self.message, "details": None}


class Forbidden(ApiError):
    """403: the caller is known but its role does not allow the action."""

    status_code = 403
    error = "Forbidden"


class NotFound(ApiError):
    """404: unknown object or method, or an object the caller may not see."""

    status_code = 404
    error = "Not found"


def error_body(error: str, message: str, **details: Any) -> dict[str, Any]:
    """A Supervisely-shaped error body for errors raised outside the handlers (routing, validation)."""
    return {"error": error, "details": {"message": message, **details}}
