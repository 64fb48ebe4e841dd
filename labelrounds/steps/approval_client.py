"""Round steps over one client whose human decisions were taken ahead (scripts, tests): `ClientRoundSteps` + answers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from labelrounds.round_spec import RoundSpec
from labelrounds.steps.approval import (
    NOTHING_TO_DECIDE,
    PlanDecision,
    ReworkCapDecision,
    rework_cap_facts,
)
from labelrounds.steps.errors import RoundError
from labelrounds.steps.preview import describe_plan
from labelrounds.steps.sequence import ClientRoundSteps
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound


@dataclass
class PresetApprovalSteps(ClientRoundSteps):
    """`ClientRoundSteps` that answer the round's questions with decisions given ahead, and keep what was shown.

    Attributes:
        plan_decision: the answer about the plan (None: a round asking about its plan is an error).
        rework_cap_decisions: the answers at each rework cap where images are still rejected, in order.
        shown: the markdown of each question asked (the plan, the still-rejected images), in order.
    """

    plan_decision: PlanDecision | None = None
    rework_cap_decisions: list[ReworkCapDecision] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)

    async def approve_plan(self, spec: RoundSpec, validated: ValidatedRound) -> PlanDecision:
        """Describe the plan (reads only), keep its markdown, return the preset decision."""
        if self.plan_decision is None:
            raise RoundError("no decision about the plan was given")
        self.shown.append((await describe_plan(self.api, spec, validated)).markdown())
        return self.plan_decision

    async def decide_rework_cap(
        self, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
    ) -> tuple[ReworkCapDecision, dict[str, int]]:
        """Accept when nothing is still rejected; else keep the facts' markdown and return the next preset answer."""
        facts = await rework_cap_facts(self.api, target, jobs, cycle)
        if not facts.still_rejected:
            return NOTHING_TO_DECIDE, facts.team_labelers
        if not self.rework_cap_decisions:
            raise RoundError(f"no decision left for the rework cap after cycle {cycle}")
        self.shown.append(facts.markdown())
        return self.rework_cap_decisions.pop(0), facts.team_labelers
