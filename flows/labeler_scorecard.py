"""Labeler scorecards across rounds, rebuilt from the server: a table artifact, PNG charts, a markdown artifact."""

from __future__ import annotations

from prefect import flow

from tasks.credentials import aconnection_settings
from tasks.scorecard import PublishedScorecard, publish_scorecard


@flow(name="labeler-scorecard", flow_run_name="scorecard-team-{team}", log_prints=False)
async def labeler_scorecard(
    team: int | str,
    rounds: list[str] | None = None,
    labelers: list[str] | None = None,
    credentials_block: str | None = None,
    out_dir: str | None = None,
) -> PublishedScorecard:
    """Each labeler's figures per round over the team's rounds (jobs with our lineage, `jobs.stats`, annotations).

    Args:
        team: the team's id or name.
        rounds: only these rounds, by key ('<name>@<project id>') or name; None: every round.
        labelers: only these labelers (logins); None: all.
        credentials_block: name of a SuperviselyCredentials block; None reads the environment.
        out_dir: directory for one PNG chart per metric and the CSV file (None: artifacts only).
    """
    settings = await aconnection_settings(credentials_block)
    return await publish_scorecard(settings, team, rounds, labelers, f"scorecard of team {team}", out_dir)
