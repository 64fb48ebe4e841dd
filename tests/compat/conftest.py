"""Fixtures of the SDK compatibility tests: the SDK's interpreter and the sandboxes the SDK scripts talk to.

Each module gets its own sandbox on a temporary SQLite file, because an SDK script is one long scenario whose
observations several tests then read.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from labelrounds.sandbox.server import SandboxServer

from .sdk_runner import AnnouncedServer, SdkInterpreter, ServerAccess, find_sdk_python
from .server_state import ServerState

WALKTHROUGH_TOKEN = "walkthrough-admin-token"  # noqa: S105 - a throwaway token of a throwaway sandbox


@pytest.fixture(scope="session")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdkInterpreter]:
    """The interpreter that has the official SDK, shared by the session's modules (one SDK import for their scripts).

    Fails (never skips) with how to install it when missing.
    """
    interpreter = SdkInterpreter(find_sdk_python(), tmp_path_factory.mktemp("sdk-forker") / "home")
    try:
        yield interpreter
    finally:
        interpreter.close()


@pytest.fixture()
def state(compat_server: ServerAccess) -> Iterator[ServerState]:
    """Raw reads, with the admin's token, of the sandbox the module's SDK script ran against.

    Each test module names that sandbox by defining a `compat_server` fixture.
    """
    with ServerState(compat_server) as server_state:
        yield server_state


@pytest.fixture(scope="module")
def lemons_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A fresh lemons sandbox on a temporary SQLite file, for one test module."""
    db_path = tmp_path_factory.mktemp("lemons") / "sandbox.db"
    with SandboxServer(seed="lemons", db_path=db_path) as server:
        yield server


def _read_announced_address(process: subprocess.Popen[str]) -> dict[str, str]:
    """Read the `NAME=value` lines `labelrounds sandbox serve` prints until it says how to stop it (or exits).

    A server that hangs before printing is caught by the suite's per-test timeout (pytest-timeout).
    """
    announced: dict[str, str] = {}
    assert process.stdout is not None
    for line in process.stdout:
        name, sep, value = line.strip().partition("=")
        if sep and name in ("SERVER_ADDRESS", "API_TOKEN"):
            announced[name] = value
        if line.startswith("Press Ctrl+C"):
            break
    return announced


@pytest.fixture(scope="module")
def walkthrough_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnnouncedServer]:
    """The walkthrough's command, `labelrounds sandbox serve --seed lemons --admin-token ...`, as a process.

    Yields the SERVER_ADDRESS and API_TOKEN it printed. Port 0 instead of the documented 8089 so that parallel
    runs never collide; everything else is the documented command.
    """
    workdir = tmp_path_factory.mktemp("walkthrough")
    console_script = Path(sys.executable).with_name("labelrounds")
    if not console_script.exists():
        pytest.fail(f"No `labelrounds` command next to {sys.executable}; install the project (make .venv/.installed)")
    command = [
        str(console_script), "sandbox", "serve", "--seed", "lemons",
        "--admin-token", WALKTHROUGH_TOKEN, "--port", "0", "--db", str(workdir / "sandbox.db"),
    ]
    with (workdir / "server.log").open("w+") as log:
        process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=log, text=True)
        try:
            announced = _read_announced_address(process)
            if set(announced) != {"SERVER_ADDRESS", "API_TOKEN"}:
                log.seek(0)
                pytest.fail(f"`{' '.join(command[1:])}` did not announce its address; log:\n{log.read()}")
            assert announced["API_TOKEN"] == WALKTHROUGH_TOKEN
            yield AnnouncedServer(announced["SERVER_ADDRESS"], SecretStr(announced["API_TOKEN"]))
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
