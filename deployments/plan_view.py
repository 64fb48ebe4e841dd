"""Print what `labelrounds round plan` found with rich: people to create, meta changes, the jobs, the warnings."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from deployments.report_view import frame_table
from labelrounds.steps.preview import RoundPreview

JOB_PLAN_VIEW = ["labeler", "dataset_name", "images", "job_name", "job"]


def print_warnings(console: Console, warnings: list[str]) -> None:
    """One yellow line per warning (not an error: the round can run)."""
    for warning in warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}", soft_wrap=True)


def changes_table(preview: RoundPreview) -> Table:
    """Accounts to create and classes and tags to add to the project meta, one row each."""
    table = Table(title="Changes before the jobs", title_justify="left")
    table.add_column("kind")
    table.add_column("name")
    table.add_column("action")
    for login in preview.people_to_create:
        table.add_row("account", login, "create (and add to the team)")
    for name in preview.classes_to_add:
        table.add_row("class", name, "add to the project meta")
    for name in preview.tags_to_add:
        table.add_row("tag", name, "add to the project meta")
    if not table.row_count:
        table.add_row("—", "—", "none: every account, class and tag exists")
    return table


def print_plan(console: Console, preview: RoundPreview) -> None:
    """A summary line, the changes table, the jobs table (per labeler and dataset) and any warnings."""
    target = preview.validated.target
    jobs = preview.jobs_with_state()
    datasets = ", ".join(repr(dataset.name) for dataset in target.datasets)
    console.print(
        f"[bold]Round {target.round_key}[/bold] in team {target.team.name!r}, project {target.project.name!r} "
        f"(datasets {datasets}): {int(jobs['images'].sum())} images in {len(jobs)} jobs, "
        f"{preview.reused_jobs} of them already created by an earlier run. Nothing was written.",
        soft_wrap=True,
    )
    console.print(changes_table(preview))
    console.print(frame_table(jobs, JOB_PLAN_VIEW, "Jobs of the first cycle (per labeler and dataset)"))
    print_warnings(console, preview.warnings)
