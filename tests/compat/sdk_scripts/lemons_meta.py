"""The tutorial's project preparation, rebuilt with the same SDK calls: lemon/kiwi classes and size/origin tags."""

from __future__ import annotations

import supervisely as sly

FRUITS = ("lemon", "kiwi")
CLASS_COLORS = {"lemon": [80, 227, 194], "kiwi": [208, 2, 27]}
SIZE_VALUES = ["small", "medium", "large"]


def wanted_tag_metas() -> list[sly.TagMeta]:
    """The two object tags the tutorial labels: a size picked from a list, and a free-text origin."""
    common = {"applicable_to": sly.TagApplicableTo.OBJECTS_ONLY, "applicable_classes": list(FRUITS)}
    return [
        sly.TagMeta("size", sly.TagValueType.ONEOF_STRING, possible_values=SIZE_VALUES,
                    color=[189, 16, 224], **common),
        sly.TagMeta("origin", sly.TagValueType.ANY_STRING, color=[139, 87, 42], **common),
    ]


def wanted_classes() -> list[sly.ObjClass]:
    """The two bitmap classes of the Lemons project."""
    return [sly.ObjClass(name, sly.Bitmap, color=CLASS_COLORS[name]) for name in FRUITS]


def prepare_lemons_meta(api: sly.Api, project_id: int) -> sly.ProjectMeta:
    """Download the project meta, add whatever of the wanted classes and tags is missing, upload it.

    Like the tutorial, this calls `projects.meta`, then `update_meta` (`projects.meta.update` followed by
    `projects.settings.update`), and returns the meta it sent.
    """
    meta = sly.ProjectMeta.from_json(api.project.get_meta(project_id))
    for tag_meta in wanted_tag_metas():
        if tag_meta not in meta.tag_metas:
            meta = meta.add_tag_meta(tag_meta)
    for obj_class in wanted_classes():
        if obj_class not in meta.obj_classes:
            meta = meta.add_obj_class(obj_class)
    api.project.update_meta(project_id, meta)
    return meta


def describe_meta(meta: sly.ProjectMeta) -> dict[str, list[dict]]:
    """The fields the tutorial prints for a project meta: classes (name, shape, color) and tags."""
    return {
        "classes": [
            {"name": c.name, "shape": c.geometry_type.geometry_name(), "color": list(c.color), "id": c.sly_id}
            for c in meta.obj_classes
        ],
        "tags": [
            {
                "name": t.name,
                "value_type": t.value_type,
                "possible_values": t.possible_values,
                "applicable_to": t.applicable_to,
                "applicable_classes": t.applicable_classes,
                "id": t.sly_id,
            }
            for t in meta.tag_metas
        ],
    }
