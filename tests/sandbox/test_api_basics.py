"""The API surface over real HTTP: envelope, pagination, filters, sorting, projection, routing and error shapes."""

from __future__ import annotations

import httpx
import pytest

from labelrounds.sandbox.models import MAX_PER_PAGE
from labelrounds.sandbox.server import SandboxServer

from .api_client import Api

LEMONS = [
    "IMG_8144.jpeg",
    "IMG_4451.jpeg",
    "IMG_3861.jpeg",
    "IMG_2084.jpeg",
    "IMG_1836.jpeg",
    "IMG_0748.jpeg",
]


def image_names(reply: dict) -> list[str]:
    return [image["name"] for image in reply["entities"]]


def test_home_page_and_version(http: httpx.Client, admin: Api) -> None:
    assert http.get("/").status_code == 200
    assert http.post("/public/api/v3/instance.version", json={}).json() == {"version": "6.18.3"}


def test_lemons_world_is_at_the_tutorials_ids(sandbox: SandboxServer, admin: Api) -> None:
    me = admin.ok("users.me")
    assert (me["id"], me["login"]) == (7, "cxnt")
    assert me["teams"] == [{"id": 8, "name": "my team", "roleId": 1, "role": "admin"}]
    assert admin.ok("teams.info", {"id": 8})["name"] == "my team"
    assert admin.ok("workspaces.info", {"id": 9}) | {"createdAt": None, "updatedAt": None} == {
        "id": 9,
        "name": "Testing Workspace",
        "description": "",
        "teamId": 8,
        "createdAt": None,
        "updatedAt": None,
    }
    project = admin.ok("projects.info", {"id": 13487})
    assert (project["name"], project["imagesCount"], project["datasetsCount"]) == ("Lemons (Test)", 6, 1)
    datasets = admin.ok("datasets.list", {"projectId": 13487})
    assert [(d["id"], d["name"], d["imagesCount"]) for d in datasets["entities"]] == [(1001, "ds1", 6)]
    assert admin.ok("datasets.info", {"id": 1001})["projectId"] == 13487
    images = admin.ok("images.list", {"datasetId": 1001})
    assert image_names(images) == LEMONS
    assert {(image["mime"], image["ext"]) for image in images["entities"]} == {("image/jpeg", "jpeg")}
    assert all(image["width"] > 0 and image["size"] > 0 and image["hash"] for image in images["entities"])
    first = images["entities"][0]
    assert admin.ok("images.info", {"id": first["id"], "forceMetadataForLinks": True}) == first


def test_list_envelope_and_pagination(admin: Api) -> None:
    pages = [admin.ok("images.list", {"datasetId": 1001, "page": page, "per_page": 4}) for page in (1, 2, 3)]
    assert [(p["total"], p["perPage"], p["pagesCount"]) for p in pages] == [(6, 4, 2)] * 3
    assert image_names(pages[0]) + image_names(pages[1]) == LEMONS
    assert pages[2]["entities"] == []
    default = admin.ok("images.list", {"datasetId": 1001})
    assert (default["perPage"], default["pagesCount"]) == (20_000, 1)
    assert admin.ok("jobs.list", {"teamId": 8}) == {
        "total": 0,
        "perPage": 500,
        "pagesCount": 0,
        "entities": [],
    }
    details = admin.error("images.list", {"datasetId": 1001, "per_page": MAX_PER_PAGE + 1}, 400)
    assert "per_page" in details["message"]
    admin.error("images.list", {"datasetId": 1001, "page": 0}, 400)


def test_sorting_and_projection(admin: Api) -> None:
    descending = admin.ok("images.list", {"datasetId": 1001, "sort": "id", "sort_order": "desc"})
    assert image_names(descending) == LEMONS[::-1]
    by_name = admin.ok("images.list", {"datasetId": 1001, "sort": "name"})
    assert image_names(by_name) == sorted(LEMONS)
    projected = admin.ok("images.list", {"datasetId": 1001, "fields": ["name"]})
    assert projected["entities"][0] == {"id": 1002, "name": "IMG_8144.jpeg"}
    assert "sortable" in admin.error("images.list", {"datasetId": 1001, "sort": "nope"}, 400)["message"]
    admin.error("images.list", {"datasetId": 1001, "sort_order": "sideways"}, 400)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "name", "operator": "=", "value": "IMG_2084.jpeg"}, ["IMG_2084.jpeg"]),
        ({"field": "name", "operator": "eq", "value": "IMG_2084.jpeg"}, ["IMG_2084.jpeg"]),
        ({"field": "id", "operator": "in", "value": [1002, 1004, 99]}, ["IMG_8144.jpeg", "IMG_3861.jpeg"]),
        (
            {"field": "id", "operator": "!in", "value": [1002, 1003, 1004, 1005]},
            ["IMG_1836.jpeg", "IMG_0748.jpeg"],
        ),
        ({"field": "id", "operator": "!=", "value": 1002}, LEMONS[1:]),
        ({"field": "id", "operator": ">", "value": 1005}, LEMONS[4:]),
        ({"field": "name", "operator": "like", "value": "IMG_1%"}, ["IMG_1836.jpeg"]),
        ({"field": "name", "operator": "like", "value": "img_1%"}, []),
        ({"field": "name", "operator": "ilike", "value": "img_1%"}, ["IMG_1836.jpeg"]),
        ({"field": "name", "operator": "!ilike", "value": "%4%"}, ["IMG_3861.jpeg", "IMG_1836.jpeg"]),
        ({"field": "id", "operator": "=", "value": 2**70}, []),
        ({"field": "createdBy", "operator": "=", "value": None}, []),
        ({"field": "createdBy", "operator": "!=", "value": None}, LEMONS),
    ],
)
def test_filters(admin: Api, condition: dict, expected: list[str]) -> None:
    reply = admin.ok("images.list", {"datasetId": 1001, "filter": [condition]})
    assert image_names(reply) == expected
    assert reply["total"] == len(expected)


@pytest.mark.parametrize(
    ("condition", "complaint"),
    [
        ({"field": "secret", "operator": "=", "value": 1}, "Cannot filter on field 'secret'"),
        ({"field": "id", "operator": "in", "value": 5}, "value must be a list"),
        ({"field": "id", "operator": "=", "value": [5]}, "single value"),
        ({"field": "id", "operator": "like", "value": "5%"}, "text fields only"),
        ({"field": "id", "operator": ">", "value": None}, "null can only be compared"),
        ({"field": "id", "operator": "~", "value": 1}, "operator"),
        ({"field": "id", "operator": "=", "value": {"a": 1}}, "value"),
    ],
)
def test_bad_filters_are_400(admin: Api, condition: dict, complaint: str) -> None:
    assert complaint in admin.error("images.list", {"datasetId": 1001, "filter": [condition]}, 400)["message"]


def test_routing_and_body_errors_keep_supervisely_shape(http: httpx.Client, admin: Api) -> None:
    headers = {"x-api-key": admin.token, "content-type": "application/json"}
    unknown = http.post("/public/api/v3/jobs.teleport", json={}, headers=headers)
    assert unknown.status_code == 404 and "jobs.teleport" in unknown.json()["details"]["message"]
    malformed = http.post("/public/api/v3/jobs.info", content=b"{oops", headers=headers)
    assert malformed.status_code == 400 and "Malformed JSON" in malformed.json()["details"]["message"]
    for garbage in (b"[1, 2]", b"42", b'"text"', b"null", b'{"id": "seven"}', b'{"id": -1}', b'{"id": 1.5}'):
        response = http.post("/public/api/v3/jobs.info", content=garbage, headers=headers)
        assert response.status_code == 400, (garbage, response.text)
        assert response.json()["error"] == "Invalid request"
    missing = admin.error("users.add", {"login": "x"}, 400)
    assert "password" in missing["message"]


def test_read_methods_also_answer_get_and_edits_put(http: httpx.Client, admin: Api) -> None:
    headers = {"x-api-key": admin.token}
    assert (
        http.request("GET", "/public/api/v3/projects.info", json={"id": 13487}, headers=headers).json()["id"]
        == 13487
    )
    put = http.request(
        "PUT",
        "/public/api/v3/projects.settings.update",
        json={"id": 13487, "settings": {"a": 1}},
        headers=headers,
    )
    assert put.status_code == 200
    assert admin.ok("projects.info", {"id": 13487})["settings"] == {"a": 1}
    wrong = http.request("GET", "/public/api/v3/jobs.add", json={}, headers=headers)
    assert wrong.status_code == 405 and wrong.json()["details"]["message"].endswith("use POST")


def test_openapi_documents_every_method(http: httpx.Client) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    expected = {
        "users.list",
        "users.info",
        "users.add",
        "users.me",
        "users.editInfo",
        "users.disable",
        "members.add",
        "members.list",
        "members.editInfo",
        "members.remove",
        "roles.list",
        "teams.list",
        "teams.info",
        "teams.activity",
        "workspaces.list",
        "workspaces.info",
        "projects.list",
        "projects.info",
        "projects.meta",
        "projects.meta.update",
        "projects.settings.update",
        "datasets.list",
        "datasets.info",
        "images.list",
        "images.info",
        "images.bulk.add",
        "images.bulk.remove",
        "datasets.add",
        "datasets.archive",
        "datasets.remove.permanently",
        "annotations.info",
        "annotations.bulk.info",
        "annotations.list",
        "annotations.bulk.add",
        "annotations.bulk.copy",
        "jobs.add",
        "jobs.info",
        "jobs.list",
        "jobs.stop",
        "jobs.archive",
        "jobs.set-status",
        "jobs.bulk.remove",
        "jobs.stats",
        "jobs.reject",
        "jobs.entities.update-review-status",
        "jobs.restart",
        "jobs.split",
        "jobs.editInfo",
        "labeling-queues.add",
        "labeling-queues.info",
        "labeling-queues.list",
        "labeling-queues.set-status",
        "labeling-queues.stats.entities",
        "labeling-queues.entities.take",
        "instance.version",
        "webhooks.add",
        "webhooks.list",
        "webhooks.info",
        "webhooks.update",
        "webhooks.bulk.remove",
        "webhooks.test",
    }
    assert {path.removeprefix("/public/api/v3/") for path in paths if path.startswith("/public")} == expected
    jobs_add = paths["/public/api/v3/jobs.add"]["post"]
    assert set(jobs_add) >= {"requestBody", "responses"} and "400" in jobs_add["responses"]


def test_text_that_is_not_unicode_is_400_not_500(http: httpx.Client, admin: Api) -> None:
    body = b'{"login": "a", "password": "\\ud800", "name": "\\udc00"}'
    response = http.post(
        "/public/api/v3/users.add",
        content=body,
        headers={"x-api-key": admin.token, "content-type": "application/json"},
    )
    assert response.status_code == 400


def test_dataset_and_project_size_is_the_sum_of_their_images(admin: Api) -> None:
    total = sum(image["size"] for image in admin.ok("images.list", {"datasetId": 1001})["entities"])
    assert admin.ok("datasets.info", {"id": 1001})["size"] == str(total)
    assert admin.ok("projects.info", {"id": 13487})["size"] == str(total)


def test_token_pagination_walks_by_id(admin: Api) -> None:
    body = {"datasetId": 1001, "pagination_mode": "token", "per_page": 4}
    first = admin.ok("images.list", body)
    assert (first["total"], image_names(first), first["after"]) == (6, LEMONS[:4], "1005")
    second = admin.ok("images.list", body | {"after": first["after"]})
    assert (image_names(second), second["after"]) == (LEMONS[4:], None)
    backwards = admin.ok("images.list", body | {"sort_order": "desc", "after": "1004"})
    assert image_names(backwards) == LEMONS[:2][::-1]
    admin.error("images.list", body | {"after": "abc"}, 400)
    admin.error("images.list", body | {"sort": "name"}, 400)
