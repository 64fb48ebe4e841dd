"""Authentication (tokens, password login) and the permission rules of each team role."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import jwt

from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.server import SandboxServer

from .api_client import Api

MakeUser = Callable[..., Api]


def lemon_job(admin: Api, labeler: Api, reviewer_id: int | None = None, **meta: object) -> int:
    body = {
        "name": f"job for {labeler.login}",
        "datasetId": 1001,
        "userIds": [labeler.user_id],
        "meta": {"classes": ["lemon"], **meta},
    }
    if reviewer_id is not None:
        body["reviewerId"] = reviewer_id
    return admin.ok("jobs.add", body)[0]["id"]


def test_missing_wrong_or_disabled_token_is_401(http: httpx.Client, admin: Api, make_user: MakeUser) -> None:
    assert Api(http, None).error("users.me", {}, 401)["message"] == "Missing x-api-key header"
    assert (
        Api(http, "not-a-token").error("projects.info", {"id": 13487}, 401)["message"] == "Invalid API token"
    )
    labeler = make_user("labeler_1")
    admin.ok("users.disable", {"id": labeler.user_id, "disable": True})
    labeler.error("users.me", {}, 401)
    admin.ok("users.disable", {"id": labeler.user_id, "disable": False})
    assert labeler.ok("users.me")["login"] == "labeler_1"
    assert "yourself" in admin.error("users.disable", {"id": admin.user_id}, 400)["message"]


def test_password_login_returns_a_jwt_with_the_token_team_and_workspace(
    http: httpx.Client, make_user: MakeUser
) -> None:
    labeler = make_user("labeler_1", password="11111abc")
    reply = http.post("/api/account", data={"login": "labeler_1", "password": "11111abc"})
    assert reply.status_code == 200
    payload = jwt.decode(reply.json()["token"], options={"verify_signature": False})
    assert payload == {"apiToken": labeler.token, "group": {"id": 8}, "workspace": {"id": 9}}
    assert Api(http, payload["apiToken"]).ok("users.me")["logins"] == 1
    wrong = http.post("/api/account", data={"login": "labeler_1", "password": "nope"})
    assert wrong.status_code == 401 and wrong.json() == {"error": "Wrong login or password", "details": None}
    assert http.post("/api/account", data={"login": "ghost", "password": "x"}).status_code == 401
    assert http.post("/api/account", data={"login": "labeler_1"}).status_code == 400


def test_users_add_validation_and_duplicates(admin: Api, sandbox: SandboxServer) -> None:
    user_id = admin.ok(
        "users.add",
        {"login": "labeler_1", "password": "11111abc", "isRestricted": True, "name": "", "email": ""},
    )["userId"]
    assert user_id > 1001
    info = admin.ok("users.info", {"id": user_id})
    assert (info["login"], info["teams"], info["disabled"]) == ("labeler_1", [], False)
    duplicate = admin.error("users.add", {"login": "labeler_1", "password": "other"}, 400)
    assert duplicate["type"] == "NONUNIQUE" and "labeler_1" in duplicate["message"]
    assert "other" not in str(duplicate) and "11111abc" not in str(duplicate)
    for bad_login in ("", "has space", "x" * 65, "-dash-first"):
        admin.error("users.add", {"login": bad_login, "password": "p"}, 400)
    admin.error("users.add", {"login": "ok_login", "password": ""}, 400)
    found = admin.ok("users.list", {"filter": [{"field": "login", "operator": "=", "value": "labeler_1"}]})
    assert [user["id"] for user in found["entities"]] == [user_id]
    nobody = admin.ok("users.list", {"filter": [{"field": "login", "operator": "=", "value": "ghost"}]})
    assert nobody == {"total": 0, "perPage": 500, "pagesCount": 0, "entities": []}
    admin.error("users.info", {"id": 999_999}, 404)


def test_members_add_list_edit_remove(admin: Api, make_user: MakeUser) -> None:
    labeler = make_user("labeler_1", role=None)
    assert admin.ok("members.add", {"login": "labeler_1", "teamId": 8, "roleId": 3}) == {
        "userId": labeler.user_id
    }
    assert admin.ok("members.add", {"login": "labeler_1", "teamId": 8, "roleId": 3}) == {
        "userId": labeler.user_id
    }
    assert (
        "members.editInfo"
        in admin.error("members.add", {"login": "labeler_1", "teamId": 8, "roleId": 4}, 400)["message"]
    )
    assert admin.ok("users.info", {"id": labeler.user_id})["teams"] == [
        {"id": 8, "name": "my team", "roleId": 3, "role": "annotator"}
    ]
    members = admin.ok(
        "members.list", {"teamId": 8, "filter": [{"field": "login", "operator": "=", "value": "labeler_1"}]}
    )
    assert [(m["id"], m["role"], m["roleId"]) for m in members["entities"]] == [
        (labeler.user_id, "annotator", 3)
    ]
    admin.ok("members.editInfo", {"id": labeler.user_id, "teamId": 8, "roleId": 4})
    assert admin.ok("users.info", {"id": labeler.user_id})["teams"][0]["role"] == "viewer"
    admin.ok("members.remove", {"id": labeler.user_id, "teamId": 8})
    assert admin.ok("users.info", {"id": labeler.user_id})["teams"] == []
    admin.error("members.remove", {"id": labeler.user_id, "teamId": 8}, 400)
    assert (
        "Unknown role id 9"
        in admin.error("members.add", {"login": "labeler_1", "teamId": 8, "roleId": 9}, 400)["message"]
    )
    admin.error("members.add", {"login": "ghost", "teamId": 8, "roleId": 3}, 404)
    admin.error("members.add", {"login": "labeler_1", "teamId": 404, "roleId": 3}, 404)
    roles = admin.ok("roles.list")
    assert [(r["id"], r["role"]) for r in roles["entities"]] == [
        (1, "admin"),
        (2, "developer"),
        (3, "annotator"),
        (4, "viewer"),
        (5, "manager"),
        (6, "reviewer"),
    ]


def test_annotator_sees_and_acts_only_on_its_own_jobs(admin: Api, make_user: MakeUser) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    alice_job, bob_job = lemon_job(admin, alice), lemon_job(admin, bob)
    assert alice.job_ids(8) == [alice_job]
    assert alice.job(alice_job)["labelerLogin"] == "alice"
    alice.error("jobs.info", {"id": bob_job}, 404)
    alice.error("jobs.set-status", {"id": bob_job, "status": "in_progress"}, 404)
    alice.error("jobs.add", {"name": "mine", "datasetId": 1001, "userIds": [alice.user_id]}, 403)
    alice.error("users.add", {"login": "sneaky", "password": "p"}, 403)
    alice.error("projects.meta.update", {"id": 13487, "meta": {"classes": []}}, 403)
    alice.error("jobs.stop", {"id": alice_job}, 403)
    alice.error("jobs.archive", {"id": alice_job}, 403)
    alice.error("jobs.bulk.remove", {"ids": [alice_job]}, 403)
    alice.error("members.add", {"login": "bob", "teamId": 8, "roleId": 1}, 403)
    alice.error("teams.activity", {"teamId": 8}, 403)
    # Team content stays readable, and the teammates only.
    assert alice.ok("images.list", {"datasetId": 1001})["total"] == 6
    assert {user["login"] for user in alice.ok("users.list")["entities"]} == {"cxnt", "alice", "bob"}
    assert admin.job_ids(8) == [alice_job, bob_job]


def test_reviewer_and_viewer_roles(admin: Api, make_user: MakeUser) -> None:
    alice, reviewer, viewer = (
        make_user("alice"),
        make_user("rita", Role.REVIEWER),
        make_user("vic", Role.VIEWER),
    )
    reviewed = lemon_job(admin, alice, reviewer_id=reviewer.user_id)
    lemon_job(admin, alice)
    assert reviewer.job_ids(8) == [reviewed]
    assert viewer.job_ids(8) == []
    assert viewer.ok("projects.meta", {"id": 13487})["classes"]
    viewer.error("jobs.add", {"name": "v", "datasetId": 1001, "userIds": [alice.user_id]}, 403)
    refused = admin.error("jobs.add", {"name": "v", "datasetId": 1001, "userIds": [viewer.user_id]}, 400)
    assert "viewers may not" in refused["message"]


def test_manager_and_developer_rights(admin: Api, make_user: MakeUser) -> None:
    manager, developer, alice = (
        make_user("mona", Role.MANAGER),
        make_user("dev", Role.DEVELOPER),
        make_user("alice"),
    )
    new_user = manager.ok("users.add", {"login": "newbie", "password": "p"})["userId"]
    manager.ok("members.add", {"login": "newbie", "teamId": 8, "roleId": 3})
    job = lemon_job(developer, alice)
    developer.ok("jobs.set-status", {"id": job, "status": "completed"})
    developer.error("users.add", {"login": "other", "password": "p"}, 403)
    developer.error("members.editInfo", {"id": new_user, "teamId": 8, "roleId": 1}, 403)
    meta = developer.ok("projects.meta", {"id": 13487})
    developer.ok("projects.meta.update", {"id": 13487, "meta": meta})
    assert manager.ok("teams.activity", {"teamId": 8})["total"] >= 2


def test_outsider_sees_nothing_of_the_team(sandbox: SandboxServer, admin: Api, make_user: MakeUser) -> None:
    alice = make_user("alice")
    job = lemon_job(admin, alice)
    outsider = make_user("outsider", role=None)
    assert outsider.ok("teams.list")["entities"] == []
    for method, body in [
        ("teams.info", {"id": 8}),
        ("workspaces.info", {"id": 9}),
        ("projects.info", {"id": 13487}),
        ("projects.meta", {"id": 13487}),
        ("datasets.info", {"id": 1001}),
        ("images.info", {"id": 1002}),
        ("jobs.info", {"id": job}),
        ("users.info", {"id": 7}),
    ]:
        outsider.error(method, body, 404)
    for method, body in [
        ("jobs.list", {"teamId": 8}),
        ("workspaces.list", {"teamId": 8}),
        ("members.list", {"teamId": 8}),
        ("projects.list", {"workspaceId": 9}),
        ("datasets.list", {"projectId": 13487}),
        ("images.list", {"datasetId": 1001}),
    ]:
        outsider.error(method, body, 403)
    admin.error("jobs.list", {"teamId": 404}, 404)
    assert [user["login"] for user in outsider.ok("users.list")["entities"]] == ["outsider"]
    refused = admin.error("jobs.add", {"name": "x", "datasetId": 1001, "userIds": [outsider.user_id]}, 400)
    assert str(outsider.user_id) in refused["message"]


def test_users_edit_info(admin: Api, make_user: MakeUser, http: httpx.Client) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    assert (
        alice.ok("users.editInfo", {"id": alice.user_id, "name": "Alice", "password": "n3w-pass"})["name"]
        == "Alice"
    )
    assert http.post("/api/account", data={"login": "alice", "password": "n3w-pass"}).status_code == 200
    alice.error("users.editInfo", {"id": bob.user_id, "name": "Bobby"}, 403)
    assert admin.ok("users.editInfo", {"id": bob.user_id, "email": "b@x.org"})["email"] == "b@x.org"
