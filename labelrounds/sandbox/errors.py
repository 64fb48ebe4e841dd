"""Business errors of the sandbox, answered in Supervisely's shape `{"error", "details": {"message", ...}}`."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A request the sandbox refuses; never a 5xx.

    Args:
        message: the human-readable `details.message`; must never contain a token or a password.
        error_type: optional `details.type`, e.g. `NONUNIQUE` for a duplicate.
    """

    status_code = 400
    error = "Invalid request"

    def __init__(self, message: str, *, error_type: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.headers = headers

    def body(self) -> dict[str, Any]:
        """The JSON reply body."""
        details: dict[str, Any] = {"message": self.message}
        if self.error_type:
            details["type"] = self.error_type
        return {"error": self.error, "details": details}


class BadRequest(ApiError):
    """400: malformed or invalid input, or a transition that makes no sense in the current state."""


class Unauthorized(ApiError):
    """401: missing, unknown or disabled API token, or wrong credentials."""

    status_code = 401
    error = "Unauthorized"


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
