"""Task: validate a round against the server before anything is written."""

from __future__ import annotations

from prefect import get_run_logger

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import validate
from labelrounds.steps.validate import ValidatedRound
from tasks.credentials import annotator_passwords
from tasks.options import WITHIN_RUN, api_task


@api_task("validate-round", "validate-{spec.round_name}", cache=WITHIN_RUN)
async def validate_round(
    settings: ConnectionSettings, spec: RoundSpec, password_secret: str | None = None
) -> ValidatedRound:
    """Check everything about the round that can be checked without writing; one error lists every problem.

    Args:
        settings: the connection (the token that runs the round).
        spec: the round's parameters.
        password_secret: name of the Secret block with passwords for new accounts (None: the environment); only
            whether a password exists is checked.
    """
    async with SuperviselyClient(settings) as api:
        validated = await validate.validate_round(api, spec, annotator_passwords(password_secret))
    for warning in validated.warnings:
        get_run_logger().warning("Round %s: %s", spec.round_name, warning)
    return validated
