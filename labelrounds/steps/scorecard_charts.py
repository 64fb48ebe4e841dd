"""PNG charts of a scorecard: one per metric, one line per labeler over the rounds (matplotlib, no display)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and workers

import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen before pyplot is imported

from labelrounds.steps.scorecard import CHART_METRICS, Scorecard  # noqa: E402


def write_charts(
    scorecard: Scorecard, directory: str | Path, metrics: Sequence[str] = CHART_METRICS, prefix: str = "scorecard"
) -> dict[str, Path]:
    """Write `<prefix>_<metric>.png` into `directory` (created if needed) for each metric with a value; return paths.

    Args:
        scorecard: the scorecard.
        directory: where the PNG files go.
        metrics: which columns to chart (a metric without any value, e.g. gold without gold checks, is skipped).
        prefix: the files' name prefix.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for metric in metrics:
        table = scorecard.metric(metric)
        if table.empty or table.isna().all().all():
            continue
        path = folder / f"{prefix}_{metric}.png"
        _draw(table, metric, path)
        written[metric] = path
    return written


def _draw(table: object, metric: str, path: Path) -> None:
    """One chart: rounds on the x axis, one marked line per labeler (gaps where a labeler had no job)."""
    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        rounds = list(table.columns)  # type: ignore[attr-defined]
        positions = range(len(rounds))
        for labeler, values in table.iterrows():  # type: ignore[attr-defined]
            axes.plot(positions, values.to_numpy(dtype=float), marker="o", label=str(labeler))
        axes.set_xticks(list(positions), [str(key).rpartition("@")[0] or str(key) for key in rounds], rotation=20)
        axes.set_xlabel("round (in order of its first job)")
        axes.set_ylabel(metric.replace("_", " "))
        axes.set_title(f"{metric.replace('_', ' ')} per labeler over rounds")
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
        figure.tight_layout()
        figure.savefig(path)
    finally:
        plt.close(figure)
