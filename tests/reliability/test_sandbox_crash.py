"""SIGKILL a subprocess sandbox under concurrent write load, several times, and restart it on the same file:
the database passes SQLite's integrity and foreign-key checks, every `jobs.add` is wholly present (job and all
its images) or wholly absent, and every object the client got a 200 for exists. `make test` kills twice (each
kill restarts a subprocess sandbox), `make test-long` 8 times."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from pydantic import SecretStr

from labelrounds.sandbox.server import SandboxServer

from .budget import scaled

KILLS = scaled(default=2, long=8)
WRITERS = 6
SEED = "synthetic:2x4000"
TOKEN = SecretStr("crash-test-admin-token-" + "0" * 40)


@dataclass
class Ledger:
    """What the writers sent and what the server confirmed."""

    jobs_sent: dict[str, list[int]] = field(default_factory=dict)  # marker → the entityIds asked for
    jobs_confirmed: dict[str, int] = field(default_factory=dict)  # marker → job id of a 200
    users_confirmed: dict[str, int] = field(default_factory=dict)  # login → user id of a 200
    classes_confirmed: set[str] = field(default_factory=set)
    replies: int = 0
    lost: int = 0
    refused: list[str] = field(default_factory=list)  # any 4xx/5xx: must stay empty


async def write_load(
    server: SandboxServer, ledger: Ledger, stop: threading.Event, worker: int, image_ids: dict[int, list[int]]
) -> None:
    """One writer: jobs.add with many entityIds (of `image_ids` by dataset), users.add and meta updates, until the
    server dies or `stop`."""
    rng = random.Random(worker)  # noqa: S311 - test data
    headers = {"x-api-key": TOKEN.get_secret_value()}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        number = 0
        while not stop.is_set():
            number += 1
            marker = f"w{worker}-{number}-{server.url.rsplit(':', 1)[1]}"
            # One writer owns the meta: concurrent read-modify-write replacements would undo each other.
            kind = "meta" if worker == 0 and number % 2 == 1 else rng.choice(["job", "job", "job", "user"])
            try:
                if kind == "job":
                    dataset_id = rng.choice(server.dataset_ids)
                    entity_ids = rng.sample(image_ids[dataset_id], rng.randint(100, 3000))
                    ledger.jobs_sent[marker] = entity_ids
                    body = {
                        "name": marker,
                        "datasetId": dataset_id,
                        "userIds": [server.admin_id],
                        "meta": {"entityIds": entity_ids},
                        "customData": {"marker": marker},
                    }
                    reply = await http.post("/public/api/v3/jobs.add", json=body)
                    reply.raise_for_status()
                    ledger.jobs_confirmed[marker] = reply.json()[0]["id"]
                elif kind == "user":
                    reply = await http.post(
                        "/public/api/v3/users.add", json={"login": marker, "password": "pw-1"}
                    )
                    reply.raise_for_status()
                    ledger.users_confirmed[marker] = reply.json()["userId"]
                else:
                    await _add_class(http, server, marker)
                    ledger.classes_confirmed.add(marker)
                ledger.replies += 1
            except httpx.TransportError:
                ledger.lost += 1
                return  # the server is gone (or going)
            except httpx.HTTPStatusError as error:
                ledger.refused.append(
                    f"{kind} {marker}: {error.response.status_code} {error.response.text[:200]}"
                )
                return


async def _images(server: SandboxServer, dataset_id: int) -> list[int]:
    headers = {"x-api-key": TOKEN.get_secret_value()}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        reply = await http.post(
            "/public/api/v3/images.list", json={"datasetId": dataset_id, "fields": ["id"]}
        )
        return [image["id"] for image in reply.json()["entities"]]


async def _add_class(http: httpx.AsyncClient, server: SandboxServer, title: str) -> None:
    meta = (await http.post("/public/api/v3/projects.meta", json={"id": server.project_id})).json()
    meta["classes"].append({"title": title, "shape": "rectangle", "color": "#00FF00"})
    reply = await http.post(
        "/public/api/v3/projects.meta.update", json={"id": server.project_id, "meta": meta}
    )
    reply.raise_for_status()


def run_and_kill(server: SandboxServer, ledger: Ledger, rng: random.Random) -> None:
    """Run the writers in a thread and SIGKILL the server at a random moment while they write."""
    stop = threading.Event()

    async def writers() -> None:
        # Listed once for all writers: 4,000 ids a dataset, the same after every restart.
        image_ids = {dataset_id: await _images(server, dataset_id) for dataset_id in server.dataset_ids}
        await asyncio.gather(
            *(write_load(server, ledger, stop, worker, image_ids) for worker in range(WRITERS))
        )

    thread = threading.Thread(target=asyncio.run, args=(writers(),))
    replies_before = ledger.replies
    thread.start()
    deadline = time.monotonic() + 60
    while ledger.replies < replies_before + 3 and time.monotonic() < deadline:
        time.sleep(0.01)  # until the load is really under way
    time.sleep(rng.uniform(0.05, 1.0))
    server.kill()
    stop.set()
    thread.join(timeout=60)
    assert not thread.is_alive()


def check_database(path: Path, ledger: Ledger) -> None:
    """Integrity, foreign keys, and all-or-nothing `jobs.add`, checked on the file itself."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        jobs = {
            orjson.loads(custom)["marker"]: (job_id, count)
            for job_id, custom, count in db.execute(
                "SELECT id, custom_data, images_count FROM jobs WHERE custom_data LIKE '%marker%'"
            )
        }
        for marker, (job_id, images_count) in jobs.items():
            stored = sorted(
                row[0] for row in db.execute("SELECT image_id FROM job_entities WHERE job_id = ?", (job_id,))
            )
            assert stored == sorted(ledger.jobs_sent[marker]), f"job {marker} is only partly stored"
            assert images_count == len(stored)
        for marker, job_id in ledger.jobs_confirmed.items():
            assert jobs.get(marker, (None,))[0] == job_id, f"jobs.add {marker} got a 200 but is missing"
        users = dict(db.execute("SELECT login, id FROM users"))
        for login, user_id in ledger.users_confirmed.items():
            assert users.get(login) == user_id, f"users.add {login} got a 200 but is missing"
        classes = {row[0] for row in db.execute("SELECT title FROM object_classes")}
        assert ledger.classes_confirmed <= classes
        orphans = db.execute(
            "SELECT count(*) FROM job_entities e LEFT JOIN jobs j ON j.id = e.job_id WHERE j.id IS NULL"
        ).fetchone()
        assert orphans == (0,)
    finally:
        db.close()


def test_a_sandbox_killed_under_write_load_restarts_consistent(tmp_path: Path) -> None:
    db_path = tmp_path / "crash.db"
    ledger = Ledger()
    rng = random.Random(5)  # noqa: S311 - test timing
    for _ in range(KILLS):
        server = SandboxServer(seed=SEED, db_path=db_path, mode="subprocess", admin_token=TOKEN).start()
        run_and_kill(server, ledger, rng)
        check_database(db_path, ledger)
    with SandboxServer(seed=SEED, db_path=db_path, mode="subprocess", admin_token=TOKEN) as server:
        reply = httpx.post(
            f"{server.url}/public/api/v3/jobs.list",
            json={"teamId": server.team_id, "per_page": 1},
            headers={"x-api-key": TOKEN.get_secret_value()},
        )
        assert reply.status_code == 200 and reply.json()["total"] >= len(ledger.jobs_confirmed)
    check_database(db_path, ledger)
    assert ledger.refused == []
    assert ledger.jobs_confirmed and ledger.users_confirmed and ledger.classes_confirmed
    assert ledger.lost >= KILLS  # some requests really were cut off by the kills
