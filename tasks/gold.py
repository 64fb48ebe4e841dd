"""Tasks: gold checks (copy the gold images into the jobs' datasets, score them per labeler, remove the copies)."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import acreate_table_artifact

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import gold, report
from labelrounds.steps.targets import RoundTarget
from tasks.options import api_task, artifact_key
from tasks.report import PublishedReport, publish, table_rows


@api_task("copy-gold", "copy-gold-{target.round_key}")
async def copy_gold(
    settings: ConnectionSettings, target: RoundTarget, gold_plan: pd.DataFrame
) -> pd.DataFrame:
    """Make each planned gold copy exist once (found by name first); the gold plan with `copy_id`.

    Args:
        settings: the connection.
        target: the resolved round.
        gold_plan: the validated gold plan (`steps.gold.GOLD_PLAN_COLUMNS`).
    """
    async with SuperviselyClient(settings) as api:
        copies = await gold.ensure_gold_copies(api, target, gold_plan)
    get_run_logger().info("gold: %d copies in the jobs' datasets", int(copies["copy_id"].notna().sum()))
    return copies


@api_task("score-gold", "score-gold-{title}")
async def score_gold(
    settings: ConnectionSettings, target: RoundTarget, gold_copies: pd.DataFrame, title: str
) -> pd.DataFrame:
    """Each labeler's gold precision, recall and F1, kept on their first-pass jobs and published as a table
    artifact keyed by `title` (`steps.gold.score_and_record_gold`)."""
    async with SuperviselyClient(settings) as api:
        scores = await gold.score_and_record_gold(api, target, gold_copies)
    await acreate_table_artifact(
        table=table_rows(scores),
        key=artifact_key(title, "gold"),
        description=f"{title}: gold scores per labeler",
    )
    return scores


@api_task("relabel-under-gold", "relabel-under-gold-{spec.round_name}")
async def relabel_under_gold(
    settings: ConnectionSettings,
    target: RoundTarget,
    spec: RoundSpec,
    jobs: pd.DataFrame,
    scores: pd.DataFrame,
    user_ids: dict[str, int],
    gold_plan: pd.DataFrame | None,
) -> pd.DataFrame:
    """The `gold.min_f1` policy: the cycle-1 jobs relabeling the first-pass jobs of labelers under it (found again by
    lineage on a re-run; `steps.gold.create_relabel_jobs`).

    Args:
        settings: the connection.
        target: the resolved round.
        spec: the round's parameters (`gold.min_f1`, `rework_labeler`).
        jobs: the first-pass jobs (JOB_COLUMNS).
        scores: the gold scores per labeler (from `score-gold`).
        user_ids: login → user id of the round's people.
        gold_plan: the validated gold plan (its copies are never relabeled).
    """
    async with SuperviselyClient(settings) as api:
        relabeled = await gold.create_relabel_jobs(api, target, spec, jobs, scores, user_ids, gold_plan)
    get_run_logger().info("gold policy: %d relabel jobs", len(relabeled))
    return relabeled


@api_task("remove-gold", "remove-gold-{title}")
async def remove_gold(settings: ConnectionSettings, gold_plan: pd.DataFrame | None, title: str) -> int:
    """Remove every gold copy of the plan still in the datasets; how many were removed (idempotent)."""
    async with SuperviselyClient(settings) as api:
        removed = await gold.remove_gold_copies(api, gold_plan)
    get_run_logger().info("gold: %d copies removed", removed)
    return removed


@api_task("publish-report", "report-{title}")
async def publish_gold_report(
    settings: ConnectionSettings,
    target: RoundTarget,
    title: str,
    scores: pd.DataFrame,
    report_dir: str | None = None,
) -> PublishedReport:
    """The round's report with the per-labeler gold columns, published like `tasks.report.publish_report`."""
    async with SuperviselyClient(settings) as api:
        built = await report.build_round_report(api, target.team.id, target.project.id, target.round_key)
    return await publish(built.with_gold(scores), title, report_dir)
