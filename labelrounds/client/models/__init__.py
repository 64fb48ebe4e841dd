"""Typed models of the public API v3 replies (pydantic v2, parsed from the camelCase wire keys)."""

from labelrounds.client.models.base import IdReply, WireModel
from labelrounds.client.models.jobs import (
    ClassStat,
    ImageRange,
    ImageStat,
    ImageStats,
    ImageTagCondition,
    JobEntity,
    JobMeta,
    JobStats,
    JobStatsSummary,
    JobStatus,
    LabelingJobInfo,
    NamedRef,
    RejectMode,
    ReviewStatus,
    TagStat,
)
from labelrounds.client.models.meta import (
    ObjClass,
    ProjectMeta,
    Shape,
    TagApplicability,
    TagMeta,
    TagTargetType,
    TagValueType,
    default_color,
)
from labelrounds.client.models.pagination import Page
from labelrounds.client.models.projects import DatasetInfo, ImageInfo, ImageTag, ProjectInfo
from labelrounds.client.models.teams import TeamInfo, WorkspaceInfo
from labelrounds.client.models.users import RoleInfo, TeamMembership, UserInfo

__all__ = [
    "ClassStat",
    "DatasetInfo",
    "IdReply",
    "ImageInfo",
    "ImageRange",
    "ImageStat",
    "ImageStats",
    "ImageTag",
    "ImageTagCondition",
    "JobEntity",
    "JobMeta",
    "JobStats",
    "JobStatsSummary",
    "JobStatus",
    "LabelingJobInfo",
    "NamedRef",
    "ObjClass",
    "Page",
    "ProjectInfo",
    "ProjectMeta",
    "RejectMode",
    "ReviewStatus",
    "RoleInfo",
    "Shape",
    "TagApplicability",
    "TagMeta",
    "TagStat",
    "TagTargetType",
    "TagValueType",
    "TeamInfo",
    "TeamMembership",
    "UserInfo",
    "WireModel",
    "WorkspaceInfo",
    "default_color",
]
