"""The labeling round flow with gold checks (`TaskRoundSteps`' gold tasks) on a `lemons:2` sandbox whose crew
works: the round labels ds1, the gold set is made of ds2's pictures (a round picture as gold is refused).

Oracles: the datasets' image ids read raw before and after the flow (nothing gold left), the jobs' entities read
raw, and the artifacts read back from Prefect's API.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from flow_support import admin_client, round_spec
from oracles import RawApi
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.labeling_round import labeling_round
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH


async def gold_dataset(server: SandboxServer) -> int:
    """A `gold` dataset in the lemons project: copies of three images of ds2 annotated with their truth."""
    async with admin_client(server) as api:
        gold = await api.create_dataset(server.project_id or 0, "gold")
        sources = [image.id for image in await api.list_images(server.dataset_ids[1])][:3]
        await api.copy_images(gold.id, sources, ["g1.jpeg", "g2.jpeg", "g3.jpeg"])
    headers = {"x-api-key": server.admin_token.get_secret_value()}
    reply = httpx.get(server.url + TRUTH_PATH, params={"dataset_id": gold.id}, headers=headers, timeout=60)
    truth = [{"imageId": item["imageId"], "annotation": item["annotation"]} for item in reply.json()]
    with RawApi.of(server) as raw:
        raw.call("annotations.bulk.add", {"datasetId": gold.id, "annotations": truth})
    return gold.id


async def test_the_flow_hides_gold_in_each_job_scores_it_and_leaves_no_copy(
    crewed_two_datasets: SandboxServer, tmp_path: Path
) -> None:
    crewed = crewed_two_datasets
    gold_id = await gold_dataset(crewed)
    with RawApi.of(crewed) as raw:
        before = raw.image_ids_by_dataset([*crewed.dataset_ids, gold_id])

    spec = round_spec(datasets=["ds1"], gold={"source": "gold", "per_job": 1})
    state = await labeling_round(spec, report_dir=str(tmp_path), return_state=True)
    outcome = await state.result()

    with RawApi.of(crewed) as raw:
        assert raw.image_ids_by_dataset([*crewed.dataset_ids, gold_id]) == before
        jobs = raw.round_jobs(crewed.team_id, outcome.round_key)
    assert all(set(job.entities) <= before[crewed.dataset_id] for job in jobs)
    assert outcome.report.totals.selected_images == 6
    labelers = outcome.report.labelers.set_index("labeler")
    assert labelers.loc[["labeler_1", "labeler_2"], "gold_images"].tolist() == [1, 1]
    assert "gold_f1" in (tmp_path / "lemons-round-1_labelers.csv").read_text()
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    assert "lemons-round-1-gold" in {artifact.key for artifact in artifacts}
