"""`images.list` with `fields`: the reply is byte for byte the whole entities with only the asked keys (and `id`).

The projection selects only the asked keys' columns; the oracle is the same listing without `fields` (whole
entities), cut down by the test and serialised the way the server serialises.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from labelrounds.client.endpoints.images import COLUMN_FIELDS
from labelrounds.sandbox.handlers import images as images_handler
from labelrounds.sandbox.querying import Fixed, Projection
from labelrounds.sandbox.server import SandboxServer

from .api_client import Api
from .test_annotations import annotation, lemon, write

#: Image names with every kind of character JSON escapes or leaves raw.
ODD_TITLES = [
    'quote " and backslash \\.jpeg',
    "controls \x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f.jpeg",
    "non-ASCII é ß 中文 \u2028\u2029 \ufeff 😀.jpeg",
    "slash / and <script>&amp;.jpeg",
]


def listings(project_id: int) -> list[dict[str, Any]]:
    """Listings of the lemons seed: a dataset whole, a page of a custom sort, keyset pages of a project."""
    return [
        {"datasetId": 1001},
        {"datasetId": 1001, "sort": "name", "sort_order": "desc", "per_page": 4, "page": 2},
        {"projectId": project_id, "pagination_mode": "token", "after": "1003", "per_page": 2},
        {"datasetId": 1001, "filter": [{"field": "id", "operator": ">", "value": 1003}], "per_page": 2},
    ]


FIELD_SETS: list[list[str]] = [
    list(COLUMN_FIELDS),  # the most our client asks for (a round without tag filters: id and name)
    ["name"],
    ["id"],
    ["tags", "name"],  # asked out of order: the entity's order wins
    ["labelsCount", "meta", "link", "description", "fullStorageUrl", "createdBy"],
    ["hash", "mime", "size", "width", "height", "datasetId", "projectId", "createdAt", "updatedAt"],
    ["ext", "pathOriginal", "name"],  # keys computed from a whole row
    ["name", "no such key"],  # unknown keys are ignored
]


def cut(reply: dict[str, Any], fields: list[str]) -> bytes:
    """The oracle: a whole-entity reply keeping only `fields` and `id`, serialised as the server does."""
    keep = {*fields, "id"}
    entities = [{key: value for key, value in entity.items() if key in keep} for entity in reply["entities"]]
    return orjson.dumps({**reply, "entities": entities})


def mismatches(admin: Api, project_id: int) -> list[tuple[dict[str, Any], list[str]]]:
    """The (listing, fields) pairs whose projected reply differs from the cut whole reply."""
    found = []
    for listing in listings(project_id):
        whole = admin.ok("images.list", listing)
        assert whole["entities"], listing
        for fields in FIELD_SETS:
            projected = admin.call("images.list", {**listing, "fields": fields})
            assert projected.status_code == 200, projected.text
            if projected.content != cut(whole, fields):
                found.append((listing, fields))
    return found


def test_projected_listing_is_the_whole_listing_cut_down(admin: Api, sandbox: SandboxServer) -> None:
    write(admin, (1003, annotation(lemon((10, 20)), lemon((40, 50)))))  # labelsCount 2 on one image
    assert admin.ok("images.info", {"id": 1003})["labelsCount"] == 2
    # Names JSON must escape: the projection's JSON is written by SQLite, the oracle's by orjson.
    copies = [{"imageId": 1002, "title": title} for title in ODD_TITLES]
    admin.ok("images.bulk.add", {"datasetId": 1001, "images": copies})
    assert mismatches(admin, sandbox.project_id or 0) == []


def test_the_oracle_catches_a_projection_out_of_the_entity_order(
    admin: Api, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = list(images_handler._IMAGE_PROJECTION.keys)  # the mutant swaps its first two keys
    keys[0], keys[1] = keys[1], keys[0]
    monkeypatch.setattr(images_handler, "_IMAGE_PROJECTION", Projection(tuple(keys)))
    assert len(mismatches(admin, sandbox.project_id or 0)) > 0


def test_the_oracle_catches_a_wrong_fixed_value(
    admin: Api, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [
        (key, Fixed(None) if key == "tags" else source)
        for key, source in images_handler._IMAGE_PROJECTION.keys
    ]
    monkeypatch.setattr(images_handler, "_IMAGE_PROJECTION", Projection(tuple(keys)))
    assert len(mismatches(admin, sandbox.project_id or 0)) > 0
