"""`labelrounds demo`: a fresh lemons sandbox with a simulated crew, the round flow on a local Prefect, the report."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from deployments.report_view import print_report
from deployments.run_round import EXIT_FAILED, EXIT_FINISHED, quiet_prefect_analytics, run_with_progress
from labelrounds.round_spec import RoundSpec, load_round_spec

#: The crew: instant, the reviewer rejects about 30 % of the images once; seed 7 rejects some of the six lemons
#: images, so the demo always shows a rework cycle.
DEMO_CREW = "speed=0,reject=0.3,seed=7"
DEMO_GATE = {"round_name": "demo", "poll_interval_seconds": 0.25, "timeout_seconds": 90}


def demo_spec() -> RoundSpec:
    """The example round (examples/round.yaml) under the name 'demo', with a fast gate."""
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
#: ignored by git): kept between runs, so only the first run pays for creating the ephemeral server's database.
DEMO_PREFECT_HOME = Path(".prefect-demo")


@contextmanager
def local_prefect() -> Iterator[str]:
    """Prefect for the demo: the configured one when PREFECT_HOME or PREFECT_API_URL is set, else DEMO_PREFECT_HOME.

    The demo's own home holds an ephemeral server's database (flow runs of earlier demos stay visible there);
    delete the directory to start afresh. It never touches the user's own Prefect home.
    """
    quiet_prefect_analytics()
    # A fresh ephemeral server migrates its database first; Prefect's default 20 s is too short on a busy machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    if "PREFECT_HOME" in os.environ or "PREFECT_API_URL" in os.environ:
        yield os.environ.get("PREFECT_API_URL") or f"ephemeral server in {os.environ['PREFECT_HOME']}"
        return
    home = DEMO_PREFECT_HOME.resolve()
    state = "kept from earlier runs" if (home / "prefect.db").exists() else "new"
    home.mkdir(exist_ok=True)
    with environ(PREFECT_HOME=str(home)):
        yield f"ephemeral server in {home} ({state})"


async def count_project_images(url: str, token: SecretStr, project_id: int) -> int:
    """How many images the project holds, listed afresh (the demo round selects them all)."""
    from labelrounds.client import ConnectionSettings, SuperviselyClient

    async with SuperviselyClient(ConnectionSettings(server_address=url, api_token=token)) as api:
        datasets = await api.list_datasets(project_id)
        return sum([len(await api.list_images(dataset.id)) for dataset in datasets])


def run_demo(console: Console) -> int:
    """Run the demo round end to end and print its report; return the exit status."""
    with ExitStack() as stack:
        where = stack.enter_context(local_prefect())
        from labelrounds.sandbox.crew import CrewConfig
        from labelrounds.sandbox.server import SandboxServer
        from tasks.credentials import PASSWORD_ENV

        sandbox = stack.enter_context(SandboxServer(seed="lemons", crew=CrewConfig.parse(DEMO_CREW)))
        stack.enter_context(
            environ(
                SERVER_ADDRESS=sandbox.url,
                API_TOKEN=sandbox.admin_token.get_secret_value(),
                **{PASSWORD_ENV: secrets.token_urlsafe(18)},
            )
        )
        console.print(f"Sandbox (lemons, crew {DEMO_CREW}) at {sandbox.url}; Prefect: {where}")
        spec = demo_spec()
        outcome = run_with_progress(console, spec)
        if outcome is None:
            return EXIT_FAILED
        print_report(console, outcome.report, f"Round {outcome.round_key}")
        images = asyncio.run(count_project_images(sandbox.url, sandbox.admin_token, sandbox.project_id or 0))
        problems = outcome.report.problems(selected_images=images)
        if problems:
            console.print("[red]report checks failed:[/red] " + "; ".join(problems))
            return EXIT_FAILED
        console.print(f"report checks: all {images} images of the project counted, no impossible figure")
        return EXIT_FINISHED
    return EXIT_FAILED  # pragma: no cover - ExitStack does not swallow exceptions
