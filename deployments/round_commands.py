"""The `labelrounds demo`, `round run`, `round plan` and `report` commands (typer), thin over their modules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

#: Piped output (CI, tests) gets wide lines so that report tables are not cut to 80 columns.
console = Console() if sys.stdout.isatty() else Console(width=160)
round_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Run labeling rounds from a file.")

CredentialsOption = Annotated[
    str | None,
    typer.Option(help="SuperviselyCredentials block to connect with (default: SERVER_ADDRESS/API_TOKEN from env)."),
]
ReportDirOption = Annotated[str | None, typer.Option(help="Directory for the report's CSV files.")]
ConfigOption = Annotated[Path, typer.Option("--config", help="The round's parameters (YAML or JSON).")]
PasswordSecretOption = Annotated[
    str | None,
    typer.Option(help="Secret block with passwords of accounts to create (default: LABELROUNDS_ANNOTATOR_PASSWORD)."),
]
DebugOption = Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure.")]


def demo() -> None:
    """Run a whole round on a fresh lemons sandbox with a simulated crew and print its report."""
    from deployments.demo import run_demo

    raise typer.Exit(run_demo(console))


@round_app.command("run")
def run(
    config: ConfigOption,
    credentials_block: CredentialsOption = None,
    password_secret: PasswordSecretOption = None,
    report_dir: ReportDirOption = None,
    debug: DebugOption = False,
) -> None:
    """Run a labeling round to the end; exit 0 only when it finished (1: it failed, 2: bad input or connection)."""
    from deployments.run_round import run_round

    raise typer.Exit(run_round(console, config, credentials_block, password_secret, report_dir, debug))


@round_app.command("plan")
def plan(
    config: ConfigOption,
    credentials_block: CredentialsOption = None,
    password_secret: PasswordSecretOption = None,
    debug: DebugOption = False,
) -> None:
    """Check a round like `round run` and print what it would create or reuse, writing nothing (exit 0 or 2)."""
    from deployments.run_round import plan_round

    raise typer.Exit(plan_round(console, config, credentials_block, password_secret, debug))


def report(
    team: Annotated[str, typer.Option(help="Team id or name.")],
    project: Annotated[str | None, typer.Option(help="Project id or name (default: every project).")] = None,
    round_name: Annotated[str | None, typer.Option("--round", help="Only jobs of rounds with this name.")] = None,
    round_key: Annotated[str | None, typer.Option(help="Only jobs of this round ('<name>@<project id>').")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only jobs in this status (repeatable).")] = None,
    labeler: Annotated[str | None, typer.Option(help="Only jobs of this labeler (login).")] = None,
    credentials_block: CredentialsOption = None,
    report_dir: ReportDirOption = None,
) -> None:
    """Report per job and per labeler on existing jobs chosen by filters (runs the round-report flow)."""
    from deployments.run_round import report_round

    raise typer.Exit(
        report_round(
            console, team, project, round_name, round_key, status or [], labeler, credentials_block, report_dir
        )
    )
