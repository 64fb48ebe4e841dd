"""`labelrounds round run` and `labelrounds report`: run the flows in this process, show progress, print reports."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from deployments.report_view import print_report
from labelrounds.client import ConfigurationError, SuperviselyError
from labelrounds.round_spec import RoundSpec, RoundSpecError, load_round_spec
from labelrounds.steps.errors import RoundError
from labelrounds.steps.gate import GateSnapshot

if TYPE_CHECKING:
    from flows.labeling_round import RoundOutcome

#: Exit statuses: the round finished; the round failed; the command's input was wrong (nothing written).
EXIT_FINISHED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: What a failed round raises that the command reports in one line (anything else is a bug: traceback).
EXPECTED_FAILURES = (RoundError, SuperviselyError, ConfigurationError, ValueError)


def quiet_prefect_analytics() -> None:
    """No telemetry from a local Prefect server this process may start (set before Prefect is imported)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def run_with_progress(
    console: Console,
    spec: RoundSpec,
    credentials_block: str | None = None,
    password_secret: str | None = None,
    report_dir: str | None = None,
) -> RoundOutcome | None:
    """Run `labeling_round` here with a progress bar fed by every gate check; None (and a message) when it fails."""
    from flows.labeling_round import labeling_round
    from tasks.gate import gate_listeners, gate_progress

    with Progress(TextColumn("{task.description}"), BarColumn(), console=console, transient=True) as progress:
        bar = progress.add_task(f"round {spec.round_name}: starting", total=100)

        def show(snapshot: GateSnapshot) -> None:
            progress.update(bar, completed=gate_progress(snapshot), description=snapshot.summary())

        gate_listeners.append(show)
        try:
            return asyncio.run(
                labeling_round(
                    spec, credentials_block=credentials_block, password_secret=password_secret, report_dir=report_dir
                )
            )
        except EXPECTED_FAILURES as error:
            console.print(f"[red]round {spec.round_name!r} failed:[/red] {type(error).__name__}: {error}")
            return None
        finally:
            gate_listeners.remove(show)


def run_round(
    console: Console,
    config: Path,
    credentials_block: str | None,
    password_secret: str | None,
    report_dir: str | None,
) -> int:
    """Load the round file, check the connection, run the round, print its report; return the exit status."""
    try:
        spec = load_round_spec(config)
    except RoundSpecError as error:
        console.print(f"[red]{error}[/red]")
        return EXIT_USAGE
    quiet_prefect_analytics()
    from tasks.credentials import connection_settings

    try:
        connection_settings(credentials_block)
    except (ConfigurationError, ValueError) as error:
        console.print(f"[red]no connection:[/red] {error}")
        return EXIT_USAGE
    outcome = run_with_progress(console, spec, credentials_block, password_secret, report_dir)
    if outcome is None:
        return EXIT_FAILED
    print_report(console, outcome.report, f"Round {outcome.round_key}")
    for name, path in outcome.csv_paths.items():
        console.print(f"{name}: {path}")
    return EXIT_FINISHED


def report_round(
    console: Console,
    team: str,
    project: str | None,
    round_name: str | None,
    round_key: str | None,
    status: Sequence[str],
    labeler: str | None,
    credentials_block: str | None,
    report_dir: str | None,
) -> int:
    """Run `round_report` for the filters and print the report; return the exit status."""
    quiet_prefect_analytics()
    from flows.round_report import round_report
    from labelrounds.client.models import JobStatus

    try:
        statuses = [JobStatus(value) for value in status]
    except ValueError as error:
        console.print(f"[red]{error}; statuses: {', '.join(item.value for item in JobStatus)}[/red]")
        return EXIT_USAGE
    try:
        published = asyncio.run(
            round_report(
                _id_or_name(team),
                _id_or_name(project) if project is not None else None,
                round_name=round_name,
                round_key=round_key,
                status=statuses or None,
                labeler=labeler,
                credentials_block=credentials_block,
                report_dir=report_dir,
            )
        )
    except EXPECTED_FAILURES as error:
        console.print(f"[red]report failed:[/red] {type(error).__name__}: {error}")
        return EXIT_FAILED
    print_report(console, published.report, round_key or round_name or f"Jobs of team {team}")
    for name, path in published.csv_paths.items():
        console.print(f"{name}: {path}")
    return EXIT_FINISHED


def _id_or_name(value: str) -> int | str:
    """A number is an id, anything else a name."""
    return int(value) if value.isdigit() else value
