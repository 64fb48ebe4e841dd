"""Render DataFrames as markdown tables, for artifacts and the terminal (no extra dependency)."""

from __future__ import annotations

import pandas as pd


def frame_markdown(frame: pd.DataFrame) -> str:
    """A DataFrame as a markdown table; empty cells for missing values, floats to one decimal, pipes escaped."""
    header = "| " + " | ".join(_cell(column) for column in frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = [
        "| " + " | ".join("" if _missing(value) else _cell(value) for value in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def _missing(value: object) -> bool:
    """Whether a cell holds a missing value (None, NaN, NaT, NA)."""
    return not isinstance(value, list | tuple) and bool(pd.isna(value))


def _cell(value: object) -> str:
    """One markdown cell."""
    text = f"{value:.1f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")
