"""Tasks: consensus rounds (replicas, agreement, merge, adjudication, figures, replica removal), one library call each."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import acreate_table_artifact

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import consensus, report
from labelrounds.steps.consensus import ConsensusFigures, LabelerAgreement
from labelrounds.steps.targets import RoundTarget
from tasks.options import api_task, artifact_key, outcome_counts
from tasks.report import PublishedReport, publish


@api_task("recorded-consensus", "recorded-consensus-{target.round_key}")
async def recorded_consensus(
    settings: ConnectionSettings, target: RoundTarget, spec: RoundSpec
) -> ConsensusFigures | None:
    """The figures a finished earlier run of the round kept, or None (`steps.consensus.recorded_consensus`)."""
    async with SuperviselyClient(settings) as api:
        return await consensus.recorded_consensus(api, target, spec)


@api_task("replicate", "replicate-{target.round_key}-{replica}")
async def replicate(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    selected: pd.DataFrame,
    user_ids: dict[str, int],
    replica: int,
    image_ids: list[int],
) -> pd.DataFrame:
    """Make replica `replica` of these images exist once: datasets, copies, one job per labeler (`ensure_replica`)."""
    async with SuperviselyClient(settings) as api:
        jobs = await consensus.ensure_replica(api, target, spec, selected, user_ids, replica, image_ids)
    get_run_logger().info("replica %d: %d images, jobs %s", replica + 1, len(image_ids), outcome_counts(jobs))
    return jobs


@api_task("measure-agreement", "agreement-{target.round_key}-{replicas}")
async def measure_agreement(
    settings: ConnectionSettings, target: RoundTarget, spec: RoundSpec, selected: pd.DataFrame, replicas: int
) -> pd.DataFrame:
    """Each image's agreement over the first `replicas` replicas (`steps.consensus.measure_agreement`)."""
    async with SuperviselyClient(settings) as api:
        agreement = await consensus.measure_agreement(api, target, spec, selected, replicas)
    get_run_logger().info(
        "agreement over %d replicas: mean %.3f, %d images under the threshold",
        replicas,
        float(agreement["agreement"].mean()) if len(agreement) else 1.0,
        int((agreement["agreement"] < (spec.consensus.agreement_threshold if spec.consensus else 0)).sum()),
    )
    return agreement


@api_task("merge-consensus", "merge-{target.round_key}")
async def merge_consensus(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    selected: pd.DataFrame,
    replicas: int,
    agreement: pd.DataFrame,
) -> dict[str, LabelerAgreement]:
    """Write the merged annotations of the agreeing images (`steps.consensus.merge_agreeing`)."""
    async with SuperviselyClient(settings) as api:
        return await consensus.merge_agreeing(api, target, spec, selected, replicas, agreement)


@api_task("adjudicate", "adjudicate-{target.round_key}")
async def adjudicate(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    user_ids: dict[str, int],
    agreement: pd.DataFrame,
) -> pd.DataFrame:
    """The adjudication jobs of the images still under the threshold (`steps.consensus.ensure_adjudication`)."""
    async with SuperviselyClient(settings) as api:
        jobs = await consensus.ensure_adjudication(api, target, spec, user_ids, agreement)
    get_run_logger().info("adjudication: jobs %s", outcome_counts(jobs))
    return jobs


@api_task("record-consensus", "record-consensus-{target.round_key}")
async def record_consensus(
    settings: ConnectionSettings, target: RoundTarget, spec: RoundSpec, figures: ConsensusFigures
) -> int:
    """Keep the figures on the first replica's jobs and publish the per-labeler agreement as a table artifact."""
    async with SuperviselyClient(settings) as api:
        changed = await consensus.record_consensus(api, target, spec, figures)
    rows = [
        {"labeler": login, "consensus_images": agreement.images, "consensus_f1": agreement.f1}
        for login, agreement in figures.per_labeler.items()
    ]
    await acreate_table_artifact(
        table=rows,
        key=artifact_key(spec.round_name, "consensus"),
        description=f"{spec.round_name}: {figures.summary()}",
    )
    return changed


@api_task("remove-replicas", "remove-replicas-{target.round_key}")
async def remove_replicas(settings: ConnectionSettings, target: RoundTarget, spec: RoundSpec) -> int:
    """Remove the replica images unless kept (`steps.consensus.remove_replica_images`); idempotent."""
    async with SuperviselyClient(settings) as api:
        removed = await consensus.remove_replica_images(api, target, spec)
    get_run_logger().info("consensus: %d replica images removed", removed)
    return removed


@api_task("publish-report", "report-{title}")
async def publish_consensus_report(
    settings: ConnectionSettings,
    target: RoundTarget,
    title: str,
    figures: ConsensusFigures,
    report_dir: str | None = None,
) -> PublishedReport:
    """The round's report with the consensus figures, published like `tasks.report.publish_report`."""
    async with SuperviselyClient(settings) as api:
        built = await report.build_round_report(api, target.team.id, target.project.id, target.round_key)
    return await publish(built.with_consensus(figures), title, report_dir)

