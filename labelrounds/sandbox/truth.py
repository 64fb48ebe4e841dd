"""Ground truth of the seeded pictures: what a perfect labeler would draw. Sandbox-only: the API never serves it.

Truth belongs to the picture, not to an image row: it is keyed by the image hash, so a copy (`images.bulk.add`)
has its source's truth. The `lemons` seed stores a hand-made set (kiwi and lemon bitmaps, with a `size` tag);
`synthetic:DxN` seeds store nothing and generate each picture's truth on demand from its hash (a few `crate`
rectangles and `leaf` polygons), deterministic and cheap enough for millions of images. Readers: `read_truth`
in-process, and `GET /_sandbox/truth?dataset_id=N` for the instance admin.
"""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Annotated, Any

import orjson
from fastapi import FastAPI, Header, Query, Response

from labelrounds.sandbox.annotation_format import empty_annotation
from labelrounds.sandbox.auth import authenticate
from labelrounds.sandbox.bitmaps import ellipse_bitmap_data
from labelrounds.sandbox.errors import Forbidden, NotFound
from labelrounds.sandbox.models import ObjectClassBody
from labelrounds.sandbox.store import Store
from labelrounds.sandbox.wire import dump_json

TRUTH_PATH = "/_sandbox/truth"
TRUTH_SETTING = "ground_truth"
SYNTHETIC_TRUTH = "synthetic-v1"
"""`sandbox_settings[ground_truth]`: pictures without a stored row get generated truth."""
SYNTHETIC_CLASSES = (
    ObjectClassBody(title="crate", shape="rectangle", color="#F5A623"),
    ObjectClassBody(title="leaf", shape="polygon", color="#7ED321"),
)
"""Classes of the synthetic truth, added to the synthetic seeds' meta after kiwi and lemon."""

# Per lemons image: (class, left, top, width, height, size tag) of each fruit, drawn as an ellipse mask.
LEMON_OBJECTS: dict[str, tuple[tuple[str, int, int, int, int, str], ...]] = {
    "IMG_8144.jpeg": (
        ("lemon", 120, 180, 260, 220, "large"),
        ("lemon", 430, 240, 230, 200, "medium"),
        ("kiwi", 700, 300, 190, 170, "medium"),
    ),
    "IMG_4451.jpeg": (
        ("kiwi", 150, 120, 210, 190, "large"),
        ("kiwi", 420, 380, 180, 160, "medium"),
        ("lemon", 690, 200, 240, 210, "large"),
    ),
    "IMG_3861.jpeg": (("lemon", 300, 260, 280, 230, "large"), ("kiwi", 640, 420, 170, 150, "small")),
    "IMG_2084.jpeg": (
        ("lemon", 90, 400, 220, 190, "medium"),
        ("lemon", 380, 120, 200, 180, "medium"),
        ("kiwi", 650, 160, 200, 180, "medium"),
        ("kiwi", 780, 480, 160, 140, "small"),
    ),
    "IMG_1836.jpeg": (("lemon", 260, 200, 300, 250, "large"), ("lemon", 600, 330, 250, 210, "medium")),
    "IMG_0748.jpeg": (
        ("kiwi", 200, 300, 220, 200, "large"),
        ("lemon", 520, 180, 240, 210, "medium"),
        ("lemon", 760, 460, 190, 170, "small"),
    ),
}


@lru_cache(maxsize=1)
def lemon_truth_documents(width: int, height: int) -> dict[str, str]:
    """The stored truth JSON of each lemons image name (computed once per process)."""
    documents = {}
    for name, fruits in LEMON_OBJECTS.items():
        objects = [
            {
                "classTitle": title,
                "description": "",
                "geometryType": "bitmap",
                "tags": [{"name": "size", "value": size}],
                "bitmap": {"origin": [left, top], "data": ellipse_bitmap_data(box_width, box_height)},
            }
            for title, left, top, box_width, box_height, size in fruits
        ]
        documents[name] = dump_json({**empty_annotation(width, height), "objects": objects})
    return documents


def synthetic_truth(image_hash: str, width: int, height: int) -> dict[str, Any]:
    """The generated truth of a synthetic picture: 2–5 `crate` rectangles and `leaf` polygons, in wire
    coordinates inside the image, the same for the same hash and size."""
    draw = random.Random(f"{image_hash}/{width}x{height}").random  # noqa: S311 - simulation, not security
    objects = []
    for _ in range(2 + int(draw() * 4)):
        box_width = _between(draw, max(2, width // 16), max(3, width // 4))
        box_height = _between(draw, max(2, height // 16), max(3, height // 4))
        left, top = _between(draw, 0, width - box_width), _between(draw, 0, height - box_height)
        if draw() < 0.5:
            objects.append(_object("crate", "rectangle", [[left, top], [left + box_width, top + box_height]]))
        else:
            objects.append(_object("leaf", "polygon", _leaf(draw, left, top, box_width, box_height)))
    return {**empty_annotation(width, height), "objects": objects}


def _between(draw: Callable[[], float], low: int, high: int) -> int:
    """A whole number in [low, high] from one uniform draw."""
    return low + int(draw() * (high - low + 1))


def _object(title: str, geometry: str, exterior: list[list[float]]) -> dict[str, Any]:
    return {
        "classTitle": title,
        "description": "",
        "geometryType": geometry,
        "tags": [],
        "points": {"exterior": exterior, "interior": []},
    }


def _leaf(draw: Callable[[], float], left: int, top: int, width: int, height: int) -> list[list[float]]:
    """A convex-ish polygon of 5–8 vertices inside a box, counter-clockwise by angle."""
    angles = sorted(draw() * math.tau for _ in range(5 + int(draw() * 4)))
    center_x, center_y, radius_x, radius_y = left + width / 2, top + height / 2, width / 2, height / 2
    return [
        [
            round(center_x + math.cos(angle) * radius_x * (0.7 + 0.3 * draw()), 1),
            round(center_y + math.sin(angle) * radius_y * (0.7 + 0.3 * draw()), 1),
        ]
        for angle in angles
    ]


def read_truth(db: sqlite3.Connection, image_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The truth of each image (by id) whose picture has one; images without truth are left out."""
    rows = db.execute(
        "SELECT i.id, i.hash, i.width, i.height, g.annotation FROM images i"
        " LEFT JOIN ground_truth g ON g.image_hash = i.hash WHERE i.id IN (SELECT value FROM json_each(?))",
        (dump_json(list(image_ids)),),
    ).fetchall()
    setting = db.execute("SELECT value FROM sandbox_settings WHERE key = ?", (TRUTH_SETTING,)).fetchone()
    generate = setting is not None and setting[0] == SYNTHETIC_TRUTH
    truth = {}
    for image_id, image_hash, width, height, stored in rows:
        if stored is not None:
            truth[image_id] = orjson.loads(stored)
        elif generate:
            truth[image_id] = synthetic_truth(image_hash, width, height)
    return truth


def dataset_truth(store: Store, dataset_id: int) -> list[dict[str, Any]]:
    """`[{imageId, imageName, annotation}]` for a dataset's images that have truth, by id (in-process reader).

    Raises:
        NotFound: no such dataset.
    """
    with store.transaction(write=False) as db:
        if db.execute("SELECT 1 FROM datasets WHERE id = ?", (dataset_id,)).fetchone() is None:
            raise NotFound(f"Dataset {dataset_id} not found")
        images = db.execute(
            "SELECT id, name FROM images WHERE dataset_id = ? ORDER BY id", (dataset_id,)
        ).fetchall()
        truth = read_truth(db, [image_id for image_id, _ in images])
    return [
        {"imageId": image_id, "imageName": name, "annotation": truth[image_id]}
        for image_id, name in images
        if image_id in truth
    ]


def store_truth(db: sqlite3.Connection, documents: dict[str, str]) -> None:
    """Store truth JSON per image hash (seeding)."""
    db.executemany(
        "INSERT OR REPLACE INTO ground_truth(image_hash, annotation) VALUES (?, ?)", list(documents.items())
    )


def enable_synthetic_truth(db: sqlite3.Connection) -> None:
    """Make pictures without stored truth get generated truth (synthetic seeds)."""
    db.execute(
        "INSERT OR REPLACE INTO sandbox_settings(key, value) VALUES (?, ?)", (TRUTH_SETTING, SYNTHETIC_TRUTH)
    )


def _admin_only(store: Store, token: str | None) -> None:
    with store.transaction(write=False) as db:
        actor = authenticate(db, token)
    if not actor.is_instance_admin:
        raise Forbidden("Only the instance admin may read the ground truth")


def add_truth_route(app: FastAPI, store: Store) -> None:
    """`GET /_sandbox/truth?dataset_id=N`: a dataset's truth as `dataset_truth` gives it, instance admin only."""

    @app.get(TRUTH_PATH, include_in_schema=False)
    async def truth(
        dataset_id: Annotated[int, Query(ge=1, le=2**63 - 1)],
        x_api_key: Annotated[str | None, Header()] = None,
    ) -> Response:
        await asyncio.to_thread(_admin_only, store, x_api_key)
        documents = await asyncio.to_thread(dataset_truth, store, dataset_id)
        return Response(orjson.dumps(documents), media_type="application/json")
