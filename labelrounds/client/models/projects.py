"""Projects, datasets and images."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from labelrounds.client.models.base import JsonObject, ListOrNull, WireModel


class _ImageContainer(WireModel):
    """Shared by projects and datasets: the counts of images and items, `itemsCount` defaulting like the SDK."""

    images_count: int | None = None
    items_count: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_items_count(cls, data: Any) -> Any:
        """Copy `imagesCount` into a missing `itemsCount`."""
        if isinstance(data, dict) and data.get("itemsCount") is None and data.get("items_count") is None:
            images_count = data.get("imagesCount", data.get("images_count"))
            if images_count is not None:
                return {**data, "itemsCount": images_count}
        return data


class ProjectInfo(_ImageContainer):
    """A project (`projects.list`, `projects.info`)."""

    id: int
    name: str
    description: str | None = None
    size: int | None = None
    readme: str | None = None
    workspace_id: int | None = None
    team_id: int | None = None
    datasets_count: int | None = None
    type: str | None = None
    reference_image_url: str | None = None
    custom_data: JsonObject = Field(default_factory=dict)
    settings: dict[str, Any] | None = None
    created_by: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DatasetInfo(_ImageContainer):
    """A dataset (`datasets.list`, `datasets.info`)."""

    id: int
    name: str
    description: str | None = None
    size: int | None = None
    project_id: int | None = None
    team_id: int | None = None
    workspace_id: int | None = None
    parent_id: int | None = None
    reference_image_url: str | None = None
    custom_data: JsonObject = Field(default_factory=dict)
    created_by: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ImageTag(WireModel):
    """A tag set on an image (an element of `ImageInfo.tags`)."""

    tag_id: int
    id: int | None = None
    entity_id: int | None = None
    value: Any = None
    labeler_login: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ImageInfo(WireModel):
    """An image (`images.list`, `images.info`); `name` is required."""

    id: int
    name: str
    link: str | None = None
    hash: str | None = None
    mime: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    labels_count: int | None = None
    dataset_id: int | None = None
    project_id: int | None = None
    meta: JsonObject = Field(default_factory=dict)
    path_original: str | None = None
    full_storage_url: str | None = None
    tags: ListOrNull[ImageTag] = Field(default_factory=list)
    description: str | None = None
    created_by: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def ext(self) -> str | None:
        """The extension, derived from `mime` like the SDK (`image/jpeg` → `jpeg`)."""
        if not self.mime or "/" not in self.mime:
            return None
        return self.mime.split("/", 1)[1]
