"""Every deployment definition names a flow of this repository and parameters that flow accepts."""

from __future__ import annotations

import pytest
from prefect.flows import load_flow_from_entrypoint

from deployments.definitions import DeploymentDefinition, deployment_definitions

DEFINITIONS = deployment_definitions()


@pytest.mark.parametrize("definition", DEFINITIONS, ids=[d.name for d in DEFINITIONS])
def test_the_default_parameters_are_valid_for_the_flow(definition: DeploymentDefinition) -> None:
    flow = load_flow_from_entrypoint(definition.absolute_entrypoint)
    validated = flow.validate_parameters(definition.parameters)
    assert set(validated) >= set(definition.parameters)
    assert flow.description  # shown on the deployment's page
    if "credentials_block" in flow.parameters.properties:
        assert definition.parameters["credentials_block"] == "supervisely"


def test_names_schedules_and_limits() -> None:
    by_name = {d.name: d for d in DEFINITIONS}
    assert list(by_name) == ["lemons", "weekly", "onboarding", "report", "cleanup", "watcher"]
    weekly, watcher = by_name["weekly"].schedule, by_name["watcher"].schedule
    assert weekly is not None and (weekly.cron, weekly.timezone, weekly.active) == ("0 6 * * 1", "Europe/Berlin", True)
    assert watcher is not None and watcher.interval.total_seconds() == 300
    assert by_name["weekly"].parameters["gate_mode"] == "suspend"
    assert by_name["weekly"].parameters["spec"]["image_selection"] == "not_yet_labeled"
    assert by_name["watcher"].concurrency_limit is not None and by_name["watcher"].concurrency_limit.limit == 1


def test_schedules_can_be_deployed_paused_and_credentials_left_to_the_environment() -> None:
    quiet = {d.name: d for d in deployment_definitions(None, None, weekly_active=False, watcher_active=False)}
    assert not any(d.schedule.active for d in quiet.values() if d.schedule is not None)
    assert quiet["lemons"].parameters["credentials_block"] is None
    assert quiet["lemons"].parameters["password_secret"] is None
