"""steps.split: listing every page once per dataset, the selection modes and tag filters, and the plan."""

from __future__ import annotations

import pandas as pd
import pytest

from labelrounds.client import SuperviselyClient
from labelrounds.client.endpoints.images import DEFAULT_IMAGE_PAGE_SIZE
from labelrounds.client.models import ProjectMeta
from labelrounds.planning import IMAGE_COLUMNS, PLAN_COLUMNS
from labelrounds.round_spec import RoundSpec
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.errors import EmptySelectionError, TargetNotFoundError
from labelrounds.steps.split import list_images, select_images, select_round_images, split_images
from labelrounds.steps.targets import RoundTarget, resolve_target

from .support import lemons_spec


async def test_plans_every_image_of_the_dataset_evenly(api: SuperviselyClient, target: RoundTarget) -> None:
    plan = await split_images(api, target, lemons_spec())

    listed = await api.list_images(target.datasets[0].id)
    assert list(plan.columns) == list(PLAN_COLUMNS)
    assert sorted(plan["image_id"]) == sorted(image.id for image in listed)
    assert plan.groupby("labeler").size().to_dict() == {"labeler_1": 3, "labeler_2": 3}
    assert set(plan["job_name"]) == {"round-1 / ds1 / labeler_1", "round-1 / ds1 / labeler_2"}
    assert set(plan["round_key"]) == {"round-1@13487"}


async def test_weighted_split_follows_the_weights(api: SuperviselyClient, target: RoundTarget) -> None:
    spec = lemons_spec(
        labelers=[{"login": "labeler_1", "weight": 2}, {"login": "labeler_2", "weight": 1}],
        split_strategy="weighted",
    )
    plan = await split_images(api, target, spec)
    assert plan.groupby("labeler").size().to_dict() == {"labeler_1": 4, "labeler_2": 2}


async def test_lists_each_dataset_once_over_several_pages(
    sandbox: SandboxServer, api: SuperviselyClient
) -> None:
    per_dataset = DEFAULT_IMAGE_PAGE_SIZE + 500  # more than one page per dataset
    sandbox.reset(f"synthetic:3x{per_dataset}")
    spec = lemons_spec(project=sandbox.project_id, labelers=["labeler_1", "labeler_2", "labeler_3"])
    target = await resolve_target(api, spec)
    pages_before = api.stats.requests["images.list"]

    images = await list_images(api, target.datasets)

    assert len(images) == 3 * per_dataset and not images["image_id"].duplicated().any()
    assert api.stats.requests["images.list"] - pages_before == 3 * 2  # three datasets, two pages each
    plan = await split_images(api, target, spec)
    assert plan.groupby("labeler").size().to_dict() == {
        "labeler_1": per_dataset,
        "labeler_2": per_dataset,
        "labeler_3": per_dataset,
    }


async def test_the_listing_holds_tags_only_when_asked(api: SuperviselyClient, target: RoundTarget) -> None:
    plain = await list_images(api, target.datasets, with_tags=False)
    tagged = await list_images(api, target.datasets)

    typed = await api.list_images(target.datasets[0].id)  # the oracle: the typed listing
    assert list(zip(plain["image_id"], plain["image_name"], strict=True)) == [(i.id, i.name) for i in typed]
    assert list(plain.columns) == list(IMAGE_COLUMNS)
    assert list(tagged.columns) == [*IMAGE_COLUMNS, "tag_ids"]
    assert plain.equals(tagged.loc[:, list(IMAGE_COLUMNS)])


async def test_the_listing_holds_names_only_when_asked(api: SuperviselyClient, target: RoundTarget) -> None:
    nameless = await list_images(api, target.datasets, with_tags=False, with_names=False)

    typed = await api.list_images(target.datasets[0].id)  # the oracle: the typed listing
    assert list(nameless.columns) == ["dataset_id", "dataset_name", "image_id"]
    assert list(nameless["image_id"]) == [image.id for image in typed]
    assert set(nameless["dataset_name"]) == {target.datasets[0].name}


async def test_a_round_keeps_names_only_when_a_later_step_reads_them(
    api: SuperviselyClient, target: RoundTarget
) -> None:
    plain = await select_round_images(api, target, lemons_spec())
    with_consensus = await select_round_images(
        api, target, lemons_spec(consensus={"overlap": 2, "adjudicator": "reviewer_1"})
    )

    typed = await api.list_images(target.datasets[0].id)  # the oracle: the typed listing
    assert "image_name" not in plain.columns
    assert list(plain["image_id"]) == [image.id for image in typed]
    assert list(zip(with_consensus["image_id"], with_consensus["image_name"], strict=True)) == [
        (image.id, image.name) for image in typed
    ]


async def test_explicit_ids_must_belong_to_the_datasets(api: SuperviselyClient, target: RoundTarget) -> None:
    ids = [image.id for image in await api.list_images(target.datasets[0].id)]
    spec = lemons_spec(image_selection="explicit", image_ids=ids[:3])
    plan = await split_images(api, target, spec)
    assert sorted(plan["image_id"]) == ids[:3]

    with pytest.raises(TargetNotFoundError, match="2 image ids are not in the round's datasets: 1, 999999"):
        await split_images(
            api, target, lemons_spec(image_selection="explicit", image_ids=[ids[0], 1, 999999])
        )


async def test_not_yet_labeled_skips_images_of_other_jobs_but_not_of_this_round(
    api: SuperviselyClient, target: RoundTarget, people: object
) -> None:
    ids = [image.id for image in await api.list_images(target.datasets[0].id)]
    user = await api.get_user_by_login("labeler_1")
    assert user is not None
    other = await api.add_jobs(
        "someone else's job", target.datasets[0].id, [user.id], classes=["kiwi"], tags=[], entity_ids=ids[:2]
    )
    await api.archive_job(other[0])  # archived work still counts as labeled
    spec = lemons_spec(image_selection="not_yet_labeled")
    this_round = await api.add_jobs(
        "this round's job",
        target.datasets[0].id,
        [user.id],
        classes=["kiwi"],
        tags=[],
        entity_ids=ids[2:4],
        custom_data={
            "labelrounds": {
                "round": target.round_key,
                "dataset": target.datasets[0].id,
                "labeler": "labeler_1",
                "share": "s",
                "cycle": 0,
            }
        },
    )
    assert this_round

    plan = await split_images(api, target, spec)

    assert sorted(plan["image_id"]) == ids[2:]


async def test_not_yet_labeled_with_everything_taken_is_an_empty_selection(
    api: SuperviselyClient, target: RoundTarget, people: object
) -> None:
    user = await api.get_user_by_login("labeler_2")
    assert user is not None
    await api.add_jobs(
        "all of it", target.datasets[0].id, [user.id], classes=["kiwi"], tags=[], entity_ids=[]
    )

    with pytest.raises(EmptySelectionError, match="already covered by another labeling job"):
        await split_images(api, target, lemons_spec(image_selection="not_yet_labeled"))


def _listed(tag_ids: list[list[int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset_id": [1] * len(tag_ids),
            "dataset_name": ["ds1"] * len(tag_ids),
            "image_id": list(range(1, len(tag_ids) + 1)),
            "image_name": [f"i{i}.jpeg" for i in range(len(tag_ids))],
            "labels_count": [0] * len(tag_ids),
            "tag_ids": tag_ids,
        }
    )


TAGGED_META = ProjectMeta.model_validate(
    {
        "classes": [],
        "tags": [
            {"id": 10, "name": "day", "value_type": "none", "color": "#000000"},
            {"id": 11, "name": "blurry", "value_type": "none", "color": "#000000"},
        ],
    }
)


def _spec(**overrides: object) -> RoundSpec:
    return lemons_spec(**overrides)


def test_tag_filters_keep_included_and_drop_excluded_images() -> None:
    images = _listed([[10], [10, 11], [11], []])
    selected = select_images(
        images, _spec(include_images_with_tags=["day"], exclude_images_with_tags=["blurry"]), TAGGED_META
    )
    assert list(selected.columns) == list(IMAGE_COLUMNS)
    assert selected["image_id"].tolist() == [1]
    assert select_images(images, _spec(exclude_images_with_tags=["blurry"]), TAGGED_META)[
        "image_id"
    ].tolist() == [1, 4]


def test_tag_filter_problems_are_named() -> None:
    images = _listed([[10], [11]])
    with pytest.raises(TargetNotFoundError, match="neither in the project meta nor in the round: night"):
        select_images(images, _spec(include_images_with_tags=["night"]), TAGGED_META)
    with pytest.raises(EmptySelectionError, match="none of 2 images passes the include/exclude tag filters"):
        select_images(images, _spec(exclude_images_with_tags=["day", "blurry"]), TAGGED_META)
    with pytest.raises(EmptySelectionError, match="the round's datasets have no images"):
        select_images(images.iloc[0:0], _spec(), TAGGED_META)


def test_explicit_ids_filtered_away_by_tags_are_explained() -> None:
    images = _listed([[10], [11]])
    spec = _spec(image_selection="explicit", image_ids=[2], include_images_with_tags=["day"])
    with pytest.raises(EmptySelectionError, match="none of the explicit image ids passes"):
        select_images(images, spec, TAGGED_META)
