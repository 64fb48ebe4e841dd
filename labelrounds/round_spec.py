"""The parameters of a labeling round: one pydantic model that a flow takes and the Prefect UI renders as a form."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Self

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from labelrounds.client.models import Shape, TagApplicability, TagValueType

LOGIN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@+-]*$"
ROUND_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}$"
ROUND_NAME_MAX_LENGTH = 48

Login = Annotated[str, Field(min_length=1, max_length=128, pattern=LOGIN_PATTERN)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Color = Annotated[str, Field(pattern=COLOR_PATTERN)]


def _id_or_name(value: Any) -> int | str:
    """Accept a positive integer id or a non-empty name; anything else gets one clear message."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"expected a positive id or a non-empty name, got {value!r}")


IdOrName = Annotated[
    int | str,
    BeforeValidator(_id_or_name),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}]}),
]


#: A compact duration: a number and a unit (w weeks, d days, h hours, m minutes), e.g. `3d`, `36h`, `1.5d`.
_COMPACT_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>[wdhm])$", re.IGNORECASE)
_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60}
_AWARE_DATETIME: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_TIMEDELTA: TypeAdapter[timedelta] = TypeAdapter(timedelta)


def _parse_due(value: Any) -> datetime | timedelta | None:
    """A deadline: a timezone-aware ISO date-time, or a positive duration (`3d`, `36h`, ISO 8601 `P3D`, `PT36H`).

    A naive date-time is refused: the worker's timezone is not necessarily the author's.
    """
    if value is None or isinstance(value, timedelta):
        return _positive(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the date-time {value.isoformat()} has no timezone: add one (e.g. Z or +02:00)")
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a date-time or a duration, got {value!r}")
    text = value.strip()
    compact = _COMPACT_DURATION.match(text)
    if compact:
        return _positive(timedelta(seconds=float(compact["amount"]) * _UNIT_SECONDS[compact["unit"].lower()]))
    if text[:1] in "Pp":
        try:
            return _positive(_TIMEDELTA.validate_python(text.upper()))
        except ValidationError:
            raise ValueError(f"{text!r} is not an ISO 8601 duration (e.g. P3D, PT36H)") from None
    try:
        return _AWARE_DATETIME.validate_python(text)
    except ValidationError as error:
        naive = any(item["type"] == "timezone_aware" for item in error.errors())
        hint = "add its timezone (e.g. Z or +02:00)" if naive else "give an ISO date-time with a timezone"
        raise ValueError(
            f"{text!r} is neither a duration (3d, 36h, P3D) nor a date-time: {hint}"
        ) from None


def _positive(duration: timedelta | None) -> timedelta | None:
    """Refuse a zero or negative duration."""
    if duration is not None and duration <= timedelta(0):
        raise ValueError(f"the duration must be positive, got {duration}")
    return duration


Due = Annotated[
    datetime | timedelta | None,
    BeforeValidator(_parse_due),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}],
            "examples": ["3d", "36h", "P3D", "2026-12-04T17:00:00+01:00"],
        }
    ),
]


class RoundSpecError(ValueError):
    """A round specification (model or file) is invalid; the message names every bad field."""


class ImageSelection(StrEnum):
    """Which images of the chosen datasets the round labels."""

    ALL = "all"
    NOT_YET_LABELED = "not_yet_labeled"
    EXPLICIT = "explicit"


class SplitStrategy(StrEnum):
    """How the selected images are divided between the labelers."""

    EVEN = "even"
    WEIGHTED = "weighted"
    THROUGHPUT = "throughput"  # weights from measured images per hour (steps.throughput)


class TargetStatus(StrEnum):
    """The job status at which the round's gate opens."""

    ON_REVIEW = "on_review"
    COMPLETED = "completed"


class Assignment(StrEnum):
    """How a round hands its images to the labelers."""

    STATIC = "static"  # one job per labeler and dataset, with a share fixed by the split strategy
    QUEUE = "queue"  # one labeling queue per dataset: each image goes to whoever takes it first
    ADAPTIVE = "adaptive"  # static jobs; at gate checks, untouched images of labelers behind move to those ahead


class EndAction(StrEnum):
    """What happens to the round's finished jobs at the end."""

    ARCHIVE = "archive"
    STOP = "stop"
    KEEP = "keep"


class _SpecModel(BaseModel):
    """Shared configuration: unknown keys are refused (a typo is an error, not a silently ignored field)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AccountSpec(_SpecModel):
    """A person taking part in the round, identified by login."""

    login: Login = Field(description="Supervisely login of the person.")
    create_if_missing: bool = Field(
        default=True,
        description="Create a restricted account when the login does not exist yet (its password comes from a "
        "secret, never from these parameters).",
    )
    name: str = Field(
        default="", max_length=255, description="Display name used when the account is created."
    )
    email: str = Field(default="", max_length=255, description="E-mail used when the account is created.")

    @model_validator(mode="before")
    @classmethod
    def _accept_bare_login(cls, value: Any) -> Any:
        """Accept `"labeler_1"` as shorthand for `{"login": "labeler_1"}`; refuse passwords outright."""
        if isinstance(value, str):
            return {"login": value}
        if isinstance(value, dict) and any("password" in str(key).lower() for key in value):
            raise ValueError(
                "passwords do not belong in the round parameters: they come from a secret "
                "(a Prefect Secret or the environment)"
            )
        return value


class LabelerSpec(AccountSpec):
    """A labeler and their share of the work."""

    weight: float = Field(
        default=1.0,
        gt=0,
        allow_inf_nan=False,
        description="Relative share of the images under the weighted split strategy (must be > 0).",
    )


class ReviewerSpec(AccountSpec):
    """The person who reviews every job of the round."""


class ClassSpec(_SpecModel):
    """An object class to label; added to the project meta when missing."""

    name: Name = Field(description="Class name (its `title` in the project meta).")
    shape: Shape = Field(default=Shape.BITMAP, description="Geometry of the class.")
    color: Color | None = Field(
        default=None, description="Colour as #RRGGBB; empty picks a stable colour derived from the name."
    )


class TagSpec(_SpecModel):
    """A tag to label; added to the project meta when missing."""

    name: Name = Field(description="Tag name.")
    value_type: TagValueType = Field(default=TagValueType.NONE, description="Kind of value the tag carries.")
    values: list[Name] = Field(
        default_factory=list, description="Possible values; required for oneof_string, refused otherwise."
    )
    applicable_type: TagApplicability = Field(
        default=TagApplicability.ALL, description="Whether the tag goes on images, objects, or both."
    )
    classes: list[Name] = Field(
        default_factory=list, description="Classes the tag applies to (empty means every class)."
    )
    color: Color | None = Field(
        default=None, description="Colour as #RRGGBB; empty picks a stable colour derived from the name."
    )

    @model_validator(mode="after")
    def _values_match_value_type(self) -> Self:
        """oneof_string needs distinct values; other value types take none."""
        if self.value_type is TagValueType.ONEOF_STRING:
            if not self.values:
                raise ValueError(f"tag {self.name!r} is oneof_string but lists no values")
            _refuse_duplicates(self.values, f"values of tag {self.name!r}")
        elif self.values:
            raise ValueError(f"tag {self.name!r} has values but its value_type is {self.value_type.value}")
        _refuse_duplicates(self.classes, f"classes of tag {self.name!r}")
        return self


# --- gold checks (issue 11) ---------------------------------------------------------------------------------------


class GoldSpec(_SpecModel):
    """Gold checks: reference images hidden in every first-pass job and scored after labeling."""

    source: IdOrName = Field(
        description="Dataset of the round's project (id or name) whose images carry reference annotations."
    )
    per_job: PositiveInt | None = Field(default=None, description="Gold images added to each job.")
    share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Gold images per job as a share of the job's images (rounded up, at least one).",
    )
    min_f1: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Optional policy: a labeler whose gold F1 is under this gets their round images relabeled by "
        "another labeler (the rework labeler if it passed, else the best one who passed) in the first rework cycle.",
    )

    @model_validator(mode="after")
    def _one_amount(self) -> Self:
        """Exactly one of per_job and share."""
        if (self.per_job is None) == (self.share is None):
            raise ValueError("give exactly one of gold.per_job and gold.share")
        return self

    def count_for(self, job_images: int) -> int:
        """How many gold images a job of `job_images` planned images gets."""
        if self.share is None:
            return self.per_job or 0
        return max(1, math.ceil(self.share * job_images - 1e-9))


# --- consensus rounds (issue 12) -----------------------------------------------------------------------------------


class ConsensusSpec(_SpecModel):
    """Consensus: every image labeled blind by several labelers in replica datasets, merged where they agree."""

    overlap: int = Field(
        default=2, ge=2, le=5, description="Labelers per image in the first pass (2-5), each in its own replica."
    )
    max_overlap: int | None = Field(
        default=None,
        ge=2,
        le=5,
        description="Dynamic overlap (optional): add one more labeler, one replica at a time, only to the images "
        "whose agreement is under the threshold, up to this many labelers per image. Empty: a fixed overlap.",
    )
    agreement_threshold: float = Field(
        default=0.8,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="An image whose agreement (mean pairwise F1 of its replicas) is under this value gets another "
        "replica, or after the last one goes to the adjudicator instead of being merged (0-1).",
    )
    iou: float = Field(
        default=0.5,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Minimum IoU for two objects of the same class to count as the same object (0-1].",
    )
    adjudicator: Login = Field(
        description="Login of the expert who labels the images still under the threshold after the last replica "
        "(a labeler or the reviewer of the round, or a member of the team who may label)."
    )
    keep_replicas: bool = Field(
        default=False, description="Keep the replica images for audit instead of removing them at the end."
    )

    @model_validator(mode="after")
    def _overlaps_ordered(self) -> Self:
        """The maximum overlap is not below the first pass's."""
        if self.max_overlap is not None and self.max_overlap < self.overlap:
            raise ValueError(f"consensus.max_overlap {self.max_overlap} is below consensus.overlap {self.overlap}")
        return self

    @property
    def most_replicas(self) -> int:
        """The most replicas an image can get (the maximum overlap, or the fixed one)."""
        return self.max_overlap if self.max_overlap is not None else self.overlap


class RoundSpec(_SpecModel):
    """Everything a labeling round needs to know; contains no secret."""

    round_name: str = Field(
        min_length=1,
        max_length=ROUND_NAME_MAX_LENGTH,
        pattern=ROUND_NAME_PATTERN,
        description="Name of the round (letters, digits, '.', '_', '-'). Re-running a round with the same name "
        "reuses the work already done instead of creating duplicates.",
    )
    team: IdOrName = Field(description="Team: its id (a number) or its name.")
    project: IdOrName = Field(description="Project: its id (a number) or its name within the team.")
    datasets: list[IdOrName] = Field(
        default_factory=list, description="Datasets to label (ids or names); empty means every dataset."
    )
    labelers: list[LabelerSpec] = Field(min_length=1, description="Who labels; at least one.")
    reviewer: ReviewerSpec = Field(description="Who reviews every job of the round.")
    classes: list[ClassSpec] = Field(default_factory=list, description="Object classes to label.")
    tags: list[TagSpec] = Field(default_factory=list, description="Tags to label.")
    objects_limit_per_image: PositiveInt | None = Field(
        default=None, description="Maximum number of objects per image (empty: no limit)."
    )
    tags_limit_per_image: PositiveInt | None = Field(
        default=None, description="Maximum number of tags per image (empty: no limit)."
    )
    include_images_with_tags: list[Name] = Field(
        default_factory=list, description="Only show labelers the images that carry one of these tags."
    )
    exclude_images_with_tags: list[Name] = Field(
        default_factory=list, description="Hide from labelers the images that carry one of these tags."
    )
    image_selection: ImageSelection = Field(
        default=ImageSelection.ALL,
        description="all: every image of the datasets; not_yet_labeled: images no other labeling job of the "
        "project covers (archived jobs included); explicit: exactly `image_ids`.",
    )
    image_ids: list[PositiveInt] = Field(
        default_factory=list, description="The images to label when image_selection is explicit."
    )
    split_strategy: SplitStrategy = Field(
        default=SplitStrategy.EVEN,
        description="even: shares differ by at most one image; weighted: shares proportional to labeler weights; "
        "throughput: shares proportional to each labeler's images per hour in the team's earlier finished rounds.",
    )
    rework_labeler: Login | None = Field(
        default=None,
        description="Login (one of the labelers) who gets every rework job; empty: the original labeler.",
    )
    readme: str = Field(
        default="", max_length=100_000, description="Labeling instructions shown in each job."
    )
    description: str = Field(default="", max_length=10_000, description="Short description of each job.")
    target_status: TargetStatus = Field(
        default=TargetStatus.COMPLETED,
        description="The round waits until every job reaches this status (completed: labeled and reviewed).",
    )
    poll_interval_seconds: float = Field(
        default=30.0, gt=0, le=3600, allow_inf_nan=False, description="Seconds between two progress checks."
    )
    timeout_seconds: float = Field(
        default=7 * 24 * 3600.0,
        gt=0,
        allow_inf_nan=False,
        description="Overall time the round may wait for the jobs; after it the round fails and leaves the "
        "jobs as they are.",
    )
    max_rework_cycles: int = Field(
        default=1, ge=0, le=20, description="How many times rejected images are sent back (0: never)."
    )
    end_action: EndAction = Field(
        default=EndAction.ARCHIVE,
        description="What to do with the finished jobs: archive, stop or keep them.",
    )
    due: Due = Field(
        default=None,
        description="Deadline (optional): a date-time with its timezone (2026-12-04T17:00:00+01:00), or a "
        "duration from the round's first start (3d, 36h, P3D). The round warns once when its estimated finish "
        "passes it; a deadline already past at the start is refused.",
    )

    gold: GoldSpec | None = Field(
        default=None,
        description="Gold checks (optional): reference images copied into every first-pass job under neutral "
        "names, scored per labeler, never counted in the round's figures, removed when the round ends.",
    )

    approve_plan: bool = Field(
        default=False,
        description="Ask a person to approve the plan before anything is written: the round suspends after "
        "validation and shows who gets how many images and what will be created, with a form to approve or reject "
        "(deployment runs only; no worker is held while it waits). A rejected plan ends the round, writing nothing.",
    )
    approve_rework_cap: bool = Field(
        default=False,
        description="When max_rework_cycles is reached and images are still rejected, ask a person: accept them as "
        "they are, run one more rework cycle, or give them to another labeler of the team (deployment runs only).",
    )

    consensus: ConsensusSpec | None = Field(
        default=None,
        description="Consensus round (optional): each image labeled blind by `overlap` labelers in replica datasets, "
        "the agreeing labels merged into the original images, the rest sent to an adjudicator. Replica jobs are "
        "not reworked (max_rework_cycles does not apply).",
    )

    assignment: Assignment = Field(
        default=Assignment.STATIC,
        description="static: per-labeler jobs split by split_strategy; queue: one labeling queue per dataset "
        "with every labeler, images going to whoever labels first (rejected ones back to the queue); adaptive: "
        "static jobs, and while the round waits, images not yet started by a labeler projected to finish well "
        "after the others move into new jobs of the labelers ahead.",
    )

    @field_validator("datasets", "include_images_with_tags", "exclude_images_with_tags", "image_ids")
    @classmethod
    def _distinct(cls, values: list[Any]) -> list[Any]:
        """Refuse a value listed twice."""
        _refuse_duplicates(values, "the list")
        return values

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Cross-field rules; every problem found is reported together."""
        problems = _cross_field_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _cross_field_problems(spec: RoundSpec) -> list[str]:
    """List the violated cross-field rules of a round spec."""
    problems: list[str] = []
    logins = [labeler.login.lower() for labeler in spec.labelers]
    duplicated = _duplicates(logins)
    if duplicated:
        problems.append(f"duplicate labelers: {', '.join(duplicated)}")
    if spec.reviewer.login.lower() in logins:
        problems.append(f"the reviewer {spec.reviewer.login!r} is also a labeler")
    if spec.split_strategy is not SplitStrategy.WEIGHTED and any(labeler.weight != 1.0 for labeler in spec.labelers):
        problems.append(f"labeler weights are set but split_strategy is {spec.split_strategy.value!r} (use 'weighted')")
    if not spec.classes and not spec.tags:
        problems.append("nothing to label: give at least one class or tag")
    for kind, names in (("class", [c.name for c in spec.classes]), ("tag", [t.name for t in spec.tags])):
        duplicated = _duplicates(names)
        if duplicated:
            problems.append(f"duplicate {kind} names: {', '.join(duplicated)}")
    both = sorted(set(spec.include_images_with_tags) & set(spec.exclude_images_with_tags))
    if both:
        problems.append(f"tags both included and excluded: {', '.join(both)}")
    if spec.image_selection is ImageSelection.EXPLICIT and not spec.image_ids:
        problems.append("image_selection is 'explicit' but image_ids is empty")
    if spec.image_selection is not ImageSelection.EXPLICIT and spec.image_ids:
        problems.append(f"image_ids are given but image_selection is {spec.image_selection.value!r}")
    if spec.rework_labeler is not None and spec.rework_labeler.lower() not in logins:
        problems.append(f"rework_labeler {spec.rework_labeler!r} is not one of the labelers")
    problems += _assignment_problems(spec)
    problems += _consensus_problems(spec)
    problems += _gold_policy_problems(spec)
    if spec.timeout_seconds < spec.poll_interval_seconds:
        problems.append("timeout_seconds is shorter than poll_interval_seconds")
    return problems


def _gold_policy_problems(spec: RoundSpec) -> list[str]:
    """What `gold.min_f1` needs: someone else to relabel, and a rework cycle to do it in."""
    if spec.gold is None or spec.gold.min_f1 is None:
        return []
    problems = []
    if len(spec.labelers) < 2:
        problems.append("gold.min_f1 needs at least two labelers (another labeler relabels a failing one's images)")
    if spec.max_rework_cycles < 1:
        problems.append("gold.min_f1 needs max_rework_cycles of at least 1 (the relabeling is a rework cycle)")
    return problems


def _assignment_problems(spec: RoundSpec) -> list[str]:
    """What queue and adaptive modes do not combine with (a queue has no per-labeler share to weight or plant gold
    in; adaptive moves images between jobs, which would move gold copies too)."""
    if spec.assignment is Assignment.ADAPTIVE:
        adaptive_problems = []
        if spec.gold is not None:
            adaptive_problems.append("gold checks need static jobs: assignment 'adaptive' moves images between jobs")
        if spec.consensus is not None:
            adaptive_problems.append("consensus needs static replica jobs: assignment 'adaptive' moves images")
        return adaptive_problems
    if spec.assignment is not Assignment.QUEUE:
        return []
    problems = []
    if spec.gold is not None:
        problems.append("gold checks need static jobs: assignment 'queue' cannot carry them")
    if spec.split_strategy is not SplitStrategy.EVEN:
        problems.append(f"split_strategy {spec.split_strategy.value!r} has no effect with assignment 'queue'")
    if spec.rework_labeler is not None:
        problems.append("rework_labeler has no effect with assignment 'queue' (rejected images go back to the queue)")
    if spec.approve_rework_cap:
        problems.append("approve_rework_cap has no effect with assignment 'queue' (a queue has no rework cycles)")
    return problems


def _consensus_problems(spec: RoundSpec) -> list[str]:
    """What a consensus round does not combine with: too few labelers, queues, gold, weighted or rework shares."""
    if spec.consensus is None:
        return []
    problems = []
    needed = spec.consensus.most_replicas
    if needed > len(spec.labelers):
        which = "max_overlap" if spec.consensus.max_overlap is not None else "overlap"
        problems.append(
            f"consensus.{which} {needed} needs at least {needed} labelers (no one labels an image twice), "
            f"the round has {len(spec.labelers)}"
        )
    if spec.assignment is Assignment.QUEUE:
        problems.append("consensus needs static replica jobs: assignment 'queue' cannot carry it")
    if spec.gold is not None:
        problems.append("gold checks and consensus do not combine (gold copies go into single-pass jobs)")
    if spec.split_strategy is not SplitStrategy.EVEN:
        problems.append(
            f"split_strategy {spec.split_strategy.value!r} has no effect with consensus (replicas are split evenly)"
        )
    if spec.rework_labeler is not None:
        problems.append("rework_labeler has no effect with consensus (disagreements go to the adjudicator)")
    if spec.approve_rework_cap:
        problems.append("approve_rework_cap has no effect with consensus (replica jobs are not reworked)")
    if spec.approve_plan:
        problems.append("approve_plan is not available for consensus rounds yet (they run without asking)")
    return problems


def _duplicates(values: list[Any]) -> list[str]:
    """Values that occur more than once, in first-occurrence order."""
    seen: set[Any] = set()
    repeated: dict[Any, None] = {}
    for value in values:
        if value in seen:
            repeated[value] = None
        seen.add(value)
    return [str(value) for value in repeated]


def _refuse_duplicates(values: list[Any], what: str) -> None:
    """Raise a ValueError naming the repeated values of `what`."""
    duplicated = _duplicates(values)
    if duplicated:
        raise ValueError(f"duplicate entries in {what}: {', '.join(duplicated)}")


def describe_validation_error(error: ValidationError) -> str:
    """Render a pydantic ValidationError as one line per bad field, e.g. `labelers[0].weight: ...`."""
    lines = []
    for item in error.errors(include_url=False, include_input=False):
        location = _format_location(item["loc"])
        message = re.sub(r"^Value error, ", "", item["msg"])
        lines.append(f"{location}: {message}" if location else message)
    return "\n".join(lines)


def _format_location(location: tuple[int | str, ...]) -> str:
    """`('labelers', 0, 'weight')` → `labelers[0].weight`."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def parse_round_spec(data: Any, *, source: str = "round spec") -> RoundSpec:
    """Build a RoundSpec from already-decoded data, raising RoundSpecError that names `source` and the fields."""
    if not isinstance(data, dict):
        raise RoundSpecError(f"{source}: expected a mapping of round fields, got {type(data).__name__}")
    try:
        return RoundSpec.model_validate(data)
    except ValidationError as error:
        raise RoundSpecError(f"{source} is invalid:\n{describe_validation_error(error)}") from None


def load_round_spec(path: str | Path) -> RoundSpec:
    """Read a round spec from a YAML or JSON file (chosen by suffix; anything else is read as YAML).

    Raises:
        RoundSpecError: the file is missing, unreadable, not YAML/JSON, or a field is invalid; the message names
            the file and every bad field.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise RoundSpecError(f"cannot read round spec file {file}: {error.strerror or error}") from None
    try:
        data = json.loads(text) if file.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise RoundSpecError(f"round spec file {file} is not valid {_format_name(file)}: {error}") from None
    return parse_round_spec(data, source=f"round spec file {file}")


def _format_name(file: Path) -> str:
    """Human name of the format a file is parsed as."""
    return "JSON" if file.suffix.lower() == ".json" else "YAML"
