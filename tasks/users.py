"""Tasks: make the round's people (or any annotators) exist as restricted accounts and team members."""

from __future__ import annotations

from prefect import get_run_logger

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import LabelerSpec, ReviewerSpec, RoundSpec
from labelrounds.steps import users
from labelrounds.steps.targets import resolve_team
from labelrounds.steps.users import Participant, TeamRole, UsersResult
from tasks.credentials import annotator_passwords
from tasks.options import WITHIN_RUN, api_task


@api_task("ensure-users", "ensure-users-{spec.round_name}", cache=WITHIN_RUN)
async def ensure_users(
    settings: ConnectionSettings, spec: RoundSpec, password_secret: str | None = None
) -> UsersResult:
    """Ensure the round's labelers and reviewer exist and belong to its team; idempotent.

    Args:
        settings: the connection (a team admin's or manager's token).
        spec: the round's parameters (team, labelers, reviewer).
        password_secret: name of the Secret block with passwords for new accounts (None: the environment).
    """
    async with SuperviselyClient(settings) as api:
        result = await users.ensure_round_users(api, spec, annotator_passwords(password_secret))
    get_run_logger().info("users: %s", result.summary())
    return result


@api_task("ensure-annotators", "ensure-annotators-team-{team}")
async def ensure_annotators(
    settings: ConnectionSettings,
    team: int | str,
    labelers: list[LabelerSpec],
    reviewer: ReviewerSpec | None = None,
    password_secret: str | None = None,
) -> UsersResult:
    """Ensure annotators (and optionally a reviewer) exist and belong to a team; idempotent.

    Args:
        settings: the connection (a team admin's or manager's token).
        team: the team's id or name.
        labelers: the annotators (created restricted when missing and allowed).
        reviewer: a reviewer to ensure as well.
        password_secret: name of the Secret block with passwords for new accounts (None: the environment).
    """
    people = [Participant(account=labeler, role=TeamRole.ANNOTATOR) for labeler in labelers]
    if reviewer is not None:
        people.append(Participant(account=reviewer, role=TeamRole.REVIEWER))
    async with SuperviselyClient(settings) as api:
        found = await resolve_team(api, team)
        result = await users.ensure_users(api, found, people, annotator_passwords(password_secret))
    get_run_logger().info("users: %s", result.summary())
    return result
