"""`SandboxServer`: run the sandbox in a background thread or a subprocess on a free loopback port."""

from __future__ import annotations

import json
import os
import socket
import subprocess  # noqa: S404 - starts our own CLI with a fixed argument list
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
import uvicorn
from pydantic import SecretStr

from labelrounds.sandbox.app import create_app
from labelrounds.sandbox.auth import new_api_token
from labelrounds.sandbox.crew import Crew, CrewConfig
from labelrounds.sandbox.defaults import ADMIN_TOKEN_ENV, LOOPBACK
from labelrounds.sandbox.faults import STATS_PATH, FaultInjector, FaultPlan, TrafficStats
from labelrounds.sandbox.registry import PageSizes
from labelrounds.sandbox.seed import DEFAULT_ADMIN_LOGIN, SeedSpec, SeedSummary, describe_existing
from labelrounds.sandbox.seed import seed as seed_store
from labelrounds.sandbox.store import MEMORY, Store

"""How the admin token reaches a subprocess (never on its command line)."""
_START_TIMEOUT = 30.0
_LOG_TAIL_CHARS = 2000


@dataclass(frozen=True)
class OpenedSandbox:
    """A store ready to serve, with what it contains and whether it was reopened rather than seeded."""

    store: Store
    summary: SeedSummary
    reopened: bool


def open_sandbox(
    db_path: str | Path,
    seed_spec: SeedSpec,
    *,
    admin_login: str = DEFAULT_ADMIN_LOGIN,
    admin_token: SecretStr | None = None,
    admin_password: SecretStr | None = None,
) -> OpenedSandbox:
    """Open (creating if needed) the database and seed it when it is new; a reopened one keeps its state."""
    store = Store(db_path)
    if store.is_empty():
        summary = seed_store(
            store, seed_spec, admin_login=admin_login, admin_token=admin_token, admin_password=admin_password
        )
        return OpenedSandbox(store, summary, reopened=False)
    return OpenedSandbox(store, describe_existing(store, admin_token=admin_token), reopened=True)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 = any free port), so the address is known before the server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on accepted sockets whose proto says TCP, and
    # without it Nagle + delayed ACK add ~40 ms to every response that uvicorn writes in two parts.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket) -> str:
    """The http URL of a bound socket."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_server(app: Any, *, access_log: bool = False, configure_logging: bool = True) -> uvicorn.Server:
    """A uvicorn server for the app: access log off unless asked, and it never shows request headers."""
    config = uvicorn.Config(
        app,
        access_log=access_log,
        log_level="info" if access_log else "warning",
        lifespan="on",
        log_config=uvicorn.config.LOGGING_CONFIG if configure_logging else None,
        timeout_graceful_shutdown=5,
    )
    return uvicorn.Server(config)


class SandboxServer:
    """A running sandbox for tests, the demo and benchmarks.

    Args:
        seed: `lemons`, `lemons:D`, `empty` or `synthetic:DxN` (ignored when `db_path` already holds a sandbox).
        db_path: SQLite file; None = in memory (thread) or a temporary file (subprocess).
        mode: `thread` (uvicorn in a background thread, fast) or `subprocess` (`labelrounds sandbox serve`).
        admin_login: login of the seeded instance admin.
        admin_token: the admin's API token; a random one when None.
        admin_password: the admin's password (for `POST /api/account`); none when None.
        crew: a simulated crew: its config, or (thread mode) a `Crew` object; none when None.
        faults: the faults to inject: a `FaultPlan`, or (thread mode) a `FaultInjector` whose plan may be swapped
            while serving. Requests are counted either way (`traffic_stats()`).
        page_sizes: default page sizes of the list methods (thread mode only).
        host: loopback by default.
        access_log: log every request line (uvicorn's access log; never headers or tokens). A subprocess writes
            its output, this log included, to `log_file`.
    """

    def __init__(
        self,
        *,
        seed: str | SeedSpec = "lemons",
        db_path: str | Path | None = None,
        mode: Literal["thread", "subprocess"] = "thread",
        admin_login: str = DEFAULT_ADMIN_LOGIN,
        admin_token: SecretStr | str | None = None,
        admin_password: SecretStr | str | None = None,
        crew: Crew | CrewConfig | None = None,
        faults: FaultPlan | FaultInjector | None = None,
        page_sizes: PageSizes | None = None,
        host: str = LOOPBACK,
        access_log: bool = False,
    ) -> None:
        if mode == "subprocess" and (
            isinstance(crew, Crew) or isinstance(faults, FaultInjector) or page_sizes is not None
        ):
            raise ValueError(
                "Crew, FaultInjector and page_sizes objects can only be given to a thread-mode SandboxServer "
                "(a subprocess takes a CrewConfig and a FaultPlan)"
            )
        self.seed_spec = seed if isinstance(seed, SeedSpec) else SeedSpec.parse(seed)
        self.db_path = db_path
        self.mode = mode
        self.admin_login = admin_login
        self.admin_token = _secret(admin_token) or SecretStr(new_api_token())
        self._admin_password = _secret(admin_password)
        self._page_sizes, self._host, self._access_log = page_sizes, host, access_log
        self._crew_config = crew if isinstance(crew, CrewConfig) else None
        self._fault_plan = faults if isinstance(faults, FaultPlan) else None
        self.crew: Crew | None = Crew(crew) if isinstance(crew, CrewConfig) else crew
        """The simulated crew (thread mode), e.g. for `crew.stats`."""
        self.traffic: FaultInjector = (
            faults if isinstance(faults, FaultInjector) else FaultInjector(faults, crew=self.crew)
        )
        """Request and fault counts and the fault plan (thread mode; see `traffic_stats()` for both modes)."""
        self.url = ""
        self.summary: SeedSummary | None = None
        self.store: Store | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._temp_dir: tempfile.TemporaryDirectory[str] | None = None
        self._socket: socket.socket | None = None
        self.log_file: Path | None = None
        """Where a subprocess writes its output (stdout and stderr), in its temporary directory; None in
        thread mode (the thread logs through Python logging)."""

    def __repr__(self) -> str:
        return f"SandboxServer(url={self.url!r}, mode={self.mode!r}, seed={self.seed_spec.kind!r})"

    @property
    def admin_id(self) -> int:
        """Id of the seeded instance admin."""
        return self._summary().admin_id

    @property
    def team_id(self) -> int:
        """Id of the seeded team."""
        return self._summary().team_id

    @property
    def workspace_id(self) -> int:
        """Id of the seeded workspace."""
        return self._summary().workspace_id

    @property
    def project_id(self) -> int | None:
        """Id of the seeded project (None for the `empty` seed)."""
        return self._summary().project_id

    @property
    def dataset_ids(self) -> tuple[int, ...]:
        """Ids of the seeded datasets, in order."""
        return self._summary().dataset_ids

    @property
    def dataset_id(self) -> int:
        """Id of the first seeded dataset (`ds1`)."""
        return self._summary().dataset_ids[0]

    def _summary(self) -> SeedSummary:
        if self.summary is None:
            raise RuntimeError("The sandbox server is not started")
        return self.summary

    def start(self) -> SandboxServer:
        """Start serving; returns once requests are answered."""
        if self.mode == "thread":
            self._start_thread()
        else:
            self._start_subprocess()
        return self

    def _start_thread(self) -> None:
        opened = open_sandbox(
            self.db_path or MEMORY,
            self.seed_spec,
            admin_login=self.admin_login,
            admin_token=self.admin_token,
            admin_password=self._admin_password,
        )
        self.store, self.summary = opened.store, opened.summary
        self.admin_login = opened.summary.admin_login
        sock = self._socket = bind_socket(self._host, 0)
        self.url = socket_url(sock)
        app = create_app(
            opened.store, faults=self.traffic, crew=self.crew, page_sizes=self._page_sizes, base_url=self.url
        )
        self._uvicorn = uvicorn_server(app, access_log=self._access_log, configure_logging=False)
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [sock]}, name="labelrounds-sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("The sandbox server thread did not start (see the log above)")
            time.sleep(0.002)

    def _start_subprocess(self) -> None:
        self._temp_dir = tempfile.TemporaryDirectory(prefix="labelrounds-sandbox-")
        ready_file = Path(self._temp_dir.name) / "ready.json"
        db_path = self.db_path or Path(self._temp_dir.name) / "sandbox.db"
        command = [
            sys.executable,
            "-m",
            "labelrounds.sandbox.cli",
            "serve",
            "--host",
            self._host,
            "--port",
            "0",
            "--db",
            str(db_path),
            "--seed",
            str(self.seed_spec),
            "--admin-login",
            self.admin_login,
            "--ready-file",
            str(ready_file),
            "--quiet",
        ]
        if self._crew_config is not None:
            command += ["--crew", self._crew_config.to_spec()]
        if self._fault_plan is not None:
            command += ["--faults", self._fault_plan.to_spec()]
        if self._access_log:
            command.append("--access-log")
        env = {**os.environ, ADMIN_TOKEN_ENV: self.admin_token.get_secret_value()}
        if self._admin_password is not None:
            env["LABELROUNDS_SANDBOX_ADMIN_PASSWORD"] = self._admin_password.get_secret_value()
        # Output goes to a file, never to a pipe nobody drains (a chatty server would block on a full pipe).
        self.log_file = Path(self._temp_dir.name) / "sandbox.log"
        with self.log_file.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603
                command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while not ready_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                reason = (
                    "exited" if self._process.poll() is not None else f"not ready after {_START_TIMEOUT:g} s"
                )
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(
                    f"The sandbox subprocess did not start ({reason}); its output ends:\n{tail}"
                )
            time.sleep(0.02)
        ready = json.loads(ready_file.read_text())
        self.url = ready["url"]
        self.summary = SeedSummary(
            admin_id=ready["admin_id"],
            admin_login=ready["admin_login"],
            admin_token=self.admin_token,
            team_id=ready["team_id"],
            workspace_id=ready["workspace_id"],
            project_id=ready["project_id"],
            dataset_ids=tuple(ready["dataset_ids"]),
        )
        self.admin_login = ready["admin_login"]

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        """The end of a subprocess's output ("" in thread mode or before it started)."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        return self.log_file.read_bytes()[-chars:].decode(errors="replace")

    def kill(self) -> None:
        """SIGKILL a subprocess sandbox, as a crash would, then release what `stop()` releases.

        The database file survives (when `db_path` was given) for a new server to reopen.
        """
        if self._process is None:
            raise RuntimeError("Only a started subprocess SandboxServer can be killed")
        self._process.kill()
        self._process.wait()
        self._process = None
        self.stop()

    def traffic_stats(self) -> TrafficStats:
        """Requests per API method (the crew's apart), injected faults and the crew's actions, so far."""
        if self.mode == "thread":
            return self.traffic.snapshot()
        headers = {"x-api-key": self.admin_token.get_secret_value()}
        reply = httpx.get(f"{self.url}{STATS_PATH}", headers=headers, timeout=30)
        reply.raise_for_status()
        return TrafficStats.model_validate(reply.json())

    def reset(self, seed: str | SeedSpec | None = None) -> SeedSummary:
        """Start over from a freshly seeded state on the same running server (thread mode, in memory).

        Far cheaper than a new server, so tests can have a fresh sandbox each; the admin keeps its token. The
        request and fault counts and the crew's counts start over too.
        """
        if self.store is None or self.summary is None:
            raise RuntimeError("Only a started thread-mode SandboxServer can be reset")
        spec = (
            self.seed_spec if seed is None else seed if isinstance(seed, SeedSpec) else SeedSpec.parse(seed)
        )
        self.store.wipe()
        self.traffic.reset()
        if self.crew is not None:
            self.crew.stats.reset()
        self.summary = seed_store(
            self.store,
            spec,
            admin_login=self.admin_login,
            admin_token=self.admin_token,
            admin_password=self._admin_password,
        )
        return self.summary

    def stop(self) -> None:
        """Stop serving and release the port, the thread or process, and the store."""
        if self._uvicorn is not None and self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(timeout=15)
            self._uvicorn = self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self.store is not None:
            self.store.close()
            self.store = None
        if self._temp_dir is not None:
            self._temp_dir.cleanup()
            self._temp_dir = None
            self.log_file = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    """Wrap a plain string secret."""
    if value is None or isinstance(value, SecretStr):
        return value
    return SecretStr(value)


def write_ready_file(path: Path, url: str, summary: SeedSummary) -> None:
    """Tell a parent process where the server listens and what it holds (never the token)."""
    data = {
        "url": url,
        "admin_id": summary.admin_id,
        "admin_login": summary.admin_login,
        "team_id": summary.team_id,
        "workspace_id": summary.workspace_id,
        "project_id": summary.project_id,
        "dataset_ids": list(summary.dataset_ids),
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data))
    temporary.replace(path)
