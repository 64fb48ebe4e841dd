"""Pure helpers of the round flow: the scheduled-round name suffix, artifact keys, outcome counts."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from flow_support import round_spec

from flows.labeling_round import round_name_suffix, with_name_suffix
from tasks.gate import polling_retries
from tasks.options import artifact_key, outcome_counts


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [("none", ""), ("iso-week", "-2026-w48"), ("date", "-2026-11-29")],
)
def test_a_scheduled_round_is_named_by_its_week_or_date(suffix: str, expected: str) -> None:
    assert round_name_suffix(suffix, datetime(2026, 11, 29, 6, 0, tzinfo=UTC)) == expected  # type: ignore[arg-type]


def test_a_suffixed_name_is_validated_like_any_round_name() -> None:
    spec = round_spec(round_name="w" * 45)
    assert with_name_suffix(spec, "none") is spec
    with pytest.raises(ValueError, match="round_name"):
        with_name_suffix(spec, "iso-week")  # 45 + 9 characters is over the limit


def test_artifact_keys_are_lowercase_with_dashes() -> None:
    assert artifact_key("Lemons_Round.1@13487", "gate-cycle", 2) == "lemons-round-1-13487-gate-cycle-2"


def test_the_gate_polls_for_the_whole_timeout() -> None:
    assert polling_retries(round_spec(poll_interval_seconds=30, timeout_seconds=3600)) == 120
    assert polling_retries(round_spec(poll_interval_seconds=7, timeout_seconds=20)) == 3


def test_outcome_counts_summarise_a_jobs_frame() -> None:
    frame = pd.DataFrame({"outcome": ["created", "reused", "created"]})
    assert outcome_counts(frame) == "2 created, 1 reused"
    assert outcome_counts(frame.iloc[0:0]) == "no jobs"
