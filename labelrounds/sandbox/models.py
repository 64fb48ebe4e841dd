"""Pydantic request bodies, one per API method; they also document every method in the OpenAPI schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StrictBool, StrictInt

MAX_SQL_INT = 2**63 - 1
MAX_PER_PAGE = 20_000
MAX_PAGE = 1_000_000
MAX_ENTITY_IDS = 1_000_000
MAX_BULK_IDS = 1_000

ObjectId = Annotated[int, Field(ge=1, le=MAX_SQL_INT)]
Count = Annotated[int, Field(ge=0, le=MAX_SQL_INT)]
SqlInt = Annotated[int, Field(ge=-MAX_SQL_INT - 1, le=MAX_SQL_INT)]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Text = Annotated[str, Field(max_length=100_000)]
Login = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$")]
JsonObject = dict[str, Any]
Scalar = StrictBool | SqlInt | float | str | None

JobStatus = Literal["pending", "in_progress", "on_review", "completed", "stopped", "review_completed"]
ReviewStatus = Literal["none", "done", "accepted", "rejected"]
FilterOperator = Literal[
    "=", "eq", "!=", "not", "in", "!in", "like", "!like", "ilike", "!ilike", "<", "<=", ">", ">="
]
ClassShape = Literal[
    "bitmap",
    "rectangle",
    "polygon",
    "line",
    "point",
    "graph",
    "any",
    "alpha_mask",
    "cuboid",
    "cuboid_2d",
    "cuboid_3d",
    "point_3d",
    "polyline_3d",
    "mask_3d",
    "mesh",
    "closed_surface_mesh",
    "point_cloud",
    "multipolygon",
    "oriented_bbox",
    "multichannelBitmap",
]
TagValueType = Literal["none", "any_number", "any_string", "oneof_string", "date"]


class Body(BaseModel):
    """Base of every request body: unknown keys are ignored, as the SDK sends many optional ones."""

    model_config = ConfigDict(extra="ignore")


class EmptyBody(Body):
    """A method that takes no parameters."""


class IdBody(Body):
    """A method addressing one object by `id`."""

    id: ObjectId


class FilterItem(Body):
    """One `{"field", "operator", "value"}` condition; conditions are ANDed."""

    field: Annotated[str, Field(min_length=1, max_length=100)]
    operator: FilterOperator
    value: Scalar | list[Scalar] = None


class ListBody(Body):
    """Filters, sorting, pagination and projection shared by every `*.list` method."""

    filter: list[FilterItem] = Field(default_factory=list, max_length=100)
    sort: Annotated[str, Field(max_length=100)] = "id"
    sort_order: Literal["asc", "desc"] = "asc"
    page: Annotated[int, Field(ge=1, le=MAX_PAGE)] = 1
    per_page: Annotated[int, Field(ge=1, le=MAX_PER_PAGE)] | None = None
    fields: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=100)
    pagination_mode: Literal["token"] | None = None
    after: Annotated[str, Field(pattern=r"^[0-9]{1,19}$")] | None = None


# users / members / roles / teams / workspaces


class UsersAddBody(Body):
    """`users.add`: a new user (the password is hashed with bcrypt, never stored or echoed)."""

    login: Login
    password: Annotated[SecretStr, Field(min_length=1, max_length=256)]
    isRestricted: bool = False
    name: Annotated[str, Field(max_length=255)] = ""
    email: Annotated[str, Field(max_length=255)] = ""


class UsersEditInfoBody(IdBody):
    """`users.editInfo`: fields to change on a user."""

    password: Annotated[SecretStr, Field(min_length=1, max_length=256)] | None = None
    name: Annotated[str, Field(max_length=255)] | None = None
    email: Annotated[str, Field(max_length=255)] | None = None


class UsersDisableBody(IdBody):
    """`users.disable`: disable (or re-enable) a user."""

    disable: bool = True


class MembersAddBody(Body):
    """`members.add`: put a user (by login) in a team with a role."""

    login: Login
    teamId: ObjectId
    roleId: ObjectId


class TeamScopedListBody(ListBody):
    """A list scoped to one team (`teamId`)."""

    teamId: ObjectId


class MembersEditInfoBody(IdBody):
    """`members.editInfo`: a member's new team role."""

    teamId: ObjectId
    roleId: ObjectId


class MembersRemoveBody(IdBody):
    """`members.remove`: take a user out of a team."""

    teamId: ObjectId


# projects / meta / datasets / images


class ProjectsListBody(ListBody):
    """`projects.list`: the projects of a workspace or of a whole team (`groupId`)."""

    workspaceId: ObjectId | None = None
    groupId: ObjectId | None = None


class ObjectClassBody(BaseModel):
    """An object class of the project meta; unknown keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    id: ObjectId | None = None
    title: Name
    shape: ClassShape
    color: Color
    geometry_config: JsonObject = Field(default_factory=dict)
    hotkey: Annotated[str, Field(max_length=64)] = ""
    description: Text = ""


class TagMetaBody(BaseModel):
    """A tag definition of the project meta; unknown keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    id: ObjectId | None = None
    name: Name
    value_type: TagValueType
    values: list[Name] | None = None
    color: Color = "#8B572A"
    hotkey: Annotated[str, Field(max_length=64)] = ""
    applicable_type: Literal["all", "imagesOnly", "objectsOnly"] = "all"
    classes: list[Name] = Field(default_factory=list)
    target_type: Literal["all", "framesOnly", "entitiesOnly"] = "all"


class ProjectMetaBody(Body):
    """A project meta: object classes, tag definitions and the project type."""

    classes: list[ObjectClassBody] = Field(default_factory=list, max_length=10_000)
    tags: list[TagMetaBody] = Field(default_factory=list, max_length=10_000)
    projectType: Annotated[str, Field(max_length=64)] | None = None


class ProjectsMetaUpdateBody(IdBody):
    """`projects.meta.update`: the project's new meta (a full replacement)."""

    meta: ProjectMetaBody


class ProjectsSettingsUpdateBody(IdBody):
    """`projects.settings.update`: the project's new settings."""

    settings: JsonObject


class DatasetsListBody(ListBody):
    """`datasets.list`: a project's datasets."""

    projectId: ObjectId
    recursive: bool = False


class ImagesListBody(ListBody):
    """`images.list`: the images of a dataset or of a whole project."""

    datasetId: ObjectId | None = None
    projectId: ObjectId | None = None


# labeling jobs


class ImageTagFilter(Body):
    """Keep (`positive`) or drop images carrying a tag."""

    name: Name
    positive: bool


class JobRange(Body):
    """A 1-based inclusive range of the selected images (nulls = open ends)."""

    start: Annotated[int, Field(ge=1, le=MAX_SQL_INT)] | None = None
    end: Annotated[int, Field(ge=1, le=MAX_SQL_INT)] | None = None


class JobMetaBody(BaseModel):
    """What a labeling job asks for: classes, tags, limits and the images (`entityIds`; `[]` = whole dataset)."""

    model_config = ConfigDict(extra="allow")

    classes: list[Name] = Field(default_factory=list)
    projectTags: list[Name] = Field(default_factory=list)
    imageTags: list[ImageTagFilter] = Field(default_factory=list)
    imageFiguresLimit: Count = 0
    imageTagsLimit: Count = 0
    entityIds: list[ObjectId] = Field(default_factory=list, max_length=MAX_ENTITY_IDS)
    dynamicClasses: bool = False
    dynamicTags: bool = False
    allowRestore: bool = False
    readOnlyTags: list[Name] | None = None
    range: JobRange | None = None


class JobsAddBody(Body):
    """`jobs.add`: one job per user over an even share of the images."""

    name: Name
    datasetId: ObjectId
    userIds: list[ObjectId] = Field(min_length=1, max_length=1_000)
    meta: JobMetaBody = Field(default_factory=JobMetaBody)
    readme: Text | None = None
    description: Text | None = None
    reviewerId: ObjectId | None = None
    customData: JsonObject | None = None


class JobsListBody(TeamScopedListBody):
    """`jobs.list`: a team's jobs; archived ones only with `showDisabled`."""

    showDisabled: bool = False


class JobsSetStatusBody(IdBody):
    """`jobs.set-status`: move a job to a status."""

    status: JobStatus


class JobsBulkRemoveBody(Body):
    """`jobs.bulk.remove`: delete jobs."""

    ids: list[ObjectId] = Field(min_length=1, max_length=MAX_BULK_IDS)


class JobsRejectBody(IdBody):
    """`jobs.reject`: reject all images, or the ones not reviewed yet."""

    mode: Literal["all", "unmarked"] = "all"


class EntityReviewBody(Body):
    """`jobs.entities.update-review-status`: one image's review status in a job."""

    jobId: ObjectId
    entityId: ObjectId
    status: ReviewStatus


class JobsRestartBody(IdBody):
    """`jobs.restart`: a new job over the rejected images."""

    completeExisting: bool = True
    userIds: list[ObjectId] | None = Field(default=None, min_length=1, max_length=1_000)
    reviewerId: ObjectId | None = None
    name: Name | None = None
    customData: JsonObject | None = None


class JobsSplitBody(IdBody):
    """`jobs.split` (sandbox only): move a job's untouched images into a new job of another labeler."""

    entityIds: list[ObjectId] = Field(min_length=1, max_length=100_000)
    userId: ObjectId
    reviewerId: ObjectId | None = None
    name: Name | None = None
    customData: JsonObject | None = None


class JobsEditInfoBody(IdBody):
    """`jobs.editInfo`: fields to change on a job (`customData` is replaced as a whole)."""

    name: Name | None = None
    description: Text | None = None
    readme: Text | None = None
    customData: JsonObject | None = None
    userId: ObjectId | None = None
    reviewerId: ObjectId | None = None


# annotations, image copies and dataset writes

MAX_BULK_ANNOTATIONS = 100
"""Images per `annotations.bulk.info`/`annotations.bulk.add` (the SDK sends 50; the server caps at 100)."""
MAX_OBJECTS_PER_IMAGE = 10_000
MAX_COORDINATE = 1e9
MAX_BITMAP_DATA = 16 * 1024 * 1024

Coordinate = (
    Annotated[StrictInt, Field(ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
    | Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORDINATE, le=MAX_COORDINATE)]
)
Point = Annotated[list[Coordinate], Field(min_length=2, max_length=2)]
PixelIndex = Annotated[int, Field(ge=0, le=2**31 - 1)]
TagValue = StrictBool | SqlInt | Annotated[float, Field(allow_inf_nan=False)] | Text | None


class LabelTagBody(Body):
    """A tag on an image or an object: `name` of a tag meta and its `value` (server fields are ignored)."""

    name: Name
    value: TagValue = None


class PointsBody(Body):
    """`points` of a rectangle, polygon, line or point: an `exterior` ring and `interior` holes ([x, y] pairs)."""

    exterior: list[Point] = Field(max_length=100_000)
    interior: list[Annotated[list[Point], Field(max_length=100_000)]] = Field(
        default_factory=list, max_length=1_000
    )


class BitmapBody(Body):
    """`bitmap`: the mask's top-left pixel `origin` [x, y] and `data`, base64 of a zlib-compressed PNG."""

    origin: Annotated[list[PixelIndex], Field(min_length=2, max_length=2)]
    data: Annotated[str, Field(min_length=1, max_length=MAX_BITMAP_DATA)]


class LabelObjectBody(Body):
    """One object of an annotation; ids, `labelerLogin` and timestamps are the server's and ignored on input."""

    classTitle: Name
    geometryType: Annotated[str, Field(min_length=1, max_length=64)]
    description: Text = ""
    tags: list[LabelTagBody] = Field(default_factory=list, max_length=1_000)
    points: PointsBody | None = None
    bitmap: BitmapBody | None = None


class ImageSizeBody(Body):
    """`size` of an annotation (the image's own size is what the server stores and serves)."""

    height: Count
    width: Count


class AnnotationBody(Body):
    """An image's annotation: `description`, `size`, image `tags` and `objects`."""

    description: Text = ""
    size: ImageSizeBody | None = None
    tags: list[LabelTagBody] = Field(default_factory=list, max_length=1_000)
    objects: list[LabelObjectBody] = Field(default_factory=list, max_length=MAX_OBJECTS_PER_IMAGE)


class ImageAnnotationBody(Body):
    """One element of `annotations.bulk.add`'s `annotations`."""

    imageId: ObjectId
    annotation: AnnotationBody


class AnnotationsInfoBody(Body):
    """`annotations.info`: one image's annotation."""

    imageId: ObjectId


class AnnotationsBulkInfoBody(Body):
    """`annotations.bulk.info`: the annotations of some images of a dataset."""

    datasetId: ObjectId
    imageIds: list[ObjectId] = Field(min_length=1, max_length=MAX_BULK_ANNOTATIONS)


class AnnotationsListBody(ListBody):
    """`annotations.list`: the annotations of a dataset's images."""

    datasetId: ObjectId


class AnnotationsBulkAddBody(Body):
    """`annotations.bulk.add`: replace the annotations of some images of a dataset."""

    datasetId: ObjectId
    annotations: list[ImageAnnotationBody] = Field(min_length=1, max_length=MAX_BULK_ANNOTATIONS)
    skipBoundsValidation: bool = False


class AnnotationsBulkCopyBody(Body):
    """`annotations.bulk.copy`: copy each source image's annotation onto the destination image at the same index."""

    srcImageIds: list[ObjectId] = Field(min_length=1, max_length=MAX_BULK_IDS)
    destImageIds: list[ObjectId] = Field(min_length=1, max_length=MAX_BULK_IDS)
    preserveSourceDate: bool = True


class ImageCopyBody(Body):
    """One element of `images.bulk.add`: a new image `title` made from an existing image (`imageId`)."""

    title: Name
    imageId: ObjectId
    meta: JsonObject = Field(default_factory=dict)


class ImagesBulkAddBody(Body):
    """`images.bulk.add`: add images to a dataset as copies of existing images (by id)."""

    datasetId: ObjectId
    images: list[ImageCopyBody] = Field(min_length=1, max_length=MAX_BULK_IDS)


class ImagesBulkRemoveBody(Body):
    """`images.bulk.remove`: delete images (with their annotations and job entries)."""

    imageIds: list[ObjectId] = Field(min_length=1, max_length=MAX_BULK_IDS)


class DatasetsAddBody(Body):
    """`datasets.add`: a new dataset in a project (top level, or under `parentId`)."""

    projectId: ObjectId
    name: Name
    description: Text = ""
    parentId: ObjectId | None = None
    customData: JsonObject | None = None


class DatasetsRemovePermanentlyBody(Body):
    """`datasets.remove.permanently`: delete datasets (`[{"id"}]`, at most 50)."""

    datasets: list[IdBody] = Field(min_length=1, max_length=50)


# webhooks


def _http_url(url: str) -> str:
    """Accept only an absolute http(s) URL with a host and no whitespace."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(char.isspace() for char in url):
        raise ValueError("must be an absolute http:// or https:// URL with a host")
    return url


WebhookAction = Literal["labeling_job.completed", "labeling_queue.job.completed", "labeling_queue.completed"]
WebhookUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_http_url)]
HeaderName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
HeaderValue = Annotated[str, Field(max_length=4096, pattern=r"^[^\r\n\x00]*$")]
RetriesCount = Annotated[StrictInt, Field(ge=0, le=20)]
RetriesDelay = Annotated[StrictInt, Field(ge=0, le=3600)]


class WebhookMetaBody(Body):
    """A webhook's delivery settings (the SDK's defaults: 5 retries, 10 s apart)."""

    retriesCount: RetriesCount = 5
    retriesDelay: RetriesDelay = 10
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=50)
    followRedirect: StrictBool = True
    rejectUnauthorized: StrictBool = True


class WebhookMetaChangeBody(Body):
    """`webhooks.update`'s `meta`: only the settings given change."""

    retriesCount: RetriesCount | None = None
    retriesDelay: RetriesDelay | None = None
    headers: dict[HeaderName, HeaderValue] | None = Field(default=None, max_length=50)
    followRedirect: StrictBool | None = None
    rejectUnauthorized: StrictBool | None = None


class WebhooksAddBody(Body):
    """`webhooks.add`: POST `action` events of a team to `url`."""

    teamId: ObjectId
    url: WebhookUrl
    action: WebhookAction
    meta: WebhookMetaBody = Field(default_factory=WebhookMetaBody)


class WebhooksUpdateBody(IdBody):
    """`webhooks.update`: the fields given change."""

    url: WebhookUrl | None = None
    action: WebhookAction | None = None
    meta: WebhookMetaChangeBody | None = None


class WebhooksBulkRemoveBody(Body):
    """`webhooks.bulk.remove`: delete webhooks."""

    ids: list[ObjectId] = Field(min_length=1, max_length=MAX_BULK_IDS)


class WebhooksTestBody(Body):
    """`webhooks.test`: send a test event to one webhook (`id`) or to every webhook of the team (of `action`)."""

    teamId: ObjectId
    id: ObjectId | None = None
    action: WebhookAction | None = None
    payload: JsonObject = Field(default_factory=dict)


# labeling queues

QueueEntityStatus = Literal["none", "done", "accepted"]
MAX_TAKE = 1_000


class QueuesAddBody(Body):
    """`labeling-queues.add`: a queue over a dataset's images for labelers and reviewers (one job per labeler)."""

    name: Name
    datasetId: ObjectId | None = None
    collectionId: ObjectId | None = None
    userIds: list[ObjectId] = Field(min_length=1, max_length=1_000)
    reviewerIds: list[ObjectId] = Field(default_factory=list, max_length=1_000)
    reviewerId: ObjectId | None = None
    meta: JobMetaBody = Field(default_factory=JobMetaBody)
    queueMeta: JsonObject | None = None
    qualityCheckUserIds: list[ObjectId] | None = Field(default=None, max_length=1_000)
    readme: Text | None = None
    description: Text | None = None


class QueuesListBody(TeamScopedListBody):
    """`labeling-queues.list`: a team's labeling queues; archived ones only with `showDisabled`."""

    showDisabled: bool = False


class QueuesSetStatusBody(IdBody):
    """`labeling-queues.set-status`: move a queue to a status (job managers only)."""

    status: Literal["pending", "in_progress", "on_review", "completed", "stopped"]


class QueueEntitiesBody(ListBody):
    """`labeling-queues.stats.entities`: a queue's images with their queue status, paginated.

    `entityStatus` keeps images whose status is one of the list (`null` = pending in the queue).
    """

    id: ObjectId
    sort: Annotated[str, Field(max_length=100)] = "name"
    entityStatus: list[QueueEntityStatus | None] | None = Field(default=None, max_length=4)
    filters: list[JsonObject] | None = Field(default=None, max_length=10)


class QueueTakeBody(IdBody):
    """`labeling-queues.entities.take` (sandbox extension): the caller takes up to `count` images into its job."""

    count: Annotated[int, Field(ge=1, le=MAX_TAKE)] = 1
