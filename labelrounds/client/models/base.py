"""The base of every wire model: camelCase aliases, unknown keys ignored, immutable; enums that keep unknown values."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Self, TypeVar

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


class WireEnum(StrEnum):
    """A status the server may extend: a value this client does not know is kept, never a validation error.

    `from_wire` turns an unknown value into a stand-in member (`known` is False, `value` is the raw text) that
    equals the raw string and no declared member, so every `in {...}` / `is` test treats it as none of the
    known states. Plain `Cls(value)` stays strict, for values that come from people rather than the server.
    """

    @classmethod
    def from_wire(cls, raw: Any) -> Any:
        """The member for `raw`, a stand-in member for an unknown string, `raw` itself otherwise (left to pydantic)."""
        if isinstance(raw, cls) or not isinstance(raw, str):
            return raw
        try:
            return cls(raw)
        except ValueError:
            stand_in = str.__new__(cls, raw)
            stand_in._name_ = "UNKNOWN"
            stand_in._value_ = raw
            return stand_in

    @property
    def known(self) -> bool:
        """Whether this is one of the declared members (False for a value the server added since)."""
        return type(self).__members__.get(self._name_) is self

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[str]]:
        # Pickling (Prefect results, process pools) must survive stand-in members too.
        return type(self).from_wire, (self._value_,)

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: Any) -> Self:
        return self
