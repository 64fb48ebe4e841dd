"""Side B of the round benchmark: the same round done the SDK tutorial's way, with the official SDK.

Run by `bench.round_scale` with the SDK's interpreter (`.venv-sdk`, which has no `labelrounds`) as
`python bench/sdk_round.py --project-id P --team-id T --labelers L --poll S`, with SERVER_ADDRESS and API_TOKEN
(the sandbox admin's) in the environment. The tutorial's way: each user looked up, created and added to the
team one by one; the meta read, changed and written whole; one `labeling_job.create` per labeler and dataset with
its `images_ids`; `labeling_job.wait` on each job by itself; `archive` one by one; `get_stats` per job for the
report. It prints its figures on one marked line (`phases.emit_result`).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

import supervisely as sly

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this directory's stdlib-only `phases` module

from phases import PhaseMeter, emit_result  # noqa: E402 - after the path above

CLASS_NAME = "sdk_mango"


def ensure_user(api: sly.Api, team_id: int, login: str, password: str) -> int:
    """As the tutorial: look the user up by login, create it (restricted) when missing, then add it to the team
    as an annotator unless it already has a role there."""
    user = api.user.get_info_by_login(login=login)
    if user is None:
        user = api.user.create(login=login, password=password, is_restricted=True)
    if api.user.get_team_role(user.id, team_id) is None:
        api.user.add_to_team(user.id, team_id, api.role.DefaultRole.ANNOTATOR)
    return user.id


def add_class(api: sly.Api, project_id: int) -> None:
    """Read the project meta, add the round's class, write the meta back."""
    meta = sly.ProjectMeta.from_json(api.project.get_meta(project_id))
    if meta.get_obj_class(CLASS_NAME) is None:
        meta = meta.add_obj_class(sly.ObjClass(CLASS_NAME, sly.Bitmap))
        api.project.update_meta(project_id, meta)


def shares(api: sly.Api, project_id: int, labelers: int) -> list[list[tuple[int, list[int]]]]:
    """Every image of the project, in (dataset, id) order, cut into one contiguous run per labeler.

    Each run is grouped by dataset, since a job covers one dataset: `[(dataset id, image ids), ...]` per labeler.
    """
    images = [
        (dataset.id, image.id)
        for dataset in sorted(api.dataset.get_list(project_id), key=lambda dataset: dataset.id)
        for image in sorted(api.image.get_list(dataset.id), key=lambda image: image.id)
    ]
    base, extra = divmod(len(images), labelers)
    runs: list[list[tuple[int, list[int]]]] = []
    start = 0
    for index in range(labelers):
        size = base + (1 if index < extra else 0)
        grouped: dict[int, list[int]] = {}
        for dataset_id, image_id in images[start : start + size]:
            grouped.setdefault(dataset_id, []).append(image_id)
        runs.append(list(grouped.items()))
        start += size
    return runs


def run_round(api: sly.Api, meter: PhaseMeter, args: argparse.Namespace) -> dict[str, Any]:
    """The round in the tutorial's way, each phase measured."""
    password = secrets.token_urlsafe(16)
    logins = [f"sdk_labeler_{index:03d}" for index in range(1, args.labelers + 1)]
    job_ids: list[int] = []
    with meter.phase("setup"):
        reviewer_id = ensure_user(api, args.team_id, "sdk_reviewer", password)
        user_ids = [ensure_user(api, args.team_id, login, password) for login in logins]
        add_class(api, args.project_id)
        for login, user_id, run in zip(logins, user_ids, shares(api, args.project_id, args.labelers), strict=True):
            for dataset_id, image_ids in run:
                created = api.labeling_job.create(
                    name=f"bench-sdk {login} ds{dataset_id}",
                    dataset_id=dataset_id,
                    user_ids=[user_id],
                    readme="",
                    description="",
                    classes_to_label=[CLASS_NAME],
                    reviewer_id=reviewer_id,
                    images_ids=image_ids,
                )
                job_ids.extend(job.id for job in created)
    with meter.phase("wait"):
        for job_id in job_ids:
            api.labeling_job.wait(
                job_id, target_status=api.labeling_job.Status.COMPLETED, wait_attempt_timeout_sec=args.poll
            )
    with meter.phase("teardown"):
        for job_id in job_ids:
            api.labeling_job.archive(job_id)
        stats = [api.labeling_job.get_stats(job_id) for job_id in job_ids]
    return {"jobs": len(job_ids), "stats_read": len(stats)}


def main() -> None:
    """Parse the arguments, run the round and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-id", type=int, required=True)
    parser.add_argument("--team-id", type=int, required=True)
    parser.add_argument("--labelers", type=int, required=True)
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between two checks of one job")
    args = parser.parse_args()
    api = sly.Api()
    meter = PhaseMeter(os.environ["SERVER_ADDRESS"], os.environ["API_TOKEN"])
    facts = run_round(api, meter, args)
    emit_result(meter.result(sdk_version=sly.__version__, pid=os.getpid(), **facts))


if __name__ == "__main__":
    main()
