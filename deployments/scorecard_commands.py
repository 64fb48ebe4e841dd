"""The `labelrounds scorecard` command: check the connection, run the labeler-scorecard flow, print a rich table.

Exit statuses as `labelrounds report`: 0 printed; 1 the flow failed; 2 no or a bad connection (nothing run).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from deployments.report_view import frame_table
from deployments.round_commands import CredentialsOption, console
from deployments.run_round import (
    EXIT_FAILED,
    EXIT_FINISHED,
    EXIT_USAGE,
    EXPECTED_FAILURES,
    connection_ok,
    id_or_name,
)

#: Columns of the terminal table (the CSV and the table artifact have them all).
SCORECARD_VIEW = [
    "round",
    "labeler",
    "jobs",
    "images",
    "objects",
    "first_pass_acceptance",
    "rework_cycles",
    "annotation_seconds",
    "images_per_hour",
    "objects_per_hour",
    "review_latency_seconds",
    "gold_f1",
]


def scorecard(
    team: Annotated[str, typer.Option(help="Team id or name.")],
    round_names: Annotated[
        list[str] | None, typer.Option("--round", help="Only this round, by name or key (repeatable).")
    ] = None,
    labeler: Annotated[list[str] | None, typer.Option(help="Only this labeler, by login (repeatable).")] = None,
    out: Annotated[str | None, typer.Option(help="Directory for one PNG chart per metric and the CSV.")] = None,
    credentials_block: CredentialsOption = None,
) -> None:
    """Labeler scorecards across rounds, rebuilt from the server (runs the labeler-scorecard flow)."""
    raise typer.Exit(run_scorecard(console, team, round_names or None, labeler or None, out, credentials_block))


def run_scorecard(
    console: Console,
    team: str,
    rounds: list[str] | None,
    labelers: list[str] | None,
    out_dir: str | None,
    credentials_block: str | None,
) -> int:
    """Check the connection, run `labeler_scorecard` and print its table and files; return the exit status."""
    if not connection_ok(console, credentials_block):
        return EXIT_USAGE
    from flows.labeler_scorecard import labeler_scorecard

    try:
        published = asyncio.run(
            labeler_scorecard(
                id_or_name(team), rounds, labelers, credentials_block=credentials_block, out_dir=out_dir
            )
        )
    except EXPECTED_FAILURES as error:
        console.print(f"[red]scorecard failed:[/red] {type(error).__name__}: {error}")
        return EXIT_FAILED
    rows = published.scorecard.rows
    rows = rows.assign(round=rows["round_key"].str.rpartition("@")[0]).loc[:, SCORECARD_VIEW].round(2)
    console.print(frame_table(rows, SCORECARD_VIEW, f"Labeler scorecard of team {team} (rounds in order; keys in the CSV)"))
    for metric, path in published.chart_paths.items():
        console.print(f"{metric}: {path}")
    if published.csv_path is not None:
        console.print(f"csv: {published.csv_path}")
    return EXIT_FINISHED
