"""`labelrounds deploy` refuses bad input with a clear message and exit 2, before it talks to any server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LABELROUNDS = str(Path(sys.executable).parent / "labelrounds")


def deploy(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the command with no Prefect server reachable and no Supervisely settings but `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SERVER_ADDRESS", "API_TOKEN"))}
    clean.update(HOME=str(tmp_path), PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_API_URL="http://127.0.0.1:9/api")
    clean.update(env)
    return subprocess.run(  # noqa: S603 - our own console script
        [LABELROUNDS, "deploy", *args], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def test_an_unknown_deployment_name_is_refused(tmp_path: Path) -> None:
    done = deploy(tmp_path, "--only", "lemons", "--only", "nightly", SERVER_ADDRESS="http://127.0.0.1:9", API_TOKEN="t")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unknown deployment(s) nightly" in done.stdout and "known: cleanup, lemons" in done.stdout


def test_missing_supervisely_settings_are_named(tmp_path: Path) -> None:
    done = deploy(tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "SERVER_ADDRESS" in done.stdout and "API_TOKEN" in done.stdout
    assert not (tmp_path / "prefect").exists() or not any((tmp_path / "prefect").rglob("*.db"))
