"""`round plan` and the exit statuses of `round run` through the command line, against a real sandbox.

Exit 2 cases are all decided before Prefect starts, so these tests need no Prefect server. The oracles are the
sandbox's store (a digest of every row: equal digests mean nothing was written) and raw API reads.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from security.world import fingerprint
from typer.testing import CliRunner

from deployments import round_checks
from deployments.cli import app
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import load_round_spec
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.store import Store
from labelrounds.steps.jobs import create_jobs
from labelrounds.steps.meta import prepare_round_meta
from labelrounds.steps.split import split_images
from labelrounds.steps.targets import resolve_target
from labelrounds.steps.users import ensure_round_users
from tasks.credentials import PASSWORD_ENV

REPO_DIR = Path(__file__).resolve().parents[2]
PASSWORD = SecretStr("Plan-labeler-2026")
runner = CliRunner()


def written(store: Store | None) -> str:
    """The store's digest (the sandbox runs in this process)."""
    assert store is not None
    return fingerprint(store)


@pytest.fixture
def connected(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    """A fresh lemons sandbox with the admin's connection and the annotator password in the environment."""
    monkeypatch.setenv("SERVER_ADDRESS", sandbox.url)
    monkeypatch.setenv("API_TOKEN", sandbox.admin_token.get_secret_value())
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD.get_secret_value())
    return sandbox


def round_file(tmp_path: Path, **overrides: Any) -> Path:
    """The example round (lemons) with overrides, written as YAML."""
    data = {**load_round_spec(REPO_DIR / "examples" / "round.yaml").model_dump(mode="json"), **overrides}
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


async def raw_images_per_dataset(sandbox: SandboxServer) -> dict[str, int]:
    """Images of each lemons dataset as the server lists them (raw calls, not the code under test)."""
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings) as api:
        datasets = await api.call("datasets.list", {"projectId": sandbox.project_id}, idempotent=True)
        counts = {}
        for dataset in datasets["entities"]:
            images = await api.call("images.list", {"datasetId": dataset["id"]}, idempotent=True)
            counts[dataset["name"]] = int(images["total"])
    return counts


def invoke(*args: str) -> Any:
    """Run the `labelrounds` command in this process."""
    return runner.invoke(app, list(args))


def test_plan_prints_people_meta_and_jobs_and_writes_nothing(connected: SandboxServer, tmp_path: Path) -> None:
    before = written(connected.store)

    result = invoke("round", "plan", "--config", str(round_file(tmp_path)))

    assert result.exit_code == 0, result.output
    assert written(connected.store) == before  # nothing written
    images = asyncio.run(raw_images_per_dataset(connected))
    total = sum(images.values())
    assert f"{total} images in 2 jobs, 0 of them already created" in result.output
    (dataset,) = images  # lemons has one dataset; the even split gives each labeler half of it
    rows = [line for line in result.output.splitlines() if "labeler_" in line and dataset in line]
    assert len(rows) == 2 and all(f" {total // 2} " in row and " new " in row for row in rows)
    assert "Nothing was written" in result.output and "warning" not in result.output
    assert connected.admin_token.get_secret_value() not in result.output


def test_nothing_written_is_a_check_that_fails_when_something_is_written(connected: SandboxServer) -> None:
    before = written(connected.store)

    async def create_the_accounts() -> None:
        settings = ConnectionSettings(server_address=connected.url, api_token=connected.admin_token)
        async with SuperviselyClient(settings) as api:
            await ensure_round_users(api, load_round_spec(REPO_DIR / "examples" / "round.yaml"), PASSWORD)

    asyncio.run(create_the_accounts())  # the mutant: a "plan" that creates the round's accounts
    assert written(connected.store) != before


def test_plan_shows_the_jobs_a_rerun_would_reuse(connected: SandboxServer, tmp_path: Path) -> None:
    async def first_run_jobs() -> list[int]:
        settings = ConnectionSettings(server_address=connected.url, api_token=connected.admin_token)
        async with SuperviselyClient(settings) as api:
            spec = load_round_spec(REPO_DIR / "examples" / "round.yaml")
            target = await resolve_target(api, spec)
            people = await ensure_round_users(api, spec, PASSWORD)
            await prepare_round_meta(api, target.project.id, spec)
            await create_jobs(api, target, spec, await split_images(api, target, spec), people.user_ids)
            listed = await api.call("jobs.list", {"teamId": target.team.id, "showDisabled": True}, idempotent=True)
            return sorted(int(job["id"]) for job in listed["entities"])

    job_ids = asyncio.run(first_run_jobs())
    before = written(connected.store)

    result = invoke("round", "plan", "--config", str(round_file(tmp_path)))

    assert result.exit_code == 0, result.output
    assert written(connected.store) == before
    assert "2 of them already created by an earlier run" in result.output
    assert all(f"reuses job {job_id}" in result.output for job_id in job_ids) and " new " not in result.output
    assert "none: every account, class and tag exists" in result.output


def test_plan_warns_about_a_labeler_without_images(connected: SandboxServer, tmp_path: Path) -> None:
    images = sum(asyncio.run(raw_images_per_dataset(connected)).values())
    labelers = [{"login": f"labeler_{number}"} for number in range(1, images + 2)]  # one more than images

    result = invoke("round", "plan", "--config", str(round_file(tmp_path, labelers=labelers)))

    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: labeler 'labeler_{images + 1}' gets no image ({images} images over {images + 1} labelers)"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"datasets": ["no such dataset"]}, "no such dataset"),
        ({"classes": [{"name": "lemon", "shape": "rectangle"}]}, "class 'lemon' is a bitmap in the project"),
        ({"project": "No Such Project"}, "No Such Project"),
    ],
)
@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_round_the_server_refuses_exits_2_with_one_message_and_writes_nothing(
    connected: SandboxServer, tmp_path: Path, command: str, overrides: dict[str, Any], message: str
) -> None:
    before = written(connected.store)

    result = invoke("round", command, "--config", str(round_file(tmp_path, **overrides)))

    assert result.exit_code == 2, result.output
    assert message in result.output and "the round cannot start" in result.output
    assert "Traceback" not in result.output
    assert written(connected.store) == before


def test_a_refused_token_exits_2_and_debug_shows_the_traceback(
    connected: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "x" * 128)
    config = str(round_file(tmp_path))

    result = invoke("round", "run", "--config", config)
    debugged = invoke("round", "run", "--config", config, "--debug")

    assert result.exit_code == 2 and debugged.exit_code == 2
    assert "refused the API token (HTTP 401)" in result.output and "Traceback" not in result.output
    assert "Traceback" in debugged.output and "UnauthorizedError" in debugged.output
    assert "x" * 128 not in result.output + debugged.output


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def free_port() -> int:
    """A port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_dead_or_silent_server_exits_2_before_prefect_starts(
    connected: SandboxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent_port: int
) -> None:
    config = str(round_file(tmp_path))
    monkeypatch.setenv("SERVER_ADDRESS", f"http://127.0.0.1:{free_port()}")

    refused = invoke("round", "run", "--config", config)

    assert refused.exit_code == 2, refused.output
    assert "cannot use the Supervisely API at http://127.0.0.1" in refused.output and "ConnectError" in refused.output
    assert "Traceback" not in refused.output

    monkeypatch.setenv("SERVER_ADDRESS", f"http://127.0.0.1:{silent_port}")
    monkeypatch.setattr(round_checks, "PREFLIGHT_SECONDS", 0.5)  # the real bound is 8 s; the path is the same
    silent = invoke("round", "plan", "--config", config)

    assert silent.exit_code == 2, silent.output
    assert f"no answer from http://127.0.0.1:{silent_port} within 0.5 s" in silent.output


def test_the_preflight_bound_is_under_ten_seconds() -> None:
    policy = round_checks.PREFLIGHT_RETRIES
    assert round_checks.PREFLIGHT_SECONDS < 10 and policy.max_total <= round_checks.PREFLIGHT_SECONDS


def test_a_bad_file_exits_2_naming_the_field(connected: SandboxServer, tmp_path: Path) -> None:
    path = round_file(tmp_path, labelers=[{"login": "labeler_1", "weight": -1}])

    result = invoke("round", "plan", "--config", str(path))

    assert result.exit_code == 2 and "labelers[0].weight" in result.output and "Traceback" not in result.output


def test_report_with_a_refused_token_exits_2_before_prefect_starts(
    connected: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "y" * 128)

    result = invoke("report", "--team", "my team")

    assert result.exit_code == 2 and "refused the API token (HTTP 401)" in result.output
    assert "Traceback" not in result.output and "y" * 128 not in result.output


@pytest.mark.parametrize("question", ["approve_plan", "approve_rework_cap"])
def test_a_round_that_asks_a_person_exits_2_from_round_run_and_writes_nothing(
    connected: SandboxServer, tmp_path: Path, question: str
) -> None:
    before = written(connected.store)

    result = invoke("round", "run", "--config", str(round_file(tmp_path, **{question: True})))

    assert result.exit_code == 2, result.output
    assert "needs a deployment run" in result.output and "Traceback" not in result.output
    assert written(connected.store) == before
