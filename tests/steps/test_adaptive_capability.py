"""An adaptive round needs `jobs.split`; on a server without it (a real Supervisely) validation refuses the round.

The server without the method is the session sandbox with the fault `jobs.split:404=1`, which answers every
`jobs.split` as a server that lacks it. Oracles are independent of the code under test: the store's fingerprint
for "nothing written" and the sandbox's own request counts (`traffic_stats`) for the probe.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from security.world import fingerprint

import labelrounds.steps.validate as validate_module
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundValidationError
from labelrounds.steps.sequence import ClientRoundSteps, run_round
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import validate_round

from .support import PASSWORD, admin_client, lemons_spec

WITHOUT_SPLIT = "jobs.split:404=1"


class StopAtTheGate(Exception):
    """Raised by the mutant's steps when the round reaches its adaptive gate (its jobs are made by then)."""


class StopAtTheGateSteps(ClientRoundSteps):
    """The library's steps, stopping the round at its adaptive gate instead of waiting for people."""

    async def wait_and_rebalance(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        raise StopAtTheGate


@pytest.fixture
def without_split(sandbox: SandboxServer) -> Iterator[SandboxServer]:
    """The session sandbox, fresh, answering `jobs.split` as a server without it (404) for this test only."""
    sandbox.traffic.plan = FaultPlan.parse(WITHOUT_SPLIT)
    try:
        yield sandbox
    finally:
        sandbox.traffic.plan = FaultPlan()


def adaptive_spec(**overrides: Any) -> RoundSpec:
    """The lemons round with adaptive assignment."""
    return lemons_spec(assignment="adaptive", **overrides)


def split_calls(server: SandboxServer) -> int:
    """`jobs.split` requests the sandbox has received (its own count)."""
    return server.traffic_stats().requests.get("jobs.split", 0)


async def test_an_adaptive_round_without_jobs_split_is_refused_before_anything_is_written(
    without_split: SandboxServer,
) -> None:
    assert without_split.store is not None
    before = fingerprint(without_split.store)
    async with admin_client(without_split) as api:
        with pytest.raises(RoundValidationError) as refused:
            await run_round(StopAtTheGateSteps(api, PASSWORD), adaptive_spec())
    assert fingerprint(without_split.store) == before
    message = str(refused.value)
    assert "jobs.split" in message
    assert "assignment 'queue'" in message
    assert split_calls(without_split) == 1


async def test_mutant_the_probe_skipped_lets_the_round_write_its_jobs(
    without_split: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_probe(*_: object) -> list[str]:
        return []

    monkeypatch.setattr(validate_module, "split_capability_problems", no_probe)
    assert without_split.store is not None
    before = fingerprint(without_split.store)
    async with admin_client(without_split) as api:
        with pytest.raises(StopAtTheGate):
            await run_round(StopAtTheGateSteps(api, PASSWORD), adaptive_spec())
    assert fingerprint(without_split.store) != before  # the "nothing written" oracle catches it
    assert split_calls(without_split) == 0


async def test_the_probe_runs_once_for_adaptive_rounds_only_and_passes_on_the_sandbox(
    sandbox: SandboxServer,
) -> None:
    assert sandbox.store is not None
    before = fingerprint(sandbox.store)
    async with admin_client(sandbox) as api:
        assert await api.can_split_jobs()
        await validate_round(api, adaptive_spec(), PASSWORD)
        assert split_calls(sandbox) == 2
        await validate_round(api, lemons_spec(), PASSWORD)
        assert split_calls(sandbox) == 2
    assert fingerprint(sandbox.store) == before
