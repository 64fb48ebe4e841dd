"""The sandbox listens on loopback unless told otherwise, and the security linter (ruff's bandit rules) is clean."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

from labelrounds.sandbox.server import LOOPBACK, SandboxServer

REPO = Path(__file__).resolve().parents[2]


def test_sandbox_server_binds_loopback_by_default(sandbox: SandboxServer) -> None:
    assert sandbox.url.startswith(f"http://{LOOPBACK}:")


def test_the_serve_command_binds_only_loopback_by_default(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    command = [
        sys.executable,
        "-m",
        "labelrounds.sandbox.cli",
        "serve",
        "--port",
        "0",
        "--db",
        str(tmp_path / "s.db"),
    ]
    process = subprocess.Popen(  # no --host: the default is what is tested
        [*command, "--ready-file", str(ready), "--quiet"], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert process.poll() is None, "labelrounds sandbox serve exited before it was ready"
            assert time.monotonic() < deadline, "labelrounds sandbox serve did not start within 60 s"
            time.sleep(0.05)
        assert json.loads(ready.read_text())["url"].startswith(f"http://{LOOPBACK}:")
        listening = [
            connection.laddr.ip
            for connection in psutil.Process(process.pid).net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN
        ]
        assert listening and set(listening) == {LOOPBACK}
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ruff_security_rules_are_clean_over_the_code() -> None:
    paths = [name for name in ("labelrounds", "tasks", "flows", "deployments") if (REPO / name).is_dir()]
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "S", *paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "No module named ruff" not in result.stderr, "ruff is not installed: pip install -e '.[dev]'"
    assert result.returncode == 0, f"ruff's bandit (S) rules found problems:\n{result.stdout}{result.stderr}"
