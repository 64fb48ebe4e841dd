"""The watcher: resume every suspended labeling round whose jobs reached their target or can never reach it.

With the webhook receiver deployed (`labelrounds deploy --receiver-url`), job completions resume rounds at once
(`tasks.round_events`, `deployments.automations`) and the watcher is the fallback for lost deliveries, for rounds
whose target is `on_review` (Supervisely's webhooks announce completions only) and for a job finished between a
gate's last check and its run's suspension: run it at a long interval then (`--watch-interval 3600`).
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from pydantic import BaseModel, Field

from labelrounds.steps.resume import resume_reason
from tasks.credentials import connection_settings
from tasks.watch import ROUND_FLOW_NAME, check_round, find_suspended_rounds, resume_round


class WatchOutcome(BaseModel):
    """What one pass of the watcher saw and did, by round key."""

    checked: dict[str, str] = Field(default_factory=dict, description="Round key → the gate's summary line.")
    resumed: dict[str, list[str]] = Field(default_factory=dict, description="Round key → the runs resumed.")
    stalled: list[str] = Field(
        default_factory=list, description="Round keys resumed because a job was stopped or removed (their gate fails)."
    )
    waiting: list[str] = Field(default_factory=list, description="Round keys whose jobs are not ready yet.")
    unchecked: list[str] = Field(
        default_factory=list, description="Round keys whose check failed (the next pass checks them again)."
    )

    def markdown(self) -> str:
        """A short markdown table of the pass, for an artifact."""
        rows = [
            f"| {key} | {summary} | {', '.join(self.resumed.get(key, [])) or '—'}"
            f"{' (stalled: its gate fails)' if key in self.stalled else ''} |"
            for key, summary in self.checked.items()
        ]
        rows += [f"| {key} | check failed, next pass retries | — |" for key in self.unchecked]
        head = "| round | jobs | resumed runs |\n|---|---|---|"
        return "\n".join([head, *rows]) if rows else "No suspended round."


@flow(name="watch-suspended-rounds", flow_run_name="watch-suspended-rounds", log_prints=False)
async def watch_suspended_rounds(
    credentials_block: str | None = None, flow_name: str = ROUND_FLOW_NAME
) -> WatchOutcome:
    """Check every suspended round once (one job listing per round); resume the rounds that are ready or stalled.

    A stalled round (a job stopped or removed) is resumed too: its gate, run again, fails at once with
    RoundStalledError instead of holding the round until its timeout. A run is resumed only while it is paused,
    so no run is ever resumed twice.

    Args:
        credentials_block: name of the SuperviselyCredentials block; None reads SERVER_ADDRESS and API_TOKEN from
            the environment (or local.env, ~/supervisely.env).
        flow_name: the name of the round flow whose paused runs are watched.
    """
    suspended_rounds = await find_suspended_rounds(flow_name)
    outcome = WatchOutcome()
    if suspended_rounds:
        settings = connection_settings(credentials_block)
        for suspended in suspended_rounds:
            checked = await check_round(settings, suspended, return_state=True)
            if checked.is_failed():  # one round's failed check must not keep the others waiting
                outcome.unchecked.append(suspended.round_key)
                continue
            snapshot = await checked.result()
            if snapshot is None:
                continue
            outcome.checked[suspended.round_key] = snapshot.summary()
            reason = resume_reason(snapshot)
            if reason is None:
                outcome.waiting.append(suspended.round_key)
                continue
            if reason == "stalled":
                outcome.stalled.append(suspended.round_key)
            outcome.resumed[suspended.round_key] = await resume_round(suspended)
    await acreate_markdown_artifact(
        key="watch-suspended-rounds", markdown=outcome.markdown(), description="Suspended rounds at the last check"
    )
    return outcome
