"""Shared helpers for the sandbox's compact command-line specs (`--crew ...`, `--faults ...`)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable

from pydantic import ValidationError

PER_LOGIN_SEPARATOR = "+"
_DURATION = re.compile(r"^\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s)?\s*$")


class SpecError(ValueError):
    """A compact spec string that cannot be understood; the message names the offending part."""


def split_items(spec: str) -> list[str]:
    """Split a comma-separated spec into its non-empty, stripped items.

    Raises:
        SpecError: an item between two commas is empty (a stray or doubled comma).
    """
    if not spec.strip():
        return []
    items = [item.strip() for item in spec.split(",")]
    if any(not item for item in items):
        raise SpecError(f"empty item in {spec!r} (stray or doubled comma?)")
    return items


def split_key_value(item: str) -> tuple[str, str]:
    """Split `key=value` into its stripped parts.

    Raises:
        SpecError: the item has no `=`, or an empty key or value.
    """
    key, sep, value = item.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise SpecError(f"{item!r} is not of the form key=value")
    return key, value


def parse_duration(text: str, *, what: str) -> float:
    """Parse a non-negative duration in seconds: `0.25`, `250ms`, `2s`.

    Args:
        text: the duration as written; a bare number means seconds.
        what: what the duration is for, used in the error message.

    Raises:
        SpecError: not a non-negative number with an optional `ms`/`s` unit.
    """
    match = _DURATION.match(text)
    if match is None:
        raise SpecError(f"{what}: {text!r} is not a duration (write e.g. 0.5, 250ms or 2s)")
    seconds = float(match["number"])
    return seconds / 1000.0 if match["unit"] == "ms" else seconds


def parse_fraction(text: str, *, what: str) -> float:
    """Parse a probability between 0 and 1 inclusive.

    Raises:
        SpecError: not a number, or outside [0, 1].
    """
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{what}: {text!r} is not a number between 0 and 1") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise SpecError(f"{what}: {text!r} is not between 0 and 1")
    return value


def parse_int(text: str, *, what: str, minimum: int | None = None) -> int:
    """Parse an integer, optionally bounded below.

    Raises:
        SpecError: not an integer, or below `minimum`.
    """
    try:
        value = int(text)
    except ValueError:
        raise SpecError(f"{what}: {text!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise SpecError(f"{what}: {value} is below the minimum {minimum}")
    return value


def parse_per_login(
    text: str, *, what: str, parse_one: Callable[..., float]
) -> tuple[float | None, dict[str, float]]:
    """Parse `value` or `login:value` items joined with `+`: a bare value is everyone else's.

    Args:
        text: e.g. `0.9`, `labeler_1:0.95+labeler_2:0.7` or `40s+labeler_3:90s`.
        what: what the values are for, used in error messages.
        parse_one: parses one value (called with the value and `what=`), e.g. `parse_fraction`.

    Returns:
        The value for everyone (None if no bare value) and the value of each named login.

    Raises:
        SpecError: an empty item or login, a login given twice, two bare values, or a bad value (named).
    """
    default: float | None = None
    by_login: dict[str, float] = {}
    for item in text.split(PER_LOGIN_SEPARATOR):
        login, colon, value = (part.strip() for part in item.rpartition(":"))
        if not value or (colon and not login):
            raise SpecError(f"{what}: empty login or value in {text!r} (write e.g. labeler_1:0.9+labeler_2:0.7)")
        if not colon:
            if default is not None:
                raise SpecError(f"{what}: more than one value for everyone in {text!r}")
            default = parse_one(value, what=what)
        elif login in by_login:
            raise SpecError(f"{what}: login {login!r} is given twice")
        else:
            by_login[login] = parse_one(value, what=f"{what} for {login!r}")
    return default, by_login


def stable_fraction(*parts: object) -> float:
    """A deterministic pseudo-random number in [0, 1) derived from `parts`.

    Unlike `hash()`, it does not change between processes (no hash randomisation), so a seeded
    simulation makes the same decisions on every run.
    """
    digest = hashlib.blake2b(":".join(str(part) for part in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic validation error as `field: message`, without the input value."""
    problem = error.errors(include_input=False)[0]
    message = str(problem["msg"]).removeprefix("Value error, ")
    location = ".".join(str(part) for part in problem["loc"])
    return f"{location}: {message}" if location else message
