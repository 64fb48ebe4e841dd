"""Tokens and passwords never leak: a whole round (the flow, with a credentials block and a password Secret) plus
provoked failures run with distinctive values, and every place a value could end up is searched for them:
Python logging at DEBUG (client, httpx, the sandbox's own uvicorn access log), Prefect run logs, artifacts and
flow-run parameters read back through the API, the block documents as the API shows them, persisted results,
exception messages and tracebacks, and the reprs of settings, clients, blocks and servers."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from oracles import assert_round_report
from prefect import get_client
from prefect.blocks.system import Secret
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from pydantic import SecretStr
from reliability.rounds import round_spec

from flows.labeling_round import labeling_round
from labelrounds.client import ConnectionSettings, SuperviselyClient, SuperviselyError
from labelrounds.sandbox.crew import CrewConfig
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import RoundError
from tasks.credentials import PASSWORD_ENV, SuperviselyCredentials

TOKEN = SecretStr("LeakCanaryToken" + "7" * 40)
ADMIN_PASSWORD = SecretStr("LeakCanaryAdminPw-91")
ANNOTATOR_PASSWORD = SecretStr("LeakCanaryLabelerPw-37")
SECRETS = [TOKEN.get_secret_value(), ADMIN_PASSWORD.get_secret_value(), ANNOTATOR_PASSWORD.get_secret_value()]


class Everything(logging.Handler):
    """Keeps every record, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def all_logs() -> Iterator[Everything]:
    """Every Python log record at DEBUG, from every logger (propagating or not)."""
    handler = Everything()
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        if logger is root or not logger.propagate:
            logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in levels.items():
        logger.setLevel(level)
        if handler in logger.handlers:
            logger.removeHandler(handler)


def assert_clean(where: str, text: str) -> None:
    """No secret value in `text`."""
    assert text, f"{where}: nothing was captured, so nothing was checked"
    for secret in SECRETS:
        assert secret not in text, f"a secret value leaked into {where}"


def failure_text(error: BaseException) -> str:
    """An exception's message, repr and full traceback (causes included)."""
    return f"{error}\n{error!r}\n{''.join(traceback.format_exception(error))}"


async def prefect_records(flow_run_ids: list[UUID]) -> dict[str, str]:
    """Logs, artifacts, flow-run parameters and the block documents, as the Prefect API returns them."""
    await APILogHandler.aflush()
    async with get_client() as client:
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)))
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids))
        )
        runs = [await client.read_flow_run(run_id) for run_id in flow_run_ids]
        blocks = [
            await client.read_block_document_by_name(name, block_type_slug=slug, include_secrets=False)
            for name, slug in (("leak-credentials", "supervisely-credentials"), ("leak-passwords", "secret"))
        ]
    return {
        "Prefect run logs": "\n".join(log.message for log in logs),
        "artifacts": "\n".join(f"{item.key} {item.data} {item.description}" for item in artifacts),
        "flow-run parameters and states": "\n".join(
            f"{run.name} {run.parameters} {run.state.message if run.state else ''}" for run in runs
        ),
        "block documents": "\n".join(repr(block.data) for block in blocks),
    }


def stored_results() -> str:
    """Every file Prefect persisted results to (the harness's local storage)."""
    storage = Path(str(PREFECT_LOCAL_STORAGE_PATH.value())).expanduser()
    files = [path for path in storage.rglob("*") if path.is_file()] if storage.exists() else []
    return "\n".join(path.read_bytes().decode("latin-1") for path in files)


async def provoke_failures(server: SandboxServer) -> list[BaseException]:
    """Failures whose messages and tracebacks could carry a secret: refused writes and a wrong token."""
    failures: list[BaseException] = []
    async with SuperviselyClient(ConnectionSettings(server_address=server.url, api_token=TOKEN)) as api:
        for login, password in (("labeler_1", ANNOTATOR_PASSWORD), ("cxnt", ADMIN_PASSWORD)):
            try:
                await api.add_user(login, password)  # a duplicate login: 400
            except SuperviselyError as error:
                failures.append(error)
    wrong = ConnectionSettings(server_address=server.url, api_token=SecretStr("WrongToken" + "1" * 40))
    async with SuperviselyClient(wrong) as api:
        try:
            await api.get_me()
        except SuperviselyError as error:
            failures.append(error)
    assert len(failures) == 3
    return failures


async def run_round(name: str, block: str, **overrides: Any) -> tuple[UUID, Any]:
    """One labeling_round run through the named credentials block and the password Secret: (run id, outcome or
    the exception it raised)."""
    state = await labeling_round(
        round_spec(round_name=name, **overrides),
        credentials_block=block,
        password_secret="leak-passwords",
        return_state=True,
    )
    try:
        result: Any = await state.result()
    except (RoundError, SuperviselyError) as error:
        result = error
    return state.state_details.flow_run_id, result


async def test_no_token_or_password_appears_anywhere(
    prefect_backend: None, all_logs: Everything, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("SERVER_ADDRESS", "API_TOKEN", PASSWORD_ENV):
        monkeypatch.delenv(variable, raising=False)
    crew = CrewConfig(reject_rate=0.3, max_rejections_per_image=1, poll_interval=0.02, seed=7)
    with SandboxServer(
        seed="lemons", crew=crew, admin_token=TOKEN, admin_password=ADMIN_PASSWORD, access_log=True
    ) as server:
        credentials = SuperviselyCredentials(server_address=server.url, api_token=TOKEN)
        await credentials.save("leak-credentials", overwrite=True)
        await SuperviselyCredentials(
            server_address=server.url, api_token=SecretStr("WrongToken" + "2" * 40)
        ).save("leak-wrong-credentials", overwrite=True)
        await Secret(value=ANNOTATOR_PASSWORD.get_secret_value()).save("leak-passwords", overwrite=True)

        good_run, outcome = await run_round("leak-round", "leak-credentials")
        assert outcome.status == "finished"
        assert_round_report(server, outcome.report.totals, outcome.round_key, server.project_id or 0)
        bad_project_run, bad_project = await run_round(
            "leak-bad", "leak-credentials", project="No such project"
        )
        wrong_token_run, wrong_token = await run_round("leak-wrong", "leak-wrong-credentials")
        assert isinstance(bad_project, RoundError) and isinstance(wrong_token, SuperviselyError)
        failures = [bad_project, wrong_token, *await provoke_failures(server)]
        async with SuperviselyClient(credentials.settings()) as api:
            reprs = [repr(api), repr(api.stats), str(credentials.settings()), repr(credentials.settings())]
        reprs += [
            repr(credentials),
            str(credentials),
            repr(server),
            repr(outcome),
            repr(server.traffic_stats()),
        ]

    records = await prefect_records([good_run, bad_project_run, wrong_token_run])
    for where, text in records.items():
        assert_clean(where, text)
    python_logs = "\n".join(all_logs.lines)
    assert (
        "uvicorn.access" in python_logs and "labelrounds.client" in python_logs
    )  # both were really captured
    assert_clean("Python logging (client, httpx, the sandbox's access log)", python_logs)
    assert_clean("exception messages and tracebacks", "\n".join(failure_text(error) for error in failures))
    assert_clean("reprs", "\n".join(reprs))
    assert_clean("persisted results", stored_results())
