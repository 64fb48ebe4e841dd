"""Turning reply JSON into models, with a clear `ResponseFormatError` when the shape is wrong."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from labelrounds.client.errors import ResponseFormatError

_Model = TypeVar("_Model", bound=BaseModel)
_MAX_REPORTED_PROBLEMS = 5


def parse_model(model_type: type[_Model], data: Any, method: str) -> _Model:
    """Validate one reply object as `model_type`.

    Raises:
        ResponseFormatError: the reply lacks a required key or has a wrongly typed value.
    """
    try:
        return model_type.model_validate(data)
    except ValidationError as exc:
        raise ResponseFormatError(
            200,
            f"unexpected reply shape for {model_type.__name__}",
            {"message": describe_problems(exc)},
            method,
        ) from None


def parse_models(model_type: type[_Model], items: Iterable[Any], method: str) -> list[_Model]:
    """Validate every item of a listing as `model_type`."""
    return [parse_model(model_type, item, method) for item in items]


def describe_problems(exc: ValidationError) -> str:
    """A one-line summary of a validation error: where and what, without echoing the values."""
    problems = [
        f"{'.'.join(str(part) for part in problem['loc']) or '<root>'}: {problem['msg']}"
        for problem in exc.errors(include_url=False, include_input=False)
    ]
    hidden = len(problems) - _MAX_REPORTED_PROBLEMS
    summary = "; ".join(problems[:_MAX_REPORTED_PROBLEMS])
    return f"{summary}; and {hidden} more" if hidden > 0 else summary
