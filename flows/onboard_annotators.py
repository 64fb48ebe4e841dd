"""Onboard annotators: restricted accounts created when missing, added to the team; idempotent."""

from __future__ import annotations

from prefect import flow

from labelrounds.round_spec import LabelerSpec, ReviewerSpec
from labelrounds.steps.users import UsersResult
from tasks.credentials import aconnection_settings
from tasks.users import ensure_annotators


@flow(name="onboard-annotators", flow_run_name="onboard-team-{team}", log_prints=False)
async def onboard_annotators(
    team: int | str,
    labelers: list[LabelerSpec],
    reviewer: ReviewerSpec | None = None,
    credentials_block: str | None = None,
    password_secret: str | None = None,
) -> UsersResult:
    """Make the annotators (and a reviewer) exist and belong to the team; a second run changes nothing.

    Args:
        team: the team's id or name.
        labelers: the annotators (a login each; created restricted when missing unless create_if_missing is off).
        reviewer: a reviewer to onboard as well.
        credentials_block: name of a SuperviselyCredentials block; None reads the environment.
        password_secret: name of a Secret block with the password(s) of new accounts; None reads
            LABELROUNDS_ANNOTATOR_PASSWORD.
    """
    settings = await aconnection_settings(credentials_block)
    return await ensure_annotators(settings, team, labelers, reviewer, password_secret)
