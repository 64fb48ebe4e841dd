"""Generated ground truth of synthetic seeds: the same for the same picture, inside the image, in classes of the
project meta whose shapes fit; and the in-process reader agrees with the admin endpoint."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH, dataset_truth

from .test_dataset_contents import TRUTH_OBJECTS


def problems(
    truth: list[dict[str, Any]], sizes: dict[int, tuple[int, int]], shapes: dict[str, str]
) -> list[str]:
    """The oracle: every object lies inside its image (from `images.list`) in a class of the meta (from
    `projects.meta`) of the geometry the class takes, and every image has 2 to 5 objects."""
    found = []
    for item in truth:
        width, height = sizes[item["imageId"]]
        objects = item["annotation"]["objects"]
        if not 2 <= len(objects) <= 5:
            found.append(f"image {item['imageId']} has {len(objects)} objects")
        for obj in objects:
            if shapes.get(obj["classTitle"]) != obj["geometryType"]:
                found.append(f"image {item['imageId']}: {obj['classTitle']} as {obj['geometryType']}")
            for x, y in obj["points"]["exterior"]:
                if not (0 <= x <= width and 0 <= y <= height):
                    found.append(f"image {item['imageId']}: point {x},{y} outside {width}x{height}")
    return found


def counts(truth: list[dict[str, Any]]) -> dict[str, int]:
    """The lemons oracle's view of a truth listing: objects per image name."""
    return {item["imageName"]: len(item["annotation"]["objects"]) for item in truth}


def fetch(server: SandboxServer, client: httpx.Client, method: str, body: dict[str, Any]) -> Any:
    reply = client.post(
        f"/public/api/v3/{method}", json=body, headers={"x-api-key": server.admin_token.get_secret_value()}
    )
    assert reply.status_code == 200, reply.text
    return reply.json()


def synthetic_truth_of(
    seed: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str], list[dict[str, Any]]]:
    """(truth over HTTP, images, class shapes, in-process truth) of the second dataset of a fresh synthetic sandbox."""
    with SandboxServer(seed=seed) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        dataset = server.dataset_ids[1]
        headers = {"x-api-key": server.admin_token.get_secret_value()}
        truth = client.get(TRUTH_PATH, params={"dataset_id": dataset}, headers=headers).json()
        images = fetch(server, client, "images.list", {"datasetId": dataset})["entities"]
        meta = fetch(server, client, "projects.meta", {"id": server.project_id})
        assert server.store is not None
        in_process = dataset_truth(server.store, dataset)
    return truth, images, {item["title"]: item["shape"] for item in meta["classes"]}, in_process


def test_synthetic_truth_is_deterministic_inside_the_images_and_fits_the_meta() -> None:
    truth, images, shapes, in_process = synthetic_truth_of("synthetic:2x300")
    again, _, _, _ = synthetic_truth_of("synthetic:2x300")
    assert truth == again == in_process
    assert [item["imageId"] for item in truth] == [image["id"] for image in images]
    sizes = {image["id"]: (image["width"], image["height"]) for image in images}
    assert problems(truth, sizes, shapes) == []
    kinds = {obj["geometryType"] for item in truth for obj in item["annotation"]["objects"]}
    assert kinds == {"rectangle", "polygon"} and {"crate", "leaf", "kiwi", "lemon"} <= set(shapes)


def test_the_synthetic_oracle_catches_an_object_outside_or_of_the_wrong_shape() -> None:
    truth = [
        {
            "imageId": 1,
            "annotation": {
                "objects": [
                    {
                        "classTitle": "crate",
                        "geometryType": "rectangle",
                        "points": {"exterior": [[0, 0], [10, 10]]},
                    },
                    {
                        "classTitle": "leaf",
                        "geometryType": "polygon",
                        "points": {"exterior": [[1, 1], [2, 1], [2, 2]]},
                    },
                ]
            },
        }
    ]
    shapes = {"crate": "rectangle", "leaf": "polygon"}
    assert problems(truth, {1: (20, 20)}, shapes) == []
    assert problems(truth, {1: (8, 20)}, shapes)  # the crate pokes out of a narrower image
    assert problems(truth, {1: (20, 20)}, {"crate": "polygon", "leaf": "polygon"})
    assert problems(
        [{**truth[0], "annotation": {"objects": truth[0]["annotation"]["objects"][:1]}}],
        {1: (20, 20)},
        shapes,
    )


def test_the_lemons_oracle_catches_a_dropped_object() -> None:
    truth = [
        {"imageName": name, "annotation": {"objects": [{}] * count}} for name, count in TRUTH_OBJECTS.items()
    ]
    assert counts(truth) == TRUTH_OBJECTS
    truth[3]["annotation"]["objects"] = truth[3]["annotation"]["objects"][1:]
    assert counts(truth) != TRUTH_OBJECTS


def test_unknown_dataset_is_a_404(sandbox: SandboxServer) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        reply = client.get(
            TRUTH_PATH,
            params={"dataset_id": 999_999},
            headers={"x-api-key": sandbox.admin_token.get_secret_value()},
        )
    assert reply.status_code == 404 and "999999" in reply.json()["details"]["message"]


@pytest.mark.parametrize("query", [{}, {"dataset_id": "x"}, {"dataset_id": 0}])
def test_a_bad_query_is_a_400_in_supervisely_shape(sandbox: SandboxServer, query: dict[str, Any]) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        reply = client.get(
            TRUTH_PATH, params=query, headers={"x-api-key": sandbox.admin_token.get_secret_value()}
        )
    assert reply.status_code == 400 and reply.json()["details"]["message"]
