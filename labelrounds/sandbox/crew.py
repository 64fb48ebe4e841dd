"""Simulated labelers and reviewers that work the sandbox's jobs through the public API with their own tokens.

The crew is part of the sandbox so that a round can finish by itself in the demo, the tests and the benchmarks.
It reads from the store only *who* may act and their tokens, and (sandbox-only knowledge) the ground truth it
draws from and judges by; every job transition and annotation goes over HTTP with that user's own token, so it
passes the same permission checks as a person would. The one thing it writes in-process is the simulated
annotation time per image (`crew_labeling`), which the real platform measures in its labeling tool. Its requests carry the header
`x-labelrounds-actor: crew`, which lets the sandbox's request counters and fault injection tell them apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from labelrounds.client import (
    Filter,
    RetryPolicy,
    SuperviselyClient,
    SuperviselyError,
    TransportError,
    UnauthorizedError,
)
from labelrounds.client.config import ConnectionSettings
from labelrounds.client.models import Annotation, JobStatus, LabelingJobInfo, ReviewStatus
from labelrounds.quality import score_annotations
from labelrounds.sandbox.crew_labeling import (
    Skill,
    annotation_seconds,
    label_job_in_store,
    read_labeling_context,
    record_annotation_time,
    record_times_in_store,
    simulate_annotation,
)
from labelrounds.sandbox.jobs_core import recount
from labelrounds.sandbox.spec_parsing import (
    PER_LOGIN_SEPARATOR,
    SpecError,
    describe_validation_error,
    parse_duration,
    parse_fraction,
    parse_int,
    parse_per_login,
    split_items,
    split_key_value,
    stable_fraction,
)
from labelrounds.sandbox.store import Store
from labelrounds.sandbox.wire import now_iso

logger = logging.getLogger(__name__)

ACTOR_HEADER = "x-labelrounds-actor"
CREW_ACTOR = "crew"

_ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.IN_PROGRESS, JobStatus.ON_REVIEW)
_LABELING_STATUSES = (JobStatus.PENDING, JobStatus.IN_PROGRESS)
_DECIDED = frozenset({ReviewStatus.ACCEPTED, ReviewStatus.REJECTED})
# The crew talks to its own server over loopback. It does not retry: whatever failed is looked at again on the
# next poll, and every step is safe to repeat because it starts from the job's current state.
_CREW_RETRY_POLICY = RetryPolicy.no_retries()
_LOGINS_SEPARATOR = "+"
DEFAULT_PACE_SECONDS = 30.0
"""Simulated annotation time per image of a labeler without its own pace."""
NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class CrewConfig(BaseModel):
    """How the simulated crew works: speed, rejection rate, polling and who acts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label_seconds_per_image: float = Field(
        default=0.0, ge=0, description="Time a labeler spends per image (0 = instant)"
    )
    review_seconds_per_image: float = Field(
        default=0.0, ge=0, description="Time a reviewer spends per image (0 = instant)"
    )
    label_seconds_by_login: dict[str, NonNegative] = Field(
        default_factory=dict, description="Labeling time per image of these logins (others: the default)"
    )
    review_seconds_by_login: dict[str, NonNegative] = Field(
        default_factory=dict, description="Review time per image of these logins (others: the default)"
    )
    skill: Fraction | None = Field(
        default=None,
        description="Skill of every labeler (see crew_labeling); None: labelers only mark images done",
    )
    skill_by_login: dict[str, Fraction] = Field(
        default_factory=dict, description="Skill of these logins (others: `skill`)"
    )
    gross_error_rate: Fraction = Field(
        default=0.0, description="Share of images every skilled labeler botches (see crew_labeling)"
    )
    gross_by_login: dict[str, Fraction] = Field(
        default_factory=dict, description="Gross error rate of these logins (others: `gross_error_rate`)"
    )
    pace_seconds_per_image: float = Field(
        default=DEFAULT_PACE_SECONDS,
        ge=0,
        description="Simulated annotation time per image (±25%), recorded for jobs.stats; never waited for",
    )
    pace_by_login: dict[str, NonNegative] = Field(
        default_factory=dict, description="Simulated annotation time per image of these logins"
    )
    min_f1: Fraction | None = Field(
        default=None,
        description="The reviewers also reject an image whose annotation scores an F1 under this against the "
        "truth (images without truth are never rejected for it)",
    )
    reject_rate: float = Field(
        default=0.0, ge=0, le=1, description="Share of reviewed images the reviewers reject"
    )
    max_rejections_per_image: int = Field(
        default=1, ge=0, description="An image is rejected at most this many times, so rework cycles converge"
    )
    poll_interval: float = Field(default=0.5, gt=0, description="Seconds between two looks for work")
    seed: int = Field(default=0, description="Seed of the (deterministic) accept/reject decisions")
    logins: tuple[str, ...] | None = Field(
        default=None,
        description="Logins that act; default: every non-admin user who is the labeler or reviewer of an active job",
    )
    take_count: int = Field(
        default=1,
        ge=1,
        description="Images a labeler of a labeling queue takes at a time (`labeling-queues.entities.take`)",
    )
    mode: Literal["http", "instant"] = Field(
        default="http",
        description="http: act over the API like people; instant: finish every active job inside the store, "
        "in bulk and uncounted, at each poll (for benchmarks at scale)",
    )

    @classmethod
    def parse(cls, spec: str) -> CrewConfig:
        """Build a config from the compact command-line form, e.g. `speed=0,reject=0.3,seed=7`.

        Keys: `speed` (seconds per image for labeling and review), `label`, `review` (each on its own),
        `skill` (0..1), `pace` (simulated seconds per image), `reject` (0..1), `min-f1` (0..1),
        `max-rejections`, `poll` (seconds), `seed`, `logins` (joined with `+`), `mode` (`http` or `instant`),
        `take` (images a queue labeler takes at a time), `gross` (0..1: share of images a skilled labeler
        botches, deterministically per seed, login and image; needs `skill`).
        Durations accept a unit: `250ms`, `2s`. `speed`, `label`, `review`, `skill`, `gross` and `pace` take one value
        for everyone or values per login joined with `+`, a bare value being everyone else's:
        `skill=labeler_1:0.95+labeler_2:0.7`, `pace=40s+labeler_3:90s`, `gross=labeler_3:0.1`. An empty spec
        gives the defaults.

        Raises:
            SpecError: an unknown key, a repeated key or a value out of range; the message names it.
        """
        fields: dict[str, Any] = {}
        seen: set[str] = set()
        for item in split_items(spec):
            key, value = split_key_value(item)
            if key in seen:
                raise SpecError(f"crew option {key!r} is given twice")
            seen.add(key)
            parse_option = _CREW_OPTIONS.get(key)
            if parse_option is None:
                raise SpecError(f"unknown crew option {key!r}; known: {', '.join(_CREW_OPTIONS)}")
            fields.update(parse_option(value, f"crew option {key!r}"))
        if "speed" in seen and seen & {"label", "review"}:
            raise SpecError("crew option 'speed' sets both 'label' and 'review'; give either speed or those")
        if "gross" in seen and "skill" not in seen:
            raise SpecError("crew option 'gross' needs 'skill' (a labeler without a skill draws nothing)")
        try:
            return cls(**fields)
        except ValidationError as error:
            raise SpecError(f"invalid crew spec {spec!r}: {describe_validation_error(error)}") from None

    def to_spec(self) -> str:
        """This config in the compact command-line form (parses back to an equal config)."""
        items = [
            f"label={_per_login_spec(self.label_seconds_per_image, self.label_seconds_by_login, 's')}",
            f"review={_per_login_spec(self.review_seconds_per_image, self.review_seconds_by_login, 's')}",
            f"reject={self.reject_rate:g}",
            f"max-rejections={self.max_rejections_per_image}",
            f"poll={self.poll_interval:g}s",
            f"seed={self.seed}",
        ]
        if self.skill is not None or self.skill_by_login:
            items.append(f"skill={_per_login_spec(self.skill, self.skill_by_login, '')}")
        if self.gross_error_rate or self.gross_by_login:
            everyone = self.gross_error_rate or None
            items.append(f"gross={_per_login_spec(everyone, self.gross_by_login, '')}")
        if self.pace_seconds_per_image != DEFAULT_PACE_SECONDS or self.pace_by_login:
            items.append(f"pace={_per_login_spec(self.pace_seconds_per_image, self.pace_by_login, 's')}")
        if self.min_f1 is not None:
            items.append(f"min-f1={self.min_f1:g}")
        if self.logins is not None:
            items.append(f"logins={_LOGINS_SEPARATOR.join(self.logins)}")
        if self.mode != "http":
            items.append(f"mode={self.mode}")
        if self.take_count != 1:
            items.append(f"take={self.take_count}")
        return ",".join(items)

    def rejects(self, job_id: int, image_id: int) -> bool:
        """Whether the reviewers want to reject this image in this job (before the rejection limit applies)."""
        return self.reject_rate > 0 and stable_fraction(self.seed, job_id, image_id) < self.reject_rate

    @property
    def draws(self) -> bool:
        """Whether some labeler has a skill, i.e. the crew writes annotations drawn from the truth."""
        return self.skill is not None or bool(self.skill_by_login)

    def label_seconds(self, login: str) -> float:
        """Seconds this labeler waits per image."""
        return self.label_seconds_by_login.get(login, self.label_seconds_per_image)

    def review_seconds(self, login: str) -> float:
        """Seconds this reviewer waits per image."""
        return self.review_seconds_by_login.get(login, self.review_seconds_per_image)

    def skill_of(self, login: str) -> Skill | None:
        """This labeler's skill, or None when it only marks images done (no skill given for it)."""
        level = self.skill_by_login.get(login, self.skill)
        gross = self.gross_by_login.get(login, self.gross_error_rate)
        return None if level is None else Skill.from_level(level, gross_error_rate=gross)

    def pace_of(self, login: str) -> float:
        """Simulated seconds this labeler spends per image (before the ±25% per-image spread)."""
        return self.pace_by_login.get(login, self.pace_seconds_per_image)


def _parse_mode(value: str, what: str) -> dict[str, Any]:
    if value not in _CREW_MODES:
        raise SpecError(f"{what}: {value!r} is not a mode; choose one of {', '.join(_CREW_MODES)}")
    return {"mode": value}


_CREW_MODES = ("http", "instant")


def _parse_logins(value: str, what: str) -> dict[str, Any]:
    logins = tuple(login.strip() for login in value.split(_LOGINS_SEPARATOR))
    if any(not login for login in logins):
        raise SpecError(f"{what}: empty login in {value!r} (join logins with {_LOGINS_SEPARATOR!r})")
    return {"logins": logins}


def _per_login_option(
    default_field: str, by_login_field: str, parse_one: Callable[..., float]
) -> Callable[[str, str], dict[str, Any]]:
    """A parser of `value` or `login:value+login:value(+value)` into a default and per-login values."""

    def parse(value: str, what: str) -> dict[str, Any]:
        default, by_login = parse_per_login(value, what=what, parse_one=parse_one)
        fields: dict[str, Any] = {by_login_field: by_login}
        if default is not None:
            fields[default_field] = default
        return fields

    return parse


def _parse_speed(value: str, what: str) -> dict[str, Any]:
    label = _per_login_option("label_seconds_per_image", "label_seconds_by_login", parse_duration)(value, what)
    review = _per_login_option("review_seconds_per_image", "review_seconds_by_login", parse_duration)(value, what)
    return label | review


def _per_login_spec(default: float | None, by_login: dict[str, float], unit: str) -> str:
    """`value+login:value…` as `parse_per_login` reads it (the default left out when None)."""
    items = [] if default is None else [f"{default:g}{unit}"]
    items += [f"{login}:{value:g}{unit}" for login, value in sorted(by_login.items())]
    return PER_LOGIN_SEPARATOR.join(items)


_CREW_OPTIONS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "speed": _parse_speed,
    "label": _per_login_option("label_seconds_per_image", "label_seconds_by_login", parse_duration),
    "review": _per_login_option("review_seconds_per_image", "review_seconds_by_login", parse_duration),
    "skill": _per_login_option("skill", "skill_by_login", parse_fraction),
    "pace": _per_login_option("pace_seconds_per_image", "pace_by_login", parse_duration),
    "gross": _per_login_option("gross_error_rate", "gross_by_login", parse_fraction),
    "min-f1": lambda value, what: {"min_f1": parse_fraction(value, what=what)},
    "reject": lambda value, what: {"reject_rate": parse_fraction(value, what=what)},
    "max-rejections": lambda value, what: {
        "max_rejections_per_image": parse_int(value, what=what, minimum=0)
    },
    "poll": lambda value, what: {"poll_interval": parse_duration(value, what=what)},
    "seed": lambda value, what: {"seed": parse_int(value, what=what)},
    "logins": _parse_logins,
    "mode": _parse_mode,
    "take": lambda value, what: {"take_count": parse_int(value, what=what, minimum=1)},
}


class CrewAction(StrEnum):
    """What the crew did, one count per successful API call that changed a job or an image."""

    JOB_STARTED = "job_started"
    IMAGE_LABELED = "image_labeled"
    JOB_SUBMITTED = "job_submitted"
    IMAGE_ACCEPTED = "image_accepted"
    IMAGE_REJECTED = "image_rejected"
    JOB_COMPLETED = "job_completed"
    JOB_SENT_BACK = "job_sent_back"
    FAILED_CALL = "failed_call"


class CrewStats:
    """Thread-safe counters of the crew's actions, readable from any thread while the crew runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[CrewAction] = Counter()

    def __repr__(self) -> str:
        return f"CrewStats({self.snapshot()})"

    def record(self, action: CrewAction, count: int = 1) -> None:
        """Add `count` occurrences of `action`."""
        with self._lock:
            self._counts[action] += count

    def snapshot(self) -> dict[str, int]:
        """Every action with its count (zeros included), keyed by the action's name."""
        with self._lock:
            return {action.value: self._counts[action] for action in CrewAction}

    def __getitem__(self, action: CrewAction) -> int:
        with self._lock:
            return self._counts[action]

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()


@dataclass(frozen=True)
class CrewMember:
    """A sandbox user the crew acts as; the token never shows in a repr."""

    login: str
    user_id: int
    token: SecretStr


class Crew:
    """The simulated crew: one worker per acting user, started and stopped by the sandbox app's lifespan.

    Args:
        config: speed, rejection rate and who acts (default `CrewConfig()`).
    """

    def __init__(self, config: CrewConfig | None = None) -> None:
        self.config = config or CrewConfig()
        self.stats = CrewStats()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._supervisor: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Crew({self.config!r}, members={sorted(self._workers)})"

    @property
    def members(self) -> list[str]:
        """Logins the crew currently acts as."""
        return sorted(self._workers)

    async def start(self, base_url: str, store: Store) -> None:
        """Start looking for members and work; returns at once.

        Args:
            base_url: the sandbox's own address, e.g. `http://127.0.0.1:8089`.
            store: the sandbox store, read for who may act and their tokens.
        """
        if self._supervisor is not None:
            raise RuntimeError("the crew is already running")
        work = self._finish_instantly(store) if self.config.mode == "instant" else self._supervise(base_url, store)
        self._supervisor = asyncio.create_task(work, name="crew-supervisor")

    async def stop(self) -> None:
        """Stop every worker and wait for them; safe to call when not started."""
        tasks = [task for task in (self._supervisor, *self._workers.values()) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._supervisor = None
        self._workers.clear()

    async def _supervise(self, base_url: str, store: Store) -> None:
        """Enlist new members as they appear (users are created while the sandbox runs)."""
        while True:
            try:
                members = await asyncio.to_thread(find_members, store, self.config.logins)
            except Exception:  # a broken read must not kill the crew; log and look again
                logger.exception("crew: could not read the crew members from the store")
                members = []
            for member in members:
                if member.login not in self._workers:
                    logger.info("crew: %s joins (user %d)", member.login, member.user_id)
                    worker = _Worker(member, base_url, store, self)
                    self._workers[member.login] = asyncio.create_task(
                        worker.run(), name=f"crew-{member.login}"
                    )
            await asyncio.sleep(self.config.poll_interval)

    async def _finish_instantly(self, store: Store) -> None:
        """Instant mode: at each poll, finish every active job in the store in one transaction."""
        while True:
            try:
                await asyncio.to_thread(finish_active_jobs, store, self.config, self.stats)
            except Exception:  # a failed pass must not kill the crew; log and look again
                logger.exception("crew: could not finish the active jobs in bulk")
                self.stats.record(CrewAction.FAILED_CALL)
            await asyncio.sleep(self.config.poll_interval)

    def retire(self, login: str) -> None:
        """Forget a member whose worker ended; it is enlisted again if it reappears (with a valid token)."""
        self._workers.pop(login, None)


_ACTIVE_ACTORS_SQL = """
SELECT u.id, u.login, u.api_token FROM users AS u
WHERE u.is_instance_admin = 0 AND u.disabled = 0 AND EXISTS (
    SELECT 1 FROM jobs AS j
    WHERE j.disabled = 0 AND j.status IN ({marks}) AND (j.user_id = u.id OR j.reviewer_id = u.id)
)
ORDER BY u.id
"""
_USERS_BY_LOGIN_SQL = (
    "SELECT id, login, api_token FROM users WHERE disabled = 0 AND login IN ({marks}) ORDER BY id"
)
_PAST_REJECTIONS_SQL = """
SELECT image_id, count(*) FROM job_entities
WHERE review_status = 'rejected' AND image_id IN (SELECT image_id FROM job_entities WHERE job_id = ?)
GROUP BY image_id
"""


def find_members(store: Store, logins: Sequence[str] | None) -> list[CrewMember]:
    """The users the crew acts as, with their tokens.

    Args:
        store: the sandbox store.
        logins: the chosen logins (those that exist yet); None for every non-admin user who is the labeler or
            reviewer of an active job.
    """
    values = [status.value for status in _ACTIVE_STATUSES] if logins is None else list(logins)
    query = _ACTIVE_ACTORS_SQL if logins is None else _USERS_BY_LOGIN_SQL
    with store.transaction(write=False) as db:
        rows = db.execute(query.format(marks=", ".join("?" * len(values))), values).fetchall()
    return [
        CrewMember(login=login, user_id=user_id, token=SecretStr(token)) for user_id, login, token in rows
    ]


def past_rejections(store: Store, job_id: int, *, from_queue: bool = False) -> dict[int, int]:
    """How many times each image of a job has been rejected so far, in any job (images never rejected: absent).

    Read from the store rather than remembered, so the limit holds across crew and sandbox restarts. An image of
    a labeling queue loses its rejected row when it is taken again, so for a queue job (`from_queue`) the
    rejections recorded in the team's activity count too (the larger of the two counts).
    """
    with store.transaction(write=False) as db:
        counts = dict(db.execute(_PAST_REJECTIONS_SQL, (job_id,)).fetchall())
        if from_queue:
            for image_id, count in db.execute(_LOGGED_REJECTIONS_SQL, (job_id,)).fetchall():
                counts[image_id] = max(count, counts.get(image_id, 0))
    return counts


_LOGGED_REJECTIONS_SQL = """
SELECT entity_id, count(*) FROM activity
WHERE action = 'review_status_changed' AND json_extract(details, '$.status') = 'rejected'
    AND entity_id IN (SELECT image_id FROM job_entities WHERE job_id = ?)
GROUP BY entity_id
"""
_ACTIVE_JOBS_SQL = """
SELECT j.id FROM jobs AS j JOIN users AS u ON u.id = j.user_id
WHERE j.disabled = 0 AND j.status IN ({marks}) {and_labeler_in}
    AND NOT EXISTS (SELECT 1 FROM labeling_queue_jobs AS qj WHERE qj.job_id = j.id)
ORDER BY j.id
"""


def finish_active_jobs(store: Store, config: CrewConfig, stats: CrewStats) -> int:
    """Instant mode: take every active job through labeling and review at once, inside one store transaction.

    Each job ends `completed` with every image accepted, or rejected by the same deterministic rule as the
    http crew (`reject_rate`, `max_rejections_per_image`); counters and timestamps are kept consistent. Nothing
    goes over HTTP, so nothing is counted as a request. Jobs of labeling queues are left alone (the instant crew
    does not take from queues; use the http crew). Returns the number of jobs finished. A labeler with a
    skill also gets its annotations drawn and stored and its annotation time recorded, in bulk, and `min_f1`
    rejects the images drawn under it, as the http crew does; without skills nothing more is done (fast).

    Args:
        store: the sandbox store.
        config: the crew's config; `logins` limits the jobs to those labeled by these users.
        stats: counters to record the actions in (as the http crew would have).
    """
    statuses = [status.value for status in _ACTIVE_STATUSES]
    logins = list(config.logins or ())
    and_labeler_in = f"AND u.login IN ({', '.join('?' * len(logins))})" if config.logins is not None else ""
    query = _ACTIVE_JOBS_SQL.format(marks=", ".join("?" * len(statuses)), and_labeler_in=and_labeler_in)
    now = now_iso()
    with store.transaction(write=True) as db:
        job_ids = [job_id for (job_id,) in db.execute(query, [*statuses, *logins]).fetchall()]
        for job_id in job_ids:
            _finish_job(db, config, stats, job_id, now)
    return len(job_ids)


def _finish_job(db: sqlite3.Connection, config: CrewConfig, stats: CrewStats, job_id: int, now: str) -> None:
    """Label, review and complete one job inside the caller's transaction."""
    pending = [
        image_id
        for (image_id,) in db.execute(
            "SELECT image_id FROM job_entities WHERE job_id = ? AND review_status IN ('none', 'done')", (job_id,)
        )
    ]
    below_quality = _label_in_store(db, config, job_id, pending, now) if config.draws else set()
    rejected_before = (
        dict(db.execute(_PAST_REJECTIONS_SQL, (job_id,)).fetchall())
        if config.reject_rate or below_quality
        else {}
    )
    rejected = [
        image_id
        for image_id in pending
        if (config.rejects(job_id, image_id) or image_id in below_quality)
        and rejected_before.get(image_id, 0) < config.max_rejections_per_image
    ]
    db.execute(
        "UPDATE job_entities SET review_status = 'accepted' WHERE job_id = ? AND review_status IN ('none', 'done')",
        (job_id,),
    )
    db.executemany(
        "UPDATE job_entities SET review_status = 'rejected' WHERE job_id = ? AND image_id = ?",
        [(job_id, image_id) for image_id in rejected],
    )
    recount(db, job_id)
    db.execute(
        "UPDATE jobs SET status = 'completed', updated_at = ?, started_at = coalesce(started_at, ?),"
        " finished_at = ?, annotation_finished_at = ?, review_finished_at = ? WHERE id = ?",
        (now, now, now, now, now, job_id),
    )
    stats.record(CrewAction.JOB_STARTED)
    stats.record(CrewAction.IMAGE_LABELED, len(pending))
    stats.record(CrewAction.JOB_SUBMITTED)
    stats.record(CrewAction.IMAGE_ACCEPTED, len(pending) - len(rejected))
    stats.record(CrewAction.IMAGE_REJECTED, len(rejected))
    stats.record(CrewAction.JOB_COMPLETED)


def _label_in_store(
    db: sqlite3.Connection, config: CrewConfig, job_id: int, image_ids: list[int], now: str
) -> set[int]:
    """Instant mode with skills: draw, store and time the job's annotations in bulk (if its labeler has a skill).

    Returns the images whose drawn annotation scores an F1 under `min_f1` against the truth.
    """
    row = db.execute("SELECT u.login FROM jobs AS j JOIN users AS u ON u.id = j.user_id WHERE j.id = ?", (job_id,))
    login = row.fetchone()[0]
    skill = config.skill_of(login)
    if skill is None:
        return set()
    drawn = label_job_in_store(db, job_id, image_ids, skill=skill, login=login, seed=config.seed, now=now)
    record_times_in_store(db, job_id, image_ids, pace=config.pace_of(login), seed=config.seed)
    if config.min_f1 is None:
        return set()
    return {
        image_id
        for image_id, (truth, annotation) in drawn.items()
        if score_annotations(truth, annotation).f1 < config.min_f1
    }


class Pace:
    """A crew member's clock over one stretch of continuous work: its n-th image is due n × its time per image
    after the stretch began.

    The member's own calls (save the annotation, mark the image done, take the next one) happen within an image's
    time rather than after it, as the saving does within a person's labeling time; so the member's throughput is
    its configured speed on a loaded machine too, unless those calls alone take longer than an image (then it
    goes at their pace, never faster to catch up).

    Args:
        clock: monotonic seconds (default `time.monotonic`).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due = clock()

    def wait_for_next(self, seconds: float) -> float:
        """Seconds left until the next item of `seconds` is due (0 when already late); counts that item."""
        now = self._clock()
        self._due = max(self._due + seconds, now)
        return self._due - now


class _Worker:
    """One crew member: labels the jobs assigned to it and reviews the jobs it is the reviewer of."""

    def __init__(self, member: CrewMember, base_url: str, store: Store, crew: Crew) -> None:
        self.member = member
        self.store = store
        self.crew = crew
        self.config = crew.config
        self.settings = ConnectionSettings(server_address=base_url, api_token=member.token)
        self._reported_failures: set[tuple[int | None, str]] = set()

    async def run(self) -> None:
        """Poll for work until cancelled, or until the member's token stops working (user gone or disabled)."""
        async with SuperviselyClient(
            self.settings, retry_policy=_CREW_RETRY_POLICY, headers={ACTOR_HEADER: CREW_ACTOR}
        ) as api:
            while True:
                try:
                    await self._work_once(api)
                except UnauthorizedError:
                    logger.info("crew: %s leaves (its token is no longer valid)", self.member.login)
                    self.crew.retire(self.member.login)
                    return
                except Exception as error:  # noqa: BLE001 - a worker must outlive any single failure
                    self._report_failure(None, error)
                await asyncio.sleep(self.config.poll_interval)

    async def _work_once(self, api: SuperviselyClient) -> None:
        """One look at every team's active jobs; each job that needs this member is worked on in turn."""
        status_filter = Filter.in_("status", [status.value for status in _ACTIVE_STATUSES])
        for team in await api.list_teams():
            for job in await api.list_jobs(team.id, filters=(status_filter,)):
                try:
                    if job.user_id == self.member.user_id and job.status in _LABELING_STATUSES:
                        if job.labeling_queue_id is None:
                            await self._label(api, job)
                        else:
                            await self._label_from_queue(api, job, job.labeling_queue_id)
                    elif job.reviewer_id == self.member.user_id and job.status == JobStatus.ON_REVIEW:
                        await self._review(api, job)
                except UnauthorizedError:
                    raise
                except SuperviselyError as error:  # e.g. the job was stopped meanwhile; look again next time
                    self._report_failure(job.id, error)

    async def _label(self, api: SuperviselyClient, job: LabelingJobInfo) -> None:
        """Open the job, label every unlabeled image at the labeling speed, and submit it for review.

        Labeling an image: with a skill, write the annotation drawn from its truth (`crew_labeling`); then record
        the simulated annotation time and mark the image done.
        """
        pace = Pace()
        if job.status == JobStatus.PENDING:
            await api.set_job_status(job.id, JobStatus.IN_PROGRESS)
            self._record(CrewAction.JOB_STARTED, job.id)
        info = await self._job_with_entities(api, job.id)
        await self._label_images(api, job.id, info.entity_ids(ReviewStatus.NONE), pace)
        await api.set_job_status(job.id, JobStatus.ON_REVIEW)
        self._record(CrewAction.JOB_SUBMITTED, job.id)

    async def _label_from_queue(self, api: SuperviselyClient, job: LabelingJobInfo, queue_id: int) -> None:
        """Label the job's open images, then take more from its queue until none waits, and submit.

        Each take happens only once the previous images are labeled, so a faster labeler takes more; the images
        a take returns are labeled at once (no look for work in between), on one pace from the first image to
        the last. A job that got no image at all stays where it is (never submitted empty); one with images is
        submitted even if they are all decided already, so that its reviewer can complete it.
        """
        pace = Pace()
        started = job.status != JobStatus.PENDING
        info = await self._job_with_entities(api, job.id)
        open_ids = info.entity_ids(ReviewStatus.NONE)
        while True:
            await self._label_images(api, job.id, open_ids, pace)
            taken = await api.take_queue_images(queue_id, self.config.take_count)
            if not taken.entities:
                break
            if not started:
                started = True
                self._record(CrewAction.JOB_STARTED, job.id)
            open_ids = [image.id for image in taken.entities]  # the take set them `none` in this job
        info = await self._job_with_entities(api, job.id)
        if info.entities:
            await api.set_job_status(job.id, JobStatus.ON_REVIEW)
            self._record(CrewAction.JOB_SUBMITTED, job.id)

    async def _label_images(
        self, api: SuperviselyClient, job_id: int, image_ids: list[int], pace: Pace
    ) -> None:
        """Label these images of a job one by one at this labeler's speed (on `pace`), and mark each done."""
        if not image_ids:
            return
        login, seed = self.member.login, self.config.seed
        skill = self.config.skill_of(login)
        context = await asyncio.to_thread(read_labeling_context, self.store, job_id, image_ids if skill else ())
        for image_id in image_ids:
            await self._pause(pace.wait_for_next(self.config.label_seconds(login)))
            truth = context.truth.get(image_id)
            if skill is not None and truth is not None and context.dataset_id is not None:
                drawn = simulate_annotation(
                    truth,
                    skill,
                    context.class_shapes,
                    seed=seed,
                    job_id=job_id,
                    image_id=image_id,
                    login=login,
                )
                await api.upload_annotations(context.dataset_id, {image_id: Annotation.model_validate(drawn)})
            seconds = annotation_seconds(self.config.pace_of(login), seed=seed, job_id=job_id, image_id=image_id)
            await asyncio.to_thread(record_annotation_time, self.store, job_id, image_id, seconds)
            await api.set_entity_review_status(job_id, image_id, ReviewStatus.DONE)
            self._record(CrewAction.IMAGE_LABELED, job_id)

    async def _review(self, api: SuperviselyClient, job: LabelingJobInfo) -> None:
        """Accept or reject every submitted image at the review speed, then complete the job.

        A job with images the labeler never submitted cannot be completed: it is sent back instead. So is a queue
        job with rejected images: they went back to the queue, and its labeler takes its own rejections first.
        """
        info = await self._job_with_entities(api, job.id)
        rejected_before = await asyncio.to_thread(
            past_rejections, self.store, job.id, from_queue=job.labeling_queue_id is not None
        )
        image_ids = info.entity_ids(ReviewStatus.DONE)
        below_quality = await self._below_quality(api, job.id, image_ids)
        pace = Pace()
        for image_id in image_ids:
            await self._pause(pace.wait_for_next(self.config.review_seconds(self.member.login)))
            wanted = self.config.rejects(job.id, image_id) or image_id in below_quality
            reject = wanted and rejected_before.get(image_id, 0) < self.config.max_rejections_per_image
            await api.set_entity_review_status(
                job.id, image_id, ReviewStatus.REJECTED if reject else ReviewStatus.ACCEPTED
            )
            self._record(CrewAction.IMAGE_REJECTED if reject else CrewAction.IMAGE_ACCEPTED, job.id)
        info = await self._job_with_entities(api, job.id)
        statuses = [entity.review_status for entity in info.entities or ()]
        rework_from_queue = job.labeling_queue_id is not None and ReviewStatus.REJECTED in statuses
        if all(status in _DECIDED for status in statuses) and not rework_from_queue:
            await api.set_job_status(job.id, JobStatus.COMPLETED)
            self._record(CrewAction.JOB_COMPLETED, job.id)
        else:
            await api.set_job_status(job.id, JobStatus.IN_PROGRESS)
            self._record(CrewAction.JOB_SENT_BACK, job.id)

    async def _below_quality(self, api: SuperviselyClient, job_id: int, image_ids: list[int]) -> set[int]:
        """The images whose annotation (read over the API) scores an F1 under `min_f1` against their truth."""
        threshold = self.config.min_f1
        if threshold is None or not image_ids:
            return set()
        context = await asyncio.to_thread(read_labeling_context, self.store, job_id, image_ids)
        judged = [image_id for image_id in image_ids if image_id in context.truth]
        if not judged or context.dataset_id is None:
            return set()
        annotations = await api.get_annotations(context.dataset_id, judged)
        return {
            info.image_id
            for info in annotations
            if score_annotations(context.truth[info.image_id], info.annotation.to_wire()).f1 < threshold
        }

    async def _job_with_entities(self, api: SuperviselyClient, job_id: int) -> LabelingJobInfo:
        info = await api.get_job(job_id)
        if info is None:
            raise _JobGone(job_id)
        return info

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    def _record(self, action: CrewAction, job_id: int) -> None:
        self.crew.stats.record(action)
        logger.debug("crew: %s %s in job %d", self.member.login, action.value, job_id)

    def _report_failure(self, job_id: int | None, error: Exception) -> None:
        """Count a failure; warn once per job and kind of failure, so a stuck job does not flood the log.

        A transport error means the sandbox itself is going away (or drops responses on purpose): not worth a
        warning. An error that is not an API error is a bug: its traceback is logged (once).
        """
        self.crew.stats.record(CrewAction.FAILED_CALL)
        key = (job_id, type(error).__name__)
        quiet = key in self._reported_failures or isinstance(error, TransportError)
        self._reported_failures.add(key)
        where = f"job {job_id}" if job_id is not None else "looking for work"
        logger.log(
            logging.DEBUG if quiet else logging.WARNING,
            "crew: %s, %s: %s",
            self.member.login,
            where,
            error,
            exc_info=not quiet and not isinstance(error, SuperviselyError),
        )


class _JobGone(SuperviselyError):
    """The job disappeared (removed, or no longer visible) between listing it and working on it."""

    def __init__(self, job_id: int) -> None:
        super().__init__(404, "job gone", {"message": f"job {job_id} is no longer visible"}, "jobs.info")
