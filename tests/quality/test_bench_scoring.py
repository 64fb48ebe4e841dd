"""The scoring benchmark's data and report work on a tiny run (no timing is asserted: figures go to bench/)."""

from __future__ import annotations

import numpy as np

from bench.scoring import KINDS, make_pair, measure, to_markdown
from labelrounds.quality import score_annotations


def test_the_synthetic_labeler_misses_one_object_of_ten_and_adds_one() -> None:
    """Per pair: 10 reference objects, 10 candidate objects (one missed, one of a wrong class, one extra),
    so at most 8 match; with 3 px jitter on 20-120 px objects nearly all 8 do."""
    rng = np.random.default_rng(3)
    for kind in KINDS:
        reference, candidate = make_pair(kind, 10, rng)
        score = score_annotations(reference, candidate)
        assert (score.reference_objects, score.candidate_objects) == (10, 10)
        assert 6 <= score.matched_objects <= 8


def test_a_tiny_run_reports_every_geometry() -> None:
    """A run of 3 pairs per geometry gives a row each, rendered in the markdown table."""
    rows = [measure(kind, pairs=3, objects=4, seed=1) for kind in KINDS]
    figures = {"pairs": 3, "objects": 4, "note": "tiny", "results": rows}
    table = to_markdown(figures)
    for row in rows:
        assert row["pairs"] == 3 and 0.0 <= row["score"]["f1"] <= 1.0
        assert f"| {row['geometry']} |" in table
