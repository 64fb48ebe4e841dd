"""Fault injection: the spec grammar, deterministic decisions, and every fault kind seen by a raw HTTP client."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from deployments.cli import app as cli_app
from labelrounds.client import AmbiguousWriteError, ConnectionSettings, SuperviselyClient
from labelrounds.sandbox.faults import STATS_PATH, FaultInjector, FaultKind, FaultPlan, FaultRule
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.spec_parsing import SpecError

# --- the spec grammar ---------------------------------------------------------------------------------------


def test_a_spec_parses_into_rules_and_settings_and_back() -> None:
    spec = "jobs.add:drop=0.02, write:5xx=0.1, *:latency=0.05@200ms, jobs.*:429=0.5@2s, seed=7, crew=on"

    plan = FaultPlan.parse(spec)

    assert plan.rules == (
        FaultRule(methods="jobs.add", kind=FaultKind.DROP, rate=0.02),
        FaultRule(methods="write", kind=FaultKind.ANY_5XX, rate=0.1),
        FaultRule(methods="*", kind=FaultKind.LATENCY, rate=0.05, seconds=0.2),
        FaultRule(methods="jobs.*", kind=FaultKind.RATE_LIMITED, rate=0.5, seconds=2),
    )
    assert (plan.seed, plan.fault_crew) == (7, True)
    assert FaultPlan.parse(plan.to_spec()) == plan
    assert FaultPlan.parse("") == FaultPlan()


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("jobs.add:boom=0.1", "unknown kind 'boom'; known: latency, 429, 500, 502, 503, 5xx, drop"),
        ("jobs.add:drop=1.5", "rate: '1.5' is not between 0 and 1"),
        ("jobs.add:drop=often", "rate: 'often' is not a number between 0 and 1"),
        ("jobs.ad:drop=0.1", "the sandbox has no method 'jobs.ad'"),
        ("*:latency=0.1@soon", "duration: 'soon' is not a duration"),
        ("*:429=0.1@500ms", "the Retry-After of a 429 fault must be whole seconds"),
        ("*:drop=0.1@1s", "a drop fault takes no duration"),
        ("jobs add:drop=0.1", "'jobs add' is not a method name, a glob or 'write'"),
        (":drop=0.1", "is not of the form METHODS:KIND=RATE[@DURATION]"),
        ("jobs.add:drop", "is not of the form METHODS:KIND=RATE[@DURATION]"),
        ("seed=1,seed=2", "fault setting 'seed' is given twice"),
        ("seed=x", "fault setting 'seed': 'x' is not an integer"),
        ("crew=maybe", "fault setting 'crew': 'maybe' is neither 'on' nor 'off'"),
        (
            "latency=0.1",
            "'latency=0.1' is neither a rule METHODS:KIND=RATE[@DURATION] nor seed=N / crew=on|off",
        ),
        ("*:drop=0.1,,seed=1", "empty item"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(spec: str, complaint: str) -> None:
    with pytest.raises(SpecError) as raised:
        FaultPlan.parse(spec)
    assert complaint in str(raised.value)


# --- decisions ----------------------------------------------------------------------------------------------


def decisions(plan: FaultPlan, method: str, count: int, *, from_crew: bool = False) -> list[Any]:
    injector = FaultInjector(plan)
    return [injector.admit(method, from_crew=from_crew) for _ in range(count)]


def test_decisions_are_deterministic_per_seed_and_follow_the_rate() -> None:
    plan = FaultPlan.parse("*:500=0.3,seed=5")

    first = decisions(plan, "jobs.info", 2000)

    assert first == decisions(plan, "jobs.info", 2000)
    assert first != decisions(FaultPlan.parse("*:500=0.3,seed=6"), "jobs.info", 2000)
    share = sum(decision.outcome is FaultKind.INTERNAL_ERROR for decision in first) / len(first)
    assert 0.25 < share < 0.35


def test_a_new_plan_starts_its_decisions_over_while_the_counts_go_on() -> None:
    plan = FaultPlan.parse("*:5xx=0.5,seed=9")
    injector = FaultInjector(plan)
    for _ in range(7):
        injector.admit("jobs.info", from_crew=False)

    injector.plan = plan
    replayed = [injector.admit("jobs.info", from_crew=False) for _ in range(40)]

    assert replayed == decisions(plan, "jobs.info", 40)
    assert injector.snapshot().requests == {"jobs.info": 47}


def test_latency_adds_up_and_the_first_error_rule_that_fires_decides() -> None:
    plan = FaultPlan.parse("*:latency=1@100ms,jobs.*:latency=1@50ms,jobs.add:429=1@3s,*:500=1")
    injector = FaultInjector(plan)

    add = injector.admit("jobs.add", from_crew=False)
    info = injector.admit("jobs.info", from_crew=False)
    version = injector.admit("instance.version", from_crew=False)

    assert (add.latency, add.outcome, add.retry_after) == (pytest.approx(0.15), FaultKind.RATE_LIMITED, 3)
    assert (info.latency, info.outcome, info.retry_after) == (
        pytest.approx(0.15),
        FaultKind.INTERNAL_ERROR,
        None,
    )
    assert (version.latency, version.outcome) == (pytest.approx(0.1), FaultKind.INTERNAL_ERROR)
    stats = injector.snapshot()
    assert stats.faults == {
        "instance.version": {"500": 1, "latency": 1},
        "jobs.add": {"429": 1, "latency": 1},
        "jobs.info": {"500": 1, "latency": 1},
    }
    assert stats.fault_totals == {"429": 1, "500": 2, "latency": 3}
    assert stats.requests == {"instance.version": 1, "jobs.add": 1, "jobs.info": 1}


def test_write_means_every_method_that_changes_state() -> None:
    rule = FaultRule(methods="write", kind=FaultKind.DROP, rate=1)
    writes = [
        "users.add",
        "members.add",
        "projects.meta.update",
        "jobs.add",
        "jobs.set-status",
        "jobs.restart",
    ]
    reads = [
        "users.list",
        "users.info",
        "projects.meta",
        "jobs.list",
        "jobs.info",
        "jobs.stats",
        "instance.version",
    ]
    assert all(rule.matches(method) for method in writes)
    assert not any(rule.matches(method) for method in reads)


def test_any_5xx_picks_each_server_error() -> None:
    outcomes = {decision.outcome for decision in decisions(FaultPlan.parse("*:5xx=1"), "jobs.info", 60)}
    assert outcomes == {FaultKind.INTERNAL_ERROR, FaultKind.BAD_GATEWAY, FaultKind.UNAVAILABLE}


def test_crew_requests_are_counted_apart_and_spared_unless_asked() -> None:
    spared = decisions(FaultPlan.parse("*:500=1"), "jobs.set-status", 5, from_crew=True)
    faulted = decisions(FaultPlan.parse("*:500=1,crew=on"), "jobs.set-status", 5, from_crew=True)

    assert all(decision.outcome is None for decision in spared)
    assert all(decision.outcome is FaultKind.INTERNAL_ERROR for decision in faulted)
    injector = FaultInjector(FaultPlan.parse("*:500=1"))
    injector.admit("jobs.set-status", from_crew=True)
    injector.admit("jobs.info", from_crew=False)
    assert (injector.snapshot().requests, injector.snapshot().crew_requests) == (
        {"jobs.info": 1},
        {"jobs.set-status": 1},
    )


# --- every fault kind against a real sandbox, seen by a raw httpx client ---------------------------------------


@pytest.fixture
def faulty_sandbox(request: pytest.FixtureRequest) -> Iterator[tuple[SandboxServer, FaultInjector]]:
    """A lemons sandbox whose fault plan is the test's parameter (a spec string)."""
    with SandboxServer(seed="lemons", faults=FaultPlan.parse(request.param)) as server:
        yield server, server.traffic


def with_faults(spec: str) -> pytest.MarkDecorator:
    """Run the test against a sandbox with this fault plan."""
    return pytest.mark.parametrize("faulty_sandbox", [spec], indirect=True, ids=[spec])


def raw_client(server: SandboxServer, token: SecretStr | None = None) -> httpx.Client:
    headers = {"x-api-key": (token or server.admin_token).get_secret_value()}
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


def post(client: httpx.Client, method: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/public/api/v3/{method}", json=body)


def user_logins(client: httpx.Client) -> list[str]:
    reply = post(client, "users.list", {"filter": []})
    assert reply.status_code == 200
    return [user["login"] for user in reply.json()["entities"]]


def new_user(login: str) -> dict[str, Any]:
    return {"login": login, "password": "a-good-password", "isRestricted": True, "name": "", "email": ""}


@with_faults("instance.version:429=1@2s")
def test_429_carries_retry_after_and_supervisely_error_shape(
    faulty_sandbox: tuple[SandboxServer, FaultInjector],
) -> None:
    server, injector = faulty_sandbox
    with raw_client(server) as client:
        reply = post(client, "instance.version", {})
        unaffected = post(client, "teams.list", {})  # the same connection stays usable

    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "2"
    assert reply.json()["error"] == "Too Many Requests"
    assert "instance.version" in reply.json()["details"]["message"]
    assert unaffected.status_code == 200
    assert injector.snapshot().faults == {"instance.version": {"429": 1}}


@with_faults("users.add:500=1,members.add:502=1,teams.list:503=1@4s")
def test_server_errors_are_answered_before_the_handler_so_nothing_is_written(
    faulty_sandbox: tuple[SandboxServer, FaultInjector],
) -> None:
    server, injector = faulty_sandbox
    with raw_client(server) as client:
        created = post(client, "users.add", new_user("labeler_1"))
        added = post(
            client, "members.add", {"login": server.admin_login, "teamId": server.team_id, "roleId": 3}
        )
        listed = post(client, "teams.list", {})
        logins = user_logins(client)

    assert (created.status_code, added.status_code, listed.status_code) == (500, 502, 503)
    assert "retry-after" not in created.headers and "retry-after" not in added.headers
    assert listed.headers["retry-after"] == "4"
    assert set(created.json()) == {"error", "details"}
    assert "labeler_1" not in logins
    assert injector.snapshot().fault_totals == {"500": 1, "502": 1, "503": 1}


@with_faults("instance.version:latency=1@300ms")
def test_latency_delays_but_answers(faulty_sandbox: tuple[SandboxServer, FaultInjector]) -> None:
    server, injector = faulty_sandbox
    with raw_client(server) as client:
        reply = post(client, "instance.version", {})

    assert reply.status_code == 200
    assert "version" in reply.json()
    assert injector.snapshot().faults == {"instance.version": {"latency": 1}}


@with_faults("users.add:drop=1")
def test_a_dropped_response_was_committed_but_never_heard(
    faulty_sandbox: tuple[SandboxServer, FaultInjector], caplog: pytest.LogCaptureFixture
) -> None:
    server, injector = faulty_sandbox
    with raw_client(server) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            post(client, "users.add", new_user("labeler_1"))
        logins = user_logins(client)

    assert "labeler_1" in logins  # the handler ran and its transaction committed
    assert injector.snapshot().faults == {"users.add": {"drop": 1}}
    # The drop is on purpose: uvicorn's complaint about an unfinished response stays out of the error log.
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


@with_faults("users.add:drop=1")
async def test_our_client_reports_a_dropped_write_as_ambiguous(
    faulty_sandbox: tuple[SandboxServer, FaultInjector],
) -> None:
    server, _ = faulty_sandbox
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    async with SuperviselyClient(settings) as api:
        with pytest.raises(AmbiguousWriteError):
            await api.add_user("labeler_1", SecretStr("a-good-password"))
        assert await api.get_user_by_login("labeler_1") is not None


@with_faults("instance.version:5xx=0.5,seed=3")
def test_the_same_plan_gives_the_same_replies_on_another_server(
    faulty_sandbox: tuple[SandboxServer, FaultInjector],
) -> None:
    server, _ = faulty_sandbox
    with raw_client(server) as client:
        first = [post(client, "instance.version", {}).status_code for _ in range(20)]
    with SandboxServer(
        seed="empty", faults=FaultInjector(FaultPlan.parse("instance.version:5xx=0.5,seed=3"))
    ) as other:
        with raw_client(other) as client:
            second = [post(client, "instance.version", {}).status_code for _ in range(20)]

    assert first == second
    assert {200, 500, 502, 503} <= set(first)


# --- counting and the stats endpoint ---------------------------------------------------------------------------


@with_faults("jobs.list:500=1")
def test_stats_endpoint_reports_requests_per_method_and_faults_to_the_admin_only(
    faulty_sandbox: tuple[SandboxServer, FaultInjector],
) -> None:
    server, _ = faulty_sandbox
    with raw_client(server) as client:
        for _ in range(3):
            post(client, "instance.version", {})
        post(client, "jobs.list", {"teamId": server.team_id})
        post(client, "no.such.method", {})
        assert post(client, "users.add", new_user("viewer_1")).status_code == 200
        assert server.store is not None
        viewer_token = server.store.api_token("viewer_1")
        stats = client.get(STATS_PATH)
    with httpx.Client(base_url=server.url) as anonymous:
        missing_token = anonymous.get(STATS_PATH)
    with raw_client(server, viewer_token) as viewer:
        not_admin = viewer.get(STATS_PATH)

    assert stats.status_code == 200
    body = stats.json()
    assert body["requests"] == {"instance.version": 3, "jobs.list": 1, "no.such.method": 1, "users.add": 1}
    assert body["faults"] == {"jobs.list": {"500": 1}}
    assert body["faultTotals"] == {"500": 1}
    assert body["crewRequests"] == {}
    assert body["plan"] == "jobs.list:500=1,seed=0"
    assert (missing_token.status_code, not_admin.status_code) == (401, 403)
    assert set(not_admin.json()) == {"error", "details"}
    assert server.admin_token.get_secret_value() not in stats.text


# --- the serve command ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "spec", "complaint"),
    [
        ("--faults", "jobs.add:boom=0.1", "unknown kind 'boom'"),
        ("--faults", "jobs.ad:drop=0.1", "the sandbox has no method 'jobs.ad'"),
        ("--crew", "reject=2", "crew option 'reject': '2' is not between 0 and 1"),
    ],
)
def test_serve_refuses_a_bad_spec_before_creating_the_database(
    tmp_path: Path, option: str, spec: str, complaint: str
) -> None:
    database = tmp_path / "sandbox.db"

    result = CliRunner().invoke(
        cli_app, ["sandbox", "serve", "--port", "0", "--db", str(database), option, spec]
    )

    assert result.exit_code == 2
    assert option in result.output
    assert complaint in " ".join(result.output.replace("│", " ").split())
    assert not database.exists()
