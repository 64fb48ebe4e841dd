"""Shared task options: retries of unresolved writes only, the API tag, timeouts, caching within one flow run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import pandas as pd
from prefect import task
from prefect.cache_policies import INPUTS, NO_CACHE, RUN_ID, TASK_SOURCE, CachePolicy

from tasks.retrying import API_TAG, RETRY_DELAYS, RETRY_JITTER, retry_on_unresolved_write

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

#: Seconds one attempt of an API task may take (a step over a large project lists many pages).
API_TIMEOUT_SECONDS = 900.0
#: Reuse a task's result inside the same flow run (a suspended round resumed re-runs the flow from the top), keyed
#: on its inputs except the connection and secret names, which never enter a cache key.
WITHIN_RUN = (INPUTS - "settings" - "password_secret") + TASK_SOURCE + RUN_ID


def api_task(name: str, run_name: str, *, cache: CachePolicy = NO_CACHE) -> Callable[[_Fn], _Fn]:
    """Decorate a task that calls the Supervisely API: retries unresolved writes only, API tag, timeout."""
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
    )


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
