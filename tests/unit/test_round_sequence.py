"""`run_round`, the one composition of a round: the order of the steps, the rework loop and its cycle cap.

A fake `RoundSteps` records each call: this tests the sequencing itself (the steps are tested against the sandbox
in tests/steps, the composition over them in tests/steps/test_whole_round.py and tests/flows).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pandas as pd
import pytest

from labelrounds.round_spec import RoundSpec, parse_round_spec
from labelrounds.steps.archive import EndResult
from labelrounds.steps.errors import RoundTimeoutError
from labelrounds.steps.sequence import ClientRoundSteps, RoundPhase, RoundSteps, run_round
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound


def spec_with(max_rework_cycles: int) -> RoundSpec:
    """A minimal round allowing `max_rework_cycles` rework cycles."""
    return parse_round_spec(
        {
            "round_name": "r",
            "team": "t",
            "project": 1,
            "labelers": ["a"],
            "reviewer": "b",
            "classes": [{"name": "c"}],
            "max_rework_cycles": max_rework_cycles,
            "end_action": "archive",
        }
    )


def jobs_frame(cycle: int, count: int) -> pd.DataFrame:
    """`count` jobs of `cycle`, numbered `cycle * 10 + 1…`."""
    return pd.DataFrame({"job_id": [cycle * 10 + n for n in range(1, count + 1)], "cycle": [cycle] * count})


@dataclass
class RecordingSteps:
    """Steps that record each call; rework returns one job per cycle while `rework_cycles` allows it."""

    rework_cycles: int = 10
    fail_gate_at: int | None = None
    calls: list[str] = field(default_factory=list)

    @contextmanager
    def _phase(self, name: RoundPhase) -> Iterator[None]:
        self.calls.append(f"<{name}>")
        yield
        self.calls.append(f"</{name}>")

    def phase(self, name: RoundPhase) -> Any:
        return self._phase(name)

    async def validate(self, spec: RoundSpec) -> ValidatedRound:
        self.calls.append("validate")
        target = cast(RoundTarget, SimpleNamespace(round_key="r@1"))
        return cast(ValidatedRound, SimpleNamespace(target=target, plan="plan"))

    async def ensure_users(self, spec: RoundSpec) -> dict[str, int]:
        self.calls.append("ensure_users")
        return {"a": 1, "b": 2}

    async def prepare_meta(self, spec: RoundSpec, target: RoundTarget) -> None:
        self.calls.append("prepare_meta")

    async def create_jobs(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        self.calls.append(f"create_jobs {sorted(user_ids)}")
        return jobs_frame(0, 2)

    async def wait_for_review(self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int) -> None:
        self.calls.append(f"gate {cycle} {jobs['job_id'].tolist()}")
        if cycle == self.fail_gate_at:
            raise RoundTimeoutError("too slow")

    async def rework(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        self.calls.append(f"rework {cycle} {jobs['job_id'].tolist()}")
        return jobs_frame(cycle + 1, 1) if cycle < self.rework_cycles else jobs_frame(cycle + 1, 0)

    async def finish(self, spec: RoundSpec, target: RoundTarget, job_ids: list[int]) -> EndResult:
        self.calls.append(f"finish {job_ids}")
        return EndResult(action=spec.end_action, changed=job_ids, already_done=[], not_finished=[])

    async def report(self, spec: RoundSpec, target: RoundTarget) -> str:
        self.calls.append("report")
        return "the report"


async def test_the_steps_run_in_order_and_stop_when_nothing_was_rejected() -> None:
    steps = RecordingSteps(rework_cycles=0)
    run = await run_round(steps, spec_with(max_rework_cycles=3))

    assert steps.calls == [
        "<setup>", "validate", "ensure_users", "prepare_meta", "create_jobs ['a', 'b']", "</setup>",
        "<gate>", "gate 0 [1, 2]", "</gate>",
        "<rework>", "rework 0 [1, 2]", "</rework>",
        "<finish>", "finish [1, 2]", "report", "</finish>",
    ]  # fmt: skip
    assert run.job_ids_per_cycle == [[1, 2]] and run.report == "the report" and run.user_ids == {"a": 1, "b": 2}
    assert run.target.round_key == "r@1" and run.end.changed == [1, 2]


async def test_each_rework_cycle_is_gated_and_the_end_covers_every_cycle() -> None:
    steps = RecordingSteps(rework_cycles=2)
    run = await run_round(steps, spec_with(max_rework_cycles=5))

    loop = [call for call in steps.calls if call.startswith(("gate ", "rework ", "finish"))]
    assert loop == [
        "gate 0 [1, 2]", "rework 0 [1, 2]", "gate 1 [11]", "rework 1 [11]", "gate 2 [21]", "rework 2 [21]",
        "finish [1, 2, 11, 21]",
    ]  # fmt: skip
    assert run.job_ids_per_cycle == [[1, 2], [11], [21]]


@pytest.mark.parametrize(("cap", "cycles"), [(0, 1), (1, 2), (3, 4)])
async def test_no_more_rework_cycles_than_the_round_allows(cap: int, cycles: int) -> None:
    steps = RecordingSteps(rework_cycles=10)  # something is rejected in every cycle
    run = await run_round(steps, spec_with(max_rework_cycles=cap))

    assert len(run.cycles) == cycles
    assert [call.split()[1] for call in steps.calls if call.startswith("rework ")] == [str(c) for c in range(cap)]
    assert steps.calls[-3:] == [f"finish {[i for ids in run.job_ids_per_cycle for i in ids]}", "report", "</finish>"]
    # the last cycle is gated, then the round ends without reworking it
    assert steps.calls[-7:-4] == ["<gate>", f"gate {cap} {run.job_ids_per_cycle[-1]}", "</gate>"]


async def test_a_failing_gate_stops_the_round_before_its_end_action() -> None:
    steps = RecordingSteps(rework_cycles=10, fail_gate_at=1)
    with pytest.raises(RoundTimeoutError, match="too slow"):
        await run_round(steps, spec_with(max_rework_cycles=3))

    assert steps.calls[-2:] == ["<gate>", "gate 1 [11]"]  # no rework, no finish, no report
    assert not any(call.startswith("finish") for call in steps.calls)


def test_every_way_of_running_a_round_goes_through_run_round() -> None:
    import bench.ours_round  # noqa: PLC0415 - imported here: the flow pulls in Prefect
    import flows.labeling_round  # noqa: PLC0415
    from flows.round_steps import TaskRoundSteps  # noqa: PLC0415

    assert flows.labeling_round.run_round is run_round and bench.ours_round.run_round is run_round
    assert isinstance(RecordingSteps(), RoundSteps)
    assert isinstance(ClientRoundSteps(api=cast(Any, None)), RoundSteps)
    assert isinstance(TaskRoundSteps(settings=cast(Any, None)), RoundSteps)


def test_the_flow_s_steps_offer_every_optional_step_the_library_s_do() -> None:
    from flows.round_steps import TaskRoundSteps  # noqa: PLC0415 - imported here: the flow pulls in Prefect
    from labelrounds.steps.consensus_sequence import ConsensusSteps  # noqa: PLC0415
    from labelrounds.steps.sequence import (  # noqa: PLC0415
        AdaptiveSteps,
        ApprovalSteps,
        GoldPolicySteps,
        GoldSteps,
        QueueSteps,
    )

    optional = [GoldSteps, GoldPolicySteps, QueueSteps, ApprovalSteps, AdaptiveSteps, ConsensusSteps]
    flow_steps = TaskRoundSteps(settings=cast(Any, None))
    missing = [protocol.__name__ for protocol in optional if not isinstance(flow_steps, protocol)]
    assert missing == []
    # the library's steps lack approvals (a script decides up front: PresetApprovalSteps), the rest they offer
    library_steps = ClientRoundSteps(api=cast(Any, None))
    assert [protocol.__name__ for protocol in optional if not isinstance(library_steps, protocol)] == ["ApprovalSteps"]
