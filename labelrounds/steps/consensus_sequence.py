"""The composition of a consensus round: validate → users → meta → [finished earlier? its figures] → replicas of the
first pass → gate → agreement → [one more replica for the images under the threshold → gate → agreement]* → merge
→ adjudication → gate → figures kept → end action → report → replica images removed.

`run_round` hands a round with `consensus` to `run_consensus_round`; a `ConsensusSteps` says how each consensus
step is done (library calls in `sequence.ClientRoundSteps`, Prefect tasks in `flows.round_steps.TaskRoundSteps`).
Every step is safe to re-run: a killed round run again finds its replicas, jobs and figures by lineage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

import pandas as pd

from labelrounds.round_spec import RoundSpec
from labelrounds.steps.archive import EndResult
from labelrounds.steps.consensus import (
    ConsensusFigures,
    LabelerAgreement,
    consensus_figures,
    images_for_next_replica,
)
from labelrounds.steps.errors import RoundError
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound

if TYPE_CHECKING:
    from labelrounds.steps.sequence import RoundSteps

ReportT = TypeVar("ReportT")
ReportT_co = TypeVar("ReportT_co", covariant=True)


@runtime_checkable
class ConsensusSteps(Protocol[ReportT_co]):
    """The consensus steps (`steps.consensus`); `run_round` uses them only for a round with `consensus`."""

    async def recorded_consensus(self, spec: RoundSpec, validated: ValidatedRound) -> ConsensusFigures | None:
        """The figures a finished earlier run kept, or None."""
        ...

    async def replicate(
        self,
        spec: RoundSpec,
        validated: ValidatedRound,
        user_ids: dict[str, int],
        replica: int,
        image_ids: list[int],
    ) -> pd.DataFrame:
        """Make replica `replica` of these images exist once (datasets, copies, jobs); its jobs (`JOB_COLUMNS`)."""
        ...

    async def measure_agreement(
        self, spec: RoundSpec, validated: ValidatedRound, replicas: int
    ) -> pd.DataFrame:
        """Each image's agreement over its replicas among the first `replicas` (`consensus.AGREEMENT_COLUMNS`)."""
        ...

    async def merge_consensus(
        self, spec: RoundSpec, validated: ValidatedRound, replicas: int, agreement: pd.DataFrame
    ) -> dict[str, LabelerAgreement]:
        """Write the merged annotations of the agreeing images; each labeler's agreement with the consensus."""
        ...

    async def adjudicate(
        self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int], agreement: pd.DataFrame
    ) -> pd.DataFrame:
        """Make the adjudication jobs of the images under the threshold exist once (empty frame when none)."""
        ...

    async def record_consensus(
        self, spec: RoundSpec, validated: ValidatedRound, figures: ConsensusFigures
    ) -> None:
        """Keep the round's figures on the server, so a re-run of the finished round changes nothing."""
        ...

    async def remove_replicas(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        """Remove the replica images (unless kept); idempotent."""
        ...

    async def report_with_consensus(
        self, spec: RoundSpec, target: RoundTarget, figures: ConsensusFigures
    ) -> ReportT_co:
        """The report step, with the consensus figures."""
        ...


@dataclass(frozen=True)
class ConsensusRun(Generic[ReportT]):
    """What `run_consensus_round` did (`sequence.RoundRun`'s fields and the figures)."""

    validated: ValidatedRound
    user_ids: dict[str, int]
    cycles: list[pd.DataFrame]
    end: EndResult
    report: ReportT
    figures: ConsensusFigures


def consensus_steps(steps: object, spec: RoundSpec) -> ConsensusSteps[ReportT] | None:
    """The consensus steps of `steps` for a round with `consensus`; None without.

    Raises:
        RoundError: the round is a consensus round but `steps` cannot run it (checked before anything is done).
    """
    if spec.consensus is None:
        return None
    if not isinstance(steps, ConsensusSteps):
        raise RoundError(f"these round steps ({type(steps).__name__}) cannot run a consensus round")
    return steps


async def run_consensus_round(
    steps: RoundSteps[ReportT], consensus: ConsensusSteps[ReportT], spec: RoundSpec
) -> ConsensusRun[ReportT]:
    """Run a consensus round's steps in order (see the module docstring) and return what they did.

    Replica jobs are not reworked: disagreement, not the reviewer's verdict, decides what goes to the adjudicator.

    Args:
        steps: the round's common steps (validate, users, meta, gate, end action).
        consensus: the consensus steps (usually the same object).
        spec: the round (with `consensus`).
    """
    if spec.consensus is None:
        raise RoundError(f"round {spec.round_name!r} is not a consensus round")
    with steps.phase("setup"):
        validated = await steps.validate(spec)
        target = validated.target
        user_ids = await steps.ensure_users(spec)
        await steps.prepare_meta(spec, target)
        figures = await consensus.recorded_consensus(spec, validated)
    if figures is None:
        cycles, figures = await _label_and_merge(steps, consensus, spec, validated, user_ids)
        await consensus.record_consensus(spec, validated, figures)
    else:
        cycles = [pd.DataFrame({"job_id": figures.job_ids}, dtype="int64")]
    with steps.phase("finish"):
        end = await steps.finish(spec, target, figures.job_ids)
        report = await consensus.report_with_consensus(spec, target, figures)
        await consensus.remove_replicas(spec, validated)
    return ConsensusRun(
        validated=validated, user_ids=user_ids, cycles=cycles, end=end, report=report, figures=figures
    )


async def _label_and_merge(
    steps: RoundSteps[ReportT],
    consensus: ConsensusSteps[ReportT],
    spec: RoundSpec,
    validated: ValidatedRound,
    user_ids: dict[str, int],
) -> tuple[list[pd.DataFrame], ConsensusFigures]:
    """The replicas (first pass, then the dynamic ones), the merge and the adjudication; the jobs and figures."""
    assert spec.consensus is not None  # noqa: S101 - checked by the caller
    target = validated.target
    every_image = sorted(int(i) for i in validated.selected["image_id"])
    with steps.phase("setup"):
        first = [
            await consensus.replicate(spec, validated, user_ids, replica, every_image)
            for replica in range(spec.consensus.overlap)
        ]
    cycles = [pd.concat(first, ignore_index=True)]
    replicas = spec.consensus.overlap
    with steps.phase("gate"):
        await steps.wait_for_review(spec, target, cycles[0], 0)
    agreement = await consensus.measure_agreement(spec, validated, replicas)
    while flagged := images_for_next_replica(agreement, spec.consensus, replicas):
        jobs = await consensus.replicate(spec, validated, user_ids, replicas, flagged)
        cycles.append(jobs)
        with steps.phase("gate"):
            await steps.wait_for_review(spec, target, jobs, replicas)
        replicas += 1
        agreement = await consensus.measure_agreement(spec, validated, replicas)
    per_labeler = await consensus.merge_consensus(spec, validated, replicas, agreement)
    adjudication = await consensus.adjudicate(spec, validated, user_ids, agreement)
    if not adjudication.empty:
        cycles.append(adjudication)
        with steps.phase("gate"):
            await steps.wait_for_review(spec, target, adjudication, replicas)
    job_ids = [int(job_id) for frame in cycles for job_id in frame["job_id"]]
    return cycles, consensus_figures(spec, agreement, per_labeler, job_ids)
