"""What gets deployed: one definition per flow deployment, its defaults, schedule, tags and concurrency."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.schedules import Cron, Interval, Schedule

from deployments.names import CREDENTIALS_BLOCK, PASSWORD_SECRET, WATCH_INTERVAL_SECONDS
from labelrounds.round_spec import RoundSpec, load_round_spec

REPO_DIR = Path(__file__).resolve().parents[1]
LEMONS_ROUND_FILE = REPO_DIR / "examples" / "round.yaml"

WEEKLY_CRON = "0 6 * * 1"
WEEKLY_TIMEZONE = "Europe/Berlin"


@dataclass(frozen=True)
class DeploymentDefinition:
    """One deployment of a flow: the flow's entrypoint in this repository and how it runs."""

    name: str
    entrypoint: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    schedule: Schedule | None = None
    concurrency_limit: ConcurrencyLimitConfig | None = None
    tags: tuple[str, ...] = ()

    @property
    def absolute_entrypoint(self) -> str:
        """The entrypoint with the flow file's absolute path."""
        return str(REPO_DIR / self.entrypoint)

    def options(self) -> dict[str, Any]:
        """The keyword arguments that make this deployment, for `Flow.to_deployment` and its async twin."""
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
            "schedule": self.schedule,
            "concurrency_limit": self.concurrency_limit,
            "tags": list(self.tags),
        }


def lemons_round_spec() -> RoundSpec:
    """The example round of the sandbox's lemons project (examples/round.yaml), the round deployments' default."""
    return load_round_spec(LEMONS_ROUND_FILE)


def weekly_round_spec() -> RoundSpec:
    """The scheduled round: the example round renamed (the flow adds the ISO week), over images no job covers yet."""
    example = lemons_round_spec().model_dump(mode="json")
    return RoundSpec.model_validate({**example, "round_name": "weekly-lemons", "image_selection": "not_yet_labeled"})


def deployment_definitions(
    credentials_block: str | None = CREDENTIALS_BLOCK,
    password_secret: str | None = PASSWORD_SECRET,
    weekly_active: bool = True,
    watcher_active: bool = True,
    watch_interval_seconds: int = WATCH_INTERVAL_SECONDS,
) -> list[DeploymentDefinition]:
    """Every deployment, with the credentials block (and password secret) the runs use by default.

    Args:
        credentials_block: name of the SuperviselyCredentials block every flow reads its connection from (None:
            the environment of the process that runs the flow).
        password_secret: name of the Secret block with the passwords of annotators to create (None: from the
            environment of the worker).
        weekly_active: whether the weekly round's schedule is active.
        watcher_active: whether the watcher's schedule is active (without it suspended rounds wait until the
            watcher is run by hand).
        watch_interval_seconds: seconds between two watcher passes (longer with the webhook receiver, whose
            deliveries resume rounds at once and leave the watcher only lost deliveries to catch).
    """
    connection = {"credentials_block": credentials_block}
    example = lemons_round_spec()
    round_parameters = {**connection, "password_secret": password_secret}
    where = {"team": example.team, "project": example.project}
    return [
        DeploymentDefinition(
            name="lemons",
            entrypoint="flows/labeling_round.py:labeling_round",
            description="A labeling round; defaults: the sandbox's lemons project. Start it from the form.",
            parameters={**round_parameters, "spec": example.model_dump(mode="json")},
            tags=("labelrounds", "round"),
        ),
        DeploymentDefinition(
            name="weekly",
            entrypoint="flows/labeling_round.py:labeling_round",
            description="Every Monday: a round named after the ISO week over the images no job covers yet; it "
            "waits suspended (holding no worker) until the watcher resumes it.",
            parameters={
                **round_parameters,
                "spec": weekly_round_spec().model_dump(mode="json"),
                "gate_mode": "suspend",
                "round_name_suffix": "iso-week",
            },
            schedule=Cron(WEEKLY_CRON, timezone=WEEKLY_TIMEZONE, active=weekly_active),
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
            tags=("labelrounds", "round", "weekly"),
        ),
        DeploymentDefinition(
            name="onboarding",
            entrypoint="flows/onboard_annotators.py:onboard_annotators",
            description="Create the annotators (restricted accounts) and add them to the team.",
            parameters={
                **round_parameters,
                "team": example.team,
                "labelers": [labeler.model_dump(mode="json") for labeler in example.labelers],
                "reviewer": example.reviewer.model_dump(mode="json"),
            },
            tags=("labelrounds",),
        ),
        DeploymentDefinition(
            name="report",
            entrypoint="flows/round_report.py:round_report",
            description="Report on existing jobs, chosen by round, status or labeler.",
            parameters={**connection, **where},
            tags=("labelrounds",),
        ),
        DeploymentDefinition(
            name="cleanup",
            entrypoint="flows/cleanup_jobs.py:cleanup_jobs",
            description="Archive or remove old jobs by filter and age; a dry run unless dry_run is unticked.",
            parameters={**connection, **where},
            tags=("labelrounds",),
        ),
        DeploymentDefinition(
            name="watcher",
            entrypoint="flows/watch_suspended_rounds.py:watch_suspended_rounds",
            description="Resume every suspended round whose jobs reached their target status.",
            parameters=connection,
            schedule=Interval(watch_interval_seconds, active=watcher_active),
            # Two passes at once would only check the same rounds twice: a late one is dropped.
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            tags=("labelrounds", "watcher"),
        ),
    ]
