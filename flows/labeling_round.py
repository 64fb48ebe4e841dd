"""The labeling round flow: the one composition of the steps (`labelrounds.steps.sequence`) over Prefect tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pandas as pd
from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Cancelled, State

from flows.round_steps import TaskRoundSteps
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.approval import PlanRejectedError
from labelrounds.steps.archive import EndResult
from labelrounds.steps.report import RoundReport
from labelrounds.steps.sequence import run_round
from tasks.approvals import require_deployment_for_approvals
from tasks.credentials import aconnection_settings
from tasks.events import announce_failure, announce_finished
from tasks.gate import GateMode, require_deployment_for_suspend

RoundNameSuffix = Literal["none", "iso-week", "date"]


@dataclass(frozen=True)
class RoundOutcome:
    """What a finished round did: its key, the job ids of each cycle, the end action, the report and its CSVs."""

    round_name: str
    round_key: str
    status: Literal["finished"]
    job_ids_per_cycle: list[list[int]]
    end: EndResult
    report: RoundReport
    csv_paths: dict[str, str] = field(default_factory=dict)

    @property
    def jobs(self) -> pd.DataFrame:
        """The per-job report."""
        return self.report.jobs

    @property
    def labelers(self) -> pd.DataFrame:
        """The per-labeler report."""
        return self.report.labelers


def round_name_suffix(suffix: RoundNameSuffix, when: datetime) -> str:
    """The suffix a scheduled round appends to its name: '', '-2026-w48' (ISO week) or '-2026-11-30'."""
    if suffix == "iso-week":
        year, week, _ = when.isocalendar()
        return f"-{year}-w{week:02d}"
    if suffix == "date":
        return f"-{when:%Y-%m-%d}"
    return ""


def with_name_suffix(spec: RoundSpec, suffix: RoundNameSuffix) -> RoundSpec:
    """The spec under its suffixed name, dated by the run's scheduled start (so a resumed run keeps the name)."""
    if suffix == "none":
        return spec
    when = flow_run.scheduled_start_time or datetime.now(UTC)
    data = spec.model_dump(mode="json")
    return RoundSpec.model_validate({**data, "round_name": spec.round_name + round_name_suffix(suffix, when)})


def round_run_name() -> str:
    """The flow run's name: the round's name (the parameter may still be a plain dict)."""
    spec: Any = flow_run.parameters.get("spec")
    name = spec.round_name if isinstance(spec, RoundSpec) else (spec or {}).get("round_name", "round")
    suffix = flow_run.parameters.get("round_name_suffix", "none")
    return f"{name}{'+' + suffix if suffix != 'none' else ''}"


@flow(name="labeling-round", flow_run_name=round_run_name, log_prints=False, persist_result=True)
async def labeling_round(
    spec: RoundSpec,
    credentials_block: str | None = None,
    password_secret: str | None = None,
    gate_mode: GateMode = "poll",
    report_dir: str | None = None,
    round_name_suffix: RoundNameSuffix = "none",
) -> RoundOutcome | State:
    """Run a labeling round on Supervisely to the end and report it; a re-run with the same name reuses its work.

    With `spec.approve_plan` the run waits for a person after validation; a rejected plan ends it Cancelled (a
    person's decision, not a failure: no failure alert, no finished-round figures), with nothing written.

    Args:
        spec: the round: team, project, datasets, people, classes and tags, selection, split, gate and end.
        credentials_block: name of a SuperviselyCredentials block; None reads SERVER_ADDRESS and API_TOKEN from the
            environment (or ./local.env, ~/supervisely.env).
        password_secret: name of a Secret block with the password of new annotator accounts (one string, or a JSON
            object login → password); None reads LABELROUNDS_ANNOTATOR_PASSWORD from the environment.
        gate_mode: "poll" waits in this process (task retries every poll interval); "suspend" checks once and
            suspends the run until the watcher resumes it (deployment runs only).
        report_dir: directory for the report's CSV files (None: artifacts only).
        round_name_suffix: append the ISO week ("-2026-w48") or the date of the run's scheduled start to the
            round name, so a scheduled deployment starts a new round each time.
    """
    spec = with_name_suffix(spec, round_name_suffix)
    if gate_mode == "suspend":
        require_deployment_for_suspend()
    require_deployment_for_approvals(spec)
    settings = await aconnection_settings(credentials_block)
    steps = TaskRoundSteps(settings, password_secret, gate_mode, report_dir)
    try:
        run = await run_round(steps, spec)
    except PlanRejectedError as rejected:  # a person's decision, not a failure; nothing was written
        return Cancelled(message=str(rejected))
    except Exception as error:  # a suspension is a BaseException (Pause): not a failure
        announce_failure(spec.round_name, error)
        raise
    finally:
        steps.release_lease()
    announce_finished(
        run.target.round_key,
        {"cycles": len(run.cycles), "jobs": sum(map(len, run.job_ids_per_cycle)), "end": run.end.summary()},
    )
    return RoundOutcome(
        round_name=spec.round_name,
        round_key=run.target.round_key,
        status="finished",
        job_ids_per_cycle=run.job_ids_per_cycle,
        end=run.end,
        report=run.report.report,
        csv_paths=run.report.csv_paths,
    )
