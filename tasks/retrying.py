"""When a task retries: transient failures only (one shared condition), and the gate's not-ready polling."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun

from labelrounds.client import (
    AmbiguousWriteError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from labelrounds.steps.errors import RoundNotReadyError, UnresolvedWriteError

#: Errors a later attempt can overcome. Ambiguous and unresolved writes are safe to retry because every step
#: starts by looking up what already exists (jobs by their customData identity, users by login).
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    TransportError,
    RateLimitedError,
    ServerError,
    AmbiguousWriteError,
    UnresolvedWriteError,
)
#: Waits between the attempts of an API task (seconds), each stretched by up to RETRY_JITTER of itself.
RETRY_DELAYS: list[float] = [2, 10, 30]
RETRY_JITTER = 0.5
#: Tag of every task that calls the Supervisely API except the gate check (a concurrency limit is set on it).
API_TAG = "supervisely-api"


def failure_of(state: State[Any]) -> BaseException | None:
    """The exception a failed state carries, or None."""
    if isinstance(state.data, BaseException):
        return state.data
    outcome = state.result(raise_on_failure=False, _sync=True)  # type: ignore[call-overload]
    return outcome if isinstance(outcome, BaseException) else None


def retry_on_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry condition of every API task: only transient errors (never validation, permission or conflict)."""
    return isinstance(failure_of(state), TRANSIENT_ERRORS)


def retry_until_ready(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry condition of the gate: the jobs are not ready yet, or a transient error; a stalled round fails at once."""
    return isinstance(failure_of(state), (RoundNotReadyError, *TRANSIENT_ERRORS))
