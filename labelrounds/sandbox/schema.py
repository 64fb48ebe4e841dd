"""The sandbox's SQLite schema (created at start, idempotent)."""

from __future__ import annotations

from labelrounds.sandbox.permissions import Role

SCHEMA_VERSION = 1

#: Columns added to a table after it first shipped: a database file made before gets them when it is opened.
ADDED_COLUMNS: dict[str, tuple[str, ...]] = {
    "jobs": ("annotation_finished_at TEXT", "review_finished_at TEXT"),
}

# Ids come from one instance-wide counter (`id_counter`), so an id never names two objects of different kinds,
# like on a real instance; a seed may place a few objects at fixed ids (`reserved_ids`) that the counter skips.
# Jobs carry denormalised review counters so that a page of `jobs.list` needs no aggregation.
# `annotations` holds one JSON annotation per image (images without a row have an empty one); `ground_truth` is
# sandbox-only (never served by the API), keyed by the picture's hash so that a copy shares its source's truth.
# A labeling queue (`labeling_queues`) owns one job per labeler (`labeling_queue_jobs`); each of its images
# (`labeling_queue_entities`) belongs to the job that took it last (`job_id`, null while never taken): its queue
# status is derived from that job's `job_entities` row (a rejected or vanished row means back in the queue).
# `webhook_deliveries` is an outbox: a request's transaction adds a row (so a rolled-back request sends nothing)
# and the delivery worker (`webhook_delivery`) sends it after the commit, recording attempts and the outcome.
SCHEMA = """
CREATE TABLE IF NOT EXISTS sandbox_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS id_counter (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    last_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reserved_ids (
    id INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY,
    login TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    api_token TEXT NOT NULL UNIQUE,
    is_instance_admin INTEGER NOT NULL DEFAULT 0,
    is_restricted INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    logins INTEGER NOT NULL DEFAULT 0,
    last_login TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
    id INTEGER PRIMARY KEY,
    role TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS teams (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id),
    created_at TEXT NOT NULL,
    PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members(user_id, team_id);
CREATE TABLE IF NOT EXISTS workspaces (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (team_id, name)
);
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    project_type TEXT NOT NULL DEFAULT 'images',
    settings TEXT NOT NULL DEFAULT '{}',
    custom_data TEXT NOT NULL DEFAULT '{}',
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (workspace_id, name)
);
CREATE TABLE IF NOT EXISTS object_classes (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    position INTEGER NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (project_id, title)
);
CREATE TABLE IF NOT EXISTS tag_metas (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (project_id, name)
);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    custom_data TEXT NOT NULL DEFAULT '{}',
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS datasets_by_project ON datasets(project_id, id);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    hash TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created_by INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_dataset ON images(dataset_id, id);
CREATE INDEX IF NOT EXISTS images_by_project ON images(project_id, id);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    readme TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL REFERENCES users(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    reviewer_id INTEGER NOT NULL REFERENCES users(id),
    meta TEXT NOT NULL,
    custom_data TEXT NOT NULL DEFAULT '{}',
    parent_job_id INTEGER,
    priority INTEGER NOT NULL DEFAULT 2,
    images_count INTEGER NOT NULL DEFAULT 0,
    done_count INTEGER NOT NULL DEFAULT 0,
    accepted_count INTEGER NOT NULL DEFAULT 0,
    rejected_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    annotation_finished_at TEXT,
    review_finished_at TEXT
);
CREATE INDEX IF NOT EXISTS jobs_by_team ON jobs(team_id, id);
CREATE INDEX IF NOT EXISTS active_jobs_by_team ON jobs(team_id, disabled, id);
CREATE INDEX IF NOT EXISTS jobs_by_labeler ON jobs(user_id, id);
CREATE INDEX IF NOT EXISTS jobs_by_reviewer ON jobs(reviewer_id, id);
CREATE TABLE IF NOT EXISTS job_entities (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    review_status TEXT NOT NULL DEFAULT 'none',
    PRIMARY KEY (job_id, image_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_entities_by_image ON job_entities(image_id);
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    job_id INTEGER,
    user_id INTEGER NOT NULL,
    action TEXT NOT NULL,
    entity_id INTEGER,
    details TEXT NOT NULL DEFAULT '{}',
    date TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activity_by_team ON activity(team_id, id);
CREATE TABLE IF NOT EXISTS annotations (
    image_id INTEGER PRIMARY KEY REFERENCES images(id) ON DELETE CASCADE,
    annotation TEXT NOT NULL,
    objects_count INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS annotation_time (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL,
    seconds INTEGER NOT NULL,
    PRIMARY KEY (job_id, image_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ground_truth (
    image_hash TEXT PRIMARY KEY,
    annotation TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS webhooks (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    action TEXT NOT NULL,
    url TEXT NOT NULL,
    meta TEXT NOT NULL,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhooks_by_team ON webhooks(team_id, action, id);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_status INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS due_webhook_deliveries ON webhook_deliveries(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS labeling_queues (
    id INTEGER PRIMARY KEY,
    team_id INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL,
    project_id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    readme TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'pending',
    disabled INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL REFERENCES users(id),
    meta TEXT NOT NULL,
    queue_meta TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS labeling_queues_by_team ON labeling_queues(team_id, id);
CREATE TABLE IF NOT EXISTS labeling_queue_reviewers (
    queue_id INTEGER NOT NULL REFERENCES labeling_queues(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (queue_id, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS labeling_queue_jobs (
    job_id INTEGER PRIMARY KEY REFERENCES jobs(id) ON DELETE CASCADE,
    queue_id INTEGER NOT NULL REFERENCES labeling_queues(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS labeling_queue_jobs_by_queue ON labeling_queue_jobs(queue_id, job_id);
CREATE TABLE IF NOT EXISTS labeling_queue_entities (
    queue_id INTEGER NOT NULL REFERENCES labeling_queues(id) ON DELETE CASCADE,
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    PRIMARY KEY (queue_id, image_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS labeling_queue_entities_by_job ON labeling_queue_entities(queue_id, job_id, image_id);
"""

_ROLES_CREATED_AT = "2024-01-01T00:00:00.000Z"
ROLES_SQL = "\n".join(
    f"INSERT OR IGNORE INTO roles(id, role, created_at, updated_at) VALUES ({role.value}, '{role.wire_name}',"  # noqa: S608 - role ids/names and the date are constants of the code
    f" '{_ROLES_CREATED_AT}', '{_ROLES_CREATED_AT}');"
    for role in Role
)
