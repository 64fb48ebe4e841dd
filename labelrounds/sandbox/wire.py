"""Wire helpers shared by the handlers: timestamps, JSON fragments and the list envelope."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson


def now_iso() -> str:
    """The current UTC time in Supervisely's format, e.g. `2026-11-28T12:57:55.512Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def dump_json(value: Any) -> str:
    """Serialise a value for a TEXT column."""
    return orjson.dumps(value).decode()


def json_fragment(stored: str) -> orjson.Fragment:
    """Embed JSON text from a column into a reply without parsing it again."""
    return orjson.Fragment(stored)


def envelope(total: int, per_page: int, entities: Sequence[Any] | orjson.Fragment) -> dict[str, Any]:
    """The list envelope `{total, perPage, pagesCount, entities}` every SDK lister requires (`entities` may be
    a JSON array already written)."""
    return {
        "total": total,
        "perPage": per_page,
        "pagesCount": math.ceil(total / per_page) if total else 0,
        "entities": entities,
    }
