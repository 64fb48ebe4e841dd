"""The table of API methods: each handler registers its wire name, body model and whether it writes."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from labelrounds.sandbox.auth import Actor
from labelrounds.sandbox.errors import BadRequest
from labelrounds.sandbox.models import Body

ANONYMOUS = Actor(id=0, login="anonymous", is_instance_admin=False)


@dataclass(frozen=True)
class PageSizes:
    """Default page sizes of the list methods (`per_page` when a request gives none).

    The official SDK never picks a page size: it walks pages of whatever size the first reply announces, so
    these defaults decide how many requests a listing costs. The maximum of `per_page` is `MAX_PER_PAGE`.
    """

    images: int = 20_000
    jobs: int = 500
    other: int = 500


@dataclass(frozen=True)
class Context:
    """What a handler works with: the request's transaction, the caller and the request time."""

    db: sqlite3.Connection
    actor: Actor
    now: str
    page_sizes: PageSizes
    prepared: Any = None  # what the method's `prepare` returned, if it has one


Handler = Callable[[Context, Any], Any]
#: Slow, pure work on a request body (e.g. hashing a password) done in a worker thread before the transaction.
Prepare = Callable[[Any], Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class ApiMethod:
    """One `POST /public/api/v3/<name>` method."""

    name: str
    body: type[Body]
    handler: Handler
    write: bool
    authenticated: bool
    prepare: Prepare | None = None


API_METHODS: dict[str, ApiMethod] = {}


def api_method(
    name: str,
    body: type[Body],
    *,
    write: bool = False,
    authenticated: bool = True,
    prepare: Prepare | None = None,
) -> Callable[[H], H]:
    """Register a handler for a wire method name (a decorator); `prepare`'s result reaches it as `ctx.prepared`."""

    def register(handler: H) -> H:
        if name in API_METHODS:
            raise ValueError(f"API method {name!r} registered twice")
        API_METHODS[name] = ApiMethod(name, body, handler, write, authenticated, prepare)
        return handler

    return register


def dump_user_json(value: Any, what: str) -> str:
    """Serialise JSON that came from the request for storage; values JSON cannot carry → 400."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as error:
        raise BadRequest(f"{what} cannot be stored: {error}") from None


def success() -> dict[str, bool]:
    """The reply of action methods whose result the SDK ignores."""
    return {"success": True}
