"""What is transient: the one decision the client's retries and the task layer's retry conditions share.

A failure is transient when a later, identical attempt may succeed: no response because the connection failed or
dropped (not a malformed request), 408, 429, and 5xx except 501 (Not Implemented never changes). Everything else
(4xx, 501, a reply that is not JSON) is final. The client retries transient failures of each call within its
`RetryPolicy`; the task layer never retries them again (see `tasks/retrying.py`).
"""

from __future__ import annotations

import httpx

from labelrounds.client.errors import AmbiguousWriteError, SuperviselyError

NOT_IMPLEMENTED = 501
#: Raised before a single byte of the request left this process, so a write cannot have been applied.
NOT_SENT_TRANSIENT: tuple[type[httpx.RequestError], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
#: Raised before sending, and repeating cannot help (a bad URL scheme, a request httpx refuses to build).
NOT_SENT_FINAL: tuple[type[httpx.RequestError], ...] = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
#: The request may have reached the server: worth retrying only when repeating it is harmless.
MAYBE_SENT_TRANSIENT: tuple[type[httpx.RequestError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)


def is_transient_status(status_code: int) -> bool:
    """Whether an HTTP status is transient: 408, 429 and 5xx (except 501, which never changes)."""
    return status_code in (408, 429) or (status_code >= 500 and status_code != NOT_IMPLEMENTED)


def is_transient_request_error(exc: httpx.RequestError) -> bool:
    """Whether a failure without a response (connection, timeout, protocol) may not happen again."""
    if isinstance(exc, NOT_SENT_FINAL):
        return False
    return isinstance(exc, NOT_SENT_TRANSIENT + MAYBE_SENT_TRANSIENT)


def is_transient(error: BaseException) -> bool:
    """Whether a later identical call may succeed where this error's call failed.

    An `AmbiguousWriteError` is judged by its cause (the write itself must be reconciled, not repeated blindly);
    errors that are not Supervisely API failures are never transient.

    Args:
        error: what a call raised.
    """
    if isinstance(error, AmbiguousWriteError):
        return is_transient(error.cause)
    if not isinstance(error, SuperviselyError):
        return False
    if error.status_code is not None:
        return is_transient_status(error.status_code)
    cause = error.__cause__
    return isinstance(cause, httpx.RequestError) and is_transient_request_error(cause)
