"""Project meta: full replacement that keeps ids, validation before write, and the settings call."""

from __future__ import annotations

from typing import Any

import pytest
from client.payloads import SDK_WRITTEN_META  # tests/ is on sys.path (rootdir package layout)

from labelrounds.sandbox.server import SandboxServer

from .api_client import Api

# What the tutorial's prepare_project sends (reference §6.4), starting from an empty meta.
TUTORIAL_META = SDK_WRITTEN_META


def ids_by_name(meta: dict[str, Any]) -> dict[str, int]:
    return {item.get("title") or item["name"]: item["id"] for item in meta["classes"] + meta["tags"]}


def test_seeded_meta(admin: Api) -> None:
    meta = admin.ok("projects.meta", {"id": 13487})
    assert meta["projectType"] == "images"
    assert [(c["title"], c["shape"], c["color"]) for c in meta["classes"]] == [
        ("kiwi", "bitmap", "#D0021B"),
        ("lemon", "bitmap", "#50E3C2"),
    ]
    kiwi = meta["classes"][0]
    assert set(kiwi) == {"id", "title", "shape", "color", "geometry_config", "hotkey", "description"}
    size, origin = meta["tags"]
    assert (size["name"], size["value_type"], size["values"]) == (
        "size",
        "oneof_string",
        ["small", "medium", "large"],
    )
    assert (origin["name"], origin["value_type"]) == ("origin", "any_string")


def test_tutorial_update_keeps_ids_by_name_and_replaces_the_rest(admin: Api) -> None:
    before = ids_by_name(admin.ok("projects.meta", {"id": 13487}))
    stored = admin.ok("projects.meta.update", {"id": 13487, "meta": TUTORIAL_META})
    assert ids_by_name(stored) == before
    assert [c["title"] for c in stored["classes"]] == ["lemon", "kiwi"]
    assert admin.ok("projects.meta", {"id": 13487}) == stored
    kiwi_id = before["kiwi"]
    renamed = {
        "classes": [
            {"id": kiwi_id, "title": "green kiwi", "shape": "polygon", "color": "#00FF00"},
            {"title": "orange", "shape": "rectangle", "color": "#FFA500", "custom_key": 1},
        ],
        "tags": [{"name": "size", "value_type": "any_number"}],
    }
    stored = admin.ok("projects.meta.update", {"id": 13487, "meta": renamed})
    green_kiwi, orange = stored["classes"]
    assert (green_kiwi["id"], green_kiwi["title"], green_kiwi["shape"]) == (kiwi_id, "green kiwi", "polygon")
    assert orange["id"] not in before.values() and orange["custom_key"] == 1
    assert [(t["name"], t["id"], t["value_type"]) for t in stored["tags"]] == [
        ("size", before["size"], "any_number")
    ]
    swap = {
        "classes": [
            {"id": green_kiwi["id"], "title": "orange", "shape": "bitmap", "color": "#000000"},
            {"id": orange["id"], "title": "green kiwi", "shape": "bitmap", "color": "#000000"},
        ]
    }
    swapped = admin.ok("projects.meta.update", {"id": 13487, "meta": swap})
    assert [(c["id"], c["title"]) for c in swapped["classes"]] == [
        (green_kiwi["id"], "orange"),
        (orange["id"], "green kiwi"),
    ]


@pytest.mark.parametrize(
    ("meta", "complaint"),
    [
        (
            {"classes": [{"title": "a", "shape": "bitmap", "color": "#000000"}] * 2},
            "Duplicate class titles: a",
        ),
        ({"classes": [{"title": "a", "shape": "blob", "color": "#000000"}]}, "shape"),
        ({"classes": [{"title": "a", "shape": "bitmap", "color": "red"}]}, "color"),
        ({"classes": [{"title": "a", "shape": "bitmap"}]}, "color"),
        ({"classes": [{"title": "", "shape": "bitmap", "color": "#000000"}]}, "title"),
        (
            {"classes": [{"id": 1002, "title": "a", "shape": "bitmap", "color": "#000000"}]},
            "id 1002, which is not a class",
        ),
        ({"tags": [{"name": "t", "value_type": "oneof_string"}]}, "needs a non-empty 'values'"),
        ({"tags": [{"name": "t", "value_type": "any_string", "values": ["x"]}]}, "cannot have 'values'"),
        ({"tags": [{"name": "t", "value_type": "none", "classes": ["ghost"]}]}, "unknown classes: ghost"),
        ({"tags": [{"name": "t", "value_type": "color"}]}, "value_type"),
        ({"classes": "kiwi"}, "classes"),
    ],
)
def test_invalid_meta_writes_nothing(admin: Api, meta: dict, complaint: str) -> None:
    before = admin.ok("projects.meta", {"id": 13487})
    assert complaint in admin.error("projects.meta.update", {"id": 13487, "meta": meta}, 400)["message"]
    assert admin.ok("projects.meta", {"id": 13487}) == before


def test_unknown_project(admin: Api) -> None:
    admin.error("projects.meta.update", {"id": 1, "meta": {"classes": []}}, 404)
    admin.error("projects.meta", {"id": 1}, 404)


def test_settings_update_and_project_lists(admin: Api, sandbox: SandboxServer) -> None:
    settings = {"groupImages": False, "groupImagesByTagId": None, "groupImagesSync": False}
    assert admin.ok("projects.settings.update", {"id": 13487, "settings": settings}) == {"success": True}
    assert admin.ok("projects.info", {"id": 13487})["settings"] == settings
    by_workspace = admin.ok("projects.list", {"filter": [], "fields": [], "workspaceId": 9})
    by_team = admin.ok("projects.list", {"groupId": 8})
    assert [p["id"] for p in by_workspace["entities"]] == [p["id"] for p in by_team["entities"]] == [13487]
    assert "exactly one" in admin.error("projects.list", {}, 400)["message"]
    workspaces = admin.ok("workspaces.list", {"teamId": 8})
    assert [w["name"] for w in workspaces["entities"]] == ["Testing Workspace"]
    assert [t["id"] for t in admin.ok("teams.list")["entities"]] == [8]
