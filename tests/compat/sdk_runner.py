"""Runs the SDK-side scripts with the official SDK's interpreter and collects what they observed."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import SecretStr

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = Path(__file__).resolve().parent / "sdk_scripts"
OBSERVATION_MARK = "@@sdk-observation@@ "  # the prefix printed by sdk_scripts/sdk_output.py
SDK_VERSION = "6.74.51"
# Environment that would make the SDK talk to another server or change its behaviour behind our back.
_INHERITED_PREFIXES = ("SUPERVISELY_", "CONTEXT_", "context.", "modal.")
_INHERITED_NAMES = {"SERVER_ADDRESS", "API_TOKEN", "TEAM_ID", "WORKSPACE_ID", "PROJECT_ID", "DATASET_ID",
                    "USER_ID", "USER_LOGIN", "TASK_ID", "ENV", "HOME"}
# A hung script means a broken server; this only bounds how long a failure takes to show.
_SCRIPT_DEADLINE_SECONDS = 240


class ServerAccess(Protocol):
    """A running sandbox as the scripts need it: its address and its admin's token (a SandboxServer fits)."""

    url: str
    admin_token: SecretStr


@dataclass(frozen=True)
class AnnouncedServer:
    """A sandbox started from the command line, as it announced itself."""

    url: str
    admin_token: SecretStr


def find_sdk_python() -> Path:
    """The interpreter of the SDK's virtualenv: $LABELROUNDS_SDK_PYTHON, else <repo>/.venv-sdk/bin/python.

    Fails the test (never skips) when it is missing, saying how to create it.
    """
    configured = os.environ.get("LABELROUNDS_SDK_PYTHON")
    python = Path(configured) if configured else REPO_ROOT / ".venv-sdk" / "bin" / "python"
    if not python.exists():
        origin = "LABELROUNDS_SDK_PYTHON" if configured else "the default location"
        pytest.fail(
            f"The official Supervisely SDK's interpreter was not found at {python} ({origin}). "
            f"Create its virtualenv with `make .venv-sdk/.installed` (it installs supervisely=={SDK_VERSION}), "
            "or point LABELROUNDS_SDK_PYTHON at a python that has it.",
            pytrace=False,
        )
    return python


@dataclass
class SdkRun:
    """What one SDK script printed: its observations by step, and its raw output for failure messages."""

    script: str
    observations: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""

    def __getitem__(self, step: str) -> Any:
        """The value observed at `step`; a missing step fails with the steps that were seen."""
        if step not in self.observations:
            pytest.fail(f"{self.script} emitted no step {step!r}; it emitted {sorted(self.observations)}")
        return self.observations[step]


def _parse_observations(script: str, stdout: str) -> dict[str, Any]:
    """Collect the marked JSON lines; a step seen twice is a bug in the script."""
    observations: dict[str, Any] = {}
    for line in stdout.splitlines():
        if not line.startswith(OBSERVATION_MARK):
            continue
        record = json.loads(line[len(OBSERVATION_MARK):])
        if record["step"] in observations:
            pytest.fail(f"{script} emitted step {record['step']!r} twice")
        observations[record["step"]] = record["value"]
    return observations


def script_environment(home: Path, variables: dict[str, str], *, skip_https_probe: bool) -> dict[str, str]:
    """A clean environment for an SDK script: nothing Supervisely-related inherited, HOME isolated.

    Args:
        home: an empty directory used as HOME, so no ~/supervisely.env of this machine is read.
        variables: SERVER_ADDRESS, API_TOKEN and the ids the script reads.
        skip_https_probe: set SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK=1 (the SDK's https probe, reference §1.1);
            leave it False to run the way a real user does.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in _INHERITED_NAMES and not name.startswith(_INHERITED_PREFIXES)
    }
    env |= {
        "HOME": str(home),
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONDONTWRITEBYTECODE": "1",
        # A server error should fail the test at once instead of after the SDK's ~5 minutes of back-off.
        "SUPERVISELY_PUBLIC_API_RETRY_SLEEP_SEC": "0",
    }
    if skip_https_probe:
        env["SUPERVISELY_SKIP_HTTPS_USER_HELPER_CHECK"] = "1"
    return env | variables


class SdkInterpreter:
    """The SDK's interpreter: runs a script in a fresh process, or forked from one process that imported the SDK once.

    The forking process (sdk_scripts/fork_runner.py) starts at the first forked run, in a clean environment
    (`script_environment` without variables), and lives until `close`. Each forked script costs its own work
    instead of ~2 s of CPU importing the SDK again.
    """

    def __init__(self, python: Path, home: Path) -> None:
        self.python = python
        self._home = home
        self._forker: subprocess.Popen[bytes] | None = None

    def run(self, script: str, workdir: Path, env: dict[str, str], *, fresh_process: bool) -> tuple[int, str, str]:
        """Run `sdk_scripts/<script>` in `workdir` with exactly `env`; returns (exit code, stdout, stderr).

        A script still running after the deadline fails the test.
        """
        path = str(SCRIPTS_DIR / script)
        if fresh_process:
            try:
                completed = subprocess.run(
                    [str(self.python), path], cwd=workdir, env=env, capture_output=True, text=True,
                    timeout=_SCRIPT_DEADLINE_SECONDS, check=False,
                )
            except subprocess.TimeoutExpired as expired:
                pytest.fail(f"{script} did not finish within {_SCRIPT_DEADLINE_SECONDS} s; stderr:\n{expired.stderr!r}",
                            pytrace=False)
            return completed.returncode, completed.stdout, completed.stderr
        outputs = {"stdout": workdir / f"{script}.stdout", "stderr": workdir / f"{script}.stderr"}
        request = {"script": path, "cwd": str(workdir), "env": env} | {name: str(out) for name, out in outputs.items()}
        reply = self._ask(request)
        if reply is None:
            exited = self._forker.poll() if self._forker is not None else None
            self.close()
            if exited is not None:
                pytest.fail(f"The SDK process (sdk_scripts/fork_runner.py) exited with {exited} before running "
                            f"{script}; its stderr is in the test's captured output", pytrace=False)
            pytest.fail(f"{script} did not finish within {_SCRIPT_DEADLINE_SECONDS} s; stderr:\n"
                        f"{outputs['stderr'].read_text(errors='replace')[-4000:]!r}", pytrace=False)
        return reply["returncode"], outputs["stdout"].read_text(), outputs["stderr"].read_text()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """Send one request to the forking process; its reply, or None after the deadline."""
        forker = self._start()
        assert forker.stdin is not None and forker.stdout is not None
        forker.stdin.write(json.dumps(request).encode() + b"\n")
        forker.stdin.flush()
        ready, _, _ = select.select([forker.stdout], [], [], _SCRIPT_DEADLINE_SECONDS)
        line = forker.stdout.readline() if ready else b""
        if not line:
            return None
        return dict(json.loads(line))

    def _start(self) -> subprocess.Popen[bytes]:
        """The forking process, started on first use."""
        if self._forker is None:
            self._home.mkdir(parents=True, exist_ok=True)
            self._forker = subprocess.Popen(
                [str(self.python), str(SCRIPTS_DIR / "fork_runner.py")], cwd=self._home,
                env=script_environment(self._home, {}, skip_https_probe=False),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
            )
        return self._forker

    def close(self) -> None:
        """Stop the forking process and any script it is running (its process group)."""
        forker, self._forker = self._forker, None
        if forker is None:
            return
        assert forker.stdin is not None and forker.stdout is not None
        forker.stdin.close()
        try:
            forker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(forker.pid, signal.SIGKILL)
            forker.wait()
        forker.stdout.close()


def run_sdk_script(
    sdk: SdkInterpreter,
    script: str,
    workdir: Path,
    server: ServerAccess,
    *,
    skip_https_probe: bool,
    variables: dict[str, str] | None = None,
    fresh_process: bool = False,
) -> SdkRun:
    """Run `sdk_scripts/<script>` with the SDK's interpreter in `workdir` against `server`, as its admin.

    The script gets SERVER_ADDRESS and API_TOKEN, plus `variables`. It runs forked from the process that imported
    the SDK once, or with `fresh_process` as `python <script>` the way a user runs it. A script that exits with an
    error fails the test, showing the tail of its stderr.
    """
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    connection = {"SERVER_ADDRESS": server.url, "API_TOKEN": server.admin_token.get_secret_value()}
    env = script_environment(home, connection | (variables or {}), skip_https_probe=skip_https_probe)
    returncode, stdout, stderr = sdk.run(script, workdir, env, fresh_process=fresh_process)
    observations = _parse_observations(script, stdout)
    if returncode != 0:
        pytest.fail(
            f"{script} exited with {returncode} after steps {list(observations)}; "
            f"stderr tail:\n{stderr[-4000:]}",
            pytrace=False,
        )
    run = SdkRun(script=script, observations=observations, stderr=stderr)
    if run["sdk.version"] != SDK_VERSION:
        pytest.fail(f"{sdk.python} has supervisely {run['sdk.version']}, the tests need {SDK_VERSION}", pytrace=False)
    return run
