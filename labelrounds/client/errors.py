"""Exceptions raised by the Supervisely client, one class per failure kind, and the HTTP status mapping."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_MAX_BODY_EXCERPT = 300
#: `details.type` of a refusal because an object with the same name (or login, or membership) exists.
NONUNIQUE = "NONUNIQUE"


@dataclass(frozen=True)
class Conflict:
    """One existing object named in a `NONUNIQUE` refusal (`details.errors[*]`)."""

    name: str | None
    id: int | None
    message: str | None


class ConfigurationError(ValueError):
    """The connection settings are missing or invalid (raised before any request is made)."""


class SuperviselyError(Exception):
    """A call to the Supervisely public API failed.

    Attributes:
        status_code: the HTTP status, or None when no response was received.
        error: the server's short `error` text (or a local description of the failure).
        details: the server's `details`: `{"message": ...}`, a list of such objects, a conflict
            `{"type": "NONUNIQUE", "errors": [{"name", "id", "message"}]}`, or None (e.g. on a 401).
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
        """The human-readable part of the reply: `details.message`, `details[0].message` or `details.errors[0].message`."""
        return details_message(self.details)

    @property
    def error_type(self) -> str | None:
        """`details.type` (e.g. `NONUNIQUE`), or None."""
        first = _first_details(self.details)
        kind = first.get("type") if first is not None else None
        return str(kind) if kind is not None else None

    @property
    def conflicts(self) -> list[Conflict]:
        """The existing objects a `NONUNIQUE` refusal names (`details.errors`); empty for any other error."""
        if self.error_type != NONUNIQUE:
            return []
        return details_conflicts(self.details)

    def existing_id(self, name: str | None = None) -> int | None:
        """The id of the existing object this refusal is about (the one named `name` when given), or None."""
        return next(
            (
                conflict.id
                for conflict in self.conflicts
                if conflict.id is not None and (name is None or conflict.name == name)
            ),
            None,
        )

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


def _first_details(details: Any) -> dict[str, Any] | None:
    """`details` itself, or its first element when the server sent a list; None when it is no object."""
    if isinstance(details, list) and details:
        details = details[0]
    return details if isinstance(details, dict) else None


def details_message(details: Any) -> str | None:
    """Return `details.message`, `details[0].message` or the first `details.errors[*].message` when sent."""
    first = _first_details(details)
    if first is None:
        return None
    message = first.get("message")
    if message is not None:
        return str(message)
    return next((conflict.message for conflict in details_conflicts(first) if conflict.message), None)


def details_conflicts(details: Any) -> list[Conflict]:
    """The `details.errors[*]` entries as conflicts, skipping entries that are not objects."""
    first = _first_details(details)
    errors = first.get("errors") if first is not None else None
    if not isinstance(errors, list):
        return []
    return [
        Conflict(
            name=str(item["name"]) if item.get("name") is not None else None,
            id=_as_int(item.get("id")),
            message=str(item["message"]) if item.get("message") is not None else None,
        )
        for item in errors
        if isinstance(item, dict)
    ]


def _as_int(value: Any) -> int | None:
    """An id as int (servers send numbers, sometimes numeric strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
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
