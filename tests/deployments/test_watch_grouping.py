"""The watcher's grouping of paused runs: by round tags and the spec's target, without a server."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from prefect.client.schemas.objects import FlowRun

from deployments.definitions import lemons_round_spec
from labelrounds.round_spec import TargetStatus
from tasks.run_tags import gate_jobs_of, gate_jobs_tag
from tasks.watch import group_suspended_runs, round_identity


def paused_run(name: str, tags: list[str], spec: Any) -> FlowRun:
    """A flow run as the server returns it, with these tags and this `spec` parameter."""
    return FlowRun(id=uuid4(), name=name, flow_id=uuid4(), tags=tags, parameters={"spec": spec})


def spec_json(**overrides: Any) -> dict[str, Any]:
    """The example round's parameters as JSON, with overrides."""
    return {**lemons_round_spec().model_dump(mode="json"), **overrides}


def test_runs_of_one_round_are_grouped_and_the_target_comes_from_the_spec() -> None:
    tags = ["labelrounds", "labelrounds-round:lemons@13487", "labelrounds-team:8"]
    first = paused_run("first", tags, spec_json())
    second = paused_run("second", tags, spec_json())
    other = paused_run("other", ["labelrounds-round:other@13487", "labelrounds-team:8"], spec_json(target_status="on_review"))

    rounds, skipped = group_suspended_runs([first, other, second])

    assert skipped == {}
    assert [(r.round_key, r.team_id, r.target, r.flow_run_names) for r in rounds] == [
        ("lemons@13487", 8, TargetStatus.COMPLETED, ["first", "second"]),
        ("other@13487", 8, TargetStatus.ON_REVIEW, ["other"]),
    ]
    assert rounds[0].flow_run_ids == [first.id, second.id]


def test_runs_without_round_tags_or_with_a_bad_spec_are_left_out_with_the_reason() -> None:
    untagged = paused_run("untagged", ["labelrounds"], spec_json())
    bad_team = paused_run("bad-team", ["labelrounds-round:a@1", "labelrounds-team:eight"], spec_json())
    bad_spec = paused_run("bad-spec", ["labelrounds-round:a@1", "labelrounds-team:8"], {"round_name": "a"})

    rounds, skipped = group_suspended_runs([untagged, bad_team, bad_spec])

    assert rounds == []
    assert set(skipped) == {"untagged", "bad-team", "bad-spec"}
    assert "tags" in skipped["untagged"] and "tags" in skipped["bad-team"]
    assert "not a round spec" in skipped["bad-spec"]
    assert round_identity(bad_spec) == skipped["bad-spec"]


def test_the_gate_jobs_tag_is_read_back_and_separates_runs_waiting_on_other_jobs() -> None:
    base = ["labelrounds-round:lemons@13487", "labelrounds-team:8"]
    tagged = paused_run("tagged", [*base, gate_jobs_tag([17, 12, 15])], spec_json())
    older = paused_run("older", base, spec_json())  # suspended before runs recorded their gate's jobs

    rounds, skipped = group_suspended_runs([tagged, older])

    assert skipped == {}
    assert {r.flow_run_names[0]: r.gate_job_ids for r in rounds} == {"older": None, "tagged": [12, 15, 17]}
    assert gate_jobs_tag([17, 12, 15]) == "labelrounds-gate-jobs:12,15,17"
    assert gate_jobs_of(["labelrounds-gate-jobs:1,x"]) is None and gate_jobs_of(["other"]) is None
