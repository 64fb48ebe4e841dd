"""The labeling round flow on Prefect's harness against a sandbox whose crew labels and reviews."""

from __future__ import annotations

from flow_support import admin_client, round_spec

from flows.labeling_round import labeling_round
from labelrounds.sandbox.server import SandboxServer


async def test_a_round_finishes_with_rework_archived_and_balanced(crewed: SandboxServer, tmp_path) -> None:
    outcome = await labeling_round(round_spec(), report_dir=str(tmp_path))

    assert outcome.status == "finished"
    totals = outcome.report.totals
    assert totals.balanced and totals.selected_images == 6
    assert len(outcome.job_ids_per_cycle) >= 2 and totals.rework_jobs >= 1
    assert outcome.report.jobs["archived"].all()
    assert sorted(outcome.labelers["labeler"]) == ["labeler_1", "labeler_2"]
    assert set(outcome.csv_paths) == {"jobs", "labelers"}
    async with admin_client(crewed) as api:
        assert await api.list_jobs(crewed.team_id) == []
