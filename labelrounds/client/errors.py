"""Exceptions raised by the Supervisely client, one class per failure kind, and the HTTP status mapping."""

from __future__ import annotations

import json
from typing import Any

_MAX_BODY_EXCERPT = 300


class ConfigurationError(ValueError):
    """The connection settings are missing or invalid (raised before any request is made)."""


class SuperviselyError(Exception):
    """A call to the Supervisely public API failed.

    Attributes:
        status_code: the HTTP status, or None when no response was received.
        error: the server's short `error` text (or a local description of the failure).
        details: the server's `details` object (usually `{"message": ...}`), or None.
        method: the API method that failed, e.g. `jobs.add`.
    """

    def __init__(self, status_code: int | None, error: str | None, details: Any, method: str) -> None:
        self.status_code = status_code
        self.error = error
        self.details = details
        self.method = method
        super().__init__(self._describe())

    @property
    def message(self) -> str | None:
        """The human-readable part of the server's reply: `details.message` or `details[0].message`."""
        return details_message(self.details)

    def _describe(self) -> str:
        status = f"HTTP {self.status_code}" if self.status_code is not None else "no response"
        parts = [f"{self.method} failed ({status})"]
        if self.error:
            parts.append(self.error)
        detail = self.message
        if detail and detail != self.error:
            parts.append(detail)
        return ": ".join(parts)


class InvalidRequestError(SuperviselyError):
    """The server refused the request as invalid (400, 422 and other unmapped 4xx)."""


class NothingToRestartError(InvalidRequestError):
    """`jobs.restart` found no rejected images to put in a new job (400 `No images found`)."""


class UnauthorizedError(SuperviselyError):
    """The API token is missing, wrong or expired (401)."""


class ForbiddenError(SuperviselyError):
    """The token's user may not do this (403)."""


class NotFoundError(SuperviselyError):
    """The object or the method does not exist, or is invisible to this user (404)."""


class RateLimitedError(SuperviselyError):
    """The server kept answering 429 until the retry budget ran out."""

    def __init__(
        self,
        status_code: int | None,
        error: str | None,
        details: Any,
        method: str,
        *,
        retry_after: float | None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status_code, error, details, method)


class ServerError(SuperviselyError):
    """The server failed (5xx) until the retry budget ran out."""


class TransportError(SuperviselyError):
    """No usable HTTP response: connection refused or dropped, timeout (including 408)."""


class ResponseFormatError(SuperviselyError):
    """The server answered 200 with a body that does not have the documented shape."""


class PaginationError(ResponseFormatError):
    """A paginated listing did not add up: the collected count differs from the announced `total`."""


class AmbiguousWriteError(SuperviselyError):
    """A non-idempotent write may or may not have been applied; the caller must look the object up.

    Attributes:
        cause: the failure that made the outcome unknown (a 5xx or a dropped connection after sending).
    """

    def __init__(self, method: str, cause: SuperviselyError) -> None:
        self.cause = cause
        reason = f" after {cause.error}" if cause.error else ""
        super().__init__(
            cause.status_code,
            f"outcome unknown{reason}, the write may have been applied",
            cause.details,
            method,
        )


_STATUS_ERRORS: dict[int, type[SuperviselyError]] = {
    400: InvalidRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    408: TransportError,
    422: InvalidRequestError,
}

_NOTHING_TO_RESTART_TEXT = "No images found"


def details_message(details: Any) -> str | None:
    """Return `details.message` (or `details[0].message`) when the server sent one."""
    if isinstance(details, list) and details:
        details = details[0]
    if isinstance(details, dict):
        message = details.get("message")
        if message is not None:
            return str(message)
    return None


def parse_error_body(body_text: str, reason: str) -> tuple[str, Any]:
    """Split an error reply into Supervisely's `(error, details)`, tolerating non-JSON and FastAPI shapes.

    Args:
        body_text: the response body, already redacted of any secret.
        reason: the HTTP reason phrase, used when the body says nothing.
    """
    try:
        payload = json.loads(body_text) if body_text else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        if "error" in payload or "details" in payload:
            return str(payload.get("error") or reason), payload.get("details")
        if "detail" in payload:  # FastAPI's own shape
            return reason, {"message": _stringify(payload["detail"])}
    excerpt = body_text.strip()[:_MAX_BODY_EXCERPT]
    return reason, ({"message": excerpt} if excerpt else None)


def error_for_status(
    method: str, status_code: int, error: str, details: Any, *, retry_after: float | None = None
) -> SuperviselyError:
    """Build the exception that matches an HTTP error status."""
    if status_code == 429:
        return RateLimitedError(status_code, error, details, method, retry_after=retry_after)
    if status_code >= 500:
        return ServerError(status_code, error, details, method)
    if status_code == 400 and method == "jobs.restart" and _mentions_nothing_to_restart(error, details):
        return NothingToRestartError(status_code, error, details, method)
    error_class = _STATUS_ERRORS.get(status_code, InvalidRequestError)
    return error_class(status_code, error, details, method)


def _mentions_nothing_to_restart(error: str, details: Any) -> bool:
    return _NOTHING_TO_RESTART_TEXT in error or _NOTHING_TO_RESTART_TEXT in _stringify(details)


def _stringify(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)
