"""The `labelrounds` command line: demo, sandbox, round and report commands."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


def _register_subcommands() -> None:
    """Attach the sub-apps; each lives next to the code it drives."""
    from labelrounds.sandbox.cli import sandbox_app

    app.add_typer(sandbox_app, name="sandbox", help="Run the embedded Supervisely-compatible sandbox.")
    try:
        from labelrounds.round_cli import register as register_round_commands
    except ImportError:  # the round commands arrive with the round flow
        return
    register_round_commands(app)


_register_subcommands()

if __name__ == "__main__":
    app()
