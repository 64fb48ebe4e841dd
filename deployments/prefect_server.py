"""A local Prefect server for the demo and the flow benchmarks: Prefect's own app in a subprocess, started early, that
replays a request Prefect's SQLite database refused as busy instead of sending its 503 to the client at once.

Why: Prefect's SQLite server answers 503 when a write transaction meets a busy database (`SQLITE_BUSY_SNAPSHOT`:
another connection committed between the transaction's read and its write, e.g. its own event writes right after a
task run), without a `Retry-After` header, and Prefect's client then sleeps 2 s before retrying. Prefect marks these
errors as safe for a client to retry (`prefect.server.api.server.is_client_retryable_exception`); the server retrying
them itself, a few times within well under a second, is the same retry without the client's 2 s. When the replays
do not help, the client gets Prefect's 503 unchanged and backs off as it always does.

`prefect_server(home)` starts `python -m deployments.prefect_server` on a socket bound here (so requests sent before
the server is up wait in the socket's queue instead of being refused), returns at once, and stops the server when
the block ends; `PrefectServer.wait_ready()` waits for its health check. The app is Prefect's `create_app` as its
ephemeral server builds it (no UI, the services an ephemeral server runs); its output goes to `home/server.log`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The status Prefect's server answers a retryable database error with (`custom_internal_exception_handler`).
BUSY_STATUS = 503
#: Seconds before each replay of a request refused as busy; after the last the client gets the 503 (0.75 s in all).
REPLAY_DELAYS = (0.05, 0.1, 0.2, 0.4)
#: Seconds the server may take to answer its health check: a first start migrates a new database (15 s measured at
#: load 4 on the 2-core machine).
READY_TIMEOUT_SECONDS = 180.0
#: Seconds the server may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 10.0
#: The server's output, in its Prefect home.
LOG_NAME = "server.log"

logger = logging.getLogger("labelrounds.prefect_server")


def retryable(error: BaseException) -> bool:
    """Whether Prefect's server calls this error safe for a client to retry (an exception group: all of it)."""
    from prefect.server.api.server import is_client_retryable_exception  # noqa: PLC0415 - the server's process only

    if isinstance(error, BaseExceptionGroup):
        return all(retryable(inner) for inner in error.exceptions)
    return isinstance(error, Exception) and is_client_retryable_exception(error)


class ReplayBusyRequests:
    """ASGI middleware: a request whose handling answered 503 and raised an error Prefect calls client-retryable is
    run again after each of `delays`; other requests, and the last attempt's answer, pass through unchanged.

    The request's body is read once and given to each attempt; an attempt's 503 is held back until its outcome is
    known (any other answer streams through as it is sent).
    """

    def __init__(self, app: ASGIApp, delays: tuple[float, ...] = REPLAY_DELAYS) -> None:
        """Wrap `app`.

        Args:
            app: the ASGI application (Prefect's).
            delays: seconds before each replay; their count is the most replays of one request.
        """
        self.app = app
        self.delays = delays

    def replays(self, error: BaseException) -> bool:
        """Whether a request that answered 503 and raised `error` is run again (Prefect calls it retryable)."""
        return retryable(error)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection's request (websocket and lifespan scopes pass straight through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _request_messages(receive)
        for attempt, delay in enumerate((*self.delays, None)):
            held: list[Message] = []
            send_or_hold = _holding_busy_answer(send, held) if delay is not None else send
            try:
                await self.app(dict(scope), _replaying(body, receive), send_or_hold)
            except BaseException as error:
                if delay is None or not held or not self.replays(error):
                    await _send_all(send, held)
                    raise
                logger.info(
                    "replay %d of %s %s after %s", attempt + 1, scope["method"], scope["path"], type(error).__name__
                )
                await asyncio.sleep(delay)
            else:
                await _send_all(send, held)
                return


async def _request_messages(receive: Receive) -> list[Message]:
    """The request's body messages, read to the last one (or to a disconnect)."""
    messages = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request" or not message.get("more_body", False):
            return messages


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the request's body messages again, then waits on the connection (a disconnect)."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _holding_busy_answer(send: Send, held: list[Message]) -> Send:
    """A `send` that holds back a 503 answer (its start and body) in `held`; any other answer goes out as sent."""

    async def send_or_hold(message: Message) -> None:
        if held or (message["type"] == "http.response.start" and message["status"] == BUSY_STATUS):
            held.append(message)
        else:
            await send(message)

    return send_or_hold


async def _send_all(send: Send, messages: list[Message]) -> None:
    """Send held messages in order."""
    for message in messages:
        await send(message)


def create_app() -> ASGIApp:
    """Prefect's server app as its ephemeral server builds it (no UI, ephemeral services), replaying busy requests."""
    from prefect.server.api.server import create_app as prefect_app  # noqa: PLC0415

    return ReplayBusyRequests(prefect_app(ephemeral=True, final=True))


@dataclass
class PrefectServer:
    """A started local Prefect server: its process, its API URL and its log file."""

    process: subprocess.Popen[bytes]
    api_url: str
    log_path: Path

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Wait until the server answers its health check; raise RuntimeError (with its log's tail) if it stops or
        does not answer within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=timeout, trust_env=False) as client:
            while self.process.poll() is None and time.monotonic() < deadline:
                try:
                    if client.get(f"{self.api_url}/health").status_code == httpx.codes.OK:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        state = f"exited with {self.process.returncode}" if self.process.poll() is not None else "not ready"
        raise RuntimeError(f"the local Prefect server {state} after {timeout:.0f} s; {self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"{self.log_path} ends:\n" + "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after STOP_TIMEOUT_SECONDS)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def prefect_server(home: Path) -> Iterator[PrefectServer]:
    """A local Prefect server with its database in `home` (created on the first start), for the block's duration.

    Returns as soon as the process is started: requests queue on its socket until it serves them; call
    `wait_ready` to wait (and to learn of a failed start).
    """
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / LOG_NAME
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - this interpreter and this module
            [sys.executable, "-m", "deployments.prefect_server", "--fd", str(listener.fileno())],
            env=os.environ | {"PREFECT_HOME": str(home)},
            pass_fds=(listener.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()  # the server's copy is the one left: if it dies, clients are refused instead of queued
    server = PrefectServer(process, f"http://127.0.0.1:{port}/api", log_path)
    try:
        yield server
    finally:
        send_pending_prefect_traffic()
        server.stop()


def send_pending_prefect_traffic(timeout: float = 5.0) -> None:
    """Send what this process's Prefect still queues for its API (logs, events), before the server goes away.

    Prefect sends them at the interpreter's exit otherwise, when this server has stopped: its client then retries
    for half a minute ("Error logging to API").
    """
    if "prefect.logging.handlers" in sys.modules:
        from prefect.logging.handlers import APILogWorker  # noqa: PLC0415

        APILogWorker.drain_all(timeout=timeout)
    if "prefect.events.worker" in sys.modules:
        from prefect.events.worker import EventsWorker  # noqa: PLC0415

        EventsWorker.drain_all(timeout=timeout)


def main() -> None:
    """Serve Prefect's app on an inherited listening socket (`--fd`) until SIGTERM."""
    import uvicorn  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="a listening TCP socket's file descriptor")
    args = parser.parse_args()
    # Its own handler: Prefect's logging setup (in `create_app`) leaves the root logger at WARNING.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    config = uvicorn.Config(create_app, factory=True, log_level="error", lifespan="on", access_log=False)
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=args.fd)])


if __name__ == "__main__":
    main()
