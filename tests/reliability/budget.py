"""How hard the reliability tests push: a bounded default for `make test`, more with LABELROUNDS_LONG_TESTS=1."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TypeVar

from .figures import CODE_VERSION

LONG = os.environ.get("LABELROUNDS_LONG_TESTS") == "1"
T = TypeVar("T")


def scaled(default: int, long: int) -> int:
    """`long` under `make test-long`, else `default`."""
    return long if LONG else default


def rotating(choices: Sequence[T], commit: str = CODE_VERSION["commit"]) -> list[T]:
    """Every choice under `make test-long`; else one, chosen by the commit the tests run at.

    The same commit always picks the same choice (a failure reproduces), and successive commits cover them all.
    """
    if LONG:
        return list(choices)
    try:
        return [choices[int(commit, 16) % len(choices)]]
    except ValueError:  # not a git checkout: "unknown"
        return list(choices[:1])
