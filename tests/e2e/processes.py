"""Real processes for the end-to-end tests: a Prefect server, workers, each logging to its own file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from labelrounds.sandbox.server import SandboxServer

VENV_BIN = Path(sys.executable).parent
PREFECT = str(VENV_BIN / "prefect")
LABELROUNDS = str(VENV_BIN / "labelrounds")
REPO_DIR = Path(__file__).resolve().parents[2]
#: Servers started and not yet stopped; their logs go into the report of a failing test.
RUNNING_SERVERS: list[PrefectServer] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ManagedProcess:
    """A subprocess in its own session (so its children can be killed with it), logging to a file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        """The last lines of the process's log, headed by its name."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"----- {self.name} ({self.log_path}) -----\n" + "\n".join(text.splitlines()[-lines:])

    def children(self) -> list[psutil.Process]:
        """The process's live descendants (e.g. a worker's flow-run processes)."""
        try:
            return [child for child in psutil.Process(self.popen.pid).children(recursive=True) if child.is_running()]
        except psutil.NoSuchProcess:
            return []

    def stop(self, grace_seconds: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after the grace period."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(5)


def start_process(
    name: str, args: Sequence[str], *, env: Mapping[str, str], log_path: Path, cwd: Path = REPO_DIR
) -> ManagedProcess:
    """Start `args` in a new session with stdout and stderr going to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(  # noqa: S603 - fixed argument lists built by the tests
            list(args),
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return ManagedProcess(name=name, popen=popen, log_path=log_path)


def base_env(home: Path) -> dict[str, str]:
    """The environment of every Prefect process of a test server: own home, no analytics, quick polling."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "PREFECT_WORKER_PREFETCH_SECONDS": "1",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    return env


@dataclass
class PrefectServer:
    """`prefect server start` on 127.0.0.1 with its own home and database; workers started from it."""

    home: Path
    database_url: str
    port: int = field(default_factory=free_port)
    server_env: dict[str, str] = field(default_factory=dict)
    process: ManagedProcess | None = None
    workers: list[ManagedProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The server's root (the UI)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The server's API."""
        return f"{self.url}/api"

    def client_env(self, **extra: str) -> dict[str, str]:
        """The environment of a process that talks to this server (workers, CLI commands)."""
        env = base_env(self.home)
        env["PREFECT_API_URL"] = self.api_url
        env.update(extra)
        return env

    def start(self, *options: str, timeout: float = 180.0) -> None:
        """Start the server (with extra `prefect server start` options) and wait until its API answers."""
        RUNNING_SERVERS.append(self)
        env = self.server_process_env()
        self.process = start_process(
            "prefect server",
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port), "--analytics-off", *options],
            env=env,
            log_path=self.home / "server.log",
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"the Prefect server exited early\n{self.process.tail()}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"the Prefect server did not answer within {timeout:g} s\n{self.process.tail()}")

    def server_process_env(self) -> dict[str, str]:
        """The environment of this server's own processes (API and background services)."""
        env = base_env(self.home)
        env.update(
            {
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
                "PREFECT_SERVER_API_HOST": "127.0.0.1",
                "PREFECT_SERVER_API_PORT": str(self.port),
                "PREFECT_UI_API_URL": self.api_url,
                "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
                # SQLite's busy timeout: two cores shared by server, worker and flow runs can hold a lock > 10 s
                "PREFECT_SERVER_DATABASE_TIMEOUT": "30",
                **self.server_env,
            }
        )
        return env

    def start_services(self) -> ManagedProcess:
        """`prefect server services start`: the background services in their own process (API started without)."""
        services = start_process(
            "prefect services",
            [PREFECT, "server", "services", "start"],
            env=self.server_process_env(),
            log_path=self.home / "services.log",
        )
        self.workers.append(services)
        return services

    def start_worker(self, pool: str, name: str, *options: str, **extra_env: str) -> ManagedProcess:
        """Start a `process` worker polling `pool`, with extra `prefect worker start` options (e.g. `--limit 3`)."""
        worker = start_process(
            f"worker {name}",
            [PREFECT, "worker", "start", "--pool", pool, "--type", "process", "--name", name, *options],
            env=self.client_env(**extra_env),
            log_path=self.home / f"worker-{name}.log",
        )
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        """The tails of the server's and every worker's logs."""
        processes = ([self.process] if self.process else []) + self.workers
        return "\n".join(process.tail() for process in processes)

    def stop(self) -> None:
        """Stop every worker, then the server."""
        if self in RUNNING_SERVERS:
            RUNNING_SERVERS.remove(self)
        for worker in self.workers:
            worker.stop()
        if self.process is not None:
            self.process.stop()


def labelrounds_deploy(
    server: PrefectServer, sandbox: SandboxServer, pool: str, password: str, *options: str
) -> str:
    """`labelrounds deploy --pool POOL --no-schedules OPTIONS` as a user runs it; its output (exit 0 asserted).

    The sandbox's address and admin token and the annotators' password are in the command's environment only.
    """
    env = server.client_env(
        SERVER_ADDRESS=sandbox.url,
        API_TOKEN=sandbox.admin_token.get_secret_value(),
        LABELROUNDS_ANNOTATOR_PASSWORD=password,
    )
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [LABELROUNDS, "deploy", "--pool", pool, "--no-schedules", *options],
        env=env,
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output
