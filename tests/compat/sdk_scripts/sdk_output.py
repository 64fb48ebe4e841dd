"""Observation output for the SDK-side scripts: one marked JSON line per step, read back by the pytest side."""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable
from typing import Any

import requests

# The SDK and its logger may print to stdout too; only lines with this prefix are observations.
MARK = "@@sdk-observation@@ "


def to_jsonable(value: Any) -> Any:
    """Turn SDK results (info NamedTuples, enums, nested lists and dicts) into plain JSON values."""
    if hasattr(value, "_asdict"):
        return {key: to_jsonable(item) for key, item in value._asdict().items()}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def emit(step: str, value: Any = None) -> None:
    """Print one observation: the step's name and what the SDK returned for it."""
    line = json.dumps({"step": step, "value": to_jsonable(value)})
    sys.stdout.write(MARK + line + "\n")
    sys.stdout.flush()


def describe_http_error(error: requests.HTTPError) -> dict[str, Any]:
    """The status code and the server's error body of an HTTPError raised by the SDK."""
    response = error.response
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return {"error": "HTTPError", "status": response.status_code, "body": body}


def emit_outcome(step: str, call: Callable[[], Any]) -> Any:
    """Run an SDK call that may be refused and emit either its result or the HTTP error it raised."""
    try:
        result = call()
    except requests.HTTPError as error:
        emit(step, describe_http_error(error))
        return None
    emit(step, {"error": None, "result": result})
    return result
