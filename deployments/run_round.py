"""`labelrounds round run`, `round plan` and `report`: check before Prefect starts, run the flows here, print reports.

Exit statuses: 0 the round finished (or the plan was printed); 1 the round failed once running; 2 the file, the
connection or the round's inputs are wrong (nothing written). Every failure prints one message; `--debug` adds the
traceback (and Prefect's own tracebacks, which are otherwise left out of the terminal).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.traceback import Traceback

from deployments.plan_view import print_plan, print_warnings
from deployments.report_view import print_report
from deployments.round_checks import InputProblem, check_round, load_settings, load_spec, preflight
from labelrounds.client import ConfigurationError, SuperviselyError
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.errors import RoundError
from labelrounds.steps.gate import GateSnapshot

if TYPE_CHECKING:
    from flows.labeling_round import RoundOutcome
    from labelrounds.steps.preview import RoundPreview

#: Exit statuses: the round finished; the round failed; the command's input was wrong (nothing written).
EXIT_FINISHED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: What a failed round raises that the command reports in one line (anything else is a bug: traceback).
EXPECTED_FAILURES = (RoundError, SuperviselyError, ConfigurationError, ValueError)


def quiet_prefect_analytics() -> None:
    """No telemetry from a local Prefect server this process may start (set before Prefect is imported)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


class _NoTraceback(logging.Filter):
    """Drops the traceback of a log record on its way to the terminal (the Prefect API still received it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


@contextmanager
def terminal_tracebacks(debug: bool) -> Iterator[None]:
    """Without --debug, Prefect's log lines reach the terminal without their tracebacks (the message is kept)."""
    handlers = [] if debug else [handler for handler in logging.getLogger().handlers if "Console" in type(handler).__name__]
    quiet = _NoTraceback()
    for handler in handlers:
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(quiet)


def print_failure(console: Console, message: str, error: BaseException, debug: bool) -> None:
    """One red message; with --debug the traceback of the error (and of its cause) after it."""
    console.print(f"[red]{message}[/red]", soft_wrap=True, highlight=False)
    if debug:
        console.print(Traceback.from_exception(type(error), error, error.__traceback__))


def run_with_progress(
    console: Console,
    spec: RoundSpec,
    credentials_block: str | None = None,
    password_secret: str | None = None,
    report_dir: str | None = None,
    debug: bool = False,
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
            with terminal_tracebacks(debug):
                return asyncio.run(
                    labeling_round(
                        spec,
                        credentials_block=credentials_block,
                        password_secret=password_secret,
                        report_dir=report_dir,
                    )
                )
        except EXPECTED_FAILURES as error:
            print_failure(console, f"round {spec.round_name!r} failed: {type(error).__name__}: {error}", error, debug)
            return None
        finally:
            gate_listeners.remove(show)


def checked_round(
    console: Console, config: Path, credentials_block: str | None, password_secret: str | None, debug: bool
) -> tuple[RoundSpec, RoundPreview] | None:
    """The file, the connection and every check of the round, before any flow runs; None (and a message) if wrong."""
    quiet_prefect_analytics()
    try:
        spec = load_spec(config)
        settings = load_settings(credentials_block)
        preview = asyncio.run(check_round(settings, spec, password_secret))
    except InputProblem as problem:
        print_failure(console, str(problem), problem, debug)
        return None
    return spec, preview


def plan_round(
    console: Console, config: Path, credentials_block: str | None, password_secret: str | None, debug: bool = False
) -> int:
    """Check the round like `round run` and print what it would do, writing nothing; return the exit status."""
    checked = checked_round(console, config, credentials_block, password_secret, debug)
    if checked is None:
        return EXIT_USAGE
    print_plan(console, checked[1])
    return EXIT_FINISHED


def run_round(
    console: Console,
    config: Path,
    credentials_block: str | None,
    password_secret: str | None,
    report_dir: str | None,
    debug: bool = False,
) -> int:
    """Check the file, the connection and the round, run it, print its report; return the exit status."""
    checked = checked_round(console, config, credentials_block, password_secret, debug)
    if checked is None:
        return EXIT_USAGE
    spec, preview = checked
    if spec.approve_plan or spec.approve_rework_cap:
        problem = InputProblem(
            f"round {spec.round_name!r} asks a person (approve_plan / approve_rework_cap), which needs a deployment "
            "run that can wait for the answer without holding a process: deploy it (`labelrounds deploy`) and start "
            "it from the Prefect UI or `prefect deployment run`"
        )
        print_failure(console, str(problem), problem, debug)
        return EXIT_USAGE
    print_warnings(console, preview.warnings)
    outcome = run_with_progress(console, spec, credentials_block, password_secret, report_dir, debug)
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
    """Check the connection, run `round_report` for the filters and print the report; return the exit status."""
    if not connection_ok(console, credentials_block):
        return EXIT_USAGE
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
                id_or_name(team),
                id_or_name(project) if project is not None else None,
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


def id_or_name(value: str) -> int | str:
    """A number is an id, anything else a name."""
    return int(value) if value.isdigit() else value


def connection_ok(console: Console, credentials_block: str | None) -> bool:
    """Check the connection before a flow runs (Prefect analytics off); print the one-line failure when refused."""
    quiet_prefect_analytics()
    try:
        asyncio.run(preflight(load_settings(credentials_block)))
    except InputProblem as problem:
        print_failure(console, str(problem), problem, debug=False)
        return False
    return True
