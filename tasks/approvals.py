"""Human decisions as Prefect forms: the round suspends with a form (no worker held) and goes on with the answer.

A decision is asked with `suspend_flow_run(wait_for_input=...)` under a fixed key per question ("approve-plan",
"rework-cap-cycle-<n>"). Prefect re-runs a resumed flow from the top; when the flow comes back to a question it
already asked, Prefect refuses to suspend again under that key and returns the stored answer, so a decision is taken
once per flow run and every later pass (resumes at the gate, a crash re-run of the same flow run) reads it back. A
new flow run of a round whose jobs already exist does not ask about the plan again: nothing is written before the
plan is approved, so existing jobs mean it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field, create_model

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import approval, preview
from labelrounds.steps.approval import NOTHING_TO_DECIDE, PlanDecision, PlanVerdict, ReworkCapDecision
from labelrounds.steps.errors import RoundTimeoutError
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.validate import ValidatedRound
from tasks.events import emit_round_event
from tasks.gate import require_deployment_for_suspend, round_started_at
from tasks.options import WITHIN_RUN, api_task, artifact_key, leased

#: The suspension keys of the questions (a key Prefect saw once in a run is never suspended on again).
PLAN_KEY = "approve-plan"
REWORK_CAP_KEY = "rework-cap-cycle-{cycle}"

#: Round events (resource `labelrounds.round.<key>`, see `tasks.events`): a form waits for a person (with the link
#: to the run, where the form is), and the answer it got. Ids per question, so later passes of the run repeat none.
DECISION_NEEDED = "labelrounds.round.decision.needed"
DECISION_TAKEN = "labelrounds.round.decision.taken"

#: The forms: Prefect renders each from the decision model's JSON schema (the library models stay Prefect-free).
PlanDecisionInput: type[RunInput] = RunInput.subclass_from_base_model_type(PlanDecision)
ReworkCapDecisionInput: type[RunInput] = RunInput.subclass_from_base_model_type(ReworkCapDecision)


def rework_cap_form(team_labelers: Mapping[str, int]) -> type[RunInput]:
    """The rework-cap form whose `labeler` offers the team's members who may label (the server refuses others)."""
    described = ReworkCapDecision.model_fields["labeler"].description
    logins: Any = Literal[("", *sorted(team_labelers))]  # a Literal over the logins known at run time
    return create_model(
        ReworkCapDecisionInput.__name__,
        __base__=ReworkCapDecisionInput,
        labeler=(logins, Field(default="", description=described)),
    )


class PlanFacts(BaseModel):
    """What the person deciding on the plan sees, and whether an earlier run of the round already carried it out."""

    model_config = ConfigDict(frozen=True)

    markdown: str
    carried_out: bool


#: Within a run the spec decides the plan and the cycle the cap's question: the validated round and the jobs frame
#: (DataFrames) stay out of the keys, their hashes differ in the new process a resumed run starts (seen: re-executed).
PLAN_CACHE = WITHIN_RUN - "validated"
REWORK_CAP_CACHE = WITHIN_RUN - "target" - "jobs"


@api_task("describe-plan", "plan-{spec.round_name}", cache=PLAN_CACHE)
async def describe_plan(
    settings: ConnectionSettings, spec: RoundSpec, validated: ValidatedRound
) -> PlanFacts:
    """Describe the validated plan (one `jobs.list`) and publish it as the markdown artifact `<round>-plan`.

    Args:
        settings: the connection.
        spec: the round.
        validated: `validate_round`'s result for the round.
    """
    async with SuperviselyClient(settings) as api:
        plan = await preview.describe_plan(api, spec, validated)
    markdown = plan.markdown()
    await acreate_markdown_artifact(
        key=artifact_key(spec.round_name, "plan"),
        markdown=markdown,
        description=f"Plan of round {spec.round_name}",
    )
    return PlanFacts(markdown=markdown, carried_out=plan.reused_jobs > 0)


@api_task("rework-cap-facts", "rework-cap-{spec.round_name}-cycle-{cycle}", cache=REWORK_CAP_CACHE)
async def rework_cap_facts(
    settings: ConnectionSettings, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
) -> approval.ReworkCapFacts:
    """The cycle's still-rejected images and the team's labelers; a markdown artifact when some are still rejected.

    Args:
        settings: the connection.
        spec: the round.
        target: the round's team, project and key.
        jobs: the jobs of the cycle that just passed the gate (`lineage.JOB_COLUMNS`).
        cycle: the cycle.
    """
    async with SuperviselyClient(settings) as api:
        facts = await approval.rework_cap_facts(api, target, jobs, cycle)
    if facts.still_rejected:
        await acreate_markdown_artifact(
            key=artifact_key(spec.round_name, "rework-cap-cycle", cycle),
            markdown=facts.markdown(),
            description=f"Round {spec.round_name}: {facts.still_rejected} images still rejected after cycle {cycle}",
        )
    return facts


def require_deployment_for_approvals(spec: RoundSpec) -> None:
    """Refuse a round that asks a person outside a deployment's flow run (only those can suspend); call before writes."""
    if not (spec.approve_plan or spec.approve_rework_cap):
        return
    try:
        require_deployment_for_suspend()
    except ValueError:
        raise ValueError(
            "approve_plan and approve_rework_cap suspend the round with a form, which needs a flow run created from "
            "a deployment (Prefect reschedules only those); start the round from its deployment, or set them to false"
        ) from None


async def _seconds_left(spec: RoundSpec, what: str) -> int:
    """Whole seconds left of the round's timeout since the flow run first started (a question waits no longer).

    Raises:
        RoundTimeoutError: no time is left to ask.
    """
    remaining = spec.timeout_seconds - (datetime.now(UTC) - await round_started_at()).total_seconds()
    if remaining <= 0:
        raise RoundTimeoutError(
            f"round {spec.round_name!r}: no time left of its {spec.timeout_seconds:g} s to ask about {what}"
        )
    return math.ceil(remaining)


async def ask(
    form: type[RunInput], description: str, key: str, timeout: int, round_key: str, facts: dict[str, Any]
) -> Any:
    """Suspend the flow run with `form` (the description above it) until a person answers; return the answer.

    Announces `decision.needed` (with `facts`) before, `decision.taken` (with the answer) after. On a later pass of
    the same flow run Prefect refuses to suspend again under `key` and this returns the stored answer at once.
    """
    emit_round_event(DECISION_NEEDED, round_key, {"question": key, **facts}, about=key)
    answer = await suspend_flow_run(  # type: ignore[misc]
        wait_for_input=form.with_initial_data(description=description), key=key, timeout=timeout
    )
    emit_round_event(
        DECISION_TAKEN, round_key, {"question": key, **answer.model_dump(mode="json")}, about=key
    )
    return answer


async def await_plan_approval(
    settings: ConnectionSettings, spec: RoundSpec, validated: ValidatedRound
) -> PlanDecision:
    """Show the plan and wait (suspended) for a person to approve or reject it; flow-level, before any write.

    Returns:
        The decision; an approval without asking when an earlier run of the round already created its jobs.
    """
    facts = await leased(describe_plan)(settings, spec, validated)
    if facts.carried_out:
        return PlanDecision(decision=PlanVerdict.APPROVE, comment="approved before: the round's jobs exist")
    description = f"## Approve the plan of round {spec.round_name}\n\n{facts.markdown}"
    timeout = await _seconds_left(spec, "the plan")
    round_key = validated.target.round_key
    answer = await ask(
        PlanDecisionInput, description, PLAN_KEY, timeout, round_key, {"images": len(validated.selected)}
    )
    decision = PlanDecision.model_validate(answer.model_dump())
    get_run_logger().info(
        "Plan of round %s: %s %s", spec.round_name, decision.decision.value, decision.comment
    )
    return decision


async def await_rework_cap_decision(
    settings: ConnectionSettings, spec: RoundSpec, target: RoundTarget, jobs: pd.DataFrame, cycle: int
) -> tuple[ReworkCapDecision, dict[str, int]]:
    """At the rework cap: accept at once when nothing is still rejected, else wait (suspended) for a person's choice.

    Returns:
        The decision, and login → user id of the team's members who may label (for a reassignment).
    """
    facts = await leased(rework_cap_facts)(settings, spec, target, jobs, cycle)
    if not facts.still_rejected:
        return NOTHING_TO_DECIDE, facts.team_labelers
    description = f"## Round {spec.round_name}: images still rejected\n\n{facts.markdown()}"
    key = REWORK_CAP_KEY.format(cycle=cycle)
    form = rework_cap_form(facts.team_labelers)
    timeout = await _seconds_left(spec, "the rework cap")
    answer = await ask(
        form, description, key, timeout, target.round_key, {"still_rejected": facts.still_rejected}
    )
    decision = ReworkCapDecision.model_validate(answer.model_dump())
    get_run_logger().info(
        "Round %s at the rework cap after cycle %d: %s %s %s",
        spec.round_name,
        cycle,
        decision.choice.value,
        decision.labeler,
        decision.comment,
    )
    return decision, facts.team_labelers
