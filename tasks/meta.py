"""Task: merge the round's classes and tags into the project meta."""

from __future__ import annotations

from prefect import get_run_logger

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import meta
from labelrounds.steps.meta import MetaResult
from tasks.options import WITHIN_RUN, api_task


@api_task("prepare-meta", "prepare-meta-{spec.round_name}", cache=WITHIN_RUN)
async def prepare_meta(settings: ConnectionSettings, project_id: int, spec: RoundSpec) -> MetaResult:
    """Add the round's missing classes and tags to the project meta, never dropping any; a conflict is an error.

    Args:
        settings: the connection.
        project_id: the round's project.
        spec: the round's parameters (classes, tags).
    """
    async with SuperviselyClient(settings) as api:
        result = await meta.prepare_round_meta(api, project_id, spec)
    get_run_logger().info("meta: %s", result.summary())
    return result
