"""Round helpers of the reliability tests: the example round, and a full check that nothing is duplicated or lost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.planning import summarize_plan
from labelrounds.round_spec import RoundSpec, load_round_spec
from labelrounds.sandbox.server import SandboxServer
from labelrounds.steps.lineage import JobLineage
from labelrounds.steps.validate import validate_round

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
    """What a finished round left on the server, counted."""

    planned_shares: int
    first_cycle_jobs: int
    rework_jobs: int
    selected_images: int
    duplicates: int

    def as_dict(self) -> dict[str, int]:
        """The counts, for the figures files."""
        return dict(self.__dict__)


async def check_round(server: SandboxServer, spec: RoundSpec) -> RoundCheck:
    """Assert that the round left exactly one job per planned share, every selected image in exactly one
    first-cycle job, one job per rework identity, and no duplicate user, class or tag.

    The plan is recomputed read-only by `validate_round` (the same selection and split the round used).
    """
    async with admin_client(server) as api:
        validated = await validate_round(api, spec, PASSWORD)
        plan = summarize_plan(validated.plan)
        round_key = validated.target.round_key
        jobs = await api.list_jobs(server.team_id, show_disabled=True)
        lineages = [(job, JobLineage.of(job)) for job in jobs]
        ours = [
            (job, lineage) for job, lineage in lineages if lineage is not None and lineage.round == round_key
        ]
        first = [(job, lineage) for job, lineage in ours if lineage.cycle == 0]
        identities = Counter(lineage.identity for _, lineage in ours)
        duplicate_jobs = sum(count - 1 for count in identities.values())
        covered: Counter[int] = Counter()
        for job, _ in first:
            info = await api.get_job(job.id)
            assert info is not None
            covered.update(info.entity_ids())
        selected = {int(image_id) for ids in plan["image_ids"] for image_id in ids}
        users = Counter(user.login for user in await api.list_users())
        meta = await api.get_project_meta(validated.target.project.id)
    duplicate_users = sum(count - 1 for count in users.values())
    duplicate_meta = sum(
        count - 1
        for names in ([item.title for item in meta.classes], [item.name for item in meta.tags])
        for count in Counter(names).values()
    )
    assert duplicate_jobs == 0, f"duplicated jobs: {[i for i, c in identities.items() if c > 1]}"
    assert sorted(lineage.share for _, lineage in first) == sorted(plan["share_key"]), "jobs ≠ planned shares"
    assert set(covered) == selected and set(covered.values()) == {1}, "an image is in no or several jobs"
    assert duplicate_users == 0 and duplicate_meta == 0
    return RoundCheck(
        planned_shares=len(plan),
        first_cycle_jobs=len(first),
        rework_jobs=len(ours) - len(first),
        selected_images=len(selected),
        duplicates=duplicate_jobs + duplicate_users + duplicate_meta,
    )
