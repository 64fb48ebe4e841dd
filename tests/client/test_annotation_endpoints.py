"""The client's annotation, image-copy and dataset methods against a real sandbox, and their error paths."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from labelrounds.client import (
    AmbiguousWriteError,
    ConnectionSettings,
    InvalidRequestError,
    NotFoundError,
    ResponseFormatError,
    SuperviselyClient,
)
from labelrounds.client.models import (
    Annotation,
    Bitmap,
    ImageSize,
    Label,
    LabelTag,
    Polygon,
    RawGeometry,
    Rectangle,
)
from labelrounds.sandbox.bitmaps import ellipse_mask, encode_mask
from labelrounds.sandbox.server import SandboxServer

from .support import error_reply, method_of, reply

PROJECT, DATASET = 13487, 1001
# The lemons seed's images, from the seed's table.
SEEDED_NAMES = [
    "IMG_8144.jpeg",
    "IMG_4451.jpeg",
    "IMG_3861.jpeg",
    "IMG_2084.jpeg",
    "IMG_1836.jpeg",
    "IMG_0748.jpeg",
]
SIZE = ImageSize(height=800, width=1067)


@pytest.fixture
async def api(sandbox: SandboxServer) -> AsyncIterator[SuperviselyClient]:
    """Our client on a fresh lemons sandbox (with an `any`-shape class `thing`), as the instance admin."""
    settings = ConnectionSettings(server_address=sandbox.url, api_token=sandbox.admin_token)
    async with SuperviselyClient(settings) as client:
        meta = await client.get_project_meta(PROJECT)
        wire = meta.to_wire()
        wire["classes"].append({"title": "thing", "shape": "any", "color": "#00FF00"})
        await client.update_project_meta(PROJECT, type(meta).model_validate(wire))
        yield client


def sample() -> Annotation:
    return Annotation(
        size=SIZE,
        objects=[
            Label(class_title="thing", geometry=Rectangle(left=10, top=20, right=101, bottom=201)),
            Label(class_title="thing", geometry=Polygon(exterior=((5.5, 5.5), (50.5, 5.5), (50.5, 40.5)))),
            Label(
                class_title="lemon",
                geometry=Bitmap(origin=(40, 30), data=encode_mask(ellipse_mask(9, 7))),
                tags=[LabelTag(name="size", value="large")],
            ),
            Label(
                class_title="thing",
                geometry=RawGeometry(
                    type_name="line", fields={"points": {"exterior": [[1, 2], [30, 40]], "interior": []}}
                ),
            ),
        ],
    )


def geometries(annotation: Annotation) -> list[object]:
    """The oracle's view: class, geometry and tags of each object, in order."""
    return [
        (label.class_title, label.geometry, [(tag.name, tag.value) for tag in label.tags])
        for label in annotation.objects
    ]


def test_the_geometry_oracle_catches_a_changed_object() -> None:
    written = sample()
    moved = written.model_copy(
        update={
            "objects": [
                written.objects[0].model_copy(
                    update={"geometry": Rectangle(left=11, top=20, right=101, bottom=201)}
                ),
                *written.objects[1:],
            ]
        }
    )
    assert geometries(moved) != geometries(written)
    assert geometries(written.model_copy(update={"objects": written.objects[1:]})) != geometries(written)


async def test_annotations_round_trip_every_geometry_and_unknown_ones_stay_raw(
    api: SuperviselyClient,
) -> None:
    written = sample()
    await api.upload_annotations(DATASET, {1002: written, 1003: Annotation(size=SIZE)})
    one = await api.get_annotation(1002)
    assert one is not None and one.image_name == SEEDED_NAMES[0] and one.dataset_id == DATASET
    assert geometries(one.annotation) == geometries(written)
    assert all(label.id and label.labeler_login == "cxnt" for label in one.annotation.objects)
    batch = await api.get_annotations(DATASET, [1003, 1002])
    assert [info.image_id for info in batch] == [1003, 1002] and batch[0].annotation.objects == []
    listed = await api.list_annotations(DATASET, per_page=4)
    assert [info.image_name for info in listed] == SEEDED_NAMES
    assert [len(info.annotation.objects) for info in listed] == [4, 0, 0, 0, 0, 0]
    assert await api.get_annotation(999_999) is None


async def test_a_refused_upload_names_the_problem(api: SuperviselyClient) -> None:
    wrong = Annotation(
        size=SIZE, objects=[Label(class_title="kiwi", geometry=Rectangle(left=1, top=1, right=5, bottom=5))]
    )
    with pytest.raises(InvalidRequestError, match="takes bitmap objects, not rectangle"):
        await api.upload_annotations(DATASET, [(1002, wrong)])
    assert (await api.get_annotation(1002)).annotation.objects == []  # type: ignore[union-attr]


async def test_copies_removals_and_datasets(api: SuperviselyClient) -> None:
    await api.upload_annotations(DATASET, {1004: sample()})
    gold = await api.create_dataset(PROJECT, "gold", description="reference")
    assert (gold.name, gold.project_id, gold.description) == ("gold", PROJECT, "reference")
    with pytest.raises(InvalidRequestError) as taken:
        await api.create_dataset(PROJECT, "gold")
    assert taken.value.details["type"] == "NONUNIQUE"
    copies = await api.copy_images(gold.id, [1004, 1005], ["g1.jpeg", "g2.jpeg"])
    assert [(copy.name, copy.dataset_id) for copy in copies] == [("g1.jpeg", gold.id), ("g2.jpeg", gold.id)]
    assert [image.name for image in await api.list_images(gold.id)] == ["g1.jpeg", "g2.jpeg"]
    await api.copy_annotations([1004], [copies[0].id])
    copied = await api.get_annotation(copies[0].id)
    assert copied is not None and geometries(copied.annotation) == geometries(sample())
    with pytest.raises(InvalidRequestError) as clash:
        await api.copy_images(gold.id, [1006], ["g1.jpeg"])
    assert [(error["name"], error["id"]) for error in clash.value.details["errors"]] == [
        ("g1.jpeg", copies[0].id)
    ]
    await api.remove_images([copies[1].id])
    await api.remove_images([copies[1].id])  # gone already: harmless
    assert [image.name for image in await api.list_images(gold.id)] == ["g1.jpeg"]
    await api.remove_dataset(gold.id)
    await api.remove_dataset(gold.id)  # gone already: counts as removed
    with pytest.raises(NotFoundError):
        await api.remove_dataset(gold.id, missing_ok=False)
    assert [dataset.id for dataset in await api.list_datasets(PROJECT)] == [DATASET]
    assert [image.name for image in await api.list_images(DATASET)] == SEEDED_NAMES


async def test_bad_arguments_fail_before_sending(api: SuperviselyClient) -> None:
    before = api.stats.total_requests
    with pytest.raises(ValueError, match="names"):
        await api.copy_images(DATASET, [1002], ["a.jpeg", "b.jpeg"])
    with pytest.raises(ValueError, match="duplicates"):
        await api.copy_images(DATASET, [1002, 1003], ["a.jpeg", "a.jpeg"])
    with pytest.raises(ValueError, match="same length|target ids"):
        await api.copy_annotations([1002], [1003, 1004])
    with pytest.raises(TypeError):
        await api.upload_annotations(DATASET, {1002: {"objects": []}})  # type: ignore[dict-item]
    assert api.stats.total_requests == before


async def test_an_image_copy_with_an_unknown_outcome_is_ambiguous_and_not_retried(make_client) -> None:
    async with make_client(lambda request: error_reply(500, "boom")) as ctx:
        with pytest.raises(AmbiguousWriteError):
            await ctx.client.copy_images(DATASET, [1002], ["a.jpeg"])
        assert ctx.recorder.methods == ["images.bulk.add"]


async def test_replies_missing_an_image_or_malformed_raise_response_format_error(make_client) -> None:
    good = {"imageId": 1002, "annotation": {"size": {"height": 8, "width": 8}, "objects": [], "tags": []}}

    def handler(request: httpx.Request) -> httpx.Response:
        assert method_of(request) == "annotations.bulk.info"
        return reply([good])

    async with make_client(handler) as ctx:
        with pytest.raises(ResponseFormatError, match="1003"):
            await ctx.client.get_annotations(DATASET, [1002, 1003])
    broken = {
        **good,
        "annotation": {
            **good["annotation"],
            "objects": [{"classTitle": "x", "geometryType": "rectangle", "points": 5}],
        },
    }
    async with make_client(lambda request: reply([broken])) as ctx:
        with pytest.raises(ResponseFormatError):
            await ctx.client.get_annotations(DATASET, [1002])
