"""How hard the reliability tests push: a bounded default for `make test`, more with LABELROUNDS_LONG_TESTS=1."""

from __future__ import annotations

import os

LONG = os.environ.get("LABELROUNDS_LONG_TESTS") == "1"


def scaled(default: int, long: int) -> int:
    """`long` under `make test-long`, else `default`."""
    return long if LONG else default
