"""Human decisions in a round: approve the plan before anything is written; decide what happens at the rework cap.

The decisions are plain pydantic models, so that the flow can turn each into a form (Prefect renders a form from
a model's JSON schema) while this library stays free of Prefect. `steps.sequence.run_round` asks through the
`ApprovalSteps` protocol; this module holds what both sides need: the decisions, the facts shown to the person
deciding, and what a decision changes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Self

import pandas as pd
from pydantic import BaseModel, Field, model_validator

from labelrounds.client import Filter, SuperviselyClient
from labelrounds.round_spec import LOGIN_PATTERN, RoundSpec
from labelrounds.steps.errors import RoundError
from labelrounds.steps.rework import FINISHED_STATUSES
from labelrounds.steps.tables import frame_markdown
from labelrounds.steps.targets import RoundTarget
from labelrounds.steps.users import LABELING_ROLES

#: Columns of `ReworkCapFacts.rejected` (one row per job of the cycle that still has rejected images).
STILL_REJECTED_COLUMNS: tuple[str, ...] = ("job_id", "job_name", "labeler", "rejected")


class PlanVerdict(StrEnum):
    """What the person who reviews a round's plan decided."""

    APPROVE = "approve"
    REJECT = "reject"


class PlanDecision(BaseModel):
    """A person's decision on a round's plan (the form shown while the round waits after validation)."""

    decision: PlanVerdict = Field(
        description="approve: create the accounts, meta and jobs as planned; reject: "
        "end the round without writing anything."
    )
    comment: str = Field(default="", max_length=2000, description="Why (optional); kept with the run.")

    @property
    def approved(self) -> bool:
        """Whether the plan may be carried out."""
        return self.decision is PlanVerdict.APPROVE


class ReworkCapChoice(StrEnum):
    """What to do with the images still rejected when the round ran its last rework cycle."""

    ACCEPT = "accept"
    ONE_MORE_CYCLE = "one_more_cycle"
    REASSIGN = "reassign"


class ReworkCapDecision(BaseModel):
    """A person's decision at the rework cap (the form shown while the round waits after its last cycle's gate)."""

    choice: ReworkCapChoice = Field(
        description="accept: finish the round with the images as they are; one_more_cycle: send them back to "
        "their labelers once more; reassign: send them to another labeler of the team (give `labeler`)."
    )
    labeler: str = Field(
        default="",
        max_length=128,
        description="The login that gets the still-rejected images (reassign only).",
    )
    comment: str = Field(default="", max_length=2000, description="Why (optional); kept with the run.")

    @model_validator(mode="after")
    def _labeler_with_reassign(self) -> Self:
        """A reassignment names the labeler; the other choices do not."""
        login = self.labeler.strip()
        if self.choice is ReworkCapChoice.REASSIGN and not login:
            raise ValueError("choice 'reassign' needs the login of the labeler who gets the images")
        if self.choice is not ReworkCapChoice.REASSIGN and login:
            raise ValueError(f"a labeler ({login!r}) is only taken with choice 'reassign'")
        if login and not re.fullmatch(LOGIN_PATTERN, login):
            raise ValueError(f"{login!r} is not a login")
        return self

    @property
    def extends(self) -> bool:
        """Whether the round runs another rework cycle."""
        return self.choice is not ReworkCapChoice.ACCEPT


#: The decision taken without asking when nothing is left rejected at the cap.
NOTHING_TO_DECIDE = ReworkCapDecision(choice=ReworkCapChoice.ACCEPT, comment="nothing was still rejected")


class PlanRejectedError(RoundError):
    """A person rejected the round's plan; nothing was written."""

    def __init__(self, round_key: str, comment: str = "") -> None:
        self.round_key = round_key
        self.comment = comment
        reason = f": {comment}" if comment.strip() else ""
        super().__init__(f"the plan of round {round_key!r} was rejected{reason}; nothing was written")


class UnknownLabelerError(RoundError):
    """The login chosen at the rework cap cannot label in the round's team."""


@dataclass(frozen=True)
class ReworkCapFacts:
    """What a person needs to decide at the rework cap: the still-rejected images per job, who could take them."""

    round_key: str
    cycle: int
    rejected: pd.DataFrame  # STILL_REJECTED_COLUMNS
    team_labelers: dict[str, int]  # login → user id of team members who may label

    @property
    def still_rejected(self) -> int:
        """Images still rejected after the cycle's review."""
        return int(self.rejected["rejected"].sum())

    def markdown(self) -> str:
        """The facts as markdown (shown above the form)."""
        logins = ", ".join(f"`{login}`" for login in sorted(self.team_labelers)) or "none"
        return (
            f"**Round {self.round_key}** ran its last rework cycle ({self.cycle}) and {self.still_rejected} images "
            f"are still rejected.\n\nChoose: **accept** them as they are, run **one_more_cycle** with the same "
            f"labelers, or **reassign** them to another labeler of the team ({logins}).\n\n"
            + frame_markdown(self.rejected)
        )


async def team_labelers(api: SuperviselyClient, team_id: int) -> dict[str, int]:
    """Login → user id of the team's members who may label (one `members.list`; disabled accounts left out)."""
    members = await api.list_members(team_id)
    return {
        member.login: member.id for member in members if member.role in LABELING_ROLES and not member.disabled
    }


async def rework_cap_facts(
    api: SuperviselyClient, target: RoundTarget, jobs: pd.DataFrame, cycle: int
) -> ReworkCapFacts:
    """The still-rejected images of the cycle's finished jobs (one `jobs.list`) and the team's labelers.

    Args:
        api: the client (a manager's token).
        target: the round's team, project and key.
        jobs: the jobs of the cycle that just passed the gate (`lineage.JOB_COLUMNS`).
        cycle: the cycle (0 first pass).
    """
    job_ids = [int(job_id) for job_id in jobs["job_id"]]
    listed = (
        await api.list_jobs(target.team.id, [Filter.in_("id", job_ids)], show_disabled=True)
        if job_ids
        else []
    )
    rows = [
        (job.id, job.name, job.labeler_login or "", job.rejected_images_count)
        for job in sorted(listed, key=lambda job: job.id)
        if job.status in FINISHED_STATUSES and job.rejected_images_count > 0
    ]
    rejected = pd.DataFrame.from_records(rows, columns=list(STILL_REJECTED_COLUMNS))
    labelers = await team_labelers(api, target.team.id) if rows else {}
    return ReworkCapFacts(target.round_key, cycle, rejected, labelers)


def extra_cycle(
    spec: RoundSpec, cycle: int, decision: ReworkCapDecision, team: Mapping[str, int]
) -> tuple[RoundSpec, dict[str, int]]:
    """The spec and extra user ids for the one more rework cycle a decision asks for, after `cycle`.

    The returned spec allows exactly one more cycle (`max_rework_cycles = cycle + 1`) and, for a reassignment,
    names the chosen login as `rework_labeler` (a copy outside the model's rules: that login need not be one of the
    round's labelers).

    Raises:
        UnknownLabelerError: the chosen login is not a member of the team who may label.
    """
    update: dict[str, object] = {"max_rework_cycles": cycle + 1}
    user_ids: dict[str, int] = {}
    if decision.choice is ReworkCapChoice.REASSIGN:
        login = decision.labeler.strip()
        if login not in team:
            known = ", ".join(sorted(team)) or "none"
            raise UnknownLabelerError(
                f"{login!r} cannot take the still-rejected images: not a member of the team who may label "
                f"(members who may: {known})"
            )
        update["rework_labeler"] = login
        user_ids[login] = team[login]
    return spec.model_copy(update=update), user_ids
