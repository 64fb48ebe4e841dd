"""The sandbox's ASGI app: one route per API method, Supervisely-shaped errors, login, crew and fault hooks."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Protocol, cast

import orjson
from anyio import to_thread
from fastapi import Body, FastAPI, Form, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp

import labelrounds
import labelrounds.sandbox.handlers  # noqa: F401 - importing the package registers every API method
from labelrounds.sandbox.auth import authenticate, login_with_password
from labelrounds.sandbox.errors import ApiError, BadRequest, error_body
from labelrounds.sandbox.registry import ANONYMOUS, API_METHODS, ApiMethod, Context, PageSizes
from labelrounds.sandbox.store import Store
from labelrounds.sandbox.truth import add_truth_route
from labelrounds.sandbox.webhook_delivery import DeliveryFaults, WebhookDispatcher
from labelrounds.sandbox.wire import now_iso

API_PREFIX = "/public/api/v3/"
_API_KEY = APIKeyHeader(name="x-api-key", auto_error=False, description="The caller's API token")
_READ_ALIAS, _EDIT_ALIAS = "GET", "PUT"
_MAX_VALIDATION_ERRORS = 5


class CrewHook(Protocol):
    """A simulated crew that runs beside the server (see `labelrounds.sandbox.crew`)."""

    async def start(self, base_url: str, store: Store) -> None:
        """Start acting in the background; must return promptly (the server is not listening yet)."""

    async def stop(self) -> None:
        """Stop acting and release everything."""


FaultsHook = Callable[[ASGIApp], ASGIApp]
"""Wraps the whole ASGI app (outermost, around error handling), e.g. a fault-injecting middleware class."""


class ErrorReply(BaseModel):
    """Supervisely's error shape: `{"error": ..., "details": {"message": ...}}`."""

    error: str
    details: dict[str, Any]


_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorReply, "description": text}
    for code, text in (
        (400, "Invalid request"),
        (401, "Missing or invalid API token"),
        (403, "Not allowed for the caller's role"),
        (404, "Unknown or hidden object"),
    )
}


def _json(content: bytes) -> Response:
    """A 200 reply of pre-serialised JSON (no jsonable_encoder pass)."""
    return Response(content, media_type="application/json")


def _execute(
    store: Store,
    method: ApiMethod,
    body: Any,
    api_key: str | None,
    page_sizes: PageSizes,
    prepared: Any = None,
) -> Response:
    """Authenticate, run the handler and serialise its reply in one transaction."""
    try:
        with store.transaction(write=method.write) as db:
            actor = authenticate(db, api_key) if method.authenticated else ANONYMOUS
            result = method.handler(Context(db, actor, now_iso(), page_sizes, prepared), body)
            content = orjson.dumps(result)
    except UnicodeEncodeError:
        raise BadRequest("The request contains text that is not valid Unicode (lone surrogates)") from None
    return _json(content)


def _endpoint(store: Store, method: ApiMethod, page_sizes: PageSizes) -> Callable[..., Awaitable[Response]]:
    """A FastAPI endpoint for one method, typed with the method's body model so OpenAPI documents it."""
    body_required = any(field.is_required() for field in method.body.model_fields.values())

    async def endpoint(body: Any = None, api_key: str | None = None) -> Response:
        request_body = body if body is not None else method.body()
        prepared = None
        if method.prepare is not None:
            if method.authenticated:
                # A refused token gets its 401 before any slow work: no bcrypt hash for unauthenticated callers.
                with store.transaction(write=False) as db:
                    authenticate(db, api_key)
            # Slow work (bcrypt) goes to a worker thread, outside the store's lock: other requests are served meanwhile.
            prepared = await to_thread.run_sync(method.prepare, request_body)
        return _execute(store, method, request_body, api_key, page_sizes, prepared)

    parameter = inspect.Parameter.POSITIONAL_OR_KEYWORD
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "body",
                parameter,
                annotation=method.body if body_required else method.body | None,
                default=Body(...) if body_required else Body(None),
            ),
            inspect.Parameter("api_key", parameter, annotation=str | None, default=Security(_API_KEY)),
        ],
        return_annotation=Response,
    )
    return endpoint


def _add_method_routes(app: FastAPI, store: Store, page_sizes: PageSizes) -> None:
    """`POST /public/api/v3/<method>` for every method, plus hidden GET (reads) and PUT (edits) aliases."""
    for method in sorted(API_METHODS.values(), key=lambda method: method.name):
        endpoint = _endpoint(store, method, page_sizes)
        doc = inspect.getdoc(method.handler) or method.name
        path = API_PREFIX + method.name
        app.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            name=method.name,
            operation_id=method.name,
            summary=doc.splitlines()[0],
            description=doc,
            responses=_ERROR_RESPONSES,
            response_class=JSONResponse,
        )
        is_edit = method.name.endswith(("editInfo", ".update"))
        if not method.write or is_edit:
            alias = _EDIT_ALIAS if method.write else _READ_ALIAS
            app.add_api_route(
                path, endpoint, methods=[alias], include_in_schema=False, name=f"{method.name}:{alias}"
            )


def _validation_message(error: RequestValidationError) -> str:
    """A short readable summary of FastAPI's validation errors (never echoing the input values)."""
    parts = []
    for item in error.errors()[:_MAX_VALIDATION_ERRORS]:
        if item.get("type") == "json_invalid":
            return f"Malformed JSON body: {item.get('ctx', {}).get('error', 'cannot be decoded')}"
        location = ".".join(str(part) for part in item.get("loc", ())[1:]) or "body"
        parts.append(f"{location}: {item.get('msg', 'invalid')}")
    more = len(error.errors()) - _MAX_VALIDATION_ERRORS
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _install_error_handlers(app: FastAPI) -> None:
    """Every error leaves in Supervisely's shape: business 4xx, validation → 400, routing 404/405."""

    async def on_api_error(request: Request, error: Exception) -> JSONResponse:
        api_error = cast(ApiError, error)
        return JSONResponse(api_error.body(), status_code=api_error.status_code, headers=api_error.headers)

    async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
        message = _validation_message(cast(RequestValidationError, error))
        return JSONResponse(error_body("Invalid request", message), status_code=400)

    async def on_http_error(request: Request, error: Exception) -> JSONResponse:
        http_error = cast(StarletteHTTPException, error)
        path = request.url.path
        if http_error.status_code == 404 and path.startswith(API_PREFIX):
            message = f"Unknown API method {path.removeprefix(API_PREFIX)!r}"
        elif http_error.status_code == 405:
            message = f"{request.method} is not accepted for {path}; use POST"
        else:
            message = str(http_error.detail)
        return JSONResponse(
            error_body(str(http_error.detail), message),
            status_code=http_error.status_code,
            headers=http_error.headers,
        )

    async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse(error_body("Internal sandbox error", type(error).__name__), status_code=500)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _add_account_routes(app: FastAPI, store: Store) -> None:
    """`GET /` and the form login `POST /api/account` that `sly.Api.from_credentials` uses."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home() -> str:
        return "<!doctype html><title>labelrounds sandbox</title><p>Supervisely-compatible sandbox: API at /public/api/v3/</p>"

    @app.post("/api/account", responses=_ERROR_RESPONSES)
    def account_login(
        login: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=256)]
    ) -> Response:
        """Log in with login and password; the reply's JWT carries `apiToken`, `group` and `workspace`."""
        token = login_with_password(store, login, password, now_iso())
        return _json(orjson.dumps({"token": token}))


def create_app(
    store: Store,
    *,
    faults: FaultsHook | None = None,
    crew: CrewHook | None = None,
    page_sizes: PageSizes | None = None,
    base_url: str | None = None,
) -> FastAPI:
    """The sandbox's FastAPI app over a store.

    Args:
        store: the state.
        faults: optional wrapper of the whole ASGI app (fault injection).
        crew: optional simulated crew, started and stopped with the app's lifespan.
        page_sizes: default page sizes of the list methods.
        base_url: the server's own address, handed to the crew; may also be set later on `app.state.base_url`.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if crew is not None:
            if not app.state.base_url:
                raise RuntimeError("The sandbox app needs its base_url before a crew can start")
            await crew.start(app.state.base_url, store)
        webhooks = WebhookDispatcher(store, faults=faults if isinstance(faults, DeliveryFaults) else None)
        await webhooks.start()
        try:
            yield
        finally:
            await webhooks.stop()
            if crew is not None:
                await crew.stop()

    app = FastAPI(
        title="labelrounds sandbox",
        version=labelrounds.__version__,
        lifespan=lifespan,
        description="A local server speaking Supervisely's public REST API v3.",
    )
    app.state.store = store
    app.state.base_url = base_url
    _add_method_routes(app, store, page_sizes or PageSizes())
    _add_account_routes(app, store)
    add_truth_route(app, store)
    _install_error_handlers(app)
    if faults is not None:
        build_stack = app.build_middleware_stack
        app.build_middleware_stack = lambda: faults(build_stack())  # type: ignore[method-assign]
    return app
