"""Prepare the project meta: add the round's missing classes and tags, never drop or redefine existing ones."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import ObjClass, ProjectMeta, TagMeta
from labelrounds.round_spec import ClassSpec, RoundSpec, TagSpec
from labelrounds.steps.errors import MetaConflictError


class MetaMerge(BaseModel):
    """The outcome of merging a round's definitions into a project meta (pure, nothing written)."""

    model_config = ConfigDict(frozen=True)

    meta: ProjectMeta
    added_classes: list[str]
    added_tags: list[str]
    conflicts: list[str]

    @property
    def changed(self) -> bool:
        """Whether the merged meta differs from the project's."""
        return bool(self.added_classes or self.added_tags)


class MetaResult(BaseModel):
    """What `prepare_meta` did."""

    model_config = ConfigDict(frozen=True)

    project_id: int
    added_classes: list[str]
    added_tags: list[str]
    meta: ProjectMeta

    @property
    def changed(self) -> bool:
        """Whether the project meta was written."""
        return bool(self.added_classes or self.added_tags)

    def summary(self) -> str:
        """One line for logs."""
        if not self.changed:
            return f"nothing to do: project {self.project_id} already has every class and tag of the round"
        added = [f"class {name}" for name in self.added_classes] + [f"tag {name}" for name in self.added_tags]
        return f"added to project {self.project_id}: {', '.join(added)}"


def new_obj_class(spec: ClassSpec) -> ObjClass:
    """The project-meta class for a round's class definition (colour derived from the name when not given)."""
    return ObjClass.model_validate({"title": spec.name, "shape": spec.shape, "color": spec.color})


def new_tag_meta(spec: TagSpec) -> TagMeta:
    """The project-meta tag for a round's tag definition (colour derived from the name when not given)."""
    data = {
        "name": spec.name,
        "value_type": spec.value_type,
        "color": spec.color,
        "applicable_type": spec.applicable_type,
        "classes": list(spec.classes),
    }
    if spec.values:
        data["values"] = list(spec.values)
    return TagMeta.model_validate(data)


def class_conflict(existing: ObjClass, wanted: ClassSpec) -> str | None:
    """Why an existing class cannot stand for the round's definition, or None (colour does not matter)."""
    if existing.shape != wanted.shape:
        return f"class {wanted.name!r} is a {existing.shape.value} in the project, the round wants {wanted.shape.value}"
    return None


def tag_conflict(existing: TagMeta, wanted: TagSpec) -> str | None:
    """Why an existing tag cannot stand for the round's definition, or None (colour does not matter)."""
    differences = []
    if existing.value_type != wanted.value_type:
        differences.append(f"value type {existing.value_type.value} vs {wanted.value_type.value}")
    elif set(existing.values or ()) != set(wanted.values):
        differences.append(f"values {sorted(existing.values or ())} vs {sorted(wanted.values)}")
    if existing.applicable_type != wanted.applicable_type:
        differences.append(
            f"applicable type {existing.applicable_type.value} vs {wanted.applicable_type.value}"
        )
    if set(existing.classes) != set(wanted.classes):
        differences.append(
            f"classes {sorted(existing.classes) or 'all'} vs {sorted(wanted.classes) or 'all'}"
        )
    if not differences:
        return None
    return f"tag {wanted.name!r} differs from the project's (project vs round): {', '.join(differences)}"


def merge_meta(meta: ProjectMeta, classes: Sequence[ClassSpec], tags: Sequence[TagSpec]) -> MetaMerge:
    """Add the missing classes and tags to `meta`, keeping every existing one as it is; list the conflicts.

    A tag may only name classes of the merged meta.
    """
    conflicts: list[str] = []
    added_classes: list[ObjClass] = []
    for wanted in classes:
        existing = meta.get_class(wanted.name)
        if existing is None:
            added_classes.append(new_obj_class(wanted))
        elif (problem := class_conflict(existing, wanted)) is not None:
            conflicts.append(problem)
    added_tags: list[TagMeta] = []
    for wanted_tag in tags:
        existing_tag = meta.get_tag(wanted_tag.name)
        if existing_tag is None:
            added_tags.append(new_tag_meta(wanted_tag))
        elif (problem := tag_conflict(existing_tag, wanted_tag)) is not None:
            conflicts.append(problem)
    known_classes = {obj_class.title for obj_class in meta.classes} | {
        obj_class.title for obj_class in added_classes
    }
    for wanted_tag in tags:
        unknown = [name for name in wanted_tag.classes if name not in known_classes]
        if unknown:
            conflicts.append(f"tag {wanted_tag.name!r} applies to unknown classes: {', '.join(unknown)}")
    merged = meta.model_copy(
        update={"classes": [*meta.classes, *added_classes], "tags": [*meta.tags, *added_tags]}
    )
    return MetaMerge(
        meta=merged,
        added_classes=[obj_class.title for obj_class in added_classes],
        added_tags=[tag.name for tag in added_tags],
        conflicts=conflicts,
    )


async def prepare_meta(
    api: SuperviselyClient, project_id: int, classes: Sequence[ClassSpec], tags: Sequence[TagSpec]
) -> MetaResult:
    """Merge the round's classes and tags into the project meta; idempotent (no write when nothing is missing).

    Raises:
        MetaConflictError: a class or tag exists with another definition; nothing is written.
    """
    merge = merge_meta(await api.get_project_meta(project_id), classes, tags)
    if merge.conflicts:
        raise MetaConflictError(merge.conflicts)
    stored = await api.update_project_meta(project_id, merge.meta) if merge.changed else merge.meta
    return MetaResult(
        project_id=project_id, added_classes=merge.added_classes, added_tags=merge.added_tags, meta=stored
    )


async def prepare_round_meta(api: SuperviselyClient, project_id: int, spec: RoundSpec) -> MetaResult:
    """`prepare_meta` with the round's classes and tags."""
    return await prepare_meta(api, project_id, spec.classes, spec.tags)
