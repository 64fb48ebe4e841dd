"""The round parameters model: defaults, every refusal, the JSON schema for the UI, and the file loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from labelrounds.client.models import Shape, TagValueType
from labelrounds.round_spec import (
    EndAction,
    ImageSelection,
    RoundSpec,
    RoundSpecError,
    SplitStrategy,
    TargetStatus,
    load_round_spec,
    parse_round_spec,
)


def _minimal(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "round_name": "round-1",
        "team": "my team",
        "project": 13487,
        "labelers": ["labeler_1", "labeler_2"],
        "reviewer": "reviewer_1",
        "classes": [{"name": "kiwi"}],
    }
    spec.update(overrides)
    return spec


def _refusal(**overrides: Any) -> str:
    with pytest.raises(RoundSpecError) as caught:
        parse_round_spec(_minimal(**overrides))
    return str(caught.value)


def test_minimal_spec_gets_sane_defaults() -> None:
    spec = parse_round_spec(_minimal())
    assert spec.team == "my team" and spec.project == 13487
    assert [labeler.login for labeler in spec.labelers] == ["labeler_1", "labeler_2"]
    assert all(labeler.weight == 1.0 and labeler.create_if_missing for labeler in spec.labelers)
    assert spec.reviewer.login == "reviewer_1" and spec.reviewer.create_if_missing
    assert spec.classes[0].shape is Shape.BITMAP and spec.classes[0].color is None
    assert spec.datasets == [] and spec.image_selection is ImageSelection.ALL
    assert spec.split_strategy is SplitStrategy.EVEN
    assert spec.target_status is TargetStatus.COMPLETED
    assert spec.end_action is EndAction.ARCHIVE
    assert spec.max_rework_cycles == 1
    assert spec.poll_interval_seconds == 30 and spec.timeout_seconds == 7 * 24 * 3600


def test_full_spec_round_trips_through_json() -> None:
    spec = parse_round_spec(
        _minimal(
            datasets=["ds1", 1001],
            labelers=[
                {"login": "labeler_1", "weight": 2},
                {"login": "labeler_2", "name": "L2", "email": "l2@x.io"},
            ],
            reviewer={"login": "reviewer_1", "create_if_missing": False},
            classes=[{"name": "kiwi", "shape": "polygon", "color": "#D0021B"}, {"name": "lemon"}],
            tags=[
                {
                    "name": "size",
                    "value_type": "oneof_string",
                    "values": ["small", "large"],
                    "classes": ["kiwi"],
                },
                {"name": "origin", "value_type": "any_string", "applicable_type": "imagesOnly"},
            ],
            objects_limit_per_image=10,
            tags_limit_per_image=20,
            include_images_with_tags=["size"],
            exclude_images_with_tags=["origin"],
            image_selection="explicit",
            image_ids=[3, 1, 2],
            split_strategy="weighted",
            rework_labeler="labeler_2",
            target_status="on_review",
            end_action="keep",
            max_rework_cycles=0,
        )
    )
    assert spec.tags[0].value_type is TagValueType.ONEOF_STRING
    assert RoundSpec.model_validate_json(spec.model_dump_json()) == spec


def test_every_field_is_described_for_the_ui_form() -> None:
    schema = RoundSpec.model_json_schema()
    undescribed = [name for name, field in schema["properties"].items() if not field.get("description")]
    for definition in schema["$defs"].values():
        undescribed += [
            name for name, field in definition.get("properties", {}).items() if not field.get("description")
        ]
    assert undescribed == []
    assert set(schema["required"]) == {"round_name", "team", "project", "labelers", "reviewer"}
    assert "password" not in json.dumps(schema).lower().replace("its password comes from a secret", "")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"labelers": []}, "labelers: List should have at least 1 item"),
        ({"labelers": ["a", "b", "A"]}, "duplicate labelers: a"),
        ({"labelers": [{"login": "a", "weight": 0}]}, "labelers[0].weight: Input should be greater than 0"),
        ({"labelers": [{"login": "a", "weight": -1}]}, "labelers[0].weight: Input should be greater than 0"),
        (
            {"labelers": [{"login": "a", "weight": "nan"}]},
            "labelers[0].weight: Input should be a finite number",
        ),
        ({"labelers": [{"login": "a", "weight": 2}]}, "split_strategy is 'even'"),
        ({"labelers": ["has space"]}, "labelers[0].login: String should match pattern"),
        (
            {"labelers": [{"login": "a", "password": "secret1"}]},
            "passwords do not belong in the round parameters",
        ),
        ({"reviewer": "labeler_1"}, "the reviewer 'labeler_1' is also a labeler"),
        ({"classes": [], "tags": []}, "nothing to label"),
        (
            {"classes": [{"name": "kiwi"}, {"name": "kiwi", "shape": "polygon"}]},
            "duplicate class names: kiwi",
        ),
        ({"classes": [{"name": "kiwi", "shape": "blob"}]}, "classes[0].shape: Input should be 'bitmap'"),
        ({"classes": [{"name": "kiwi", "color": "red"}]}, "classes[0].color: String should match pattern"),
        ({"tags": [{"name": "t"}, {"name": "t"}]}, "duplicate tag names: t"),
        (
            {"tags": [{"name": "t", "value_type": "oneof_string"}]},
            "tag 't' is oneof_string but lists no values",
        ),
        ({"tags": [{"name": "t", "value_type": "oneof_string", "values": ["a", "a"]}]}, "duplicate entries"),
        ({"tags": [{"name": "t", "values": ["a"]}]}, "tag 't' has values but its value_type is none"),
        ({"tags": [{"name": "t", "value_type": "colour"}]}, "tags[0].value_type: Input should be 'none'"),
        ({"objects_limit_per_image": 0}, "objects_limit_per_image: Input should be greater than 0"),
        ({"tags_limit_per_image": -3}, "tags_limit_per_image: Input should be greater than 0"),
        (
            {"include_images_with_tags": ["a"], "exclude_images_with_tags": ["a"]},
            "both included and excluded: a",
        ),
        ({"image_selection": "explicit"}, "image_ids is empty"),
        ({"image_ids": [1]}, "image_ids are given but image_selection is 'all'"),
        ({"image_selection": "explicit", "image_ids": [1, 1]}, "image_ids: duplicate entries in the list: 1"),
        ({"image_selection": "explicit", "image_ids": [0]}, "image_ids[0]: Input should be greater than 0"),
        ({"datasets": ["ds1", "ds1"]}, "datasets: duplicate entries in the list: ds1"),
        ({"team": 0}, "team: expected a positive id or a non-empty name, got 0"),
        ({"project": " "}, "project: expected a positive id or a non-empty name"),
        ({"round_name": "has space"}, "round_name: String should match pattern"),
        ({"round_name": "x" * 49}, "round_name: String should have at most 48 characters"),
        ({"round_name": None}, "round_name: Input should be a valid string"),
        ({"rework_labeler": "someone"}, "rework_labeler 'someone' is not one of the labelers"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds: Input should be greater than 0"),
        (
            {"poll_interval_seconds": 10, "timeout_seconds": 5},
            "timeout_seconds is shorter than poll_interval",
        ),
        ({"max_rework_cycles": -1}, "max_rework_cycles: Input should be greater than or equal to 0"),
        ({"target_status": "done"}, "target_status: Input should be 'on_review' or 'completed'"),
        ({"end_action": "delete"}, "end_action: Input should be 'archive', 'stop' or 'keep'"),
        ({"split_strategy": "random"}, "split_strategy: Input should be 'even', 'weighted' or 'throughput'"),
        ({"labellers": ["a"]}, "labellers: Extra inputs are not permitted"),
    ],
)
def test_invalid_values_are_refused_with_a_message_naming_the_field(
    overrides: dict[str, Any], message: str
) -> None:
    assert message in _refusal(**overrides)


def test_all_cross_field_problems_are_reported_together() -> None:
    text = _refusal(labelers=["a", "a"], reviewer="a", classes=[], tags=[])
    assert "duplicate labelers: a" in text
    assert "reviewer 'a' is also a labeler" in text
    assert "nothing to label" in text


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(RoundSpecError) as caught:
        parse_round_spec({"round_name": "r"})
    for field in ("team", "project", "labelers", "reviewer"):
        assert f"{field}: Field required" in str(caught.value)
    with pytest.raises(RoundSpecError, match="expected a mapping of round fields, got list"):
        parse_round_spec([1, 2])


def test_load_yaml_and_json_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "round.yaml"
    yaml_file.write_text(
        "round_name: round-1\nteam: my team\nproject: Lemons (Test)\n"
        "labelers: [labeler_1, {login: labeler_2, weight: 3}]\nsplit_strategy: weighted\n"
        "reviewer: reviewer_1\nclasses:\n  - {name: kiwi, color: '#D0021B'}\n"
    )
    from_yaml = load_round_spec(yaml_file)
    json_file = tmp_path / "round.json"
    json_file.write_text(from_yaml.model_dump_json())
    assert load_round_spec(json_file) == from_yaml
    assert from_yaml.project == "Lemons (Test)" and from_yaml.labelers[1].weight == 3


def test_load_errors_name_the_file_and_the_field(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RoundSpecError, match=r"cannot read round spec file .*nope\.yaml"):
        load_round_spec(missing)
    broken_json = tmp_path / "broken.json"
    broken_json.write_text("{not json")
    with pytest.raises(RoundSpecError, match=r"broken\.json is not valid JSON"):
        load_round_spec(broken_json)
    broken_yaml = tmp_path / "broken.yml"
    broken_yaml.write_text("round_name: [unclosed")
    with pytest.raises(RoundSpecError, match=r"broken\.yml is not valid YAML"):
        load_round_spec(broken_yaml)
    bad_field = tmp_path / "bad.yaml"
    bad_field.write_text(json.dumps(_minimal(labelers=[{"login": "a", "weight": 0}])))
    with pytest.raises(RoundSpecError) as caught:
        load_round_spec(bad_field)
    assert str(bad_field) in str(caught.value)
    assert "labelers[0].weight: Input should be greater than 0" in str(caught.value)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string")
    with pytest.raises(RoundSpecError, match="expected a mapping of round fields, got str"):
        load_round_spec(scalar)
