"""Task: select the round's images and plan their split across labelers."""

from __future__ import annotations

import pandas as pd

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import RoundSpec
from labelrounds.steps import split
from labelrounds.steps.targets import RoundTarget
from tasks.options import WITHIN_RUN, api_task


@api_task("split-images", "split-images-{spec.round_name}", cache=WITHIN_RUN)
async def split_images(settings: ConnectionSettings, target: RoundTarget, spec: RoundSpec) -> pd.DataFrame:
    """List every image page, select the round's images and plan one share per labeler and dataset.

    Args:
        settings: the connection.
        target: the resolved team, project and datasets.
        spec: the round's parameters (selection, split strategy, labelers).
    """
    async with SuperviselyClient(settings) as api:
        return await split.split_images(api, target, spec)
