"""Argument checks shared by the endpoints: bad input fails here, before any request is sent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


def require_text(name: str, value: str) -> str:
    """Return `value` if it is a non-blank string, else raise `ValueError` naming the argument."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string")
    return value


def require_ids(name: str, values: Iterable[int], *, allow_empty: bool = False) -> list[int]:
    """Return `values` as a list of distinct positive ints, else raise `ValueError` naming the argument."""
    ids = list(values)
    if not ids and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    # The usual case (plain ints, all positive, distinct) is decided by three C-speed passes over the list.
    if set(map(type, ids)) <= {int} and (not ids or min(ids) >= 1) and len(set(ids)) == len(ids):
        return ids
    bad = [value for value in ids if isinstance(value, bool) or not isinstance(value, int) or value < 1]
    if bad:
        raise ValueError(f"{name} must be positive integer ids, got {bad[:5]!r}")
    duplicates = sorted(value for value, count in Counter(ids).items() if count > 1)
    if duplicates:
        raise ValueError(f"{name} has duplicates: {duplicates[:10]}")
    return ids


def require_names(name: str, values: Iterable[str]) -> list[str]:
    """Return `values` as a list of distinct non-empty strings, else raise `ValueError` naming the argument."""
    if isinstance(values, str):
        raise ValueError(f"{name} must be a collection of names, not a single string")
    names = [require_text(name, value) for value in values]
    duplicates = sorted(value for value, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ValueError(f"{name} has duplicates: {duplicates}")
    return names


def optional_limit(name: str, value: int | None) -> int:
    """A per-image limit for the wire: None means no limit and is sent as 0."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None")
    return value


def labeling_meta(
    *,
    classes: Iterable[str],
    tags: Iterable[str],
    objects_limit: int | None,
    tags_limit: int | None,
    include_tags: Iterable[str] = (),
    exclude_tags: Iterable[str] = (),
) -> dict[str, Any]:
    """The `meta` shared by `jobs.add` and `labeling-queues.add`: classes, tags, image tag filters and limits, checked."""
    included = require_names("include_tags", include_tags)
    excluded = require_names("exclude_tags", exclude_tags)
    if overlap := sorted(set(included) & set(excluded)):
        raise ValueError(f"tags both included and excluded: {overlap}")
    return {
        "classes": require_names("classes", classes),
        "projectTags": require_names("tags", tags),
        "imageTags": [{"name": tag, "positive": True} for tag in included]
        + [{"name": tag, "positive": False} for tag in excluded],
        "imageFiguresLimit": optional_limit("objects_limit", objects_limit),
        "imageTagsLimit": optional_limit("tags_limit", tags_limit),
        "dynamicClasses": False,
        "dynamicTags": False,
    }
