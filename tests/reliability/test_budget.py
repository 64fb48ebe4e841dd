"""The default budget's rotation: one choice per commit, the same for the same commit, every choice across commits."""

from __future__ import annotations

from .budget import LONG, rotating

CHOICES = ["a", "b", "c"]


def test_rotating_picks_one_choice_per_commit_and_covers_them_all() -> None:
    chosen = [rotating(CHOICES, commit) for commit in ["f0", "f1", "f2", "unknown"]]
    if LONG:
        assert all(picked == CHOICES for picked in chosen)
    else:
        assert all(len(picked) == 1 for picked in chosen)
        assert {picked[0] for picked in chosen[:3]} == set(CHOICES)
        assert chosen[0] == rotating(CHOICES, "f0")
