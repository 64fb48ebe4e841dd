"""steps.meta: the pure merge rules, and preparing the lemons project meta on the sandbox."""

from __future__ import annotations

import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.client.models import ProjectMeta
from labelrounds.round_spec import ClassSpec, TagSpec
from labelrounds.steps.errors import MetaConflictError
from labelrounds.steps.meta import merge_meta, prepare_meta, prepare_round_meta

from .support import LEMON_TAGS, SpecFactory

LEMONS_META = ProjectMeta.model_validate(
    {
        "classes": [
            {"id": 1, "title": "kiwi", "shape": "bitmap", "color": "#D0021B"},
            {"id": 2, "title": "lemon", "shape": "bitmap", "color": "#50E3C2"},
        ],
        "tags": [{"id": 3, **LEMON_TAGS[0]}, {"id": 4, **LEMON_TAGS[1]}],
        "projectType": "images",
    }
)


def _tag(**fields: object) -> TagSpec:
    return TagSpec.model_validate({**LEMON_TAGS[0], **fields})


def test_merge_adds_only_what_is_missing_and_keeps_everything_else() -> None:
    merge = merge_meta(
        LEMONS_META,
        [ClassSpec(name="kiwi"), ClassSpec(name="apple", shape="polygon", color="#112233")],
        [_tag(), TagSpec(name="ripe", value_type="none", classes=["apple"])],
    )
    assert merge.conflicts == []
    assert merge.added_classes == ["apple"] and merge.added_tags == ["ripe"]
    assert [c.title for c in merge.meta.classes] == ["kiwi", "lemon", "apple"]
    assert [t.name for t in merge.meta.tags] == ["size", "origin", "ripe"]
    assert merge.meta.classes[:2] == LEMONS_META.classes and merge.meta.tags[:2] == LEMONS_META.tags
    apple = merge.meta.get_class("apple")
    assert apple is not None and apple.shape == "polygon" and apple.color == "#112233" and apple.id is None
    again = merge_meta(merge.meta, [ClassSpec(name="apple", shape="polygon")], [])
    assert not again.changed and again.conflicts == []


def test_a_class_without_colour_gets_a_stable_one() -> None:
    first = merge_meta(LEMONS_META, [ClassSpec(name="pear")], []).meta.get_class("pear")
    second = merge_meta(LEMONS_META, [ClassSpec(name="pear")], []).meta.get_class("pear")
    assert first is not None and second is not None and first.color == second.color


def test_colour_differences_are_not_conflicts() -> None:
    merge = merge_meta(LEMONS_META, [ClassSpec(name="kiwi", color="#000000")], [_tag(color="#000000")])
    assert merge.conflicts == [] and not merge.changed


@pytest.mark.parametrize(
    ("classes", "tags", "conflict"),
    [
        (
            [ClassSpec(name="kiwi", shape="polygon")],
            [],
            "class 'kiwi' is a bitmap in the project, the round wants polygon",
        ),
        ([], [_tag(value_type="any_string", values=[])], "value type oneof_string vs any_string"),
        ([], [_tag(values=["small", "large"])], "values ['large', 'medium', 'small'] vs ['large', 'small']"),
        ([], [_tag(applicable_type="all")], "applicable type objectsOnly vs all"),
        ([], [_tag(classes=[])], "classes ['kiwi', 'lemon'] vs all"),
        ([], [TagSpec(name="ripe", classes=["pear"])], "tag 'ripe' applies to unknown classes: pear"),
    ],
)
def test_conflicting_definitions_are_named(
    classes: list[ClassSpec], tags: list[TagSpec], conflict: str
) -> None:
    merge = merge_meta(LEMONS_META, classes, tags)
    assert len(merge.conflicts) == 1 and conflict in merge.conflicts[0]


async def test_prepare_adds_missing_definitions_and_keeps_existing_ids(
    api: SuperviselyClient, make_spec: SpecFactory, sandbox_project_id: int
) -> None:
    before = await api.get_project_meta(sandbox_project_id)
    spec = make_spec(
        classes=[{"name": "kiwi"}, {"name": "apple", "shape": "polygon"}],
        tags=[*LEMON_TAGS, {"name": "ripe", "value_type": "oneof_string", "values": ["yes", "no"]}],
    )

    result = await prepare_round_meta(api, sandbox_project_id, spec)

    assert result.changed and result.added_classes == ["apple"] and result.added_tags == ["ripe"]
    stored = await api.get_project_meta(sandbox_project_id)
    assert [(c.title, c.id) for c in stored.classes][:2] == [(c.title, c.id) for c in before.classes]
    assert [(t.name, t.id) for t in stored.tags][:2] == [(t.name, t.id) for t in before.tags]
    apple, ripe = stored.get_class("apple"), stored.get_tag("ripe")
    assert apple is not None and apple.id is not None and apple.shape == "polygon"
    assert ripe is not None and ripe.id is not None and ripe.values == ["yes", "no"]


async def test_prepare_is_idempotent(
    api: SuperviselyClient, make_spec: SpecFactory, sandbox_project_id: int
) -> None:
    spec = make_spec(classes=[{"name": "apple"}])
    await prepare_round_meta(api, sandbox_project_id, spec)
    writes = api.stats.calls["projects.meta.update"]

    again = await prepare_round_meta(api, sandbox_project_id, spec)

    assert not again.changed
    assert again.summary() == "nothing to do: project 13487 already has every class and tag of the round"
    assert api.stats.calls["projects.meta.update"] == writes


async def test_a_conflict_writes_nothing(api: SuperviselyClient, sandbox_project_id: int) -> None:
    before = await api.get_project_meta(sandbox_project_id)

    with pytest.raises(MetaConflictError) as raised:
        await prepare_meta(
            api, sandbox_project_id, [ClassSpec(name="apple"), ClassSpec(name="lemon", shape="rectangle")], []
        )

    assert raised.value.conflicts == ["class 'lemon' is a bitmap in the project, the round wants rectangle"]
    assert await api.get_project_meta(sandbox_project_id) == before
    assert api.stats.calls["projects.meta.update"] == 0
