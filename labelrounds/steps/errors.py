"""Errors the round steps raise; each names the problem and the objects concerned, never a secret."""

from __future__ import annotations

from collections.abc import Sequence


class RoundError(Exception):
    """Base of every error a round step raises on purpose."""


class RoundValidationError(RoundError):
    """The round cannot start; raised before anything is written.

    Attributes:
        problems: every problem found, one human-readable line each.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        lines = "\n".join(f"- {problem}" for problem in self.problems)
        super().__init__(f"the round cannot start ({count} problem{'s' if count != 1 else ''}):\n{lines}")


class TargetNotFoundError(RoundError):
    """A team, project, dataset or user the round names does not exist or is not visible."""


class MetaConflictError(RoundError):
    """The round defines a class or tag differently from the project meta.

    Attributes:
        conflicts: one line per conflicting definition.
    """

    def __init__(self, conflicts: Sequence[str]) -> None:
        self.conflicts = list(conflicts)
        super().__init__(
            "the round's classes/tags conflict with the project meta: " + "; ".join(self.conflicts)
        )


class EmptySelectionError(RoundError):
    """The image selection of a round is empty: there is nothing to label."""


class RoundConflictError(RoundError):
    """Jobs already carry this round's key but disagree with the plan (the inputs changed since the first run).

    Attributes:
        conflicts: one line per disagreeing job.
    """

    def __init__(self, round_key: str, conflicts: Sequence[str]) -> None:
        self.round_key = round_key
        self.conflicts = list(conflicts)
        super().__init__(
            f"round {round_key!r} already has jobs that do not match this plan (re-run it with the same inputs or "
            f"choose a new round name): " + "; ".join(self.conflicts)
        )


class UnresolvedWriteError(RoundError):
    """A job creation's outcome stayed unknown and no job was found afterwards; re-running the step is safe."""


class RoundNotReadyError(RoundError):
    """The gate is still closed: some jobs have not reached the target status yet (retry later)."""


class RoundStalledError(RoundError):
    """Some jobs of the round can never reach the target status (stopped, or removed); waiting is pointless."""


class RoundTimeoutError(RoundError):
    """The round's jobs did not reach the target status within the overall timeout; the jobs are left as they are."""
