"""Hypothesis strategies for the fuzz tests: arbitrary JSON, and valid bodies or replies bent out of shape."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

_EDGE_INTS = st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 10**30])
_EDGE_TEXT = st.sampled_from(
    ["", " ", "\x00", "\ud800", "'; DROP TABLE jobs; --", "%", "_", "é" * 300, "1e309"]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    _EDGE_INTS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    _EDGE_TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
"""Any JSON-like value (NaN and infinities included: orjson refuses them, the test then sends raw text)."""


@st.composite
def bent(draw: st.DrawFn, valid: Any, depth: int = 0) -> Any:
    """A valid value with parts replaced, dropped or added, recursively, so handlers see near-miss input."""
    if isinstance(valid, dict) and valid and depth < 4:
        result = dict(valid)
        for key in draw(st.lists(st.sampled_from(sorted(valid)), unique=True, max_size=len(valid))):
            action = draw(st.sampled_from(["replace", "drop", "bend"]))
            if action == "replace":
                result[key] = draw(JSON)
            elif action == "drop":
                result.pop(key)
            else:
                result[key] = draw(bent(valid[key], depth + 1))
        result.update(draw(st.dictionaries(st.text(max_size=12), JSON, max_size=2)))
        return result
    if isinstance(valid, list) and valid and depth < 4:
        items = [draw(bent(item, depth + 1)) for item in valid]
        return draw(st.sampled_from([items, items[:-1], [*items, draw(JSON)], items * 3]))
    return draw(st.one_of(st.just(valid), JSON))
