"""The official SDK writes and reads annotations, copies and removes images, creates and removes datasets on the
sandbox, and our client reads what the SDK wrote and the SDK reads what our client wrote.

The oracle is `SPEC`, the objects this module asks both sides to draw, with the coordinate conversion the
reference documents (E.1): wire rectangle = SDK rectangle + 1 on right/bottom, wire polygon = SDK polygon + 0.5,
bitmap origin unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.client.models import (
    Annotation,
    AnnotationInfo,
    Bitmap,
    ImageSize,
    Label,
    LabelTag,
    Polygon,
    Rectangle,
)
from labelrounds.sandbox.bitmaps import encode_mask
from labelrounds.sandbox.server import SandboxServer

from .sdk_runner import SdkInterpreter, SdkRun, run_sdk_script
from .server_state import ServerState

ROWS = ["..####..", ".######.", "########", "########", ".######.", "..####.."]
SPEC: dict[str, Any] = {
    "height": 800,
    "width": 1067,
    "rectangle": {"top": 20, "left": 10, "bottom": 200, "right": 100},
    "polygon": {"exterior": [[5, 5], [50, 5], [50, 40]]},
    "bitmap": {"origin": [40, 30], "rows": ROWS, "size": "small"},
}
"""What both sides draw, in the SDK's pixel coordinates ([x, y] points)."""
WIRE_RECTANGLE = [[10, 20], [101, 201]]
WIRE_POLYGON = [[5.5, 5.5], [50.5, 5.5], [50.5, 40.5]]
PIXEL_RECTANGLE = [[10, 20], [100, 200]]
PIXEL_POLYGON = SPEC["polygon"]["exterior"]


def mask_rows(data: str) -> list[str]:
    """A bitmap's `data` decoded with Pillow (palette/RGBA masks by alpha, grey ones by value), as `#`/`.` rows."""
    image = Image.open(io.BytesIO(zlib.decompress(base64.b64decode(data))))
    pixels = (
        np.array(image.convert("RGBA"))[:, :, 3] if image.mode in ("P", "RGBA", "LA") else np.array(image)
    )
    return ["".join("#" if value else "." for value in row) for row in pixels]


def drawn(
    objects: list[dict[str, Any]], rectangle: list[list[float]], polygon: list[list[float]]
) -> list[Any]:
    """The oracle's view of a JSON object list: per object, class and geometry (bitmaps decoded), and tags."""
    view = []
    for item in objects:
        tags = sorted((tag["name"], tag.get("value")) for tag in item.get("tags", []))
        if item["geometryType"] == "bitmap":
            view.append(
                (item["classTitle"], list(item["bitmap"]["origin"]), mask_rows(item["bitmap"]["data"]), tags)
            )
        else:
            points = [[float(value) for value in point] for point in item["points"]["exterior"]]
            view.append((item["classTitle"], points, None, tags))
    return view


def expected(rectangle: list[list[float]], polygon: list[list[float]], count: int = 3) -> list[Any]:
    """The spec's objects as `drawn` shows them, in a coordinate system's rectangle and polygon."""
    as_floats = [[[float(value) for value in point] for point in points] for points in (rectangle, polygon)]
    objects = [
        ("box", as_floats[0], None, []),
        ("leaf", as_floats[1], None, []),
        ("lemon", SPEC["bitmap"]["origin"], ROWS, [("size", "small")]),
    ]
    return objects[:count]


def test_the_oracle_catches_a_moved_point_a_changed_mask_or_a_lost_tag() -> None:
    good = [
        {
            "classTitle": "box",
            "geometryType": "rectangle",
            "tags": [],
            "points": {"exterior": WIRE_RECTANGLE},
        },
        {"classTitle": "leaf", "geometryType": "polygon", "tags": [], "points": {"exterior": WIRE_POLYGON}},
        {
            "classTitle": "lemon",
            "geometryType": "bitmap",
            "tags": [{"name": "size", "value": "small"}],
            "bitmap": {
                "origin": [40, 30],
                "data": encode_mask([[cell == "#" for cell in row] for row in ROWS]),
            },
        },
    ]
    assert drawn(good, WIRE_RECTANGLE, WIRE_POLYGON) == expected(WIRE_RECTANGLE, WIRE_POLYGON)
    shifted = [{**good[0], "points": {"exterior": PIXEL_RECTANGLE}}, *good[1:]]
    assert drawn(shifted, WIRE_RECTANGLE, WIRE_POLYGON) != expected(WIRE_RECTANGLE, WIRE_POLYGON)
    full = encode_mask([[True] * 8] * 6)
    changed = [*good[:2], {**good[2], "bitmap": {"origin": [40, 30], "data": full}}]
    assert drawn(changed, WIRE_RECTANGLE, WIRE_POLYGON) != expected(WIRE_RECTANGLE, WIRE_POLYGON)
    untagged = [*good[:2], {**good[2], "tags": []}]
    assert drawn(untagged, WIRE_RECTANGLE, WIRE_POLYGON) != expected(WIRE_RECTANGLE, WIRE_POLYGON)


def client_annotation() -> Annotation:
    """The spec drawn with our client's models, in wire coordinates."""
    (left, top), (right, bottom) = WIRE_RECTANGLE
    mask = encode_mask([[cell == "#" for cell in row] for row in ROWS])
    return Annotation(
        size=ImageSize(height=SPEC["height"], width=SPEC["width"]),
        objects=[
            Label(class_title="box", geometry=Rectangle(left=left, top=top, right=right, bottom=bottom)),
            Label(
                class_title="leaf", geometry=Polygon(exterior=tuple(tuple(point) for point in WIRE_POLYGON))
            ),
            Label(
                class_title="lemon",
                geometry=Bitmap(origin=(40, 30), data=mask),
                tags=[LabelTag(name="size", value="small")],
            ),
        ],
    )


async def _with_client(server: SandboxServer, action: Any) -> Any:
    settings = ConnectionSettings(server_address=server.url, api_token=server.admin_token)
    async with SuperviselyClient(settings) as api:
        return await action(api)


@pytest.fixture(scope="module")
def compat_server(lemons_sandbox: SandboxServer) -> SandboxServer:
    """The sandbox of this module: lemons, plus a `box` rectangle class and a `leaf` polygon class."""
    with ServerState(lemons_sandbox) as state:
        meta = state.call("projects.meta", id=lemons_sandbox.project_id)
        meta["classes"] += [
            {"title": "box", "shape": "rectangle", "color": "#F5A623"},
            {"title": "leaf", "shape": "polygon", "color": "#7ED321"},
        ]
        state.call("projects.meta.update", id=lemons_sandbox.project_id, meta=meta)
    return lemons_sandbox


@pytest.fixture(scope="module")
def image_ids(compat_server: SandboxServer) -> list[int]:
    with ServerState(compat_server) as state:
        return [
            image["id"] for image in state.call("images.list", datasetId=compat_server.dataset_id)["entities"]
        ]


@pytest.fixture(scope="module")
def sdk_run(
    sdk: SdkInterpreter,
    compat_server: SandboxServer,
    image_ids: list[int],
    tmp_path_factory: pytest.TempPathFactory,
) -> SdkRun:
    """Our client annotates the last image, then the SDK script runs once."""
    annotation = client_annotation()
    asyncio.run(
        _with_client(
            compat_server,
            lambda api: api.upload_annotations(compat_server.dataset_id, {image_ids[-1]: annotation}),
        )
    )
    variables = {
        "PROJECT_ID": str(compat_server.project_id),
        "DATASET_ID": str(compat_server.dataset_id),
        "ANNOTATION_SPEC": json.dumps(SPEC),
        "CLIENT_IMAGE_ID": str(image_ids[-1]),
    }
    return run_sdk_script(
        sdk,
        "annotations_and_copies.py",
        tmp_path_factory.mktemp("annotations"),
        compat_server,
        variables=variables,
        skip_https_probe=True,
    )


def test_the_sdk_reads_what_our_client_wrote_in_pixel_coordinates(sdk_run: SdkRun) -> None:
    assert drawn(sdk_run["client_written"]["objects"], [], []) == expected(PIXEL_RECTANGLE, PIXEL_POLYGON)


def test_the_sdk_reads_back_what_it_wrote(
    sdk_run: SdkRun, image_ids: list[int], compat_server: SandboxServer
) -> None:
    one = sdk_run["download"]
    assert (one["image_id"], one["image_name"], one["dataset_id"]) == (
        image_ids[0],
        "IMG_8144.jpeg",
        compat_server.dataset_id,
    )
    assert drawn(one["annotation"]["objects"], [], []) == expected(PIXEL_RECTANGLE, PIXEL_POLYGON)
    batch = sdk_run["download_batch"]
    assert [item["image_id"] for item in batch] == list(reversed(image_ids[:5]))
    assert [len(item["annotation"]["objects"]) for item in batch] == [0, 3, 1, 3, 3]
    assert drawn(batch[2]["annotation"]["objects"], [], []) == expected(
        PIXEL_RECTANGLE, PIXEL_POLYGON, count=1
    )
    listed = {item["image_id"]: item["annotation"] for item in sdk_run["get_list"]}
    assert sorted(listed) == sorted(image_ids)
    # get_list does not convert: it shows the wire's coordinates.
    assert drawn(listed[image_ids[3]]["objects"], [], []) == expected(WIRE_RECTANGLE, WIRE_POLYGON)


def test_an_unknown_class_is_refused_in_supervisely_shape(sdk_run: SdkRun) -> None:
    refused = sdk_run["upload.unknown_class"]
    assert (
        refused["status"] == 400
        and "class 'plum' is not in the project meta" in refused["body"]["details"]["message"]
    )


def test_our_client_reads_what_the_sdk_wrote(
    sdk_run: SdkRun, compat_server: SandboxServer, image_ids: list[int]
) -> None:
    infos: list[AnnotationInfo] = asyncio.run(
        _with_client(compat_server, lambda api: api.get_annotations(compat_server.dataset_id, image_ids[:4]))
    )
    box, leaf, lemon = infos[0].annotation.objects
    assert box.geometry == Rectangle(left=10, top=20, right=101, bottom=201)
    assert leaf.geometry == Polygon(exterior=tuple(tuple(point) for point in WIRE_POLYGON))
    assert isinstance(lemon.geometry, Bitmap) and lemon.geometry.origin == (40, 30)
    assert mask_rows(lemon.geometry.data) == ROWS and [(tag.name, tag.value) for tag in lemon.tags] == [
        ("size", "small")
    ]
    assert {label.labeler_login for info in infos for label in info.annotation.objects} == {
        compat_server.admin_login
    }
    assert [len(info.annotation.objects) for info in infos] == [3, 3, 1, 3]


def test_copies_keep_the_annotations_when_asked(sdk_run: SdkRun, compat_server: SandboxServer) -> None:
    copied = sdk_run["copy_batch"]
    assert [item["name"] for item in copied] == ["IMG_8144.jpeg", "IMG_4451.jpeg"]
    assert (
        len({item["dataset_id"] for item in copied}) == 1
        and copied[0]["dataset_id"] != compat_server.dataset_id
    )
    for annotation in sdk_run["copy_batch.annotations"]:
        assert drawn(annotation["objects"], [], []) == expected(PIXEL_RECTANGLE, PIXEL_POLYGON)
    optimized = sdk_run["copy_batch_optimized.annotations"]
    assert [len(item["objects"]) for item in optimized] == [1, 3]
    assert drawn(optimized[1]["objects"], [], []) == expected(PIXEL_RECTANGLE, PIXEL_POLYGON)


def test_upload_ids_copies_by_id_and_refuses_a_taken_name(
    sdk_run: SdkRun, compat_server: SandboxServer, image_ids: list[int]
) -> None:
    by_id = sdk_run["upload_ids"]
    assert [item["name"] for item in by_id] == ["by_id_a.jpeg", "by_id_b.jpeg"]
    with ServerState(compat_server) as state:
        hashes = [state.call("images.info", id=image_id)["hash"] for image_id in image_ids[4:6]]
    assert [item["hash"] for item in by_id] == hashes
    taken = sdk_run["upload_ids.taken_name"]
    assert taken["status"] == 400 and taken["body"]["details"]["type"] == "NONUNIQUE"


def test_removals_and_datasets(sdk_run: SdkRun, compat_server: SandboxServer) -> None:
    assert sdk_run["dataset.created"]["name"] == "sdk copies"
    duplicate = sdk_run["dataset.duplicate"]
    assert duplicate["status"] == 400 and duplicate["body"]["details"]["type"] == "NONUNIQUE"
    assert sdk_run["dataset.renamed"] == "sdk copies_001"
    assert sdk_run["after_removal"] == {
        "copies": ["IMG_4451.jpeg"],
        "renamed": ["IMG_2084.jpeg", "IMG_3861.jpeg"],
    }
    assert sdk_run["datasets.left"] == ["ds1", "sdk copies_001"]
    with ServerState(compat_server) as state:
        removed = [item["id"] for item in sdk_run["copy_batch"]] + [
            item["id"] for item in sdk_run["upload_ids"]
        ]
        assert [state.status_of("images.info", id=image_id) for image_id in removed] == [404] * 4
