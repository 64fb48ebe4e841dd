"""The round's steps as Prefect tasks, for `labelrounds.steps.sequence.run_round` inside the labeling-round flow."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pandas as pd

from labelrounds.client import ConnectionSettings
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.approval import PlanDecision, ReworkCapDecision
from labelrounds.steps.archive import EndResult
from labelrounds.steps.consensus import ConsensusFigures, LabelerAgreement
from labelrounds.steps.errors import RoundError
from labelrounds.steps.gold import hidden_entities
from labelrounds.steps.sequence import RoundPhase
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound
from tasks import consensus as consensus_tasks
from tasks import queues as queue_tasks
from tasks.approvals import await_plan_approval, await_rework_cap_decision
from tasks.archive import archive_jobs
from tasks.events import announce_started
from tasks.gate import GateMode, round_due, tag_round_run, wait_for_review
from tasks.gold import copy_gold, publish_gold_report, relabel_under_gold, remove_gold, score_gold
from tasks.jobs import create_jobs
from tasks.meta import prepare_meta
from tasks.options import api_lease, holding_api_lease, in_round
from tasks.rebalance import wait_and_rebalance
from tasks.report import PublishedReport, publish_report
from tasks.rework import rework_rejected
from tasks.users import ensure_users
from tasks.validate import validate_round

_Task = TypeVar("_Task", bound=Any)

#: The phases that call the API back to back, each under one lease of the API limit (`tasks.options.api_lease`);
#: the gate, waiting for people, holds none.
LEASED_PHASES: frozenset[RoundPhase] = frozenset({"setup", "rework", "finish"})
#: A rework's lease carries on into the finish right after it (the last cycle had nothing rejected): one release and
#: one acquisition fewer, each a few Prefect requests and a chance of the Prefect server's 2 s back-off (a 503 on a
#: write conflict of `increment-with-lease`); a gate after it releases it first.
CARRIED_PHASES: frozenset[RoundPhase] = frozenset({"rework"})


@dataclass(frozen=True)
class TaskRoundSteps:
    """Each step is today's task (run names, retries, caching within the run, artifacts); call within a flow run.

    Attributes:
        settings: the connection.
        password_secret: name of the Secret block with new accounts' password (None: the environment).
        gate_mode: "poll" waits through task retries; "suspend" suspends the run until the watcher resumes it.
        report_dir: directory for the report's CSV files (None: artifacts only).
    """

    settings: ConnectionSettings
    password_secret: str | None = None
    gate_mode: GateMode = "poll"
    report_dir: str | None = None
    _lease: ExitStack = field(default_factory=ExitStack, init=False, repr=False, compare=False)

    def resumable(self, spec: RoundSpec) -> bool:
        """Whether the run can suspend and re-run from the top (the suspend gate, a person's decision), reusing the
        results its tasks cached within the run; a run that cannot caches and persists nothing."""
        return self.gate_mode == "suspend" or spec.approve_plan or spec.approve_rework_cap

    def round_task(self, spec: RoundSpec, api_task: _Task) -> _Task:
        """The task as this round runs it (`tasks.options.in_round`)."""
        return in_round(api_task, resumable=self.resumable(spec))

    def phase(self, name: RoundPhase) -> AbstractContextManager[None]:
        """One lease of the API limit over a writing phase, whose tasks take none of their own; the gate holds none.

        A rework's lease is kept for the finish that follows it (`CARRIED_PHASES`); any other phase, an error or
        `release_lease` releases it.
        """
        return self._phase(name)

    @contextmanager
    def _phase(self, name: RoundPhase) -> Iterator[None]:
        """`phase`: acquire unless a carried lease is held; release after the phase unless it carries on."""
        if name not in LEASED_PHASES:
            self.release_lease()
            yield
            return
        if not holding_api_lease():
            self._lease.enter_context(api_lease())
        try:
            yield
        except BaseException:
            self.release_lease()
            raise
        if name not in CARRIED_PHASES:
            self.release_lease()

    def release_lease(self) -> None:
        """Release the lease carried over from the last phase, if any (the flow calls it when the round ends)."""
        self._lease.close()

    async def validate(self, spec: RoundSpec) -> ValidatedRound:
        """Refuse a past `due`, validate, tag the run for the watcher (before any suspension), emit `started`.

        The deadline is checked here, against the flow run's first start, rather than in the spec model: the
        parameters are validated again at each resume, when a deadline may have passed meanwhile.
        """
        due = await round_due(spec)
        validated = await self.round_task(spec, validate_round)(self.settings, spec, self.password_secret)
        target = validated.target
        await tag_round_run(target.round_key, target.team.id)
        announce_started(
            target.round_key,
            {
                "round_name": spec.round_name,
                "team_id": target.team.id,
                "project_id": target.project.id,
                "images": len(validated.selected),
                "labelers": [labeler.login for labeler in spec.labelers],
                "reviewer": spec.reviewer.login,
                "target_status": spec.target_status.value,
                "due": None if due is None else due.isoformat(),
            },
        )
        return validated

    async def ensure_users(self, spec: RoundSpec) -> dict[str, int]:
        """The `ensure-users` task; user id by login."""
        return (await self.round_task(spec, ensure_users)(self.settings, spec, self.password_secret)).user_ids

    async def prepare_meta(self, spec: RoundSpec, target: RoundTarget) -> None:
        """The `prepare-meta` task."""
        await self.round_task(spec, prepare_meta)(self.settings, target.project.id, spec)

    async def create_jobs(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """The `create-jobs` task over the validated plan."""
        return await self.round_task(spec, create_jobs)(
            self.settings, validated.target, spec, validated.plan, user_ids, hidden_entities(validated.gold_plan)
        )

    async def wait_for_review(self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int) -> None:
        """The gate in the flow's mode: `check-review` retried every poll interval, or one check and a suspension."""
        await wait_for_review(self.settings, target, spec, jobs, cycle, self.gate_mode)

    async def wait_and_rebalance(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        """The adaptive gate (`labelrounds.steps.sequence.AdaptiveSteps`): `check-and-rebalance` retried every poll
        interval, or one `rebalance-jobs` look and a suspension; the cycle's jobs with the moved-to ones."""
        return await wait_and_rebalance(self.settings, target, spec, jobs, user_ids, cycle, self.gate_mode)

    async def rework(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, user_ids: dict[str, int], cycle: int
    ) -> pd.DataFrame:
        """The `rework-rejected` task."""
        return await self.round_task(spec, rework_rejected)(self.settings, target, spec, jobs, user_ids, cycle=cycle)

    async def finish(self, spec: RoundSpec, target: RoundTarget, job_ids: list[int]) -> EndResult:
        """The `archive-jobs` task with the round's end action."""
        return await self.round_task(spec, archive_jobs)(
            self.settings, target.team.id, job_ids, spec.end_action, spec.target_status
        )

    async def report(self, spec: RoundSpec, target: RoundTarget) -> PublishedReport:
        """The `publish-report` task: artifacts and, with a report directory, CSV files."""
        return await self.round_task(spec, publish_report)(
            self.settings, target.team.id, target.project.id, target.round_key, spec.round_name, self.report_dir
        )

    # --- human decisions (`labelrounds.steps.sequence.ApprovalSteps`) -------------------------------------------

    async def approve_plan(self, spec: RoundSpec, validated: ValidatedRound) -> PlanDecision:
        """The plan as an artifact and a form; the run suspends until a person approves or rejects it."""
        return await await_plan_approval(self.settings, spec, validated)

    async def decide_rework_cap(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
    ) -> tuple[ReworkCapDecision, dict[str, int]]:
        """The still-rejected images as an artifact and a form; the run suspends until a person chooses."""
        return await await_rework_cap_decision(self.settings, spec, target, jobs, cycle)

    # --- gold checks (`labelrounds.steps.sequence.GoldSteps`) ---------------------------------------------------

    async def copy_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        """The `copy-gold` task."""
        if validated.gold_plan is None:
            raise RoundError("the round has no gold plan")
        return await self.round_task(spec, copy_gold)(self.settings, validated.target, validated.gold_plan)

    async def score_gold(self, spec: RoundSpec, validated: ValidatedRound) -> pd.DataFrame:
        """The `score-gold` task (a table artifact of the scores)."""
        if validated.gold_plan is None:
            raise RoundError("the round has no gold plan")
        return await self.round_task(spec, score_gold)(
            self.settings, validated.target, validated.gold_plan, spec.round_name
        )

    async def relabel_under_gold(
        self,
        spec: RoundSpec,
        validated: ValidatedRound,
        jobs: pd.DataFrame,
        scores: pd.DataFrame,
        user_ids: dict[str, int],
    ) -> pd.DataFrame:
        """The `relabel-under-gold` task (`labelrounds.steps.sequence.GoldPolicySteps`)."""
        return await self.round_task(spec, relabel_under_gold)(
            self.settings, validated.target, spec, jobs, scores, user_ids, validated.gold_plan
        )

    async def remove_gold(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        """The `remove-gold` task."""
        return await self.round_task(spec, remove_gold)(self.settings, validated.gold_plan, spec.round_name)

    async def report_with_gold(self, spec: RoundSpec, target: RoundTarget, gold: pd.DataFrame) -> PublishedReport:
        """The `publish-report` task with the per-labeler gold columns."""
        return await self.round_task(spec, publish_gold_report)(
            self.settings, target, spec.round_name, gold, self.report_dir
        )

    # --- queue mode (`labelrounds.steps.sequence.QueueSteps`) --------------------------------------------------

    async def create_queues(self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int]) -> pd.DataFrame:
        """The `create-queues` task over the validated plan."""
        return await self.round_task(spec, queue_tasks.create_queues)(
            self.settings, validated.target, spec, validated.plan, user_ids
        )

    async def queue_jobs(self, spec: RoundSpec, validated: ValidatedRound, queues: pd.DataFrame) -> pd.DataFrame:
        """The `tag-queue-jobs` task."""
        return await self.round_task(spec, queue_tasks.tag_queue_jobs)(
            self.settings, validated.target, queues, validated.plan
        )

    async def wait_for_queues(self, spec: RoundSpec, target: RoundTarget, queues: pd.DataFrame) -> None:
        """The gate on the queues in the flow's mode: `check-queues` retried every poll interval, or a suspension."""
        await queue_tasks.wait_for_queues(self.settings, target, spec, queues, self.gate_mode)

    # --- consensus rounds (`labelrounds.steps.consensus_sequence.ConsensusSteps`) -------------------------------

    async def recorded_consensus(self, spec: RoundSpec, validated: ValidatedRound) -> ConsensusFigures | None:
        """The `recorded-consensus` task."""
        return await self.round_task(spec, consensus_tasks.recorded_consensus)(self.settings, validated.target, spec)

    async def replicate(
        self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int], replica: int, image_ids: list[int]
    ) -> pd.DataFrame:
        """The `replicate` task."""
        return await self.round_task(spec, consensus_tasks.replicate)(
            self.settings, validated.target, spec, validated.selected, user_ids, replica, image_ids
        )

    async def measure_agreement(self, spec: RoundSpec, validated: ValidatedRound, replicas: int) -> pd.DataFrame:
        """The `measure-agreement` task."""
        return await self.round_task(spec, consensus_tasks.measure_agreement)(
            self.settings, validated.target, spec, validated.selected, replicas
        )

    async def merge_consensus(
        self, spec: RoundSpec, validated: ValidatedRound, replicas: int, agreement: pd.DataFrame
    ) -> dict[str, LabelerAgreement]:
        """The `merge-consensus` task."""
        return await self.round_task(spec, consensus_tasks.merge_consensus)(
            self.settings, validated.target, spec, validated.selected, replicas, agreement
        )

    async def adjudicate(
        self, spec: RoundSpec, validated: ValidatedRound, user_ids: dict[str, int], agreement: pd.DataFrame
    ) -> pd.DataFrame:
        """The `adjudicate` task."""
        return await self.round_task(spec, consensus_tasks.adjudicate)(
            self.settings, validated.target, spec, user_ids, agreement
        )

    async def record_consensus(self, spec: RoundSpec, validated: ValidatedRound, figures: ConsensusFigures) -> None:
        """The `record-consensus` task (a table artifact of each labeler's agreement with the consensus)."""
        await self.round_task(spec, consensus_tasks.record_consensus)(self.settings, validated.target, spec, figures)

    async def remove_replicas(self, spec: RoundSpec, validated: ValidatedRound) -> int:
        """The `remove-replicas` task."""
        return await self.round_task(spec, consensus_tasks.remove_replicas)(self.settings, validated.target, spec)

    async def report_with_consensus(
        self, spec: RoundSpec, target: RoundTarget, figures: ConsensusFigures
    ) -> PublishedReport:
        """The `publish-report` task with the consensus figures."""
        return await self.round_task(spec, consensus_tasks.publish_consensus_report)(
            self.settings, target, spec.round_name, figures, self.report_dir
        )
