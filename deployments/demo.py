"""`labelrounds demo`: a fresh lemons sandbox with a simulated crew, the round flow on a local Prefect, the report."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from pydantic import SecretStr
from rich.console import Console

from deployments.prefect_server import PrefectServer, prefect_server
from deployments.report_view import print_report
from deployments.run_round import EXIT_FAILED, EXIT_FINISHED, quiet_prefect_analytics, run_with_progress
from labelrounds.round_spec import RoundSpec, load_round_spec
from labelrounds.steps.report import LABELER_GOLD_COLUMNS, RoundReport

if TYPE_CHECKING:
    from labelrounds.client import SuperviselyClient

#: The crew: instant labelers who draw the truth with skills 0.95 and 0.75 (so their gold scores differ); the
#: reviewer rejects about 30 % of the images once; seed 7 rejects some of the six lemons images, so the demo always
#: shows a rework cycle.
DEMO_CREW = "speed=0,reject=0.3,seed=7,skill=labeler_1:0.95+labeler_2:0.75"
#: Two datasets of the six lemons: the round labels ds1; the gold set is made from ds2, whose pictures are not the
#: round's (validation refuses a gold picture that is also a round picture).
DEMO_SEED = "lemons:2"
#: The round's dataset (named explicitly: `datasets: []` would take ds2 and the gold set too), the dataset the gold
#: pictures come from, and the gold source.
DEMO_DATASET = "ds1"
DEMO_GOLD_PICTURES = "ds2"
DEMO_GOLD_DATASET = "gold"
#: Images of the demo's gold set (copies of ds2's first images) and gold images hidden in each job.
DEMO_GOLD_IMAGES = 3
DEMO_GATE = {
    "round_name": "demo",
    "poll_interval_seconds": 0.25,
    "timeout_seconds": 90,
    "datasets": [DEMO_DATASET],
    "gold": {"source": DEMO_GOLD_DATASET, "per_job": 1},
}


def demo_spec() -> RoundSpec:
    """The example round (examples/round.yaml) under the name 'demo' on ds1, with gold checks and a fast gate."""
    from deployments.definitions import LEMONS_ROUND_FILE

    data = load_round_spec(LEMONS_ROUND_FILE).model_dump(mode="json")
    return RoundSpec.model_validate({**data, **DEMO_GATE})


@contextmanager
def environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block, then restore the previous values."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: The demo's Prefect home when none is configured, in the current directory (the project's, for `make demo`;
#: ignored by git): kept between runs, so only the first run pays for creating the local server's database.
DEMO_PREFECT_HOME = Path(".prefect-demo")


@dataclass(frozen=True)
class LocalPrefect:
    """The Prefect a demo or benchmark runs its flows on: where it is, and the local server when one was started."""

    where: str
    server: PrefectServer | None = None

    def wait_ready(self) -> None:
        """Wait for the local server to answer (nothing to wait for with a configured Prefect)."""
        if self.server is not None:
            self.server.wait_ready()


@contextmanager
def local_prefect() -> Iterator[LocalPrefect]:
    """Prefect for the demo: the configured one when PREFECT_HOME or PREFECT_API_URL is set, else a local server
    (`deployments.prefect_server`) with its database in DEMO_PREFECT_HOME, started now and stopped at the end.

    The server starts in the background (call `wait_ready` before the first flow; requests sent earlier wait for
    it), so its start overlaps whatever the caller does meanwhile. Its database keeps the flow runs of earlier demos;
    delete the directory to start afresh. It never touches the user's own Prefect home.
    """
    quiet_prefect_analytics()
    # A configured PREFECT_HOME without an API URL gets Prefect's own ephemeral server, which migrates a new database
    # first: Prefect's default 20 s is too short for that on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if "PREFECT_HOME" in os.environ or "PREFECT_API_URL" in os.environ:
        yield LocalPrefect(os.environ.get("PREFECT_API_URL") or f"ephemeral server in {os.environ['PREFECT_HOME']}")
        return
    home = DEMO_PREFECT_HOME.resolve()
    state = "kept from earlier runs" if (home / "prefect.db").exists() else "new"
    with (
        prefect_server(home) as server,
        environ(PREFECT_HOME=str(home), PREFECT_API_URL=server.api_url),
        prefect_settings(home, server.api_url),
    ):
        yield LocalPrefect(f"local server {server.api_url}, database in {home} ({state})", server)


@contextmanager
def prefect_settings(home: Path, api_url: str) -> Iterator[None]:
    """Point an already imported Prefect at `home` and `api_url` for the block (Prefect reads the environment once,
    when it is imported; the environment serves a Prefect imported later and subprocesses)."""
    if "prefect.settings" not in sys.modules:
        yield
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, temporary_settings  # noqa: PLC0415

    with temporary_settings({PREFECT_HOME: home, PREFECT_API_URL: api_url}):
        yield


def admin_client(url: str, token: SecretStr) -> SuperviselyClient:
    """A client of the demo's sandbox with the instance admin's token."""
    from labelrounds.client import ConnectionSettings, SuperviselyClient

    return SuperviselyClient(ConnectionSettings(server_address=url, api_token=token))


async def prepare_demo_gold(url: str, token: SecretStr, project_id: int) -> int:
    """The demo's gold set (copies of DEMO_GOLD_IMAGES images of DEMO_GOLD_PICTURES annotated with their truth);
    returns its image count."""
    from labelrounds.sandbox.gold_set import prepare_gold_dataset

    async with admin_client(url, token) as api:
        (source,) = [dataset for dataset in await api.list_datasets(project_id) if dataset.name == DEMO_GOLD_PICTURES]
        gold = await prepare_gold_dataset(api, token, project_id, source.id, DEMO_GOLD_IMAGES, DEMO_GOLD_DATASET)
        return len(await api.list_images(gold.id))


async def count_dataset_images(url: str, token: SecretStr, dataset_id: int) -> int:
    """How many images the round's dataset holds, listed afresh (the demo round selects them all)."""
    async with admin_client(url, token) as api:
        return len(await api.list_images(dataset_id))


def gold_problems(report: RoundReport) -> list[str]:
    """What is wrong with the report's gold columns: missing, a labeler without gold images, a score out of [0, 1]."""
    missing = [column for column in LABELER_GOLD_COLUMNS if column not in report.labelers.columns]
    if missing:
        return [f"the per-labeler table lacks {', '.join(missing)}"]
    problems = []
    for row in report.labelers.itertuples(index=False):
        if pd.isna(row.gold_images) or row.gold_images < 1:
            problems.append(f"{row.labeler} got no gold image")
        for column in LABELER_GOLD_COLUMNS[1:]:
            value = getattr(row, column)
            if pd.isna(value) or not 0 <= value <= 1:
                problems.append(f"{row.labeler}'s {column} is {value}, not in [0, 1]")
    return problems


def run_demo(console: Console) -> int:
    """Run the demo round end to end and print its report; return the exit status."""
    with ExitStack() as stack:
        prefect = stack.enter_context(local_prefect())  # first: its server starts while the sandbox does
        from labelrounds.sandbox.crew import CrewConfig
        from labelrounds.sandbox.server import SandboxServer
        from tasks.credentials import PASSWORD_ENV

        sandbox = stack.enter_context(SandboxServer(seed=DEMO_SEED, crew=CrewConfig.parse(DEMO_CREW)))
        stack.enter_context(
            environ(
                SERVER_ADDRESS=sandbox.url,
                API_TOKEN=sandbox.admin_token.get_secret_value(),
                **{PASSWORD_ENV: secrets.token_urlsafe(18)},
            )
        )
        console.print(f"Sandbox ({DEMO_SEED}, crew {DEMO_CREW}) at {sandbox.url}; Prefect: {prefect.where}")
        gold_images = asyncio.run(prepare_demo_gold(sandbox.url, sandbox.admin_token, sandbox.project_id or 0))
        console.print(
            f"Gold set: dataset {DEMO_GOLD_DATASET!r} with {gold_images} lemons images of {DEMO_GOLD_PICTURES} "
            f"(not pictures of the round's {DEMO_DATASET}) and their truth"
        )
        spec = demo_spec()
        import flows.labeling_round  # noqa: F401, PLC0415 - imported (seconds of CPU) while the server starts

        prefect.wait_ready()
        outcome = run_with_progress(console, spec)
        if outcome is None:
            return EXIT_FAILED
        print_report(console, outcome.report, f"Round {outcome.round_key}")
        images = asyncio.run(count_dataset_images(sandbox.url, sandbox.admin_token, sandbox.dataset_id))
        problems = outcome.report.problems(selected_images=images) + gold_problems(outcome.report)
        if problems:
            console.print("[red]report checks failed:[/red] " + "; ".join(problems))
            return EXIT_FAILED
        console.print(
            f"report checks: all {images} images of {DEMO_DATASET} counted (no gold copy left), "
            "every gold figure in [0, 1], no impossible figure"
        )
        return EXIT_FINISHED
    return EXIT_FAILED  # pragma: no cover - ExitStack does not swallow exceptions
