"""Seeds for a fresh sandbox: `lemons` (the SDK tutorial's world; `lemons:D` repeats its dataset), `empty`, and
`synthetic:DxN` (large)."""

from __future__ import annotations

import base64
import hashlib
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import SecretStr

from labelrounds.sandbox.auth import hash_password, new_api_token
from labelrounds.sandbox.defaults import DEFAULT_ADMIN_LOGIN
from labelrounds.sandbox.models import ObjectClassBody, TagMetaBody
from labelrounds.sandbox.permissions import Role
from labelrounds.sandbox.registry import dump_user_json
from labelrounds.sandbox.store import Store, allocate_id, allocate_ids, reserve_id
from labelrounds.sandbox.truth import (
    SYNTHETIC_CLASSES,
    enable_synthetic_truth,
    lemon_truth_documents,
    store_truth,
)
from labelrounds.sandbox.wire import now_iso

# The official tutorial hard-codes these ids and login, and must run unchanged against the sandbox.
ADMIN_ID = 7
TEAM_ID = 8
WORKSPACE_ID = 9
PROJECT_ID = 13487
ID_COUNTER_START = 1000
"""Ids of seeded datasets, images, classes and tags (and everything created later) start above this."""

TEAM_NAME = "my team"
WORKSPACE_NAME = "Testing Workspace"
PROJECT_NAME = "Lemons (Test)"
LEMON_IMAGES = (
    ("IMG_8144.jpeg", 1067, 800, 155_790),
    ("IMG_4451.jpeg", 1067, 800, 136_722),
    ("IMG_3861.jpeg", 1067, 800, 148_110),
    ("IMG_2084.jpeg", 1067, 800, 142_845),
    ("IMG_1836.jpeg", 1067, 800, 160_301),
    ("IMG_0748.jpeg", 1067, 800, 139_027),
)
LEMON_CLASSES = (
    ObjectClassBody(title="kiwi", shape="bitmap", color="#D0021B"),
    ObjectClassBody(title="lemon", shape="bitmap", color="#50E3C2"),
)
LEMON_TAGS = (
    TagMetaBody(
        name="size",
        value_type="oneof_string",
        values=["small", "medium", "large"],
        color="#BD10E0",
        applicable_type="objectsOnly",
        classes=["lemon", "kiwi"],
    ),
    TagMetaBody(
        name="origin",
        value_type="any_string",
        color="#8B572A",
        applicable_type="objectsOnly",
        classes=["lemon", "kiwi"],
    ),
)
_SYNTHETIC = re.compile(r"^synthetic:(\d+)x(\d+)$")
MAX_SYNTHETIC_IMAGES = 10_000_000
_LEMONS = re.compile(r"^lemons:(\d+)$")
MAX_LEMON_DATASETS = 20
"""`lemons:D` holds D datasets ds1..dsD of the six lemons pictures, each dataset's pictures distinct (own hashes)."""
_CHOICES = (
    f"use lemons, lemons:D (1 ≤ D ≤ {MAX_LEMON_DATASETS}), empty or synthetic:DxN "
    "(e.g. lemons:2, synthetic:4x25000)"
)


@dataclass(frozen=True)
class SeedSpec:
    """Which world to create: `lemons` with `datasets` copies of its dataset, `empty`, or `synthetic` with
    `datasets` × `images_per_dataset`."""

    kind: str
    datasets: int = 1
    images_per_dataset: int = 0

    @classmethod
    def parse(cls, text: str) -> SeedSpec:
        """Parse `lemons`, `lemons:D`, `empty` or `synthetic:DxN`; anything else is a ValueError naming them."""
        if text in ("lemons", "empty"):
            return cls(text)
        match = _LEMONS.match(text)
        if match:
            datasets = int(match[1])
            if not 1 <= datasets <= MAX_LEMON_DATASETS:
                raise ValueError(f"lemons:D needs 1 ≤ D ≤ {MAX_LEMON_DATASETS}; got {text!r}; {_CHOICES}")
            return cls("lemons", datasets)
        match = _SYNTHETIC.match(text)
        if match:
            datasets, images = int(match[1]), int(match[2])
            if datasets < 1 or images < 1 or datasets * images > MAX_SYNTHETIC_IMAGES:
                raise ValueError(
                    f"synthetic:DxN needs D ≥ 1, N ≥ 1 and D×N ≤ {MAX_SYNTHETIC_IMAGES:,}; got {text!r}"
                )
            return cls("synthetic", datasets, images)
        raise ValueError(f"Unknown seed {text!r}; {_CHOICES}")

    def __str__(self) -> str:
        """The seed's text, as `parse` reads it back (`lemons`, `lemons:2`, `empty`, `synthetic:4x25000`)."""
        if self.kind == "synthetic":
            return f"synthetic:{self.datasets}x{self.images_per_dataset}"
        return f"lemons:{self.datasets}" if self.kind == "lemons" and self.datasets > 1 else self.kind


@dataclass(frozen=True)
class SeedSummary:
    """What a seeded (or reopened) sandbox contains: the admin and the ids tests and demos start from."""

    admin_id: int
    admin_login: str
    admin_token: SecretStr
    team_id: int
    workspace_id: int
    project_id: int | None = None
    dataset_ids: tuple[int, ...] = field(default_factory=tuple)


def _image_hash(name: str, dataset_id: int) -> str:
    """A plausible, stable base64 sha256 for a seeded image."""
    return base64.b64encode(hashlib.sha256(f"{dataset_id}/{name}".encode()).digest()).decode()


def _insert_images(
    db: sqlite3.Connection, dataset_id: int, images: list[tuple[str, int, int, int]], now: str
) -> None:
    """Insert a dataset's images at consecutive ids with one executemany."""
    first_id = allocate_ids(db, len(images))

    def rows() -> Iterator[tuple[object, ...]]:
        for offset, (name, width, height, size) in enumerate(images):
            yield (
                first_id + offset,
                dataset_id,
                PROJECT_ID,
                name,
                _image_hash(name, dataset_id),
                "image/jpeg",
                size,
                width,
                height,
                ADMIN_ID,
                now,
                now,
            )

    db.executemany(
        "INSERT INTO images(id, dataset_id, project_id, name, hash, mime, size, width, height, created_by,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows(),
    )


def _synthetic_images(count: int) -> list[tuple[str, int, int, int]]:
    """`count` generated image descriptions with varied, plausible sizes."""
    return [
        (
            f"IMG_{index:07d}.jpeg",
            1280 - index % 7 * 64,
            960 - index % 5 * 48,
            100_000 + index * 7919 % 90_000,
        )
        for index in range(1, count + 1)
    ]


def _insert_world(
    db: sqlite3.Connection, admin_login: str, token: str, password_hash: str | None, now: str
) -> None:
    """The admin (instance admin, team admin), team and workspace at the ids the tutorial expects."""
    for object_id in (ADMIN_ID, TEAM_ID, WORKSPACE_ID, PROJECT_ID):
        reserve_id(db, object_id)
    db.execute("UPDATE id_counter SET last_id = max(last_id, ?) WHERE singleton = 1", (ID_COUNTER_START,))
    db.execute(
        "INSERT INTO users(id, login, name, password_hash, api_token, is_instance_admin, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
        (ADMIN_ID, admin_login, admin_login, password_hash, token, now, now),
    )
    db.execute(
        "INSERT INTO teams(id, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (TEAM_ID, TEAM_NAME, now, now),
    )
    db.execute(
        "INSERT INTO members(team_id, user_id, role_id, created_at) VALUES (?, ?, ?, ?)",
        (TEAM_ID, ADMIN_ID, Role.ADMIN, now),
    )
    db.execute(
        "INSERT INTO workspaces(id, team_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        (WORKSPACE_ID, TEAM_ID, WORKSPACE_NAME, now, now),
    )


def _insert_project(db: sqlite3.Connection, name: str, now: str) -> None:
    """The project at the tutorial's id."""
    db.execute(
        "INSERT INTO projects(id, workspace_id, team_id, name, created_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (PROJECT_ID, WORKSPACE_ID, TEAM_ID, name, ADMIN_ID, now, now),
    )


def _insert_meta(db: sqlite3.Connection, extra_classes: tuple[ObjectClassBody, ...] = ()) -> None:
    """The lemons meta: classes kiwi and lemon (bitmap) then `extra_classes`, tags size (oneof_string) and
    origin (any_string)."""
    for position, object_class in enumerate(LEMON_CLASSES + extra_classes):
        db.execute(
            "INSERT INTO object_classes(id, project_id, title, position, definition) VALUES (?, ?, ?, ?, ?)",
            (
                allocate_id(db),
                PROJECT_ID,
                object_class.title,
                position,
                dump_user_json(object_class.model_dump(exclude={"id"}), "class"),
            ),
        )
    for position, tag in enumerate(LEMON_TAGS):
        db.execute(
            "INSERT INTO tag_metas(id, project_id, name, position, definition) VALUES (?, ?, ?, ?, ?)",
            (
                allocate_id(db),
                PROJECT_ID,
                tag.name,
                position,
                dump_user_json(tag.model_dump(exclude={"id"}, exclude_none=True), "tag"),
            ),
        )


def _insert_dataset(db: sqlite3.Connection, name: str, now: str) -> int:
    """An empty top-level dataset of the project."""
    dataset_id = allocate_id(db)
    db.execute(
        "INSERT INTO datasets(id, project_id, name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (dataset_id, PROJECT_ID, name, ADMIN_ID, now, now),
    )
    return dataset_id


def _insert_truth(db: sqlite3.Connection, spec: SeedSpec, dataset_ids: list[int]) -> None:
    """Ground truth of the seeded pictures: stored for lemons, generated on demand for synthetic seeds."""
    if spec.kind == "synthetic":
        enable_synthetic_truth(db)
        return
    _, width, height, _ = LEMON_IMAGES[0]
    documents = lemon_truth_documents(width, height)
    store_truth(
        db,
        {_image_hash(name, dataset_id): documents[name] for dataset_id in dataset_ids for name in documents},
    )


def seed(
    store: Store,
    spec: SeedSpec,
    *,
    admin_login: str = DEFAULT_ADMIN_LOGIN,
    admin_token: SecretStr | None = None,
    admin_password: SecretStr | None = None,
) -> SeedSummary:
    """Fill an empty store; the admin gets the given token (or a new one) and, if given, a password."""
    if not store.is_empty():
        raise ValueError(f"{store!r} already holds data; seed only a fresh database")
    token = admin_token.get_secret_value() if admin_token else new_api_token()
    password_hash = hash_password(admin_password) if admin_password else None
    now = now_iso()
    dataset_ids: list[int] = []
    with store.transaction(write=True) as db:
        _insert_world(db, admin_login, token, password_hash, now)
        if spec.kind != "empty":
            name = (
                PROJECT_NAME
                if spec.kind == "lemons"
                else f"Synthetic {spec.datasets}x{spec.images_per_dataset}"
            )
            _insert_project(db, name, now)
            images = (
                list(LEMON_IMAGES) if spec.kind == "lemons" else _synthetic_images(spec.images_per_dataset)
            )
            for index in range(1, spec.datasets + 1):
                dataset_ids.append(_insert_dataset(db, f"ds{index}", now))
                _insert_images(db, dataset_ids[-1], images, now)
            _insert_truth(db, spec, dataset_ids)
            _insert_meta(db, SYNTHETIC_CLASSES if spec.kind == "synthetic" else ())
    return SeedSummary(
        admin_id=ADMIN_ID,
        admin_login=admin_login,
        admin_token=SecretStr(token),
        team_id=TEAM_ID,
        workspace_id=WORKSPACE_ID,
        project_id=PROJECT_ID if spec.kind != "empty" else None,
        dataset_ids=tuple(dataset_ids),
    )


@dataclass(frozen=True)
class CreatedUser:
    """A user created in-process, with the token to act as it."""

    id: int
    login: str
    token: SecretStr


def add_user(
    store: Store,
    login: str,
    *,
    role: Role | None = None,
    team_id: int = TEAM_ID,
    password: SecretStr | None = None,
) -> CreatedUser:
    """Create a user directly in the store (seeding crews and test fixtures), optionally as a team member.

    Without a password the user can act only with its token, which skips the deliberate cost of bcrypt.
    """
    now = now_iso()
    token = new_api_token()
    with store.transaction(write=True) as db:
        if db.execute("SELECT 1 FROM users WHERE login = ?", (login,)).fetchone():
            raise ValueError(f"User {login!r} already exists")
        user_id = allocate_id(db)
        db.execute(
            "INSERT INTO users(id, login, name, password_hash, api_token, is_restricted, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
            (user_id, login, login, hash_password(password) if password else None, token, now, now),
        )
        if role is not None:
            db.execute(
                "INSERT INTO members(team_id, user_id, role_id, created_at) VALUES (?, ?, ?, ?)",
                (team_id, user_id, role, now),
            )
    return CreatedUser(user_id, login, SecretStr(token))


def describe_existing(store: Store, *, admin_token: SecretStr | None = None) -> SeedSummary:
    """Summarise a reopened database (first instance admin, team, workspace, project); optionally set the
    admin's token to `admin_token`."""
    with store.transaction(write=admin_token is not None) as db:
        admin = db.execute(
            "SELECT id, login, api_token FROM users WHERE is_instance_admin = 1 ORDER BY id LIMIT 1"
        ).fetchone()
        if admin is None:
            raise ValueError(f"{store!r} has no instance administrator")
        admin_id, login, token = admin
        if admin_token is not None:
            token = admin_token.get_secret_value()
            db.execute(
                "UPDATE users SET api_token = ?, updated_at = ? WHERE id = ?", (token, now_iso(), admin_id)
            )
        team = db.execute("SELECT min(id) FROM teams").fetchone()[0]
        workspace = db.execute("SELECT min(id) FROM workspaces WHERE team_id = ?", (team,)).fetchone()[0]
        project = db.execute("SELECT min(id) FROM projects WHERE workspace_id = ?", (workspace,)).fetchone()[
            0
        ]
        datasets = db.execute(
            "SELECT id FROM datasets WHERE project_id = ? ORDER BY id", (project,)
        ).fetchall()
    return SeedSummary(
        admin_id=admin_id,
        admin_login=login,
        admin_token=SecretStr(token),
        team_id=team,
        workspace_id=workspace,
        project_id=project,
        dataset_ids=tuple(row[0] for row in datasets),
    )
