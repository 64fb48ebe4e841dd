"""A gold set on the sandbox, made as a user would: a dataset of image copies annotated with their ground truth.

Sandbox-only: the reference annotations come from the truth endpoint (`GET /_sandbox/truth`, instance admin),
everything else goes through the public API (`datasets.add`, `images.bulk.add`, `annotations.bulk.add`).
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import Annotation, DatasetInfo
from labelrounds.sandbox.truth import TRUTH_PATH


async def read_dataset_truth(server_address: str, admin_token: SecretStr, dataset_id: int) -> dict[int, dict[str, Any]]:
    """Each image's ground truth (wire JSON) in a dataset, by image id, read from the sandbox's truth endpoint."""
    headers = {"x-api-key": admin_token.get_secret_value()}
    async with httpx.AsyncClient(base_url=server_address, headers=headers, timeout=60) as http:
        reply = await http.get(TRUTH_PATH, params={"dataset_id": dataset_id})
    reply.raise_for_status()
    return {item["imageId"]: item["annotation"] for item in reply.json()}


async def prepare_gold_dataset(
    api: SuperviselyClient,
    admin_token: SecretStr,
    project_id: int,
    source_dataset_id: int,
    count: int,
    name: str = "gold",
) -> DatasetInfo:
    """Make (or complete) a dataset of copies of the source's first `count` images annotated with their truth.

    Idempotent: an existing dataset of that name is reused, only missing copies are added, and each copy's
    annotation is replaced whole by its truth, so running it again changes nothing.

    Args:
        api: a client with the instance admin's token.
        admin_token: the same token, for the truth endpoint.
        project_id: the project that gets the gold dataset.
        source_dataset_id: the dataset whose first images (by id) are copied.
        count: how many images the gold set holds.
        name: the gold dataset's name.
    """
    existing = {dataset.name: dataset for dataset in await api.list_datasets(project_id)}
    gold = existing.get(name) or await api.create_dataset(project_id, name, description="reference annotations")
    sources = sorted(await api.list_images(source_dataset_id), key=lambda image: image.id)[:count]
    present = {image.name for image in await api.list_images(gold.id)}
    missing = [image for image in sources if image.name not in present]
    if missing:
        await api.copy_images(gold.id, [image.id for image in missing], [image.name for image in missing])
    wanted = {image.name for image in sources}
    copies = [image.id for image in await api.list_images(gold.id) if image.name in wanted]
    truth = await read_dataset_truth(api.server_address, admin_token, gold.id)
    await api.upload_annotations(gold.id, {image_id: Annotation.model_validate(truth[image_id]) for image_id in copies})
    return gold
