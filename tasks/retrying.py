"""When a task retries: only what the client cannot retry itself (write reconciliation), and the gate's polling.

Transient failures (connection, 408, 429, 5xx except 501) are retried by the client, inside each call, within its
`RetryPolicy` (at most 6 attempts, no retry started after 120 s): one layer, so a dead server is reported in
seconds instead of the minutes that nested retries took. A task retries only a write whose outcome stayed unknown
(`AmbiguousWriteError`, `UnresolvedWriteError`): the retry re-runs the step, which first looks up what already
exists (jobs by their customData identity, users by login), so nothing is created twice.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun

from labelrounds.client import AmbiguousWriteError
from labelrounds.client.transience import is_transient
from labelrounds.steps.errors import RoundNotReadyError, UnresolvedWriteError

#: Failures a task retries: writes whose outcome is unknown, reconciled by the step's own lookup on re-run.
RECONCILABLE_ERRORS: tuple[type[Exception], ...] = (AmbiguousWriteError, UnresolvedWriteError)
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


def retry_on_unresolved_write(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry condition of every API task: only writes to reconcile (the client already retried transient errors)."""
    return isinstance(failure_of(state), RECONCILABLE_ERRORS)


def retry_until_ready(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry condition of the gate: not ready yet, or a check that failed transiently (the next poll is the retry).

    A week-long gate outlives a server restart: a check the client gave up on counts as "not known to be ready",
    and the next check comes one poll interval later, within the round's timeout. A stalled round fails at once.
    """
    failure = failure_of(state)
    return isinstance(failure, RoundNotReadyError) or (failure is not None and is_transient(failure))
