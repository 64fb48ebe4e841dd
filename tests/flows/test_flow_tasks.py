"""Each task against the sandbox (called on its own, as Prefect 3 allows), the retry conditions and credentials."""

from __future__ import annotations

import pandas as pd
import pytest
from flow_support import PASSWORD, admin_client, round_spec, settings_of
from oracles import assert_round_report
from prefect import get_client
from prefect.blocks.system import Secret
from prefect.states import Failed
from pydantic import SecretStr

from labelrounds.client import (
    AmbiguousWriteError,
    ConfigurationError,
    ForbiddenError,
    InvalidRequestError,
    ServerError,
    TransportError,
)
from labelrounds.round_spec import EndAction, LabelerSpec, ReviewerSpec
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import (
    RoundConflictError,
    RoundNotReadyError,
    RoundStalledError,
    RoundValidationError,
    UnresolvedWriteError,
)
from tasks.archive import archive_jobs
from tasks.credentials import (
    PASSWORD_ENV,
    SuperviselyCredentials,
    annotator_passwords,
    connection_settings,
    parse_passwords,
)
from tasks.gate import check_review
from tasks.jobs import create_jobs
from tasks.meta import prepare_meta
from tasks.report import publish_report
from tasks.retrying import retry_on_unresolved_write, retry_until_ready
from tasks.rework import rework_rejected
from tasks.users import ensure_annotators, ensure_users
from tasks.validate import validate_round

pytestmark = [
    pytest.mark.usefixtures("prefect_backend"),
    # Tasks called outside a flow log locally only; Prefect warns that those lines do not reach its API.
    pytest.mark.filterwarnings("ignore:Logger 'prefect.task_runs' attempted to send logs:UserWarning"),
]


async def test_the_tasks_in_a_row_run_a_round(crewed: SandboxServer, tmp_path) -> None:
    settings, spec = settings_of(crewed), round_spec(round_name="by-tasks")
    validated = await validate_round(settings, spec)
    target = validated.target
    people = await ensure_users(settings, spec)
    assert people.created == ["labeler_1", "labeler_2", "reviewer_1"]
    assert (await prepare_meta(settings, target.project.id, spec)).changed is False  # the seed has them all

    jobs = await create_jobs(settings, target, spec, validated.plan, people.user_ids)
    assert set(jobs["outcome"]) == {"created"} and jobs["images"].sum() == 6
    gate = check_review.with_options(retries=400, retry_delay_seconds=0.05)
    snapshot = await gate(settings, target.team.id, jobs["job_id"].tolist(), spec.target_status, 0, spec.round_name)
    assert snapshot.ready
    rework = await rework_rejected(settings, target, spec, jobs, people.user_ids, cycle=0)
    assert not rework.empty and set(rework["cycle"]) == {1}
    await gate(settings, target.team.id, rework["job_id"].tolist(), spec.target_status, 1, spec.round_name)
    every_job = [*jobs["job_id"], *rework["job_id"]]
    end = await archive_jobs(settings, target.team.id, every_job, EndAction.ARCHIVE, spec.target_status)
    assert sorted(end.changed) == sorted(int(job_id) for job_id in every_job)

    published = await publish_report(
        settings, target.team.id, target.project.id, target.round_key, spec.round_name, str(tmp_path)
    )
    assert_round_report(crewed, published.report.totals, target.round_key, target.project.id)
    assert published.artifact_keys == [
        "by-tasks-jobs",
        "by-tasks-labelers",
        "by-tasks-report",
    ]
    async with get_client() as client:
        table = await client.read_latest_artifacts()
    assert {"by-tasks-jobs", "by-tasks-labelers", "by-tasks-report"} <= {artifact.key for artifact in table}
    assert pd.read_csv(published.csv_paths["labelers"])["labeler"].tolist() == ["labeler_1", "labeler_2"]


@pytest.fixture
async def one_password() -> str:
    """A Secret block holding one password for every new account; returns its name."""
    await Secret(value=PASSWORD.get_secret_value()).save("flow-tests-one-password", overwrite=True)
    return "flow-tests-one-password"


async def test_the_gate_says_not_ready_then_a_stalled_round_fails_without_retrying(
    sandbox: SandboxServer, one_password: str
) -> None:
    settings, spec = settings_of(sandbox), round_spec(round_name="stalling")  # no crew: nobody works
    validated = await validate_round(settings, spec, one_password)
    people = await ensure_users(settings, spec, one_password)
    jobs = await create_jobs(settings, validated.target, spec, validated.plan, people.user_ids)
    job_ids = [int(job_id) for job_id in jobs["job_id"]]
    arguments = (settings, sandbox.team_id, job_ids, spec.target_status, 0, spec.round_name)

    with pytest.raises(RoundNotReadyError, match="not ready: 0/2 jobs completed"):
        await check_review(*arguments)

    async with admin_client(sandbox) as api:
        await api.stop_job(job_ids[0])
    state = await check_review.with_options(retries=50, retry_delay_seconds=0.01)(*arguments, return_state=True)
    assert state.is_failed()
    with pytest.raises(RoundStalledError, match=f"jobs \\[{job_ids[0]}\\] can never reach completed"):
        await state.result()
    async with get_client() as client:
        task_run = await client.read_task_run(state.state_details.task_run_id)
    assert task_run.run_count == 1  # not retried


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (TransportError(None, "connect error", None, "jobs.list"), False),  # the client retried it already
        (ServerError(502, "bad gateway", None, "jobs.list"), False),
        (AmbiguousWriteError("jobs.add", ServerError(502, "bad gateway", None, "jobs.add")), True),
        (UnresolvedWriteError("jobs.add outcome unknown"), True),
        (InvalidRequestError(400, "bad", None, "jobs.add"), False),
        (ForbiddenError(403, "forbidden", None, "jobs.add"), False),
        (RoundConflictError("r@1", ["job 5 differs"]), False),
        (RoundValidationError(["no such project"]), False),
        (RoundNotReadyError("not ready"), False),
    ],
)
def test_api_tasks_retry_only_writes_to_reconcile(error: Exception, retried: bool) -> None:
    assert retry_on_unresolved_write(None, None, Failed(data=error)) is retried  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (RoundNotReadyError("not ready"), True),
        (ServerError(503, "unavailable", None, "jobs.list"), True),
        (ServerError(501, "not implemented", None, "jobs.list"), False),
        (TransportError(408, "request timeout", None, "jobs.list"), True),
        (RoundStalledError("job 7 stopped"), False),
        (ForbiddenError(403, "forbidden", None, "jobs.list"), False),
    ],
)
def test_the_gate_retries_while_not_ready_and_on_transient_errors(error: Exception, retried: bool) -> None:
    assert retry_until_ready(None, None, Failed(data=error)) is retried  # type: ignore[arg-type]


async def test_the_credentials_block_round_trips_and_never_shows_its_token(sandbox: SandboxServer) -> None:
    token = sandbox.admin_token.get_secret_value()
    block = SuperviselyCredentials(server_address=sandbox.url, api_token=SecretStr(token))
    await block.save("flow-tests-sandbox", overwrite=True)

    settings = connection_settings("flow-tests-sandbox")
    assert settings.server_address == sandbox.url and settings.api_token.get_secret_value() == token
    assert token not in repr(block) and token not in repr(settings) and token not in str(block.model_dump())
    async with block.get_client() as api:
        assert (await api.get_me()).login == sandbox.admin_login


def test_without_a_block_the_connection_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("API_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="SERVER_ADDRESS"):
        connection_settings(None)
    monkeypatch.setenv("SERVER_ADDRESS", "127.0.0.1:9")
    monkeypatch.setenv("API_TOKEN", "t" * 32)
    assert connection_settings(None).server_address == "http://127.0.0.1:9"


async def test_annotator_passwords_come_from_a_secret_block_or_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await Secret(value='{"labeler_1": "one-Password", "labeler_2": "two-Password"}').save(
        "flow-tests-passwords", overwrite=True
    )
    per_login = annotator_passwords("flow-tests-passwords")
    assert isinstance(per_login, dict) and per_login["labeler_2"].get_secret_value() == "two-Password"

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
    single = annotator_passwords(None)
    assert isinstance(single, SecretStr) and single.get_secret_value() == PASSWORD.get_secret_value()
    monkeypatch.delenv(PASSWORD_ENV)
    assert annotator_passwords(None) is None


@pytest.mark.parametrize("value", ["", "{not json", '{"a": 1}', "{}"])
def test_a_malformed_password_value_is_refused_without_showing_it(value: str) -> None:
    with pytest.raises(ValueError, match="must hold one password|is not a JSON object") as caught:
        parse_passwords(value, "Secret block 'x'")
    assert value not in str(caught.value) or value == ""


async def test_onboarding_annotators_is_idempotent(sandbox: SandboxServer, one_password: str) -> None:
    settings = settings_of(sandbox)
    people = [LabelerSpec(login="new_1"), LabelerSpec(login="new_2")]
    reviewer = ReviewerSpec(login="new_reviewer")

    first = await ensure_annotators(settings, "my team", people, reviewer, password_secret=one_password)
    second = await ensure_annotators(settings, sandbox.team_id, people, reviewer, one_password)

    assert first.created == ["new_1", "new_2", "new_reviewer"] and not second.changed
    assert second.user_ids == first.user_ids
