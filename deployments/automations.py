"""Prefect automations `labelrounds deploy` creates: one small function per kind, and one idempotent upsert.

An automation is found again by its name: deploying again updates it in place (and removes any extra copy a
concurrent deploy left), so there is never more than one of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.events.actions import ResumeFlowRun, SendNotification
from prefect.events.schemas.automations import Automation, AutomationCore, EventTrigger, Posture

from deployments.notify_checks import NotificationTarget
from tasks import events
from tasks.approvals import DECISION_NEEDED, DECISION_TAKEN
from tasks.events import ROUND_RESOURCE_PREFIX
from tasks.round_events import JOB_COMPLETED_EVENT, ROUND_READY_EVENT

RESUME_READY_ROUNDS = "labelrounds-resume-ready-rounds"


def resume_ready_rounds_automation() -> AutomationCore:
    """Resume the flow run a `labelrounds.round.ready` event is related to (the receiver emits it, once per pause).

    The receiver emits the event only after one `jobs.list` showed every job of the run's gate ready (or stalled);
    Prefect's resume action resumes only a paused run, so a second event for the same pause changes nothing.
    """
    return AutomationCore(
        name=RESUME_READY_ROUNDS,
        description="Resume a suspended labeling round as soon as the webhook receiver confirmed its jobs are ready "
        "(the watcher deployment stays the fallback for lost deliveries).",
        trigger=EventTrigger(
            expect={ROUND_READY_EVENT},
            match={"prefect.resource.id": f"{ROUND_RESOURCE_PREFIX}*"},
            posture=Posture.Reactive,
            threshold=1,
            within=0,
        ),
        actions=[ResumeFlowRun()],
        tags=["labelrounds"],
    )


async def automations_named(client: PrefectClient, name: str) -> list[Automation]:
    """The automations of that name, oldest first."""
    filters = {"automations": {"name": {"any_": [name]}}, "sort": "CREATED_DESC"}
    reply = await client.request("POST", "/automations/filter", json=filters)
    return list(reversed(Automation.model_validate_list(reply.json())))


def _definition(value: Any) -> Any:
    """A dumped automation without ids (the server keeps the trigger's, a fresh definition has a new one), its sets
    of names sorted."""
    if isinstance(value, dict):
        return {key: _definition(item) for key, item in value.items() if key != "id"}
    if isinstance(value, list):
        items = [_definition(item) for item in value]
        return sorted(items) if all(isinstance(item, str) for item in items) else items
    return value


def same_definition(existing: AutomationCore, wanted: AutomationCore) -> bool:
    """Whether a stored automation already is what `wanted` defines (name, description, trigger, actions, tags...)."""
    fields = set(AutomationCore.model_fields)
    return bool(
        _definition(existing.model_dump(mode="json", include=fields))
        == _definition(wanted.model_dump(mode="json", include=fields))
    )


async def ensure_automation(automation: AutomationCore) -> UUID:
    """Create the automation, or update the one of the same name in place (extra copies are deleted)."""
    async with get_client() as client:
        existing = await automations_named(client, automation.name)
        if not existing:
            return await client.create_automation(automation)
        kept, *extra = existing  # the oldest stays, so its id is the same at every deploy
        for duplicate in extra:
            await client.delete_automation(duplicate.id)
        if same_definition(kept, automation):  # an update gives the trigger a new id: its open windows would be lost
            return kept.id
        # The client sends only the fields set on the model: re-validated, every field (defaults too) counts as set,
        # else an action's `type` left at its default is dropped and the server reads a do-nothing action.
        await client.update_automation(
            kept.id, AutomationCore.model_validate(automation.model_dump(mode="json", exclude_none=True))
        )
        return kept.id


NOTIFY_PREFIX = "labelrounds-notify"
_ROUND = "Round {{ event.payload.round_key }}"
_LINK = "{% if event.payload.url %}\n{{ event.payload.url }}{% endif %}"


@dataclass(frozen=True)
class RoundNotice:
    """The message of one round event: its Jinja subject and body over `event` (a body ends with the run's link)."""

    kind: str
    event: str
    subject: str
    body: str


#: One notice per round event a person needs to hear of; the figures come from the event's payload (`tasks.events`).
ROUND_NOTICES = (
    RoundNotice(
        "started",
        events.ROUND_STARTED,
        f"{_ROUND} started",
        "{{ event.payload.images }} images for {{ event.payload.labelers | join(', ') }}, reviewer "
        "{{ event.payload.reviewer }}, target {{ event.payload.target_status }}"
        "{% if event.payload.due %}, due {{ event.payload.due }}{% endif %}." + _LINK,
    ),
    RoundNotice(
        "cycle-finished",
        events.CYCLE_FINISHED,
        f"{_ROUND}: cycle {{{{ event.payload.cycle }}}} finished",
        "{{ event.payload.summary }}" + _LINK,
    ),
    RoundNotice(
        "stalled",
        events.ROUND_STALLED,
        f"{_ROUND} stalled",
        "Jobs {{ event.payload.stalled_job_ids | join(', ') }} can no longer reach the target. "
        "{{ event.payload.summary }}" + _LINK,
    ),
    RoundNotice(
        "deadline-at-risk",
        events.DEADLINE_AT_RISK,
        f"{_ROUND} may miss its deadline",
        "{{ event.payload.summary }}" + _LINK,
    ),
    RoundNotice(
        "finished",
        events.ROUND_FINISHED,
        f"{_ROUND} finished",
        "{{ event.payload.jobs }} jobs in {{ event.payload.cycles }} cycle(s). {{ event.payload.end }}"
        + _LINK,
    ),
    RoundNotice(
        "decision-needed",
        DECISION_NEEDED,
        f"{_ROUND} waits for a decision",
        "Question {{ event.payload.question }}: answer the form on the run's page." + _LINK,
    ),
    RoundNotice(
        "failed",
        events.ROUND_FAILED,
        f"{_ROUND} failed",
        "{{ event.payload.error }}: {{ event.payload.message }}" + _LINK,
    ),
)
#: News of a round's flow run: each opens a new window of no progress. A job completion the webhook receiver
#: confirmed counts: a suspended round runs no gate checks that would announce it; so does a question to a person
#: (the alert then quotes it as the last news) and the answer.
ROUND_NEWS = frozenset(
    {events.ROUND_PROGRESS, events.CYCLE_FINISHED, JOB_COMPLETED_EVENT, DECISION_NEEDED, DECISION_TAKEN}
)
NO_PROGRESS_STARTS = ROUND_NEWS | {events.ROUND_STARTED}
#: Any of these within a window: no alert.
NO_PROGRESS_NEWS = ROUND_NEWS | {events.ROUND_FINISHED, events.ROUND_FAILED}


def notification_automation_name(target: NotificationTarget, kind: str) -> str:
    """The automation's name, by which deploying again finds it: `labelrounds-notify-<TYPE/NAME>-<kind>`."""
    return f"{NOTIFY_PREFIX}-{target.label}-{kind}"


def _round_events_trigger(expect: set[str]) -> dict[str, object]:
    """The trigger fields every round automation shares: these events, about a round resource."""
    return {"expect": expect, "match": {"prefect.resource.id": f"{ROUND_RESOURCE_PREFIX}*"}}


def round_notice_automation(target: NotificationTarget, notice: RoundNotice) -> AutomationCore:
    """Send `notice` through the notification block on each of its round events."""
    return AutomationCore(
        name=notification_automation_name(target, notice.kind),
        description=f"Notify {target.label} when a labeling round's {notice.kind.replace('-', ' ')} event arrives.",
        trigger=EventTrigger(
            **_round_events_trigger({notice.event}), posture=Posture.Reactive, threshold=1, within=0
        ),
        actions=[
            SendNotification(
                block_document_id=target.block_document_id, subject=notice.subject, body=notice.body
            )
        ],
        tags=["labelrounds"],
    )


def _human(window: timedelta) -> str:
    """A window in its largest whole unit (`24 h`, `90 min`, `15 s`)."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def no_progress_automation(target: NotificationTarget, window: timedelta) -> AutomationCore:
    """Alert through the block when a round's flow run made no progress within `window` of its last news.

    Proactive, per related flow run: a window opens at the run's start or news (`ROUND_NEWS`); news, the finish or
    a failure within it closes it quietly; otherwise one alert, and the next window opens only at the run's next
    news. The message quotes the last event of the window.
    """
    return AutomationCore(
        name=notification_automation_name(target, "no-progress"),
        description=f"Notify {target.label} when a labeling round made no progress for {_human(window)}.",
        trigger=EventTrigger(
            **_round_events_trigger(set(NO_PROGRESS_NEWS)),
            after=set(NO_PROGRESS_STARTS),
            for_each={"related:flow-run:prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=window,
        ),
        actions=[
            SendNotification(
                block_document_id=target.block_document_id,
                subject=f"{_ROUND}: no progress for {_human(window)}",
                body="Last news {{ event.occurred }}: {{ event.event }}. {{ event.payload.summary }}" + _LINK,
            )
        ],
        tags=["labelrounds"],
    )


def notification_automations(target: NotificationTarget, window: timedelta) -> list[AutomationCore]:
    """Every automation `--notify` creates for one block: one per round notice, and the no-progress alert."""
    return [
        *(round_notice_automation(target, notice) for notice in ROUND_NOTICES),
        no_progress_automation(target, window),
    ]


async def ensure_notification_automations(
    targets: tuple[NotificationTarget, ...], window: timedelta
) -> dict[str, UUID]:
    """Create or update the notification automations of every block (by name: deploying twice keeps one of each)."""
    ids: dict[str, UUID] = {}
    for target in targets:
        for automation in notification_automations(target, window):
            ids[automation.name] = await ensure_automation(automation)
    return ids
