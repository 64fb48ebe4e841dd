"""Independent oracles for tests: facts read back with plain HTTP calls, never through labelrounds code.

A check that compares the code under test with numbers that same code computed cannot fail. These helpers read
the server with bare `httpx` POSTs (no labelrounds client, models, planning or steps) and assert:

- `assert_each_image_once`: every selected image is in exactly one first-cycle job, in its own dataset, and no
  job holds an image outside the selection;
- `assert_one_job_per_share`: at most one first-cycle job per (dataset, labeler) of the round;
- `assert_even_split`: under the `even` split, labelers' first-cycle image counts differ by at most one;
- `assert_unique_identities`: no two jobs of the round have the same identity (a duplicated job);
- `assert_report_matches`: a report's totals equal the counts of each image's review status read back from
  `jobs.info` (the status in the latest cycle's job holding the image);
- `assert_round_report`: all of the above for a round over every image of a project, in one call.

The only project conventions spelled here are documented wire facts (docs/ARCHITECTURE.md): the lineage under
`customData.labelrounds` and the round key `<round name>@<project id>`.

Usage::

    with RawApi.of(server) as raw:
        selected = raw.image_ids_by_dataset(raw.dataset_ids(project_id))
        jobs = raw.round_jobs(server.team_id, round_key_of("my-round", project_id))
    assert_each_image_once(selected, jobs)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

import httpx

API_PREFIX = "/public/api/v3/"
#: Key of the lineage in each round job's customData (docs/ARCHITECTURE.md).
LINEAGE_KEY = "labelrounds"
#: Review statuses that decide an image; anything else (none, done, unknown) leaves it unreviewed.
ACCEPTED, REJECTED = "accepted", "rejected"


class ServerLike(Protocol):
    """What the oracles need of a sandbox server: its URL, admin token and team."""

    url: str

    @property
    def team_id(self) -> int: ...

    @property
    def admin_token(self) -> Any: ...


class TotalsLike(Protocol):
    """The report figures `assert_report_matches` compares (duck-typed: no import of the code under test)."""

    selected_images: int
    accepted: int
    still_rejected: int
    unreviewed: int


def round_key_of(round_name: str, project_id: int) -> str:
    """The documented round key stored in each job's lineage: `<round name>@<project id>`."""
    return f"{round_name}@{project_id}"


@dataclass(frozen=True)
class RawJob:
    """One job as the server reports it: its id, dataset, lineage and each image's review status."""

    id: int
    dataset_id: int
    disabled: bool
    lineage: Mapping[str, Any]
    entities: Mapping[int, str]

    @property
    def cycle(self) -> int:
        """The job's rework cycle (0 for a first-cycle job)."""
        return int(self.lineage["cycle"])

    @property
    def identity(self) -> tuple[Any, ...]:
        """What makes two jobs the same job: (cycle, dataset, labeler) first, (cycle, parent) for rework, and for a
        job that took over another's untouched images (adaptive rounds) (cycle, that job, labeler, share)."""
        if self.lineage.get("moved_from") is not None:
            return (self.cycle, "moved-from", self.lineage["moved_from"], self.lineage["labeler"], self.lineage["share"])
        if self.lineage.get("parent") is not None:
            return (self.cycle, "parent", self.lineage["parent"])
        return (self.cycle, "share-of", self.lineage["dataset"], self.lineage["labeler"])


class RawApi:
    """Bare POSTs to a server's API v3: no retries, no models, no pagination helpers of labelrounds."""

    def __init__(self, url: str, token: str) -> None:
        self._http = httpx.Client(base_url=url, headers={"x-api-key": token}, timeout=60)

    @classmethod
    def of(cls, server: ServerLike) -> RawApi:
        """A raw view of a sandbox server as its admin."""
        return cls(server.url, server.admin_token.get_secret_value())

    def __enter__(self) -> RawApi:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._http.close()

    def call(self, method: str, body: Mapping[str, Any]) -> Any:
        """POST one method and return its JSON; anything but 200 fails the test."""
        reply = self._http.post(API_PREFIX + method, json=dict(body))
        assert reply.status_code == 200, f"{method} answered {reply.status_code}: {reply.text[:300]}"
        return reply.json()

    def list_all(self, method: str, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every entity of a paged listing (sorted by id), checked whole: as many distinct ids as `total`."""
        request = {"sort": "id", "sort_order": "asc", **body}
        first = self.call(method, request)
        entities = list(first["entities"])
        for page in range(2, int(first["pagesCount"]) + 1):
            entities += self.call(method, {**request, "page": page, "per_page": first["perPage"]})["entities"]
        ids = [entity["id"] for entity in entities]
        assert len(set(ids)) == len(ids) == first["total"], f"{method} listed {len(ids)} of {first['total']}"
        return entities

    def project_id(self, workspace_id: int, project: int | str) -> int:
        """A project's id from its id or its name in the workspace."""
        if isinstance(project, int):
            return project
        found = [
            p["id"]
            for p in self.list_all("projects.list", {"workspaceId": workspace_id})
            if p["name"] == project
        ]
        assert len(found) == 1, f"project {project!r}: {len(found)} found"
        return int(found[0])

    def dataset_ids(self, project_id: int, datasets: Iterable[int | str] = ()) -> list[int]:
        """The ids of the named (or, when none is named, of every) dataset of a project."""
        listed = self.list_all("datasets.list", {"projectId": project_id})
        wanted = list(datasets)
        if not wanted:
            return [int(dataset["id"]) for dataset in listed]
        return [int(d["id"]) for d in listed if d["id"] in wanted or d["name"] in wanted]

    def image_ids(self, dataset_id: int) -> set[int]:
        """The ids of every image of a dataset."""
        return {int(image["id"]) for image in self.list_all("images.list", {"datasetId": dataset_id})}

    def image_ids_by_dataset(self, dataset_ids: Iterable[int]) -> dict[int, set[int]]:
        """Each dataset's image ids."""
        return {dataset_id: self.image_ids(dataset_id) for dataset_id in dataset_ids}

    def entities(self, job_id: int) -> dict[int, str]:
        """A job's images and their review statuses, read back with `jobs.info`."""
        info = self.call("jobs.info", {"id": job_id})
        statuses = [(int(entity["id"]), str(entity["reviewStatus"])) for entity in info["entities"]]
        assert len({image for image, _ in statuses}) == len(statuses), f"job {job_id} lists an image twice"
        return dict(statuses)

    def round_jobs(self, team_id: int, round_key: str) -> list[RawJob]:
        """Every job of the team (archived ones included) whose lineage names this round, with its entities."""
        found = []
        for job in self.list_all("jobs.list", {"teamId": team_id, "showDisabled": True}):
            lineage = (job.get("customData") or {}).get(LINEAGE_KEY)
            if isinstance(lineage, dict) and lineage.get("round") == round_key:
                found.append(
                    RawJob(
                        id=int(job["id"]),
                        dataset_id=int(job["datasetId"]),
                        disabled=bool(job.get("disabled")),
                        lineage=lineage,
                        entities=self.entities(int(job["id"])),
                    )
                )
        return found


def first_cycle(jobs: Iterable[RawJob]) -> list[RawJob]:
    """The first-cycle jobs (cycle 0)."""
    return [job for job in jobs if job.cycle == 0]


def assert_each_image_once(selected: Mapping[int, set[int]], jobs: Iterable[RawJob]) -> None:
    """Every selected image (by dataset) is in exactly one first-cycle job of its dataset; none is extra.

    Args:
        selected: the expected selection, image ids by dataset id, from raw listings or the seed.
        jobs: the round's jobs as read back (`RawApi.round_jobs`); rework jobs are ignored here.
    """
    first = first_cycle(jobs)
    expected = {image for images in selected.values() for image in images}
    covered = Counter(image for job in first for image in job.entities)
    missing = sorted(expected - set(covered))
    extra = sorted(set(covered) - expected)
    twice = sorted(image for image, count in covered.items() if count > 1)
    misplaced = sorted(
        (job.id, image)
        for job in first
        for image in job.entities
        if image not in selected.get(job.dataset_id, ())
    )
    assert not missing, f"selected images in no first-cycle job: {missing}"
    assert not extra, f"images in a first-cycle job but not selected: {extra}"
    assert not twice, f"images in several first-cycle jobs: {twice}"
    assert not misplaced, f"(job, image) pairs whose image is not of the job's dataset: {misplaced}"


def assert_one_job_per_share(
    jobs: Iterable[RawJob], dataset_ids: Iterable[int], labelers: Iterable[str]
) -> None:
    """At most one first-cycle job per (dataset, labeler), only for the round's datasets and labelers.

    Which pairs get a job depends on the split (a labeler's run of images may cover one dataset or several), so
    the pairs themselves are checked against the split's documented rule by `assert_even_split`.
    """
    pairs = Counter((job.dataset_id, job.lineage["labeler"]) for job in first_cycle(jobs))
    expected = {(dataset, labeler) for dataset in dataset_ids for labeler in labelers}
    assert set(pairs) <= expected, (
        f"first-cycle jobs outside the round's datasets × labelers: {set(pairs) - expected}"
    )
    assert set(pairs.values()) <= {1}, f"several jobs for a share: {[p for p, c in pairs.items() if c > 1]}"


def assert_even_split(jobs: Iterable[RawJob], labelers: Iterable[str]) -> None:
    """The `even` split's documented promise: each labeler's first-cycle images differ by at most one."""
    per_labeler = dict.fromkeys(labelers, 0)
    for job in first_cycle(jobs):
        assert job.lineage["labeler"] in per_labeler, f"job {job.id} is for {job.lineage['labeler']!r}"
        per_labeler[job.lineage["labeler"]] += len(job.entities)
    assert max(per_labeler.values()) - min(per_labeler.values()) <= 1, f"uneven split: {per_labeler}"


def assert_unique_identities(jobs: Iterable[RawJob]) -> None:
    """No two jobs share an identity (a duplicated job) or a lineage whose dataset is not the job's."""
    jobs = list(jobs)
    identities = Counter(job.identity for job in jobs)
    assert all(count == 1 for count in identities.values()), (
        f"duplicated jobs: {[identity for identity, count in identities.items() if count > 1]}"
    )
    wrong = [job.id for job in jobs if int(job.lineage["dataset"]) != job.dataset_id]
    assert not wrong, f"jobs whose lineage names another dataset: {wrong}"


def final_statuses(jobs: Iterable[RawJob]) -> dict[int, str]:
    """Each image's review status in the job of the latest cycle that holds it."""
    latest: dict[int, tuple[int, str]] = {}
    for job in jobs:
        for image, status in job.entities.items():
            if image not in latest or job.cycle > latest[image][0]:
                latest[image] = (job.cycle, status)
    return {image: status for image, (_, status) in latest.items()}


def assert_report_matches(
    totals: TotalsLike, selected: Mapping[int, set[int]], jobs: Iterable[RawJob]
) -> None:
    """A report's totals equal the counts of the read-back final review statuses of the selected images.

    Args:
        totals: the report's figures (`selected_images`, `accepted`, `still_rejected`, `unreviewed`).
        selected: the expected selection, image ids by dataset id.
        jobs: the round's jobs as read back (`RawApi.round_jobs`).
    """
    expected = {image for images in selected.values() for image in images}
    statuses = final_statuses(jobs)
    counted = Counter(
        status if status in (ACCEPTED, REJECTED) else "unreviewed"
        for image, status in statuses.items()
        if image in expected
    )
    read_back = {
        "selected_images": len(expected),
        "accepted": counted[ACCEPTED],
        "still_rejected": counted[REJECTED],
        "unreviewed": counted["unreviewed"] + len(expected - set(statuses)),
    }
    reported = {name: getattr(totals, name) for name in read_back}
    assert reported == read_back, f"report {reported} ≠ read back {read_back}"


def assert_round_report(server: ServerLike, totals: TotalsLike, round_key: str, project_id: int) -> None:
    """A finished round over every image of the project: each image in one first-cycle job, and the report's
    totals equal to the review statuses read back (the one-call check for flow and CLI tests)."""
    with RawApi.of(server) as raw:
        selected = raw.image_ids_by_dataset(raw.dataset_ids(project_id))
        jobs = raw.round_jobs(server.team_id, round_key)
    assert_unique_identities(jobs)
    assert_each_image_once(selected, jobs)
    assert_report_matches(totals, selected, jobs)
