"""The list envelope every `*.list` method replies with."""

from __future__ import annotations

from typing import Any

from labelrounds.client.models.base import WireModel


class Page(WireModel):
    """One page of a listing: `total`, `perPage`, `pagesCount` and `entities` are all required."""

    total: int
    per_page: int
    pages_count: int
    entities: list[dict[str, Any]]
