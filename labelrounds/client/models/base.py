"""The base of every wire model: camelCase aliases, unknown keys ignored, immutable."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel

_Item = TypeVar("_Item")


def _empty_dict_if_null(value: Any) -> Any:
    return {} if value is None else value


def _empty_list_if_null(value: Any) -> Any:
    return [] if value is None else value


# Servers send null for an empty object or list as often as they leave the key out; both read as empty.
JsonObject = Annotated[dict[str, Any], BeforeValidator(_empty_dict_if_null)]
ListOrNull = Annotated[list[_Item], BeforeValidator(_empty_list_if_null)]


class WireModel(BaseModel):
    """A model parsed from the JSON of the public API; fields are the snake_case of the wire keys."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON object for the wire: camelCase keys, unset optional keys left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class IdReply(WireModel):
    """A reply item that only carries an id, e.g. each element of `jobs.add`'s list."""

    id: int
