"""The labeler-scorecard flow and the `labelrounds scorecard` command, after two rounds on a crewed lemons sandbox.

Oracles: the rounds the test ran (in order), the jobs read back raw (one row per round and labeler with a job),
the crew's default pace (every labeler's images per hour within its ±25% jitter), the files on disk and the
artifacts read back from Prefect's API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest
from flow_support import PASSWORD, admin_client, round_spec
from oracles import RawApi
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from typer.testing import CliRunner

from deployments.cli import app
from flows.labeler_scorecard import labeler_scorecard
from labelrounds.sandbox.crew import DEFAULT_PACE_SECONDS
from labelrounds.sandbox.crew_labeling import PACE_SPREAD
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.sequence import ClientRoundSteps, run_round

ROUND_NAMES = ["second-by-name", "first-by-name"]  # run in this order: not the alphabetical one


async def run_two_rounds(server: SandboxServer) -> list[str]:
    """Run two small rounds one after the other with the library's steps; return their keys in that order."""
    keys = []
    async with admin_client(server) as api:
        for name in ROUND_NAMES:
            run = await run_round(ClientRoundSteps(api, PASSWORD), round_spec(round_name=name, end_action="keep"))
            keys.append(run.target.round_key)
    return keys


def expected_rows(server: SandboxServer, keys: list[str]) -> set[tuple[str, str]]:
    """(round key, labeler) of every job of the rounds, read back raw."""
    with RawApi.of(server) as raw:
        return {(key, str(job.lineage["labeler"])) for key in keys for job in raw.round_jobs(server.team_id, key)}


def assert_default_pace(rows: pd.DataFrame) -> None:
    """Every row's images per hour is within the jitter of the crew's default pace."""
    slowest = round(DEFAULT_PACE_SECONDS * (1 + PACE_SPREAD))
    fastest = round(DEFAULT_PACE_SECONDS * (1 - PACE_SPREAD))
    assert rows["images_per_hour"].between(3600 / slowest, 3600 / fastest).all(), rows["images_per_hour"]


async def test_the_flow_publishes_a_table_charts_and_a_markdown_listing_them(
    crewed: SandboxServer, tmp_path: Path
) -> None:
    keys = await run_two_rounds(crewed)

    state = await labeler_scorecard("my team", out_dir=str(tmp_path), return_state=True)
    published = await state.result()

    rows = published.scorecard.rows
    assert published.scorecard.rounds == keys
    assert set(zip(rows["round_key"], rows["labeler"], strict=True)) == expected_rows(crewed, keys)
    assert_default_pace(rows)
    assert published.chart_paths and all(Path(path).read_bytes()[:4] == b"\x89PNG" for path in published.chart_paths.values())
    assert len(pd.read_csv(published.csv_path)) == len(rows)
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]))
        )
    by_key = {artifact.key: artifact for artifact in artifacts}
    assert set(published.artifact_keys) <= set(by_key)
    table, summary = (by_key[key] for key in published.artifact_keys)
    table_rows = table.data if isinstance(table.data, list) else json.loads(str(table.data))
    assert len(table_rows) == len(rows)
    assert all(path in str(summary.data) for path in published.chart_paths.values())


def test_the_command_prints_the_scorecard_and_exits_2_on_a_refused_token(
    crewed: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(run_two_rounds(crewed))

    result = CliRunner().invoke(app, ["scorecard", "--team", "my team", "--round", ROUND_NAMES[1], "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert ROUND_NAMES[1] in result.output and ROUND_NAMES[0] not in result.output
    assert "labeler_1" in result.output and "labeler_2" in result.output
    assert (tmp_path / "scorecard-of-team-my-team_images_per_hour.png").exists()

    monkeypatch.setenv("API_TOKEN", "z" * 128)
    refused = CliRunner().invoke(app, ["scorecard", "--team", "my team"])
    assert refused.exit_code == 2 and "refused the API token (HTTP 401)" in refused.output
    assert "z" * 128 not in refused.output
