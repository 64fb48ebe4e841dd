"""Fault injection and request counting for the sandbox: an ASGI middleware driven by a seeded `FaultPlan`.

Per API method and rate it adds latency, answers 429 with `Retry-After` or a 500/502/503 *instead of* running
the handler (nothing is written), or runs the handler, lets it commit, and then drops the connection before the
reply's body ("commit, then drop": the write happened but the client never hears it). Decisions are
deterministic: the n-th call of a method gets the same fate for the same seed. Every request is counted per
method, crew traffic (header `x-labelrounds-actor: crew`) apart; the counts and every injected fault are served
at `GET /_sandbox/stats` to the instance admin and readable in-process with `FaultInjector.snapshot()`.

Spec grammar (`labelrounds sandbox serve --faults SPEC`), items separated by commas:

    RULE     := METHODS ":" KIND "=" RATE [ "@" DURATION ]
    SETTING  := "seed=" INTEGER | "crew=" ("on" | "off")
    METHODS  := an API method (`jobs.add`), a glob (`jobs.*`, `*`), or `write` (every method that changes state)
    KIND     := latency | 429 | 500 | 502 | 503 | 5xx | drop | 404    (5xx picks one of 500/502/503)
    RATE     := probability per request, 0..1
    DURATION := for latency the delay (default 100ms), for 429/503 the Retry-After in whole seconds (default 1s)

Example: `jobs.add:drop=0.02,write:5xx=0.1,*:latency=0.05@200ms,*:429=0.02@1s,seed=7`.
A `404` rule at rate 1 hides a method, as on a server that lacks it (`jobs.split:404=1`: a real Supervisely).
Latency rules add up; of the other rules the first one that fires (in the spec's order) decides the reply.
Crew requests are never faulted unless `crew=on`.

Webhook deliveries (see `webhook_delivery`) have their own rules, METHODS being `webhook`:

    webhook:drop=RATE              the delivery is lost: never sent, never retried
    webhook:delay=RATE@DURATION    the first attempt waits DURATION (default 100ms); delays add up
    webhook:dup=RATE               the delivery is sent twice

decided once per delivery, deterministically: the n-th delivery gets the same fate for the same seed.
"""

from __future__ import annotations

import asyncio
import contextvars
import fnmatch
import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import labelrounds.sandbox.handlers  # noqa: F401 - importing the handlers registers every API method
from labelrounds.sandbox.app import API_PREFIX
from labelrounds.sandbox.auth import authenticate
from labelrounds.sandbox.crew import ACTOR_HEADER, CREW_ACTOR, Crew
from labelrounds.sandbox.errors import ApiError, Forbidden, error_body
from labelrounds.sandbox.registry import API_METHODS
from labelrounds.sandbox.spec_parsing import (
    SpecError,
    describe_validation_error,
    parse_duration,
    parse_fraction,
    parse_int,
    split_items,
    split_key_value,
    stable_fraction,
)
from labelrounds.sandbox.store import Store
from labelrounds.sandbox.webhook_delivery import DeliveryFault

logger = logging.getLogger(__name__)

STATS_PATH = "/_sandbox/stats"
WRITES = "write"
WEBHOOK_DELIVERIES = "webhook"
_ACTOR_HEADER, _CREW_ACTOR = ACTOR_HEADER.encode(), CREW_ACTOR.encode()

_METHOD_PATTERN = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]+$")
_GLOB_CHARS = frozenset("*?[")


class FaultKind(StrEnum):
    """What a rule injects."""

    LATENCY = "latency"
    RATE_LIMITED = "429"
    INTERNAL_ERROR = "500"
    BAD_GATEWAY = "502"
    UNAVAILABLE = "503"
    ANY_5XX = "5xx"
    DROP = "drop"
    DELAY = "delay"
    DUPLICATE = "dup"
    NOT_FOUND = "404"  # the method is missing, as on a server without it


_SERVER_ERRORS = (FaultKind.INTERNAL_ERROR, FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE)
_WITH_RETRY_AFTER = frozenset({FaultKind.RATE_LIMITED, FaultKind.UNAVAILABLE})
_DELIVERY_KINDS = frozenset({FaultKind.DROP, FaultKind.DELAY, FaultKind.DUPLICATE})
_DELIVERY_ONLY_KINDS = frozenset({FaultKind.DELAY, FaultKind.DUPLICATE})
_DEFAULT_LATENCY = 0.1
_DEFAULT_RETRY_AFTER = 1.0
_REASONS = {
    FaultKind.RATE_LIMITED: "Too Many Requests",
    FaultKind.INTERNAL_ERROR: "Internal Server Error",
    FaultKind.BAD_GATEWAY: "Bad Gateway",
    FaultKind.UNAVAILABLE: "Service Unavailable",
    FaultKind.NOT_FOUND: "Not Found",
}


class FaultRule(BaseModel):
    """Inject `kind` into a share `rate` of the calls of the methods matching `methods`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    methods: str = Field(
        description="An API method, a glob such as `jobs.*` or `*`, `write`, or `webhook` (deliveries)"
    )
    kind: FaultKind
    rate: float = Field(ge=0, le=1, description="Probability per request")
    seconds: float | None = Field(
        default=None,
        ge=0,
        description="Latency added, or the Retry-After of a 429/503 (whole seconds); default by kind",
    )

    @model_validator(mode="after")
    def _check(self) -> FaultRule:
        if not _METHOD_PATTERN.match(self.methods):
            raise ValueError(f"{self.methods!r} is not a method name, a glob or {WRITES!r}")
        if self.methods == WEBHOOK_DELIVERIES:
            if self.kind not in _DELIVERY_KINDS:
                raise ValueError(f"webhook deliveries take drop, delay or dup faults, not {self.kind.value}")
        elif self.kind in _DELIVERY_ONLY_KINDS:
            raise ValueError(
                f"a {self.kind.value} fault applies to webhook deliveries only ({WEBHOOK_DELIVERIES}:...)"
            )
        elif self.is_exact_method() and self.methods not in API_METHODS:  # a typo would silently never fire
            raise ValueError(f"the sandbox has no method {self.methods!r}")
        if self.seconds is not None:
            if self.kind in (
                FaultKind.DROP,
                FaultKind.DUPLICATE,
                FaultKind.INTERNAL_ERROR,
                FaultKind.BAD_GATEWAY,
                FaultKind.NOT_FOUND,
            ):
                raise ValueError(f"a {self.kind.value} fault takes no duration")
            if self.kind in _WITH_RETRY_AFTER | {FaultKind.ANY_5XX} and self.seconds != int(self.seconds):
                raise ValueError(f"the Retry-After of a {self.kind.value} fault must be whole seconds")
        return self

    @property
    def delay(self) -> float:
        """Seconds of latency this rule adds when it fires."""
        return _DEFAULT_LATENCY if self.seconds is None else self.seconds

    @property
    def retry_after(self) -> int:
        """The Retry-After, in seconds, of the 429/503 this rule answers."""
        return int(_DEFAULT_RETRY_AFTER if self.seconds is None else self.seconds)

    def matches(self, method: str) -> bool:
        """Whether this rule applies to calls of `method` (never true of a webhook delivery rule)."""
        if self.methods == WEBHOOK_DELIVERIES:
            return False
        if self.methods == WRITES:
            api_method = API_METHODS.get(method)
            return api_method is not None and api_method.write
        return fnmatch.fnmatchcase(method, self.methods)

    def is_exact_method(self) -> bool:
        """Whether `methods` names one method (rather than a glob or `write`)."""
        return self.methods != WRITES and not (_GLOB_CHARS & set(self.methods))

    def to_spec(self) -> str:
        """This rule in the spec grammar."""
        duration = "" if self.seconds is None else f"@{self.seconds:g}s"
        return f"{self.methods}:{self.kind.value}={self.rate:g}{duration}"


class FaultPlan(BaseModel):
    """Which faults to inject, where and how often; the empty plan only counts requests."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[FaultRule, ...] = ()
    seed: int = Field(default=0, description="Seed of the deterministic decisions")
    fault_crew: bool = Field(
        default=False, description="Also inject faults into the simulated crew's requests"
    )

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        """Build a plan from the compact spec grammar (see the module docstring).

        Raises:
            SpecError: a malformed item, unknown kind, rate outside 0..1, or a bad duration; the message names it.
        """
        rules: list[FaultRule] = []
        settings: dict[str, Any] = {}
        for item in split_items(spec):
            methods, colon, rest = item.partition(":")
            if colon:
                rules.append(_parse_rule(methods.strip(), rest.strip(), item))
                continue
            key, value = split_key_value(item)
            if key in settings or (key == "crew" and "fault_crew" in settings):
                raise SpecError(f"fault setting {key!r} is given twice")
            if key == "seed":
                settings["seed"] = parse_int(value, what="fault setting 'seed'")
            elif key == "crew":
                if value not in ("on", "off"):
                    raise SpecError(f"fault setting 'crew': {value!r} is neither 'on' nor 'off'")
                settings["fault_crew"] = value == "on"
            else:
                raise SpecError(
                    f"{item!r} is neither a rule METHODS:KIND=RATE[@DURATION] nor seed=N / crew=on|off"
                )
        return cls(rules=tuple(rules), **settings)

    def to_spec(self) -> str:
        """This plan in the spec grammar (parses back to an equal plan)."""
        items = [rule.to_spec() for rule in self.rules] + [f"seed={self.seed}"]
        if self.fault_crew:
            items.append("crew=on")
        return ",".join(items)


def _parse_rule(methods: str, rest: str, item: str) -> FaultRule:
    kind_text, equals, rate_and_duration = rest.partition("=")
    if not methods or not equals:
        raise SpecError(f"fault rule {item!r} is not of the form METHODS:KIND=RATE[@DURATION]")
    try:
        kind = FaultKind(kind_text.strip())
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise SpecError(f"fault rule {item!r}: unknown kind {kind_text.strip()!r}; known: {known}") from None
    rate_text, at, duration_text = rate_and_duration.partition("@")
    rate = parse_fraction(rate_text.strip(), what=f"fault rule {item!r}: rate")
    seconds = parse_duration(duration_text, what=f"fault rule {item!r}: duration") if at else None
    try:
        rule = FaultRule(methods=methods, kind=kind, rate=rate, seconds=seconds)
    except ValidationError as error:
        raise SpecError(f"fault rule {item!r}: {describe_validation_error(error)}") from None
    return rule


@dataclass(frozen=True)
class FaultDecision:
    """What happens to one request: added latency, then the reply to fake (or None to run the handler)."""

    latency: float = 0.0
    outcome: FaultKind | None = None
    retry_after: int | None = None


_NO_FAULT = FaultDecision()


class TrafficStats(BaseModel):
    """Requests per API method (the crew's apart) and the faults injected, per method and kind."""

    model_config = ConfigDict(alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True)

    requests: dict[str, int] = Field(
        default_factory=dict, description="API requests per method (faulted ones included), crew excluded"
    )
    crew_requests: dict[str, int] = Field(
        default_factory=dict, description="API requests of the crew per method"
    )
    other_requests: int = Field(default=0, description="Requests outside the public API")
    faults: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Injected faults per method, kind"
    )
    fault_totals: dict[str, int] = Field(default_factory=dict, description="Injected faults per kind")
    busy_seconds: float = Field(
        default=0.0,
        description="Wall time during which at least one API request (crew excluded) was being handled; an injected"
        " latency (the network's share of a request) is not handling",
    )
    plan: str = Field(default="", description="The fault plan in the spec grammar")
    crew: dict[str, int] | None = Field(
        default=None, description="What the simulated crew did, when one runs"
    )

    @property
    def total_requests(self) -> int:
        """API requests of all methods, crew excluded."""
        return sum(self.requests.values())


class FaultInjector:
    """Decides the faults of each request and counts requests and faults; thread-safe.

    The plan may be replaced while the server runs (`injector.plan = FaultPlan.parse(...)`); decisions then start
    over from the first call, as on a fresh server, while the request counts go on.

    Args:
        plan: the faults to inject (default: none, only count).
        crew: the sandbox's simulated crew, whose action counts the snapshot includes.
    """

    def __init__(self, plan: FaultPlan | None = None, *, crew: Crew | None = None) -> None:
        self._plan = plan or FaultPlan()
        self._crew = crew
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._crew_calls: Counter[str] = Counter()
        self._other = 0
        self._faults: Counter[tuple[str, FaultKind]] = Counter()
        # Calls per (stream, method) since the plan was set: the n in "the n-th call gets the same fate".
        self._sequence: Counter[tuple[str, str]] = Counter()
        self._in_flight = 0
        self._busy_since = 0.0
        self._busy_seconds = 0.0

    @property
    def in_flight(self) -> int:
        """API requests (crew excluded) being handled right now, injected latency excluded."""
        with self._lock:
            return self._in_flight

    def __repr__(self) -> str:
        return f"FaultInjector(plan={self.plan.to_spec()!r})"

    @property
    def plan(self) -> FaultPlan:
        """The faults being injected."""
        return self._plan

    @plan.setter
    def plan(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._sequence.clear()

    def count_other(self) -> None:
        """Count a request outside the public API."""
        with self._lock:
            self._other += 1

    def handling_started(self) -> None:
        """A non-crew API request starts being handled, after any injected latency (for `busy_seconds`:
        overlapping requests count once)."""
        with self._lock:
            if self._in_flight == 0:
                self._busy_since = time.perf_counter()
            self._in_flight += 1

    def handling_ended(self) -> None:
        """A non-crew API request has been answered."""
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._busy_seconds += time.perf_counter() - self._busy_since

    def admit(self, method: str, *, from_crew: bool) -> FaultDecision:
        """Count one call of `method` and decide its faults."""
        with self._lock:
            plan = self._plan
            (self._crew_calls if from_crew else self._calls)[method] += 1
            if from_crew and not plan.fault_crew:
                return _NO_FAULT
            # The crew's calls draw from their own sequence, so they do not shift the decisions of the others.
            stream = "crew" if from_crew else "api"
            self._sequence[(stream, method)] += 1
            call_number = self._sequence[(stream, method)]
        decision = self._decide(plan, method, stream, call_number)
        self._count_faults(method, decision)
        return decision

    def _decide(self, plan: FaultPlan, method: str, stream: str, call_number: int) -> FaultDecision:
        latency = 0.0
        for index, rule in enumerate(plan.rules):
            if not rule.matches(method):
                continue
            if stable_fraction(plan.seed, index, method, stream, call_number) >= rule.rate:
                continue
            if rule.kind is FaultKind.LATENCY:
                latency += rule.delay
                continue
            outcome: FaultKind = rule.kind
            if outcome is FaultKind.ANY_5XX:
                pick = stable_fraction(plan.seed, "5xx", index, method, stream, call_number)
                outcome = _SERVER_ERRORS[int(pick * len(_SERVER_ERRORS))]
            retry_after = rule.retry_after if outcome in _WITH_RETRY_AFTER else None
            return FaultDecision(latency=latency, outcome=outcome, retry_after=retry_after)
        return FaultDecision(latency=latency) if latency else _NO_FAULT

    def decide_delivery(self) -> DeliveryFault:
        """Count one webhook delivery and decide its fault (the `webhook:` rules of the plan)."""
        with self._lock:
            plan = self._plan
            self._sequence[(WEBHOOK_DELIVERIES, WEBHOOK_DELIVERIES)] += 1
            delivery_number = self._sequence[(WEBHOOK_DELIVERIES, WEBHOOK_DELIVERIES)]
        drop, delay, copies = False, 0.0, 1
        fired: list[FaultKind] = []
        for index, rule in enumerate(plan.rules):
            if rule.methods != WEBHOOK_DELIVERIES:
                continue
            if stable_fraction(plan.seed, index, WEBHOOK_DELIVERIES, delivery_number) >= rule.rate:
                continue
            fired.append(rule.kind)
            if rule.kind is FaultKind.DROP:
                drop = True
            elif rule.kind is FaultKind.DELAY:
                delay += rule.delay
            else:
                copies = 2
        with self._lock:
            for kind in dict.fromkeys(fired):
                self._faults[(WEBHOOK_DELIVERIES, kind)] += 1
        return DeliveryFault(drop=drop, delay=delay, copies=copies)

    def _count_faults(self, method: str, decision: FaultDecision) -> None:
        with self._lock:
            if decision.latency:
                self._faults[(method, FaultKind.LATENCY)] += 1
            if decision.outcome is not None:
                self._faults[(method, decision.outcome)] += 1

    def snapshot(self) -> TrafficStats:
        """The counts so far."""
        with self._lock:
            faults: dict[str, dict[str, int]] = {}
            totals: Counter[str] = Counter()
            for (method, kind), count in sorted(self._faults.items()):
                faults.setdefault(method, {})[kind.value] = count
                totals[kind.value] += count
            stats = TrafficStats(
                requests=dict(sorted(self._calls.items())),
                crew_requests=dict(sorted(self._crew_calls.items())),
                other_requests=self._other,
                faults=faults,
                fault_totals=dict(sorted(totals.items())),
                plan=self.plan.to_spec(),
                busy_seconds=self._busy_seconds,
            )
        if self._crew is not None:
            stats.crew = self._crew.stats.snapshot()
        return stats

    def __call__(self, app: ASGIApp) -> FaultMiddleware:
        """Wrap the sandbox's ASGI app (the `faults` hook of `create_app`)."""
        return FaultMiddleware(app, injector=self)

    def reset(self) -> None:
        """Forget every count (the plan's decisions start over too)."""
        with self._lock:
            self._calls.clear()
            self._crew_calls.clear()
            self._sequence.clear()
            self._faults.clear()
            self._other = 0
            self._busy_seconds = 0.0


# Set while a response is being dropped on purpose, so that uvicorn's complaint about it stays out of the log.
_dropping: contextvars.ContextVar[bool] = contextvars.ContextVar("labelrounds_dropping", default=False)
_UVICORN_INCOMPLETE_RESPONSE = "ASGI callable returned without completing response."


class _DroppedResponseLogFilter(logging.Filter):
    """Hide uvicorn's error line for a response the fault injector dropped on purpose (and only for those)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropping.get() and record.msg == _UVICORN_INCOMPLETE_RESPONSE)


_log_filter_lock = threading.Lock()


def _install_log_filter() -> None:
    logger_ = logging.getLogger("uvicorn.error")
    with _log_filter_lock:
        if not any(isinstance(existing, _DroppedResponseLogFilter) for existing in logger_.filters):
            logger_.addFilter(_DroppedResponseLogFilter())


class FaultMiddleware:
    """ASGI middleware: counts every request, injects the plan's faults, serves `GET /_sandbox/stats`.

    It wraps the whole app, outside its error handling; the stats reader's token is checked against the
    store of the app (`app.state.store`).

    Args:
        app: the sandbox app.
        injector: decides and counts (shared with in-process readers such as `SandboxServer`).
    """

    def __init__(self, app: ASGIApp, *, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector
        _install_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if not path.startswith(API_PREFIX):
            self.injector.count_other()
            if path == STATS_PATH and scope["method"] == "GET":
                await self._serve_stats(scope, send)
            else:
                await self.app(scope, receive, send)
            return
        method = path.removeprefix(API_PREFIX)
        from_crew = _header(scope, _ACTOR_HEADER) == _CREW_ACTOR
        decision = self.injector.admit(method, from_crew=from_crew)
        if decision.latency:  # the network's share of the request: never counted as the server's busy time
            await asyncio.sleep(decision.latency)
        if from_crew:
            await self._answer(scope, receive, send, method, decision)
            return
        self.injector.handling_started()
        try:
            await self._answer(scope, receive, send, method, decision)
        finally:
            self.injector.handling_ended()

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, method: str, decision: FaultDecision
    ) -> None:
        """Answer a counted call as the plan decided."""
        if decision.outcome is None:
            await self.app(scope, receive, send)
        elif decision.outcome is FaultKind.DROP:
            await self._run_then_drop(scope, receive, send, method)
        else:
            await _drain(receive)
            await _fake_error(send, method, decision.outcome, decision.retry_after)

    async def _run_then_drop(self, scope: Scope, receive: Receive, send: Send, method: str) -> None:
        """Run the handler to the end (so its transaction commits), then close the connection mid-reply.

        The client gets the status line and headers but the connection closes before the body, which no HTTP
        client accepts as a response (httpx raises `RemoteProtocolError`). ASGI has no way to close a
        connection without a reply; uvicorn closes it when an app returns with its response unfinished.
        """
        response_start: Message | None = None

        async def hold_back(message: Message) -> None:
            nonlocal response_start
            if message["type"] == "http.response.start":
                response_start = message

        await self.app(scope, receive, hold_back)
        if response_start is None:  # the handler sent nothing; let the server deal with it as usual
            return
        logger.info("fault: dropping the response of %s after the handler ran", method)
        _dropping.set(True)
        await send(response_start)

    async def _serve_stats(self, scope: Scope, send: Send) -> None:
        """`GET /_sandbox/stats`: the traffic counters as JSON, for the instance admin only."""
        token = _header(scope, b"x-api-key")
        store: Store = scope["app"].state.store
        try:
            await asyncio.to_thread(_require_admin, store, token.decode("latin-1") if token else None)
        except ApiError as error:
            await _send_json(send, error.status_code, error.body(), {})
            return
        await _send_json(send, 200, self.injector.snapshot().model_dump(mode="json"), {})


def _require_admin(store: Store, token: str | None) -> None:
    with store.transaction(write=False) as db:
        actor = authenticate(db, token)
    if not actor.is_instance_admin:
        raise Forbidden("Only the instance admin may read the sandbox stats")


async def _fake_error(send: Send, method: str, outcome: FaultKind, retry_after: int | None) -> None:
    """Answer a 429/5xx/404 without running the handler: nothing is written."""
    headers = {} if retry_after is None else {"retry-after": str(retry_after)}
    body = error_body(_REASONS[outcome], f"fault injected by the sandbox: {outcome.value} for {method}")
    await _send_json(send, int(outcome.value), body, headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    return next((value for key, value in headers if key == name), None)


async def _drain(receive: Receive) -> None:
    """Read the request body to its end, so the connection stays usable for the next request."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _send_json(send: Send, status: int, payload: Any, headers: dict[str, str]) -> None:
    body = orjson.dumps(payload)
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw_headers += [(key.encode(), value.encode()) for key, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
