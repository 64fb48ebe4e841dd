"""Round helpers of the reliability tests: the example round, and a full check that nothing is duplicated or lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oracles import (
    RawApi,
    RawJob,
    assert_each_image_once,
    assert_even_split,
    assert_one_job_per_share,
    assert_unique_identities,
    first_cycle,
    round_key_of,
)
from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.round_spec import ImageSelection, RoundSpec, SplitStrategy, load_round_spec
from labelrounds.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_ROUND = REPO / "examples" / "round.yaml"
PASSWORD = SecretStr("Reliable-labeler-2026")
FAST_GATE = {"poll_interval_seconds": 0.05, "timeout_seconds": 120}


def round_spec(**overrides: Any) -> RoundSpec:
    """The shipped example round with a fast gate, and any field overridden."""
    data = load_round_spec(EXAMPLE_ROUND).model_dump(mode="json")
    return RoundSpec.model_validate({**data, **FAST_GATE, **overrides})


def admin_client(server: SandboxServer) -> SuperviselyClient:
    """A fault-free view of the sandbox as its admin (the checks must not be disturbed by injected faults)."""
    return SuperviselyClient(ConnectionSettings(server_address=server.url, api_token=server.admin_token))


@dataclass(frozen=True)
class RoundCheck:
    """What a finished round left on the server, counted from raw reads (`tests/oracles.py`)."""

    first_cycle_jobs: int
    rework_jobs: int
    selected_images: int
    duplicates: int
    jobs: tuple[RawJob, ...] = field(repr=False, compare=False)
    selected: dict[int, set[int]] = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, int]:
        """The counts, for the figures files."""
        return {
            "first_cycle_jobs": self.first_cycle_jobs,
            "rework_jobs": self.rework_jobs,
            "selected_images": self.selected_images,
            "duplicates": self.duplicates,
        }


def check_round(server: SandboxServer, spec: RoundSpec) -> RoundCheck:
    """Assert, from raw API reads only, that the round left at most one first-cycle job per (dataset, labeler),
    every selected image in exactly one of them and no other image, an even split (labelers' image counts differ
    by at most one), unique job identities, and no duplicate user, class or tag.

    The expected selection is listed independently of the code under test: a plain `images.list` of each target
    dataset (the round selects every image: `image_selection: all`, no tag filter). Each job's images are read
    back with `jobs.info`.
    """
    assert spec.image_selection == ImageSelection.ALL, "the oracle knows only the `all` selection"
    assert not spec.include_images_with_tags and not spec.exclude_images_with_tags, "no tag filter oracle"
    with RawApi.of(server) as raw:
        project_id = raw.project_id(server.workspace_id, spec.project)
        selected = raw.image_ids_by_dataset(raw.dataset_ids(project_id, spec.datasets))
        jobs = raw.round_jobs(server.team_id, round_key_of(spec.round_name, project_id))
        users = Counter(user["login"] for user in raw.list_all("users.list", {}))
        meta = raw.call("projects.meta", {"id": project_id})
    assert_unique_identities(jobs)
    labelers = [labeler.login for labeler in spec.labelers]
    assert_one_job_per_share(jobs, selected, labelers)
    if spec.split_strategy == SplitStrategy.EVEN:
        assert_even_split(jobs, labelers)
    assert_each_image_once(selected, jobs)
    duplicate_users = sum(count - 1 for count in users.values())
    duplicate_meta = sum(
        count - 1
        for names in ([item["title"] for item in meta["classes"]], [item["name"] for item in meta["tags"]])
        for count in Counter(names).values()
    )
    assert duplicate_users == 0 and duplicate_meta == 0, (
        f"{duplicate_users} users, {duplicate_meta} meta twice"
    )
    first = first_cycle(jobs)
    return RoundCheck(
        first_cycle_jobs=len(first),
        rework_jobs=len(jobs) - len(first),
        selected_images=sum(len(images) for images in selected.values()),
        duplicates=duplicate_users + duplicate_meta,
        jobs=tuple(jobs),
        selected=selected,
    )
