"""Typed list filters, turned into the wire's `{"field", "operator", "value"}` entries (ANDed by the server)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class FilterOperator(StrEnum):
    """Filter operators the client sends."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "!in"


@dataclass(frozen=True, slots=True)
class Filter:
    """One condition on a wire field (camelCase, e.g. `projectId`) of a `*.list` method."""

    field: str
    operator: FilterOperator
    value: Any

    def __post_init__(self) -> None:
        if not self.field:
            raise ValueError("a filter needs a field name")

    @classmethod
    def eq(cls, field: str, value: Any) -> Filter:
        """`field = value`."""
        return cls(field, FilterOperator.EQUALS, value)

    @classmethod
    def ne(cls, field: str, value: Any) -> Filter:
        """`field != value`."""
        return cls(field, FilterOperator.NOT_EQUALS, value)

    @classmethod
    def in_(cls, field: str, values: Iterable[Any]) -> Filter:
        """`field` is one of `values` (an empty collection matches nothing)."""
        return cls(field, FilterOperator.IN, _as_list(values))

    @classmethod
    def not_in(cls, field: str, values: Iterable[Any]) -> Filter:
        """`field` is none of `values`."""
        return cls(field, FilterOperator.NOT_IN, _as_list(values))

    @classmethod
    def is_null(cls, field: str) -> Filter:
        """`field` is null (sent as `=` with a null value, like the SDK)."""
        return cls(field, FilterOperator.EQUALS, None)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object the server expects."""
        return {"field": self.field, "operator": FilterOperator(self.operator).value, "value": self.value}


def filters_to_wire(filters: Iterable[Filter]) -> list[dict[str, Any]]:
    """Serialise a collection of filters for a request's `filter` key."""
    return [condition.to_wire() for condition in filters]


def _as_list(values: Iterable[Any]) -> list[Any]:
    if isinstance(values, str | bytes):
        raise TypeError("in_/not_in take a collection of values, not a single string")
    return list(values)
