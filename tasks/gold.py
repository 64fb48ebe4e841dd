"""Tasks: gold checks (copy the gold images into the jobs' datasets, score them per labeler, remove the copies)."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger
from prefect.artifacts import acreate_table_artifact

from labelrounds.client import ConnectionSettings, SuperviselyClient
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
