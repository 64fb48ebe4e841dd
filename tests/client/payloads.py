"""Example replies from the wire reference (supervisely-api-v3.md), with its `…` timestamps filled in."""

from __future__ import annotations

from typing import Any

TIMESTAMP = "2026-11-28T12:57:55.512Z"

USER = {
    "id": 1016,
    "login": "labeler_1",
    "role": None,
    "roleId": None,
    "name": None,
    "email": None,
    "logins": 0,
    "disabled": False,
    "lastLogin": None,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}

USER_WITH_TEAMS = {**USER, "teams": [{"id": 8, "name": "my team", "roleId": 3, "role": "annotator"}]}

ROLE = {"id": 3, "role": "annotator", "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP}

TEAM = {
    "id": 8,
    "name": "my team",
    "description": "",
    "role": "admin",
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "usage": {"plan": "free"},
}

WORKSPACE = {
    "id": 9,
    "name": "First Workspace",
    "description": "",
    "teamId": 8,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
}

DATASET = {
    "id": 1001,
    "name": "ds1",
    "description": "",
    "size": "1000",
    "projectId": 13487,
    "imagesCount": 7,
    "itemsCount": 7,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "referenceImageUrl": None,
    "teamId": 8,
    "workspaceId": 9,
    "parentId": None,
    "customData": {},
    "createdBy": 7,
}

IMAGE = {
    "id": 1002,
    "name": "IMG_1002.jpeg",
    "link": None,
    "hash": "h1002=",
    "mime": "image/jpeg",
    "size": 1000,
    "width": 640,
    "height": 480,
    "labelsCount": 0,
    "datasetId": 1001,
    "projectId": 13487,
    "createdAt": TIMESTAMP,
    "updatedAt": TIMESTAMP,
    "meta": {},
    "pathOriginal": "/i/1002.jpeg",
    "fullStorageUrl": "http://sly.test/1002.jpeg",
    "tags": [],
    "createdBy": 7,
}

PROJECT_META = {
    "classes": [
        {
            "id": 22310,
            "title": "kiwi",
            "shape": "bitmap",
            "color": "#D0021B",
            "hotkey": "",
            "description": "",
            "geometry_config": {},
        }
    ],
    "tags": [
        {
            "id": 1014,
            "name": "size",
            "value_type": "oneof_string",
            "values": ["small", "medium", "large"],
            "color": "#BD10E0",
            "hotkey": "",
            "applicable_type": "objectsOnly",
            "classes": ["lemon", "kiwi"],
            "target_type": "all",
        }
    ],
    "projectType": "images",
}

# What the SDK's prepare_project sends to projects.meta.update (§6.4).
SDK_WRITTEN_META: dict[str, Any] = {
    "classes": [
        {
            "title": "lemon",
            "description": "",
            "shape": "bitmap",
            "color": "#50E3C2",
            "geometry_config": {},
            "hotkey": "",
        },
        {
            "title": "kiwi",
            "description": "",
            "shape": "bitmap",
            "color": "#D0021B",
            "geometry_config": {},
            "hotkey": "",
        },
    ],
    "tags": [
        {
            "name": "size",
            "value_type": "oneof_string",
            "color": "#BD10E0",
            "values": ["small", "medium", "large"],
            "hotkey": "",
            "applicable_type": "objectsOnly",
            "classes": ["lemon", "kiwi"],
            "target_type": "all",
        },
        {
            "name": "origin",
            "value_type": "any_string",
            "color": "#8B572A",
            "hotkey": "",
            "applicable_type": "objectsOnly",
            "classes": ["lemon", "kiwi"],
            "target_type": "all",
        },
    ],
    "projectType": "images",
    "projectSettings": {"multiView": {"enabled": False, "tagName": None, "tagId": None, "isSynced": False}},
}

JOB = {
    "id": 1019,
    "name": "labeler2_kiwi_task_with_complex_settings",
    "readme": "annotation manual",
    "description": "short description",
    "teamId": 8,
    "workspaceId": 9,
    "workspaceTitle": "First Workspace",
    "projectId": 13487,
    "projectTitle": "Lemons (Test)",
    "datasetId": 1001,
    "datasetTitle": "ds1",
    "createdBy": 7,
    "managerLogin": "cxnt",
    "userId": 1017,
    "labelerLogin": "labeler_2",
    "reviewerId": 7,
    "reviewerLogin": "cxnt",
    "createdAt": "2026-11-28T12:57:55.512Z",
    "startedAt": None,
    "finishedAt": None,
    "status": "pending",
    "disabled": False,
    "labelingQueueId": None,
    "labelingExamId": None,
    "priority": 2,
    "meta": {
        "classes": [{"id": 1013, "name": "kiwi"}],
        "projectTags": [{"id": 1014, "name": "size"}, {"id": 1015, "name": "origin"}],
        "imageTags": [],
        "imageFiguresLimit": 10,
        "imageTagsLimit": 20,
        "range": {"start": None, "end": None},
        "dynamicClasses": False,
        "dynamicTags": False,
    },
    "customData": {},
    "imagesCount": 3,
    "finishedImagesCount": 0,
    "acceptedImagesCount": 0,
    "rejectedImagesCount": 0,
    "progressImagesCount": 0,
    "entities": [
        {"id": 1002, "name": "IMG_1002.jpeg", "reviewStatus": "none"},
        {"id": 1003, "name": "IMG_1003.jpeg", "reviewStatus": "none"},
        {"id": 1004, "name": "IMG_1004.jpeg", "reviewStatus": "none"},
    ],
}

JOB_STATS = {
    "job": {
        "id": 1019,
        "name": "labeler2_kiwi_task_with_complex_settings",
        "startedAt": TIMESTAMP,
        "finishedAt": None,
        "imagesCount": 3,
        "finishedImagesCount": 2,
        "annotationDuration": 120,
        "editingDuration": 30.5,
        "tagsStats": [{"id": 1014, "name": "size", "color": "#BD10E0", "images": 2, "figures": 0}],
    },
    "classes": [
        {
            "id": 1013,
            "name": "kiwi",
            "color": "#D0021B",
            "shape": "bitmap",
            "imagesCount": 2,
            "labelsCount": 5,
            "totalDuration": 100,
            "avgDuration": 20,
        }
    ],
    "images": {
        "total": 3,
        "images": [
            {
                "id": 1002,
                "name": "IMG_1002.jpeg",
                "reviewStatus": "accepted",
                "annotationDuration": 60,
                "totalDuration": 70,
                "labelsCount": 3,
            },
            {
                "id": 1003,
                "name": "IMG_1003.jpeg",
                "reviewStatus": "rejected",
                "annotationDuration": 60,
                "totalDuration": 60,
                "labelsCount": 2,
            },
            {
                "id": 1004,
                "name": "IMG_1004.jpeg",
                "reviewStatus": "none",
                "annotationDuration": 0,
                "totalDuration": 0,
                "labelsCount": 0,
            },
        ],
    },
}

# --- Replies in shapes the real server sends and the sandbox does not (issue 10) -------------------------------

# A 400 on a duplicate, as `projects.add` answers it (the SDK's docs quote it verbatim).
CONFLICT_BODY = {
    "error": "project already exists",
    "details": {
        "type": "NONUNIQUE",
        "errors": [{"name": "new_project", "id": 48467, "message": 'Project with name "new_project" already exists'}],
    },
}

# A 401: the readable text is `error`, `details` is null.
UNAUTHORIZED_BODY = {"error": "Invalid token", "details": None}

# A job of a team with quality checks on: one image waits for the quality check, and one has a review status
# that no version of the SDK knows (invented, standing for whatever the server adds next).
INVENTED_REVIEW_STATUS = "escalated_to_expert"
INVENTED_JOB_STATUS = "quality_check"
INVENTED_ROLE = "qa_lead"

JOB_WITH_QUALITY_CHECK = {
    **JOB,
    "status": "completed",
    "startedAt": "2026-11-28T13:00:00.000Z",
    "finishedAt": "2026-11-28T15:00:00.000Z",
    "annotationFinishedAt": "2026-11-28T14:00:00.000Z",
    "reviewFinishedAt": "2026-11-28T15:00:00.000Z",
    "finishedImagesCount": 3,
    "acceptedImagesCount": 0,
    "rejectedImagesCount": 1,
    "meta": {**JOB["meta"], "enableIntermediateReview": True},
    "entities": [
        {"id": 1002, "name": "IMG_1002.jpeg", "reviewStatus": "quality_check_accepted"},
        {"id": 1003, "name": "IMG_1003.jpeg", "reviewStatus": "rejected"},
        {"id": 1004, "name": "IMG_1004.jpeg", "reviewStatus": INVENTED_REVIEW_STATUS},
    ],
}

# A listed job (no entities) in a job status the client does not know.
JOB_IN_INVENTED_STATUS = {
    **{key: value for key, value in JOB.items() if key != "entities"},
    "status": INVENTED_JOB_STATUS,
    "annotationFinishedAt": "2026-11-28T14:00:00.000Z",
    "reviewFinishedAt": None,
}

# `jobs.stats` without entity statistics: no `images` part.
JOB_STATS_WITHOUT_IMAGES = {key: value for key, value in JOB_STATS.items() if key != "images"}

# A member and a role in a team role the client does not know.
MEMBER_WITH_INVENTED_ROLE = {**USER, "role": INVENTED_ROLE, "roleId": 77}
USER_WITH_INVENTED_TEAM_ROLE = {
    **USER,
    "teams": [{"id": 8, "name": "my team", "roleId": 77, "role": INVENTED_ROLE}],
}
INVENTED_ROLE_INFO = {"id": 77, "role": INVENTED_ROLE, "createdAt": TIMESTAMP, "updatedAt": TIMESTAMP}
