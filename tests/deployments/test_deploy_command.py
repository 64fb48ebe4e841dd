"""`labelrounds deploy` refuses bad input with a clear message and exit 2, before it talks to any server.

The command runs in-process (typer's CliRunner): these tests are about its messages and exit codes, and a fresh
`labelrounds` process would cost ~2 s of CPU in imports each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings
from typer.testing import CliRunner

from deployments.cli import app


@dataclass(frozen=True)
class CommandResult:
    """What one `labelrounds` command did: its exit code and what it printed on each stream."""

    returncode: int
    stdout: str
    stderr: str


def run_labelrounds(tmp_path: Path, args: list[str], env: dict[str, str], *, drop: tuple[str, ...]) -> CommandResult:
    """Run `labelrounds <args>` in-process with HOME and Prefect's home under `tmp_path`, no Prefect server reachable.

    Args:
        tmp_path: the command's home; Prefect's home is `tmp_path / "prefect"`.
        args: the command line after `labelrounds`.
        env: variables to set for the command.
        drop: prefixes of inherited variables the command must not see.
    """
    cleared: dict[str, str | None] = {name: None for name in os.environ if name.startswith(drop)}
    home = tmp_path / "prefect"
    with temporary_settings({PREFECT_HOME: home, PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = CliRunner().invoke(app, args, env={**cleared, "HOME": str(tmp_path), **env})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return CommandResult(result.exit_code, result.stdout, result.stderr)


def deploy(tmp_path: Path, *args: str, **env: str) -> CommandResult:
    """Run `labelrounds deploy` with no Prefect server reachable and no Supervisely settings but `env`."""
    return run_labelrounds(tmp_path, ["deploy", *args], env, drop=("PREFECT_", "SERVER_ADDRESS", "API_TOKEN"))


def test_an_unknown_deployment_name_is_refused(tmp_path: Path) -> None:
    done = deploy(tmp_path, "--only", "lemons", "--only", "nightly", SERVER_ADDRESS="http://127.0.0.1:9", API_TOKEN="t")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown deployment(s) nightly" in done.stdout and "known: cleanup, lemons" in done.stdout


def test_missing_supervisely_settings_are_named(tmp_path: Path) -> None:
    done = deploy(tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SERVER_ADDRESS" in done.stdout and "API_TOKEN" in done.stdout
    assert not (tmp_path / "prefect").exists() or not any((tmp_path / "prefect").rglob("*.db"))
