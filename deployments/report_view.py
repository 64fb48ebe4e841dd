"""Print a round's report in the terminal with rich: totals, one row per labeler, one row per job."""

from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

from labelrounds.steps.report import RoundReport

LABELER_VIEW = ["labeler", "jobs", "rework_jobs", "images", "done", "accepted", "rejected", "still_rejected", "unreviewed"]
JOB_VIEW = ["job_id", "labeler", "dataset_name", "cycle", "parent_job_id", "status", "images", "accepted", "rejected", "reworked"]


def frame_table(frame: pd.DataFrame, columns: list[str], title: str) -> Table:
    """A rich table of some columns of a frame (missing values shown as '—')."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right" if frame[column].dtype.kind in "iuf" else "left")
    for _, row in frame.loc[:, columns].iterrows():
        table.add_row(*("—" if pd.isna(value) else str(value) for value in row))
    return table


def print_report(console: Console, report: RoundReport, title: str) -> None:
    """Totals (and any impossible figure), the per-labeler table and the per-job table."""
    console.print(f"[bold]{title}[/bold]: {report.totals.summary()}")
    for problem in report.problems():
        console.print(f"[red]impossible figure:[/red] {problem}")
    console.print(frame_table(report.labelers, LABELER_VIEW, "Per labeler"))
    console.print(frame_table(report.jobs, JOB_VIEW, "Per job (cycle 0: first pass, 1+: rework)"))
