"""Fixtures of the security tests: a fresh lemons sandbox with one user per role."""

from __future__ import annotations

import pytest

from labelrounds.sandbox.server import SandboxServer

from .world import World, build_world


@pytest.fixture
def world(sandbox: SandboxServer) -> World:
    """A freshly seeded sandbox with one user per role and the jobs they act on."""
    return build_world(sandbox)
