"""Print a round's report in the terminal with rich: totals, one row per labeler (with the gold scores of a round
with gold checks and the consensus figures of a consensus round), one row per job."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from labelrounds.steps.report import LABELER_CONSENSUS_COLUMNS, LABELER_GOLD_COLUMNS, RoundReport

LABELER_VIEW = ["labeler", "jobs", "rework_jobs", "images", "done", "accepted", "rejected", "still_rejected", "unreviewed"]
#: Shown after LABELER_VIEW when the round had gold checks or consensus.
LABELER_QUALITY_VIEW = [*LABELER_GOLD_COLUMNS, *LABELER_CONSENSUS_COLUMNS]
JOB_VIEW = ["job_id", "labeler", "dataset_name", "cycle", "parent_job_id", "status", "images", "accepted", "rejected", "reworked"]


def frame_table(frame: pd.DataFrame, columns: list[str], title: str, decimals: int | None = None) -> Table:
    """A rich table of some columns of a frame (missing values shown as '—', fractions rounded to `decimals`)."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right" if frame[column].dtype.kind in "iuf" else "left")
    for _, row in frame.loc[:, columns].iterrows():
        table.add_row(*(cell_text(value, decimals) for value in row))
    return table


def cell_text(value: object, decimals: int | None = None) -> str:
    """A cell as shown: '—' when missing, a fraction with `decimals` decimals when given, anything else as it is."""
    if pd.isna(value):
        return "—"
    if decimals is not None and isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def print_report(console: Console, report: RoundReport, title: str) -> None:
    """Totals (and any impossible figure), the per-labeler table and the per-job table."""
    console.print(f"[bold]{title}[/bold]: {report.totals.summary()}")
    if report.consensus is not None:
        console.print(report.consensus.summary())
    for problem in report.problems():
        console.print(f"[red]impossible figure:[/red] {problem}")
    quality = [column for column in LABELER_QUALITY_VIEW if column in report.labelers.columns]
    console.print(frame_table(report.labelers, LABELER_VIEW + quality, "Per labeler", decimals=2))
    console.print(frame_table(report.jobs, JOB_VIEW, "Per job (cycle 0: first pass, 1+: rework)"))
