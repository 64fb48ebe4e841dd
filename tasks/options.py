"""Shared task options: retries of unresolved writes only, the API tag, timeouts, caching within one flow run.

Results are persisted only where a run reads them back: a task cached within the run (`WITHIN_RUN`) in a run that
can suspend and so re-run from the top. Everything else keeps its result in memory (`persist_result=False`), since a
round's flow persists its own result and Prefect would otherwise persist every task's result by inheritance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import pandas as pd
from prefect import Task, task
from prefect.cache_policies import INPUTS, NO_CACHE, RUN_ID, TASK_SOURCE, CachePolicy
from prefect.concurrency._sync import concurrency  # as the task engine leases tags: warnings suppressed

from tasks.retrying import API_TAG, RETRY_DELAYS, RETRY_JITTER, retry_on_unresolved_write

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

#: Seconds one attempt of an API task may take (a step over a large project lists many pages).
API_TIMEOUT_SECONDS = 900.0
#: Reuse a task's result inside the same flow run (a suspended round resumed re-runs the flow from the top), keyed
#: on its inputs except the connection and secret names, which never enter a cache key.
WITHIN_RUN = (INPUTS - "settings" - "password_secret") + TASK_SOURCE + RUN_ID


def api_task(name: str, run_name: str, *, cache: CachePolicy = NO_CACHE) -> Callable[[_Fn], _Fn]:
    """Decorate a task that calls the Supervisely API: retries unresolved writes only, API tag, timeout.

    Without a cache policy its result is never persisted (nothing reads it back; retries run the function again).
    """
    return task(  # type: ignore[no-any-return]
        name=name,
        task_run_name=run_name,
        retries=len(RETRY_DELAYS),
        retry_delay_seconds=RETRY_DELAYS,
        retry_jitter_factor=RETRY_JITTER,
        retry_condition_fn=retry_on_unresolved_write,
        timeout_seconds=API_TIMEOUT_SECONDS,
        tags=[API_TAG],
        cache_policy=cache,
        persist_result=False if cache is NO_CACHE else None,
    )


#: Set while a block of tasks holds one slot of the API tag's limit (`api_lease`).
_HOLDING_API_LEASE: ContextVar[bool] = ContextVar("holding_api_lease", default=False)
#: Seconds of a lease between two renewals (Prefect renews it in the background while the block runs).
API_LEASE_SECONDS = 60.0


@contextmanager
def api_lease() -> Iterator[None]:
    """Hold one slot of the API tag's concurrency limit for a block of API tasks, which then take none of their own.

    One lease per block instead of one per task: each lease costs Prefect API requests (acquire, renew, release)
    and a new API client. The block waits for a free slot as a tagged task would; without a limit it runs at once.
    Waiting blocks the calling thread (the flow's own loop runs nothing else meanwhile: the round is sequential).
    """
    if _HOLDING_API_LEASE.get():
        yield
        return
    with concurrency(f"tag:{API_TAG}", occupy=1, lease_duration=API_LEASE_SECONDS, suppress_warnings=True):
        token = _HOLDING_API_LEASE.set(True)
        try:
            yield
        finally:
            _HOLDING_API_LEASE.reset(token)


def holding_api_lease() -> bool:
    """Whether this context holds a lease of the API limit (inside an `api_lease` block)."""
    return _HOLDING_API_LEASE.get()


def leased(api_task_: _Fn) -> _Fn:
    """The task as it must run here: inside an `api_lease` block without its own lease (never two of one round)."""
    if _HOLDING_API_LEASE.get() and isinstance(api_task_, Task) and API_TAG in api_task_.tags:
        return api_task_.with_options(tags=api_task_.tags - {API_TAG})  # type: ignore[return-value]
    return api_task_


def in_round(api_task_: _Fn, *, resumable: bool) -> _Fn:
    """The task as a round's flow runs it: `leased`, and without caching or a persisted result unless `resumable`.

    Caching within the run only serves a run that re-runs from the top (resumed after a suspension); any other run
    would persist results nobody reads and hash the inputs (frames of the plan) for keys nobody looks up.

    Args:
        api_task_: the task.
        resumable: whether the flow run can suspend (`run_can_suspend`).
    """
    chosen = leased(api_task_)
    if not resumable and isinstance(chosen, Task) and chosen.cache_policy is not NO_CACHE:
        return chosen.with_options(cache_policy=NO_CACHE, persist_result=False)  # type: ignore[return-value]
    return chosen


def artifact_key(*parts: object) -> str:
    """A Prefect artifact key from parts: lowercase, dashes only (e.g. 'round-1-report')."""
    text = "-".join(str(part) for part in parts).lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def outcome_counts(jobs: pd.DataFrame) -> str:
    """'2 created, 1 reused' from a jobs frame's outcome column ('no jobs' when empty)."""
    if jobs.empty:
        return "no jobs"
    counts = jobs["outcome"].value_counts()
    return ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items()))
