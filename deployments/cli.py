"""The `labelrounds` command: the sandbox commands of the library plus the commands that run the flows."""

from __future__ import annotations

import typer

from deployments.commands import deploy, serve
from deployments.receiver_commands import receiver_app
from deployments.round_commands import demo, report, round_app
from deployments.scorecard_commands import scorecard
from labelrounds.sandbox.cli import sandbox_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Labeling rounds on Supervisely, orchestrated by Prefect.")
app.add_typer(sandbox_app, name="sandbox", help="Run the embedded Supervisely-compatible sandbox.")
app.command()(deploy)
app.command()(serve)
app.command()(demo)
app.add_typer(round_app, name="round")
app.add_typer(receiver_app, name="receiver", help="Receive Supervisely webhooks as Prefect events.")
app.command()(report)
app.command()(scorecard)

if __name__ == "__main__":
    app()
