"""The one composition of a round: validate → users → meta → [gold copies] → jobs → gate → [gold score, gold removal]
→ [rework → gate]* → end action → report (always: gold removal, also when the round fails). In queue mode the jobs
step makes one labeling queue per dataset and the gate watches the queues; a queue reworks its own rejections.

`run_round` holds the order of the steps and the rework loop; a `RoundSteps` says how each step is done. The
Prefect flow runs it over its tasks (`flows.round_steps.TaskRoundSteps`), the benchmark and the tests over a
client (`ClientRoundSteps`, here), so adding a step or changing the loop touches this module only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, replace
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

import pandas as pd

from labelrounds.client import SuperviselyClient
from labelrounds.round_spec import Assignment, RoundSpec
from labelrounds.steps.approval import PlanDecision, PlanRejectedError, ReworkCapDecision, extra_cycle
from labelrounds.steps.archive import EndResult, finish_jobs
from labelrounds.steps.consensus import (
    ConsensusFigures,
    LabelerAgreement,
    ensure_adjudication,
    ensure_replica,
    measure_agreement,
    merge_agreeing,
    record_consensus,
    recorded_consensus,
    remove_replica_images,
)
from labelrounds.steps.consensus_sequence import consensus_steps, run_consensus_round
from labelrounds.steps.errors import RoundError
from labelrounds.steps.gate import GateSnapshot, wait_until_ready
from labelrounds.steps.gold import (
    create_relabel_jobs,
    ensure_gold_copies,
    hidden_entities,
    remove_gold_copies,
    score_and_record_gold,
)
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.meta import prepare_round_meta
from labelrounds.steps.queues import ensure_round_queues, tag_queue_jobs, wait_until_queues_ready
from labelrounds.steps.rebalance import Rebalancer
from labelrounds.steps.report import RoundReport, build_round_report
from labelrounds.steps.rework import create_rework_jobs
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import PasswordSource, ensure_round_users
from labelrounds.steps.validate import ValidatedRound, validate_round

#: The parts of a round `run_round` announces through `RoundSteps.phase` (e.g. for a benchmark to meter them).
RoundPhase = Literal["setup", "gate", "rework", "finish"]

ReportT = TypeVar("ReportT")
ReportT_co = TypeVar("ReportT_co", covariant=True)


@runtime_checkable
class RoundSteps(Protocol[ReportT_co]):
    """How each step of a round is done; `run_round` decides when. Every step must be safe to re-run."""

    def phase(self, name: RoundPhase) -> AbstractContextManager[None]:
        """A context around each part of the round (`nullcontext()` when nothing is measured)."""
        ...

    async def validate(self, spec: RoundSpec) -> ValidatedRound:
        """Check the round against the server without writing; raise RoundValidationError listing every problem."""
        ...

    async def ensure_users(self, spec: RoundSpec) -> dict[str, int]:
        """Make the labelers and the reviewer exist in the team; return user id by login."""
        ...

    async def prepare_meta(self, spec: RoundSpec, target: RoundTarget) -> None:
        """Add the round's classes and tags to the project meta."""
        ...

    async def create_jobs(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """Create (or find) the first cycle's jobs from the validated plan (`lineage.JOB_COLUMNS`)."""
        ...

    async def wait_for_review(self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int) -> None:
        """Return once every job of the cycle reached the target status; raise on timeout or a stalled job."""
        ...

    async def rework(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        """Create (or find) the next cycle's jobs over the rejected images of `jobs`; empty when none."""
        ...

    async def finish(self, spec: RoundSpec, target: RoundTarget, job_ids: list[int]) -> EndResult:
        """Apply the round's end action (archive, stop or keep) to every job of the round."""
        ...

    async def report(self, spec: RoundSpec, target: RoundTarget) -> ReportT_co:
        """Build (and publish, where the implementation does) the round's report."""
        ...


@runtime_checkable
class GoldSteps(Protocol[ReportT_co]):
    """The gold-check steps (`steps.gold`); `run_round` uses them only for a round with `gold`. Safe to re-run."""

    async def copy_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        """Make the gold copies of `validated.gold_plan` exist once; return the plan with `copy_id`."""
        ...

    async def score_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        """Each labeler's gold precision, recall and F1 (`steps.gold.score_gold` over `validated.gold_plan`)."""
        ...

    async def remove_gold(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        """Remove every gold copy of `validated.gold_plan` still in the datasets; idempotent."""
        ...

    async def report_with_gold(self, spec: RoundSpec, target: RoundTarget, gold: pd.DataFrame) -> ReportT_co:
        """The report step, its per-labeler table with the gold columns."""
        ...


@runtime_checkable
class GoldPolicySteps(Protocol):
    """The `gold.min_f1` policy (`steps.gold.create_relabel_jobs`); used only for a round with it. Safe to re-run."""

    async def relabel_under_gold(
        self,
        spec: RoundSpec,
        validated: ValidatedRound,
        jobs: pd.DataFrame,
        scores: pd.DataFrame,
        user_ids: dict[str, int],
    ) -> pd.DataFrame:
        """Create (or find) the cycle-1 jobs relabeling the first-pass jobs of labelers under `gold.min_f1`."""
        ...


@runtime_checkable
class QueueSteps(Protocol):
    """The queue-mode steps (`steps.queues`); `run_round` uses them only for `assignment: queue`. Safe to re-run."""

    async def create_queues(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """Make one labeling queue per planned dataset exist once (`steps.queues.QUEUE_COLUMNS`)."""
        ...

    async def queue_jobs(self, spec: RoundSpec, validated: ValidatedRound, queues: pd.DataFrame) -> pd.DataFrame:
        """The queues' jobs with the round's lineage written into them (`lineage.JOB_COLUMNS`)."""
        ...

    async def wait_for_queues(self, spec: RoundSpec, target: RoundTarget, queues: pd.DataFrame) -> None:
        """Return once every image of every queue reached the target status; raise on timeout."""
        ...


@runtime_checkable
class ApprovalSteps(Protocol):
    """Human decisions (`steps.approval`); `run_round` asks only when the round wants them. Safe to re-run: a
    decision already taken for this round (or this run) is returned again rather than asked twice."""

    async def approve_plan(self, spec: RoundSpec, validated: ValidatedRound) -> PlanDecision:
        """The decision on the validated plan, taken before anything is written."""
        ...

    async def decide_rework_cap(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
    ) -> tuple[ReworkCapDecision, dict[str, int]]:
        """The decision at the rework cap after `cycle`'s gate (accept without asking when nothing is still
        rejected), and login → user id of the team's members who may label (for a reassignment)."""
        ...


@runtime_checkable
class AdaptiveSteps(Protocol):
    """The adaptive gate (`steps.rebalance`); `run_round` uses it only for `assignment: adaptive`. Safe to re-run."""

    async def wait_and_rebalance(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        """Wait as `wait_for_review`, moving untouched images from labelers behind to those ahead at each check;
        return the cycle's jobs with the jobs that took over images (`lineage.JOB_COLUMNS`)."""
        ...


@dataclass(frozen=True)
class RoundRun(Generic[ReportT]):
    """What `run_round` did: the validation, the people, the jobs of each cycle, the end action and the report."""

    validated: ValidatedRound
    user_ids: dict[str, int]
    cycles: list[pd.DataFrame]
    end: EndResult
    report: ReportT
    gold: pd.DataFrame | None = None  # per-labeler gold scores (`steps.gold.GOLD_SCORE_COLUMNS`); None without gold
    consensus: ConsensusFigures | None = None  # a consensus round's figures; None for a single pass

    @property
    def target(self) -> RoundTarget:
        """The resolved team, project, datasets and round key."""
        return self.validated.target

    @property
    def job_ids_per_cycle(self) -> list[list[int]]:
        """The job ids of each cycle, the first pass first (no empty cycle)."""
        return [[int(job_id) for job_id in jobs["job_id"]] for jobs in self.cycles]


async def run_round(steps: RoundSteps[ReportT], spec: RoundSpec) -> RoundRun[ReportT]:
    """Run a round's steps in order, with at most `spec.max_rework_cycles` rework cycles, and return what they did.

    After each cycle's gate the rejected images go back in new jobs, until a cycle has nothing rejected or the
    round ran `max_rework_cycles` rework cycles; then the end action applies to every job of every cycle and the
    report is built. An error in any step propagates at once (the jobs are left as they are). With `spec.gold`,
    gold copies join the first-pass jobs, are scored after the first gate and removed at once; when the round
    fails they are removed too (a re-run finds and removes anything a killed run left).

    Args:
        steps: how each step is done (Prefect tasks, or library calls over one client).
        spec: the round.
    """
    consensus = consensus_steps(steps, spec)
    if consensus is not None:  # its own composition: replicas, agreement, merge, adjudication
        done = await run_consensus_round(steps, consensus, spec)
        return RoundRun(
            validated=done.validated,
            user_ids=done.user_ids,
            cycles=done.cycles,
            end=done.end,
            report=done.report,
            consensus=done.figures,
        )
    gold = _gold_steps(steps, spec)
    gold_policy = _gold_policy_steps(steps, spec)
    queue = _queue_steps(steps, spec)
    adaptive = _adaptive_steps(steps, spec)
    approvals = _approval_steps(steps, spec)
    queues: pd.DataFrame | None = None
    validated: ValidatedRound | None = None
    try:
        with steps.phase("setup"):
            validated = await steps.validate(spec)
            target = validated.target
            if approvals is not None and spec.approve_plan:
                decision = await approvals.approve_plan(spec, validated)
                if not decision.approved:
                    raise PlanRejectedError(target.round_key, decision.comment)
            user_ids = await steps.ensure_users(spec)
            await steps.prepare_meta(spec, target)
            if gold is not None:
                validated = replace(validated, gold_plan=await gold.copy_gold(spec, validated))
            if queue is not None:
                queues = await queue.create_queues(spec, validated, user_ids)
                jobs = await queue.queue_jobs(spec, validated, queues)
            else:
                jobs = await steps.create_jobs(spec, validated, user_ids)
        cycles = [jobs]
        cycle = 0
        rework_cap = spec.max_rework_cycles  # a person may extend it, one cycle at a time (approve_rework_cap)
        gold_scores = None
        relabeled: pd.DataFrame | None = None  # the gold policy's relabeling jobs, joined to the first rework
        while True:
            with steps.phase("gate"):
                if queue is not None and queues is not None:
                    await queue.wait_for_queues(spec, target, queues)
                elif adaptive is not None:
                    jobs = await adaptive.wait_and_rebalance(spec, target, jobs, user_ids, cycle)
                    cycles[-1] = jobs
                else:
                    await steps.wait_for_review(spec, target, jobs, cycle)
            if gold is not None and cycle == 0:
                # Removed right after scoring: the server drops the copies from the jobs, so rework, later gates
                # and the report never see them.
                gold_scores = await gold.score_gold(spec, validated)
                await gold.remove_gold(spec, validated)
                if gold_policy is not None:
                    relabeled = await gold_policy.relabel_under_gold(spec, validated, jobs, gold_scores, user_ids)
            if queues is not None:  # a queue reworks its rejections itself
                break
            rework_spec = spec
            if cycle >= rework_cap:
                if approvals is None or not spec.approve_rework_cap:
                    break
                decision, team = await approvals.decide_rework_cap(spec, target, jobs, cycle)
                if not decision.extends:
                    break
                rework_spec, chosen = extra_cycle(spec, cycle, decision, team)
                user_ids = {**user_ids, **chosen}
                rework_cap = cycle + 1
            with steps.phase("rework"):
                if relabeled is not None and not relabeled.empty:  # a relabeled job gets no ordinary rework
                    others = jobs[~jobs["job_id"].isin(relabeled["parent_job_id"])]
                    reworked = await steps.rework(rework_spec, target, others, user_ids, cycle)
                    jobs = pd.concat([relabeled, reworked], ignore_index=True) if not reworked.empty else relabeled
                    relabeled = None
                else:
                    jobs = await steps.rework(rework_spec, target, jobs, user_ids, cycle)
            if jobs.empty:
                break
            cycles.append(jobs)
            cycle += 1
        every_job = [int(job_id) for frame in cycles for job_id in frame["job_id"]]
        with steps.phase("finish"):
            end = await steps.finish(spec, target, every_job)
            if gold is not None and gold_scores is not None:
                report = await gold.report_with_gold(spec, target, gold_scores)
            else:
                report = await steps.report(spec, target)
        return RoundRun(
            validated=validated, user_ids=user_ids, cycles=cycles, end=end, report=report, gold=gold_scores
        )
    except Exception:  # not BaseException: a flow suspended at the gate (Prefect's Pause) keeps its gold
        if gold is not None and validated is not None and validated.gold_plan is not None:
            with suppress(Exception):  # the round's own error is the one to raise; a re-run removes the rest
                await gold.remove_gold(spec, validated)
        raise


OptionalStepsT = TypeVar("OptionalStepsT")


def _optional_steps(
    steps: RoundSteps[ReportT], protocol: type[OptionalStepsT], needed: bool, cannot: str
) -> OptionalStepsT | None:
    """`steps` as `protocol` when the round needs it, None when it does not.

    Raises:
        RoundError: the round needs it but `steps` lack it (checked before anything is done); `cannot` says what.
    """
    if not needed:
        return None
    if not isinstance(steps, protocol):  # the protocols are runtime_checkable
        raise RoundError(f"these round steps ({type(steps).__name__}) {cannot}")
    return steps


def _gold_steps(steps: RoundSteps[ReportT], spec: RoundSpec) -> GoldSteps[ReportT] | None:
    """The gold steps of `steps` for a round with gold checks; None without them."""
    return _optional_steps(steps, GoldSteps, spec.gold is not None, "cannot run gold checks")


def _gold_policy_steps(steps: RoundSteps[ReportT], spec: RoundSpec) -> GoldPolicySteps | None:
    """The `gold.min_f1` policy step of `steps`; None for a round without it."""
    needed = spec.gold is not None and spec.gold.min_f1 is not None
    return _optional_steps(
        steps, GoldPolicySteps, needed, "cannot apply gold.min_f1 (they have no relabel_under_gold)"
    )


def _queue_steps(steps: RoundSteps[ReportT], spec: RoundSpec) -> QueueSteps | None:
    """The queue steps of `steps` for a round with `assignment: queue`; None for static jobs."""
    return _optional_steps(
        steps,
        QueueSteps,
        spec.assignment is Assignment.QUEUE,
        "cannot run a round with assignment 'queue': they lack the queue steps (create_queues, queue_jobs, "
        "wait_for_queues)",
    )


def _approval_steps(steps: RoundSteps[ReportT], spec: RoundSpec) -> ApprovalSteps | None:
    """The approval steps of `steps` for a round that asks a person; None when it asks nobody."""
    return _optional_steps(
        steps,
        ApprovalSteps,
        spec.approve_plan or spec.approve_rework_cap,
        "cannot ask a person: approve_plan and approve_rework_cap need round steps with approvals (the flow's, in "
        "a deployment run)",
    )


def _adaptive_steps(steps: RoundSteps[ReportT], spec: RoundSpec) -> AdaptiveSteps | None:
    """The adaptive gate of `steps` for a round with `assignment: adaptive`; None otherwise."""
    return _optional_steps(
        steps,
        AdaptiveSteps,
        spec.assignment is Assignment.ADAPTIVE,
        "cannot run a round with assignment 'adaptive' (they have no adaptive gate, wait_and_rebalance)",
    )


GateListener = Callable[[GateSnapshot], Awaitable[None] | None]
PhaseMeter = Callable[[RoundPhase], AbstractContextManager[None]]


@dataclass
class ClientRoundSteps:
    """The round's steps as library calls over one client; the gate polls in-process (`wait_until_ready`).

    Attributes:
        api: the client (a team admin's or manager's token).
        passwords: password(s) of new annotator accounts (never logged).
        on_check: called with each gate snapshot (progress, counting checks).
        meter: a context per phase of the round (e.g. the benchmark's `PhaseMeter.phase`); None measures nothing.
    """

    api: SuperviselyClient
    passwords: PasswordSource = None
    on_check: GateListener | None = None
    meter: PhaseMeter | None = None

    def phase(self, name: RoundPhase) -> AbstractContextManager[None]:
        """The meter's context for `name`, or nothing."""
        return self.meter(name) if self.meter is not None else nullcontext()

    async def validate(self, spec: RoundSpec) -> ValidatedRound:
        """`steps.validate.validate_round`."""
        return await validate_round(self.api, spec, self.passwords)

    async def ensure_users(self, spec: RoundSpec) -> dict[str, int]:
        """`steps.users.ensure_round_users`; user id by login."""
        return (await ensure_round_users(self.api, spec, self.passwords)).user_ids

    async def prepare_meta(self, spec: RoundSpec, target: RoundTarget) -> None:
        """`steps.meta.prepare_round_meta`."""
        await prepare_round_meta(self.api, target.project.id, spec)

    async def create_jobs(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """`steps.jobs.create_jobs` over the validated plan."""
        return await create_jobs(
            self.api, validated.target, spec, validated.plan, user_ids, hidden_entities(validated.gold_plan)
        )

    async def wait_for_review(self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int) -> None:
        """`steps.gate.wait_until_ready` with the round's poll interval and timeout."""
        await wait_until_ready(
            self.api,
            target.team.id,
            [int(job_id) for job_id in jobs["job_id"]],
            spec.target_status,
            poll_interval=spec.poll_interval_seconds,
            timeout=spec.timeout_seconds,
            on_check=self.on_check,
        )

    async def wait_and_rebalance(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        """`steps.gate.wait_until_ready` with a `steps.rebalance.Rebalancer` at each check."""
        rebalancer = Rebalancer(self.api, target.team.id, target.project.id, spec.round_name, user_ids, jobs)
        await rebalancer.adopt_moved_jobs()
        await wait_until_ready(
            self.api,
            target.team.id,
            [int(job_id) for job_id in rebalancer.jobs["job_id"]],
            spec.target_status,
            poll_interval=spec.poll_interval_seconds,
            timeout=spec.timeout_seconds,
            on_check=self.on_check,
            rebalance=rebalancer,
        )
        return rebalancer.jobs

    async def rework(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        """`steps.rework.create_rework_jobs`."""
        return await create_rework_jobs(self.api, target, spec, jobs, user_ids)

    async def finish(self, spec: RoundSpec, target: RoundTarget, job_ids: list[int]) -> EndResult:
        """`steps.archive.finish_jobs` with the round's end action."""
        return await finish_jobs(self.api, target.team.id, job_ids, spec.end_action, spec.target_status)

    async def report(self, spec: RoundSpec, target: RoundTarget) -> RoundReport:
        """`steps.report.build_round_report`."""
        return await build_round_report(self.api, target.team.id, target.project.id, target.round_key)

    async def create_queues(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """`steps.queues.ensure_round_queues`."""
        return await ensure_round_queues(self.api, validated.target, spec, validated.plan, user_ids)

    async def queue_jobs(self, spec: RoundSpec, validated: ValidatedRound, queues: pd.DataFrame) -> pd.DataFrame:
        """`steps.queues.tag_queue_jobs`."""
        return await tag_queue_jobs(self.api, validated.target, queues, validated.plan)

    async def wait_for_queues(self, spec: RoundSpec, target: RoundTarget, queues: pd.DataFrame) -> None:
        """`steps.queues.wait_until_queues_ready` with the round's poll interval and timeout."""
        await wait_until_queues_ready(
            self.api,
            [int(queue_id) for queue_id in queues["queue_id"]],
            spec.target_status,
            poll_interval=spec.poll_interval_seconds,
            timeout=spec.timeout_seconds,
        )

    async def copy_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        """`steps.gold.ensure_gold_copies`."""
        return await ensure_gold_copies(self.api, validated.target, _gold_plan(validated))

    async def score_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        """`steps.gold.score_and_record_gold`."""
        return await score_and_record_gold(self.api, validated.target, _gold_plan(validated))

    async def remove_gold(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        """`steps.gold.remove_gold_copies`."""
        return await remove_gold_copies(self.api, validated.gold_plan)

    async def report_with_gold(self, spec: RoundSpec, target: RoundTarget, gold: pd.DataFrame) -> RoundReport:
        """`steps.report.build_round_report` with the gold columns."""
        return (await self.report(spec, target)).with_gold(gold)

    async def relabel_under_gold(
        self,
        spec: RoundSpec,
        validated: ValidatedRound,
        jobs: pd.DataFrame,
        scores: pd.DataFrame,
        user_ids: dict[str, int],
    ) -> pd.DataFrame:
        """`steps.gold.create_relabel_jobs`."""
        return await create_relabel_jobs(
            self.api, validated.target, spec, jobs, scores, user_ids, validated.gold_plan
        )

    async def recorded_consensus(self, spec: RoundSpec, validated: ValidatedRound) -> ConsensusFigures | None:
        """`steps.consensus.recorded_consensus`."""
        return await recorded_consensus(self.api, validated.target, spec)

    async def replicate(
        self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int], replica: int, image_ids: list[int]
    ) -> pd.DataFrame:
        """`steps.consensus.ensure_replica`."""
        return await ensure_replica(
            self.api, validated.target, spec, validated.selected, user_ids, replica, image_ids
        )

    async def measure_agreement(self, spec: RoundSpec, validated: ValidatedRound, replicas: int) -> pd.DataFrame:
        """`steps.consensus.measure_agreement`."""
        return await measure_agreement(self.api, validated.target, spec, validated.selected, replicas)

    async def merge_consensus(
        self, spec: RoundSpec, validated: ValidatedRound, replicas: int, agreement: pd.DataFrame
    ) -> dict[str, LabelerAgreement]:
        """`steps.consensus.merge_agreeing`."""
        return await merge_agreeing(self.api, validated.target, spec, validated.selected, replicas, agreement)

    async def adjudicate(
        self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int], agreement: pd.DataFrame
    ) -> pd.DataFrame:
        """`steps.consensus.ensure_adjudication`."""
        return await ensure_adjudication(self.api, validated.target, spec, user_ids, agreement)

    async def record_consensus(self, spec: RoundSpec, validated: ValidatedRound, figures: ConsensusFigures) -> None:
        """`steps.consensus.record_consensus`."""
        await record_consensus(self.api, validated.target, spec, figures)

    async def remove_replicas(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        """`steps.consensus.remove_replica_images`."""
        return await remove_replica_images(self.api, validated.target, spec)

    async def report_with_consensus(
        self, spec: RoundSpec, target: RoundTarget, figures: ConsensusFigures
    ) -> RoundReport:
        """`steps.report.build_round_report` with the consensus figures."""
        return (await self.report(spec, target)).with_consensus(figures)


def _gold_plan(validated: ValidatedRound) -> pd.DataFrame:
    """The validated round's gold plan; a RoundError when validation planned none."""
    if validated.gold_plan is None:
        raise RoundError("the round has no gold plan (validate a round with gold checks first)")
    return validated.gold_plan
