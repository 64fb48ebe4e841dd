"""Seeds, persistence across restarts with a database file, the subprocess mode and the `serve` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from labelrounds.sandbox.seed import SeedSpec
from labelrounds.sandbox.server import SandboxServer
from labelrounds.sandbox.truth import TRUTH_PATH

from .api_client import Api
from .test_dataset_contents import SEEDED, TRUTH_OBJECTS


def admin_of(server: SandboxServer, client: httpx.Client) -> Api:
    return Api(client, server.admin_token.get_secret_value(), server.admin_id, server.admin_login)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lemons", SeedSpec("lemons")),
        ("lemons:1", SeedSpec("lemons")),
        ("lemons:20", SeedSpec("lemons", 20)),
        ("empty", SeedSpec("empty")),
        ("synthetic:3x40", SeedSpec("synthetic", 3, 40)),
    ],
)
def test_seed_specs(text: str, expected: SeedSpec) -> None:
    assert SeedSpec.parse(text) == expected
    assert SeedSpec.parse(str(expected)) == expected  # the text a subprocess sandbox is started with


@pytest.mark.parametrize(
    "text", ["lemon", "synthetic:0x5", "synthetic:3", "synthetic:5000x5000", "synthetic:axb"]
)
def test_bad_seed_specs_name_the_choices(text: str) -> None:
    with pytest.raises(ValueError, match="synthetic"):
        SeedSpec.parse(text)


@pytest.mark.parametrize("text", ["lemons:0", "lemons:21", "lemons:x", "lemons:2x6"])
def test_bad_lemons_seeds_name_the_choices(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        SeedSpec.parse(text)
    assert f"{text!r}" in str(refused.value) and "lemons:D (1 ≤ D ≤ 20)" in str(refused.value)
    assert "synthetic:DxN" in str(refused.value)


def test_lemons_d_seeds_d_datasets_of_the_six_pictures_each_with_its_own_pictures_and_truth(
    sandbox_server: SandboxServer,
) -> None:
    """`lemons:3`: ds1 exactly as `lemons` seeds it, ds2 and ds3 the same names with pictures (hashes) of their own,
    every picture with its truth. Oracle: the lemons seed's known images and truth (`test_dataset_contents`)."""
    sandbox_server.reset("lemons:3")
    headers = {"x-api-key": sandbox_server.admin_token.get_secret_value()}
    with httpx.Client(base_url=sandbox_server.url, timeout=30) as client:
        admin = admin_of(sandbox_server, client)
        datasets = admin.ok("datasets.list", {"projectId": 13487})["entities"]
        assert [dataset["name"] for dataset in datasets] == ["ds1", "ds2", "ds3"]
        assert sandbox_server.dataset_ids == tuple(dataset["id"] for dataset in datasets)
        images = {d["id"]: admin.ok("images.list", {"datasetId": d["id"]})["entities"] for d in datasets}
        truth = {
            d["id"]: client.get(TRUTH_PATH, params={"dataset_id": d["id"]}, headers=headers).json()
            for d in datasets
        }
    assert [(image["id"], image["name"]) for image in images[1001]] == [(i, name) for i, name, _ in SEEDED]
    for dataset_id, listed in images.items():
        assert [image["name"] for image in listed] == [name for _, name, _ in SEEDED]
        counts = {item["imageName"]: len(item["annotation"]["objects"]) for item in truth[dataset_id]}
        assert counts == TRUTH_OBJECTS, dataset_id
    hashes = [image["hash"] for listed in images.values() for image in listed]
    assert len(set(hashes)) == len(hashes) == 18


def test_empty_and_synthetic_seeds() -> None:
    with SandboxServer(seed="empty") as server, httpx.Client(base_url=server.url) as client:
        admin = admin_of(server, client)
        assert (server.team_id, server.workspace_id, server.project_id, server.dataset_ids) == (
            8,
            9,
            None,
            (),
        )
        assert admin.ok("projects.list", {"workspaceId": 9})["total"] == 0
    with (
        SandboxServer(seed="synthetic:3x2500", admin_login="boss") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        admin = admin_of(server, client)
        assert admin.ok("users.me")["login"] == "boss"
        assert [d["imagesCount"] for d in admin.ok("datasets.list", {"projectId": 13487})["entities"]] == [
            2500
        ] * 3
        walked = []
        for page in (1, 2, 3):
            reply = admin.ok(
                "images.list", {"datasetId": server.dataset_ids[1], "page": page, "per_page": 1000}
            )
            walked += [image["id"] for image in reply["entities"]]
        assert len(walked) == len(set(walked)) == 2500 and walked == sorted(walked)
        assert admin.ok("images.list", {"projectId": 13487, "per_page": 1})["total"] == 7500


def test_state_survives_a_restart_with_the_same_file(tmp_path: Path) -> None:
    database = tmp_path / "sandbox.db"
    with (
        SandboxServer(db_path=database, admin_token="first-token") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        admin = admin_of(server, client)
        user_id = admin.ok("users.add", {"login": "labeler_1", "password": "11111abc"})["userId"]
        admin.ok("members.add", {"login": "labeler_1", "teamId": 8, "roleId": 3})
        (job_id,) = [
            j["id"] for j in admin.ok("jobs.add", {"name": "kept", "datasetId": 1001, "userIds": [user_id]})
        ]
    with (
        SandboxServer(db_path=database, seed="empty", admin_token="second-token") as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert (server.project_id, server.dataset_ids, server.admin_login) == (13487, (1001,), "cxnt")
        Api(client, "first-token").error("users.me", {}, 401)
        admin = admin_of(server, client)
        assert admin.job(job_id)["labelerLogin"] == "labeler_1"
        assert (
            client.post("/api/account", data={"login": "labeler_1", "password": "11111abc"}).status_code
            == 200
        )
        (next_job,) = [
            j["id"] for j in admin.ok("jobs.add", {"name": "next", "datasetId": 1001, "userIds": [user_id]})
        ]
        assert next_job > job_id


def test_subprocess_mode_runs_the_serve_command(tmp_path: Path) -> None:
    with (
        SandboxServer(
            mode="subprocess", seed="lemons:2", db_path=tmp_path / "s.db", admin_password="pw-123"
        ) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        assert server.url.startswith("http://127.0.0.1:") and server.dataset_ids == (1001, 1008)
        assert admin_of(server, client).ok("users.me")["id"] == 7
        assert client.post("/api/account", data={"login": "cxnt", "password": "pw-123"}).status_code == 200
    assert (tmp_path / "s.db").exists()


def test_serve_prints_the_address_and_the_token_once(tmp_path: Path) -> None:
    environment = {**os.environ, "LABELROUNDS_SANDBOX_ADMIN_TOKEN": "my-visible-token"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labelrounds.sandbox.cli",
            "serve",
            "--port",
            "0",
            "--db",
            str(tmp_path / "c.db"),
            "--seed",
            "lemons",
        ],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(5)]
        assert lines[0].startswith("labelrounds sandbox listening on http://127.0.0.1:")
        url = lines[2].strip().removeprefix("SERVER_ADDRESS=")
        assert lines[3].strip() == "API_TOKEN=my-visible-token"
        assert "admin login: cxnt (user 7), team 8, workspace 9, project 13487, datasets [1001]" in lines[1]
        reply = httpx.post(
            f"{url}/public/api/v3/users.me", json={}, headers={"x-api-key": "my-visible-token"}
        )
        assert reply.json()["login"] == "cxnt"
    finally:
        process.terminate()
        output, errors = process.communicate(timeout=15)
    assert "my-visible-token" not in output + errors


def test_serve_refuses_a_bad_seed(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "labelrounds.sandbox.cli",
            "serve",
            "--seed",
            "oranges",
            "--db",
            str(tmp_path / "x.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "Unknown seed 'oranges'" in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_serve_on_a_busy_port_says_so_and_writes_nothing(tmp_path: Path) -> None:
    with SandboxServer() as running:
        port = running.url.rsplit(":", 1)[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "labelrounds.sandbox.cli",
                "serve",
                "--port",
                port,
                "--db",
                str(tmp_path / "b.db"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1 and f"Cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "b.db").exists()


def test_a_database_made_before_the_added_columns_gets_them(tmp_path: Path) -> None:
    """An old file (jobs without the phase stamps) opens, gains the columns, and keeps its rows."""
    import sqlite3

    from labelrounds.sandbox.schema import ADDED_COLUMNS
    from labelrounds.sandbox.store import Store

    database = tmp_path / "old.db"
    Store(database).close()
    with sqlite3.connect(database) as old:  # make it look like the earlier version: drop the added columns
        for table, columns in ADDED_COLUMNS.items():
            for column in columns:
                old.execute(f"ALTER TABLE {table} DROP COLUMN {column.split()[0]}")
    with sqlite3.connect(database) as old:
        assert "review_finished_at" not in {row[1] for row in old.execute("PRAGMA table_info(jobs)")}
    store = Store(database)
    try:
        with store.transaction(write=False) as db:
            present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    finally:
        store.close()
    assert {"annotation_finished_at", "review_finished_at"} <= present
