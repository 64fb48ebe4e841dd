"""The local Prefect server's replay of busy requests (a real Starlette app with Prefect's own 503 handler and real
SQLite conflicts), and the demo's choice of Prefect: a configured PREFECT_API_URL is used, no server is started."""

from __future__ import annotations

import contextlib
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prefect.server.api.server import custom_internal_exception_handler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from deployments.demo import DEMO_PREFECT_HOME, local_prefect
from deployments.prefect_server import BUSY_STATUS, ASGIApp, Message, Receive, ReplayBusyRequests, Scope, Send

#: No waiting between replays in these tests; three replays.
DELAYS = (0.0, 0.0, 0.0)


def conflicting_write(engine: sa.Engine) -> None:
    """Raise SQLite's real SQLITE_BUSY_SNAPSHOT: a transaction reads, another connection commits, the first writes."""
    with engine.connect() as reader, engine.connect() as writer:
        reader.exec_driver_sql("BEGIN")
        reader.exec_driver_sql("SELECT count(*) FROM t").all()
        writer.exec_driver_sql("INSERT INTO t VALUES (1)")
        reader.exec_driver_sql("INSERT INTO t VALUES (2)")


class Backend:
    """A Starlette app answering errors with Prefect's own handler (503 for a retryable database error, raised on),
    with endpoints that hit a real SQLite conflict on their first `busy_calls` calls, and ones that never do."""

    def __init__(self, database: Path, busy_calls: int) -> None:
        """Endpoints over a WAL-mode SQLite file; `busy_calls` first calls of /write and /echo conflict."""
        self.engine = sa.create_engine(f"sqlite:///{database}", connect_args={"isolation_level": None})
        with self.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
        self.busy_calls = busy_calls
        self.calls: dict[str, int] = {}
        self.app = Starlette(
            routes=[
                Route("/echo", self.echo, methods=["POST"]),
                Route("/write", self.write, methods=["POST"]),
                Route("/ok", self.ok),
                Route("/not-ready", self.not_ready),
                Route("/broken", self.broken),
                Route("/stream", self.stream),
            ],
            exception_handlers={Exception: custom_internal_exception_handler},
        )

    def count(self, name: str) -> int:
        """Count a call of endpoint `name`; return how many came before it."""
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name] - 1

    async def echo(self, request: Request) -> Response:
        """The request's body back, after the conflicts."""
        if self.count("echo") < self.busy_calls:
            conflicting_write(self.engine)
        return Response(await request.body(), headers={"x-echo": "1"}, media_type="application/octet-stream")

    async def write(self, request: Request) -> JSONResponse:
        """A JSON answer after the conflicts."""
        if self.count("write") < self.busy_calls:
            conflicting_write(self.engine)
        return JSONResponse({"written": True})

    async def ok(self, request: Request) -> JSONResponse:
        """Always 200."""
        self.count("ok")
        return JSONResponse({"ok": True})

    async def not_ready(self, request: Request) -> JSONResponse:
        """A 503 answered on purpose, no error (as Prefect's readiness check when its database is down)."""
        self.count("not-ready")
        return JSONResponse({"message": "Database is not available"}, status_code=BUSY_STATUS)

    async def broken(self, request: Request) -> Response:
        """An error Prefect does not call retryable (its handler answers 500)."""
        self.count("broken")
        raise ValueError("not a database error")

    async def stream(self, request: Request) -> StreamingResponse:
        """A streamed answer in three chunks."""
        self.count("stream")

        async def chunks() -> AsyncIterator[bytes]:
            for index in range(3):
                yield f"chunk {index}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")


async def answer(app: object, method: str, path: str, body: bytes = b"") -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body of one request to an ASGI app (app errors after the answer are not raised)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://prefect.test") as client:
        response = await client.request(method, path, content=body)
        return response.status_code, sorted(response.headers.items()), response.content


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[tuple[Backend, Backend]]:
    """Two backends on one database, conflicting on their first two calls: one bare, one to wrap."""
    bare, wrapped = Backend(tmp_path / "db.sqlite", 2), Backend(tmp_path / "db.sqlite", 2)
    yield bare, wrapped
    bare.engine.dispose()
    wrapped.engine.dispose()


class ReplaysAny503:
    """Mutant: runs a request again once whenever it answered 503, error or not (the naive replay)."""

    def __init__(self, app: ASGIApp, delays: tuple[float, ...]) -> None:
        """Wrap `app` (`delays` unused)."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hold the first attempt's answer; if it is a 503, answer with a second attempt's."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        with contextlib.suppress(Exception):
            await self.app(dict(scope), receive, hold)
        if held and held[0]["status"] == BUSY_STATUS:
            await self.app(dict(scope), receive, send)
            return
        for message in held:
            await send(message)


class AddsRetryAfter:
    """Mutant: Prefect's 503 with a `Retry-After` header added (the client would retry sooner), no replay."""

    def __init__(self, app: ASGIApp, delays: tuple[float, ...]) -> None:
        """Wrap `app` (`delays` unused)."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the header to a 503's start."""

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == BUSY_STATUS:
                message["headers"] = [*message["headers"], (b"retry-after", b"0.1")]
            await send(message)

        await self.app(scope, receive, send_with_header)


Middleware = Callable[[ASGIApp, tuple[float, ...]], ASGIApp]


async def replay_problems(middleware: Middleware, bare: Backend, wrapped: Backend) -> list[str]:
    """What is wrong with `middleware` on a request refused twice as busy: the bare app must refuse it (the conflict
    is real), the wrapped one answer it with its body after two refusals."""
    body = b'{"slots": 1, "names": ["tag:supervisely-api"]}' * 1000
    problems = []
    if (await answer(bare.app, "POST", "/echo", body))[0] != BUSY_STATUS:
        problems.append("the bare app did not refuse the request")
    status, headers, received = await answer(middleware(wrapped.app, DELAYS), "POST", "/echo", body)
    if (status, received, ("x-echo", "1") in headers) != (200, body, True):
        problems.append(f"answer {status} with {len(received)} bytes, not 200 with the {len(body)} sent")
    if wrapped.calls != {"echo": 3}:
        problems.append(f"calls {wrapped.calls}, not two refusals and the answer")
    return problems


async def still_busy_problems(middleware: Middleware, database: Path) -> list[str]:
    """What is wrong with `middleware` on a request that stays busy: the client must get the bare app's 503
    exactly (status, headers, body), after one run and each replay."""
    bare, wrapped = Backend(database, 99), Backend(database, 99)
    expected = await answer(bare.app, "POST", "/write")
    problems = [] if expected[0] == BUSY_STATUS else [f"the bare app answered {expected[0]}"]
    got = await answer(middleware(wrapped.app, DELAYS), "POST", "/write")
    if got != expected:
        problems.append(f"answer {got}, not Prefect's {expected}")
    if wrapped.calls != {"write": len(DELAYS) + 1}:
        problems.append(f"calls {wrapped.calls}, not {len(DELAYS) + 1}")
    return problems


async def pass_through_problems(middleware: Middleware, bare: Backend, wrapped: Backend, path: str) -> list[str]:
    """What is wrong with `middleware` on a request that is not refused as busy: the answer must be the bare app's
    exactly, the endpoint run once."""
    problems = []
    expected, got = await answer(bare.app, "GET", path), await answer(middleware(wrapped.app, DELAYS), "GET", path)
    if got != expected:
        problems.append(f"answer {got}, not {expected}")
    if wrapped.calls != bare.calls or any(count != 1 for count in wrapped.calls.values()):
        problems.append(f"calls {wrapped.calls}, not {bare.calls}")
    return problems


#: Answers that must pass unchanged: 200, a 503 answered on purpose, a 500 (an error Prefect does not call
#: retryable), a streamed answer, a 404.
PASS_THROUGH = ("/ok", "/not-ready", "/broken", "/stream", "/missing")


async def test_a_request_refused_as_busy_is_replayed_with_its_body_until_it_succeeds(
    backends: tuple[Backend, Backend],
) -> None:
    assert await replay_problems(ReplayBusyRequests, *backends) == []


async def test_a_request_still_busy_after_the_replays_gets_prefects_503_unchanged(tmp_path: Path) -> None:
    assert await still_busy_problems(ReplayBusyRequests, tmp_path / "db.sqlite") == []


@pytest.mark.parametrize("path", PASS_THROUGH)
async def test_other_answers_pass_through_unchanged_and_run_once(backends: tuple[Backend, Backend], path: str) -> None:
    assert await pass_through_problems(ReplayBusyRequests, *backends, path) == []


async def test_mutant_middlewares_fail_the_checks(tmp_path: Path, backends: tuple[Backend, Backend]) -> None:
    assert await pass_through_problems(ReplaysAny503, *backends, "/not-ready") != []
    assert await still_busy_problems(AddsRetryAfter, tmp_path / "db.sqlite") != []
    fresh = Backend(tmp_path / "db.sqlite", 2), Backend(tmp_path / "db.sqlite", 2)
    assert await replay_problems(AddsRetryAfter, *fresh) != []


# --- the demo's Prefect ------------------------------------------------------------------------------------------


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request 404 and records its path (a stand-in for a user's Prefect API that knows nothing)."""

    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """Record and refuse."""
        self.paths.append(self.path)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET  # noqa: N815

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


def test_the_demo_uses_a_configured_prefect_api_url_and_starts_no_server(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api"
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PREFECT_", "API_TOKEN"))}
    try:
        result = subprocess.run(  # noqa: S603 - our own console script
            [str(Path(sys.executable).parent / "labelrounds"), "demo"],
            cwd=tmp_path,
            env=env | {"PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.shutdown()
    assert result.returncode != 0 and f"Prefect: {url}" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    assert RecordingHandler.paths and all(path.startswith("/api/") for path in RecordingHandler.paths)
    assert not (tmp_path / DEMO_PREFECT_HOME).exists()  # no local server, no database of its own


def test_without_configured_prefect_the_demo_starts_its_server_in_the_project_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PREFECT_HOME", "PREFECT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with local_prefect() as prefect:
        assert prefect.server is not None and prefect.server.process.poll() is None
        assert os.environ["PREFECT_API_URL"] == prefect.server.api_url
        assert os.environ["PREFECT_HOME"] == str(tmp_path / DEMO_PREFECT_HOME)
        process = prefect.server.process
    assert process.poll() is not None  # stopped with the block
    assert "PREFECT_API_URL" not in os.environ and "PREFECT_HOME" not in os.environ
