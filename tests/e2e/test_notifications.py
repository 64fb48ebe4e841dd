"""Round notifications on a real `prefect server start`: `labelrounds deploy --notify` and a capture server.

A capture server on 127.0.0.1 stands in for Slack: a `CustomWebhookNotificationBlock` posts `{block, subject,
body}` to it. Rounds and round events run in this process against the session's Prefect server (its triggers and
actions services send the messages); a sandbox in a thread with a steady crew does the labeling. The oracles are
the round's known facts (its name, the lemons seed's 6 images, the job count read back with raw HTTP, the flow run
id read from Prefect's API), the secrets' actual values, and counts of the captured messages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from oracles import RawApi, round_key_of
from prefect import flow
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import BlockDocument, BlockSchema, BlockType
from prefect.events.schemas.automations import AutomationCore
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

from bench.capture_server import Captured, CaptureServer, capture_server
from deployments import automations
from deployments.cli import app
from deployments.notify_checks import (
    NotificationTarget,
    parse_window,
    pick_notification_block,
    resolve_notification_blocks,
)
from flows.labeling_round import labeling_round
from labelrounds.client.models import JobStatus
from labelrounds.round_spec import RoundSpec, TargetStatus, load_round_spec
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundStalledError
from labelrounds.steps.eta import estimate_round
from labelrounds.steps.gate import GateSnapshot, JobProgress
from tasks import events
from tasks.approvals import DECISION_NEEDED, PLAN_KEY
from tasks.credentials import PASSWORD_ENV
from tasks.gate import ROUND_TAG_PREFIX

from .processes import REPO_DIR, PrefectServer

BLOCK = "labelrounds-capture"
MUTANT_BLOCK = "labelrounds-capture-mutant"
WINDOW = "PT10S"
POOL = "notify-e2e"
PASSWORD = "Notify-labeler-2026"
#: A steady crew: lemons (6 images, 2 labelers) takes a few seconds, so the gate sees progress.
STEADY_CREW = CrewConfig(
    label_seconds_per_image=0.3, review_seconds_per_image=0.2, poll_interval=0.05, seed=3
)
#: Each notice's subject (`deployments.automations.ROUND_NOTICES`), as a pattern; the first match names the notice.
SUBJECTS = {
    "cycle-finished": r"Round \S+: cycle \d+ finished",
    "no-progress": r"Round \S+: no progress for 10 s",
    "started": r"Round \S+ started",
    "stalled": r"Round \S+ stalled",
    "deadline-at-risk": r"Round \S+ may miss its deadline",
    "finished": r"Round \S+ finished",
    "decision-needed": r"Round \S+ waits for a decision",
    "failed": r"Round \S+ failed",
}
pytestmark = pytest.mark.timeout(300)


def round_spec(**overrides: Any) -> RoundSpec:
    """The example round (lemons) with a quick gate, and any field overridden."""
    data = load_round_spec(REPO_DIR / "examples" / "round.yaml").model_dump(mode="json")
    return RoundSpec.model_validate(
        {**data, "poll_interval_seconds": 0.2, "timeout_seconds": 120, **overrides}
    )


@dataclass(frozen=True)
class Message:
    """One captured notification: which block sent it, its subject and body."""

    block: str
    subject: str
    body: str

    @classmethod
    def of(cls, captured: Captured) -> Message:
        """The notification a capture holds."""
        return cls(captured.body["block"], captured.body["subject"], captured.body["body"])

    def kind(self) -> str:
        """Which notice this is, from its subject ('?' for none)."""
        return next((kind for kind, pattern in SUBJECTS.items() if re.fullmatch(pattern, self.subject)), "?")


def messages_of(capture: CaptureServer, about: str, block: str = BLOCK) -> list[Message]:
    """The notifications of `block` about one flow run (its id is in the run's link) or round (key in the subject)."""
    return [
        message
        for message in map(Message.of, capture.snapshot())
        if message.block == block and (about in message.body or f"Round {about}" in message.subject)
    ]


def kinds_of(messages: Iterable[Message]) -> list[str]:
    """The notices' kinds, sorted."""
    return sorted(message.kind() for message in messages)


def assert_exactly_once(messages: list[Message], kinds: set[str]) -> None:
    """The oracle: each expected notice arrived exactly once, and nothing else did."""
    assert kinds_of(messages) == sorted(kinds), [message.subject for message in messages]


def assert_no_secret(captured: Iterable[Captured], secrets: Iterable[str]) -> None:
    """No captured request (headers or body) contains any of the secret values."""
    for item in captured:
        text = f"{item.headers} {item.body}"
        assert not any(secret in text for secret in secrets), "a notification contains a secret"


def wait_for_messages(
    capture: CaptureServer, about: str, kinds: set[str], block: str = BLOCK, timeout: float = 60.0
) -> list[Message]:
    """The notifications about a run or round once every expected kind arrived (fails after `timeout`)."""
    capture.wait_for(lambda _: kinds <= set(kinds_of(messages_of(capture, about, block))), timeout=timeout)
    return messages_of(capture, about, block)


def drain_prefect_workers() -> None:
    """Send what Prefect's events and log workers hold, and stop them: the next ones use the current API URL."""
    EventsWorker.drain_all()
    APILogWorker.drain_all()


@contextmanager
def using_api(server: PrefectServer) -> Iterator[None]:
    """This process talks to `server` (the events and log workers are singletons bound to their first URL)."""
    drain_prefect_workers()
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
            drain_prefect_workers()
    finally:
        drain_prefect_workers()


def stalled_snapshot(job_id: int) -> GateSnapshot:
    """A gate check of one job that was stopped with 1 of 2 images done."""
    job = JobProgress(
        job_id=job_id, job_name="j", labeler="labeler_1", status=JobStatus.STOPPED, images=2, done=1,
        awaiting_review=1, accepted=0, rejected=0, reached=False, started_at=datetime.now(UTC),
    )  # fmt: skip
    return GateSnapshot(
        target=TargetStatus.ON_REVIEW, checked_at=datetime.now(UTC), jobs=[job], missing_job_ids=[]
    )


def started_payload(round_key: str, images: int) -> dict[str, Any]:
    """A round's `started` payload as the flow makes it, for the rounds these tests stage."""
    return {
        "round_name": round_key.split("@")[0],
        "images": images,
        "labelers": ["labeler_1"],
        "reviewer": "reviewer_1",
        "target_status": "on_review",
        "due": None,
    }


def started_notice_only(target: NotificationTarget, window: timedelta) -> list[AutomationCore]:
    """The mutants' `notification_automations`: only the `started` notice (the others would behave alike)."""
    return [automations.round_notice_automation(target, automations.ROUND_NOTICES[0])]


@flow(name="stalling-round")
def stalling_round(round_key: str, stopped_job_id: int) -> None:
    """A round whose gate check finds a stopped job after some progress: the check's announcements, the failure."""
    events.announce_started(round_key, started_payload(round_key, images=2))
    snapshot = stalled_snapshot(stopped_job_id)
    events.announce_check(snapshot, estimate_round(snapshot), round_key, 0)
    events.announce_failure(round_key, RoundStalledError(f"job {stopped_job_id} was stopped"))


@flow(name="idle-round")
def idle_round(round_key: str) -> None:
    """A round that starts, asks a person to approve its plan and hears nothing more (the run ends here; the
    round's silence is what counts)."""
    events.announce_started(round_key, started_payload(round_key, images=6))
    events.emit_round_event(DECISION_NEEDED, round_key, {"question": PLAN_KEY, "images": 6}, about=PLAN_KEY)


def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """`labelrounds ARGS` in this process (the Prefect settings of this process apply); exit code and output."""
    result = CliRunner().invoke(app, list(args), env=env)
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    return result.exit_code, result.output + (repr(result.exception) if crashed else "")


@dataclass
class Notified:
    """The deployed notifications: the capture server, the sandbox, the deploy's output, the early runs' ids."""

    capture: CaptureServer
    sandbox: SandboxServer
    deploy_output: str
    stalling_run_id: UUID
    idle_run_id: UUID

    def env(self) -> dict[str, str]:
        """The environment of a command: the sandbox's address and admin token, the annotators' password."""
        return {
            "SERVER_ADDRESS": self.sandbox.url,
            "API_TOKEN": self.sandbox.admin_token.get_secret_value(),
            PASSWORD_ENV: PASSWORD,
        }

    def secrets(self) -> tuple[str, ...]:
        """The secret values the rounds had: the admin token and the annotators' password."""
        return (self.sandbox.admin_token.get_secret_value(), PASSWORD)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    """A monkeypatch for the module's fixtures."""
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def notified(prefect_server: PrefectServer, monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Notified]:
    """The capture blocks saved, `labelrounds deploy --notify` run, then a stalling round and an idle round (whose
    no-progress window runs while the other tests do)."""
    with (
        capture_server() as capture,
        SandboxServer(seed="lemons", crew=STEADY_CREW) as sandbox,
        using_api(prefect_server),
    ):
        for name in (BLOCK, MUTANT_BLOCK):
            CustomWebhookNotificationBlock(
                name=name,
                url=capture.url,
                json_data={"block": name, "subject": "{{subject}}", "body": "{{body}}"},
            ).save(name, overwrite=True)
        notified = Notified(capture, sandbox, "", UUID(int=0), UUID(int=0))
        for name, value in notified.env().items():
            monkeypatch_module.setenv(name, value)
        code, notified.deploy_output = run_cli(
            *("deploy", "--pool", POOL, "--no-schedules", "--only", "lemons"),
            *("--notify", f"custom-webhook/{BLOCK}", "--no-progress-window", WINDOW),
            env=notified.env(),
        )
        assert code == 0, notified.deploy_output
        notified.stalling_run_id = stalling_round(
            "stalls@1", 4242, return_state=True
        ).state_details.flow_run_id
        notified.idle_run_id = idle_round("idle@1", return_state=True).state_details.flow_run_id
        yield notified
        asyncio.run(delete_automations(automations.NOTIFY_PREFIX))


def stored_automations(server: PrefectServer, prefix: str) -> list[tuple[str, str, str, str]]:
    """(name, id, trigger id, last update) of the automations whose name starts with `prefix`, from the REST API."""
    found = httpx.post(f"{server.api_url}/automations/filter", json={}, timeout=30).raise_for_status().json()
    return sorted(
        (item["name"], item["id"], item["trigger"]["id"], item["updated"])
        for item in found
        if item["name"].startswith(prefix)
    )


async def delete_automations(prefix: str) -> None:
    """Delete every automation whose name starts with `prefix`."""
    async with get_client() as client:
        for found in await client.read_automations():
            if found.name.startswith(prefix):
                await client.delete_automation(found.id)


async def round_flow_run_id(round_key: str) -> UUID:
    """The id of the round's flow run, from Prefect's API (by the round's tag)."""
    async with get_client() as client:
        (run,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[ROUND_TAG_PREFIX + round_key]))
        )
    return run.id


async def test_deploy_creates_one_automation_of_each_and_again_none_more(
    notified: Notified, prefect_server: PrefectServer
) -> None:
    prefix = f"{automations.NOTIFY_PREFIX}-custom-webhook/{BLOCK}-"
    expected = sorted(prefix + kind for kind in SUBJECTS)
    stored = stored_automations(prefect_server, prefix)
    assert [name for name, *_ in stored] == expected
    (target,) = await resolve_notification_blocks((f"custom-webhook/{BLOCK}",))
    # What a second deploy does; not even an update: it gives the trigger a new id, which drops the open windows.
    await automations.ensure_notification_automations((target,), parse_window(WINDOW))
    assert stored_automations(prefect_server, prefix) == stored
    assert not any(secret in notified.deploy_output for secret in notified.secrets())


async def test_a_round_is_notified_once_per_event_with_its_figures(notified: Notified) -> None:
    round_name = f"notify-{uuid4().hex[:6]}"  # one flow run has its tag, whatever ran on the server before
    spec = round_spec(round_name=round_name, due="PT1S", max_rework_cycles=0)
    await (await labeling_round(spec, return_state=True)).result()
    round_key = round_key_of(round_name, notified.sandbox.project_id)
    run_id = await round_flow_run_id(round_key)
    with RawApi.of(notified.sandbox) as raw:
        jobs = raw.round_jobs(notified.sandbox.team_id, round_key)

    kinds = {"started", "deadline-at-risk", "cycle-finished", "finished"}
    # On a loaded machine the round may take longer than the 10 s window to its first progress: that alert is due.
    messages = [
        m for m in wait_for_messages(notified.capture, str(run_id), kinds) if m.kind() != "no-progress"
    ]
    assert_exactly_once(messages, kinds)
    by_kind = {message.kind(): message for message in messages}
    assert all(message.subject.startswith(f"Round {round_key}") for message in messages)
    assert all(f"/runs/flow-run/{run_id}" in message.body for message in messages)
    assert "6 images for labeler_1, labeler_2, reviewer reviewer_1" in by_kind["started"].body
    assert by_kind["cycle-finished"].subject.endswith("cycle 0 finished")
    assert "6/6 images" in by_kind["cycle-finished"].body
    assert "AT RISK" in by_kind["deadline-at-risk"].body
    assert by_kind["finished"].body.startswith(f"{len(jobs)} jobs in 1 cycle(s).") and len(jobs) == 2
    assert_no_secret(notified.capture.snapshot(), notified.secrets())


async def test_a_stall_and_the_failure_are_notified_once(notified: Notified) -> None:
    kinds = {"started", "stalled", "failed"}
    messages = wait_for_messages(notified.capture, str(notified.stalling_run_id), kinds)
    assert_exactly_once(messages, kinds)
    by_kind = {message.kind(): message for message in messages}
    assert by_kind["stalled"].body.startswith("Jobs 4242 can no longer reach the target.")
    assert by_kind["failed"].body.startswith("RoundStalledError: job 4242 was stopped")


async def first_round_notified_twice(capture: CaptureServer, attempts: int = 6) -> str:
    """Announce `started` for new rounds (mutant@1, mutant@2, ...) until one is notified twice by the mutant block.

    Prefect's trigger service loads new automations a moment after they are created, so the first event may meet
    only one of the two duplicates (seen once in CI); a later round meets both.
    """
    for attempt in range(1, attempts + 1):
        round_key = f"mutant@{attempt}"
        events.emit_round_event(events.ROUND_STARTED, round_key, started_payload(round_key, images=1))
        try:
            capture.wait_for(lambda _, key=round_key: len(messages_of(capture, key, MUTANT_BLOCK)) >= 2, timeout=10)
        except AssertionError:
            continue
        return round_key
    raise AssertionError(f"no round was notified twice by the duplicated automations in {attempts} attempts")


async def test_mutant_a_duplicated_automation_fails_the_exactly_once_check(
    notified: Notified, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deploy logic that creates instead of finding by name, deploying twice: two messages for one event.

    Only the `started` notice is deployed (the others would be duplicated alike), to keep the test short.
    """

    async def create_always(automation: Any) -> UUID:
        async with get_client() as client:
            return await client.create_automation(automation)

    monkeypatch.setattr(automations, "ensure_automation", create_always)
    monkeypatch.setattr(automations, "notification_automations", started_notice_only)
    (target,) = await resolve_notification_blocks((MUTANT_BLOCK,))
    try:
        for _ in range(2):
            await automations.ensure_notification_automations((target,), parse_window(WINDOW))
        round_key = await first_round_notified_twice(notified.capture)
        with pytest.raises(AssertionError):
            assert_exactly_once(messages_of(notified.capture, round_key, MUTANT_BLOCK), {"started"})
    finally:
        await delete_automations(f"{automations.NOTIFY_PREFIX}-custom-webhook/{MUTANT_BLOCK}-")


def test_mutant_the_secret_check_finds_a_token(notified: Notified) -> None:
    token = notified.sandbox.admin_token.get_secret_value()
    leaked = Captured(
        "/hook", {}, {"block": BLOCK, "subject": "Round x failed", "body": f"bad token {token}"}
    )
    with pytest.raises(AssertionError):
        assert_no_secret([leaked], notified.secrets())


async def test_a_missing_or_wrong_block_is_refused_before_anything_is_written(notified: Notified) -> None:
    await Secret(value="not-a-notifier").save("labelrounds-not-a-notifier", overwrite=True)
    async with get_client() as client:
        before = (len(await client.read_deployments()), len(await client.read_automations()))
    wrong = ("no-such-block", "secret/labelrounds-not-a-notifier")
    code, output = await asyncio.to_thread(
        run_cli,
        "deploy",
        "--pool",
        "notify-bad",
        "--notify",
        wrong[0],
        "--notify",
        wrong[1],
        env=notified.env(),
    )
    assert code == 2, output
    assert "--notify no-such-block: no such block" in output
    assert "--notify secret/labelrounds-not-a-notifier: a secret block cannot send notifications" in output
    assert f"custom-webhook/{BLOCK}" in output  # the notification blocks that exist are named
    async with get_client() as client:
        after = (len(await client.read_deployments()), len(await client.read_automations()))
        pools = {pool.name for pool in await client.read_work_pools()}
    assert after == before and "notify-bad" not in pools


async def test_a_round_without_progress_is_alerted_once(notified: Notified) -> None:
    """The idle round asked at setup: one alert after the window, quoting the question; the stalling round that
    failed gets none."""
    kinds = {"started", "decision-needed", "no-progress"}
    messages = wait_for_messages(notified.capture, str(notified.idle_run_id), kinds)
    assert_exactly_once(messages, kinds)
    by_kind = {message.kind(): message for message in messages}
    assert by_kind["decision-needed"].body.startswith(f"Question {PLAN_KEY}: answer the form")
    assert (
        by_kind["no-progress"].body.startswith("Last news ")
        and DECISION_NEEDED in by_kind["no-progress"].body
    )
    assert "no-progress" not in kinds_of(messages_of(notified.capture, str(notified.stalling_run_id)))
    assert_no_secret(notified.capture.snapshot(), notified.secrets())


async def test_mutant_an_update_at_each_deploy_is_seen_by_the_oracle(
    notified: Notified, prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deploy logic that updates unchanged automations (after the no-progress test: it resets the open windows)."""
    prefix = f"{automations.NOTIFY_PREFIX}-custom-webhook/{BLOCK}-"
    stored = stored_automations(prefect_server, prefix)
    monkeypatch.setattr(automations, "same_definition", lambda *_: False)
    monkeypatch.setattr(automations, "notification_automations", started_notice_only)  # one update shows it
    (target,) = await resolve_notification_blocks((f"custom-webhook/{BLOCK}",))
    await automations.ensure_notification_automations((target,), parse_window(WINDOW))
    assert [name for name, *_ in stored_automations(prefect_server, prefix)] == [name for name, *_ in stored]
    assert stored_automations(prefect_server, prefix) != stored


def _document(slug: str, name: str, capabilities: list[str]) -> BlockDocument:
    """A block document as the server lists it (no secrets), of a block type `slug`."""
    type_id = uuid4()
    block_type = BlockType(id=type_id, name=slug, slug=slug)
    schema = BlockSchema(checksum="x", block_type_id=type_id, capabilities=capabilities)
    return BlockDocument(
        name=name,
        block_schema_id=schema.id,
        block_schema=schema,
        block_type_id=type_id,
        block_type=block_type,
    )


def test_a_block_name_of_two_types_must_be_qualified() -> None:
    documents = [
        _document("slack-webhook", "team", ["notify"]),
        _document("custom-webhook", "team", ["notify"]),
    ]
    with pytest.raises(ValueError, match="several blocks have this name .* write TYPE/NAME"):
        pick_notification_block("team", documents)
    assert pick_notification_block("slack-webhook/team", documents).label == "slack-webhook/team"


@pytest.mark.parametrize(
    ("text", "problem"),
    [("soon", "is not a duration"), ("PT5S", "shorter than"), ("2030-01-01T00:00:00Z", "not a duration")],
)
def test_a_bad_no_progress_window_is_refused(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_window(text)
    assert parse_window("24h").total_seconds() == 86400 and parse_window("PT10S").total_seconds() == 10
