"""The other flows (report, clean-up) and the commands: `round run`, `report`, and `demo` in a subprocess."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from flow_support import PASSWORD, REPO_DIR, round_jobs, round_spec, write_requests
from oracles import assert_round_report
from typer.testing import CliRunner

from deployments.cli import app
from flows.cleanup_jobs import cleanup_jobs
from flows.labeling_round import labeling_round
from flows.round_report import round_report
from labelrounds.sandbox.server import SandboxServer

runner = CliRunner()


def spec_file(tmp_path: Path, **overrides: object) -> Path:
    """The example round with a fast gate (and overrides) written as YAML."""
    path = tmp_path / "round.yaml"
    path.write_text(yaml.safe_dump(round_spec(**overrides).model_dump(mode="json")))
    return path


async def test_report_and_cleanup_flows_find_the_rounds_jobs(crewed: SandboxServer) -> None:
    outcome = await labeling_round(round_spec(end_action="keep"))
    every_job = sorted(job_id for ids in outcome.job_ids_per_cycle for job_id in ids)

    published = await round_report("my team", project="Lemons (Test)", round_name="lemons-round-1")
    assert published.report.totals == outcome.report.totals
    assert_round_report(crewed, published.report.totals, outcome.round_key, crewed.project_id or 0)
    assert published.artifact_keys[0] == "lemons-round-1-jobs"
    only_labeler_2 = await round_report(crewed.team_id, round_name="lemons-round-1", labeler="labeler_2")
    assert set(only_labeler_2.report.jobs["labeler"]) == {"labeler_2"}

    writes = write_requests(crewed)
    dry = await cleanup_jobs("my team", older_than_days=0)
    assert sorted(dry["job_id"]) == every_job and set(dry["action"]) == {"archive"} and not dry["done"].any()
    assert write_requests(crewed) == writes  # a dry run writes nothing
    assert (await cleanup_jobs("my team", older_than_days=30)).empty  # nothing is that old

    archived = await cleanup_jobs("my team", older_than_days=0, dry_run=False)
    assert archived["done"].all() and all(job.disabled for job in await round_jobs(crewed))
    again = await cleanup_jobs("my team", older_than_days=0, dry_run=False)
    assert set(again["action"]) == {"skip"}  # already archived
    removed = await cleanup_jobs("my team", action="remove", older_than_days=0, dry_run=False)
    assert sorted(removed["job_id"]) == every_job and await round_jobs(crewed) == []


def test_round_run_finishes_prints_the_report_and_exits_0(crewed: SandboxServer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["round", "run", "--config", str(spec_file(tmp_path)), "--report-dir", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "labeler_1" in result.output and "labeler_2" in result.output
    assert "6 images: 6 accepted" in result.output and str(tmp_path / "lemons-round-1_jobs.csv") in result.output
    assert crewed.admin_token.get_secret_value() not in result.output

    report = runner.invoke(app, ["report", "--team", "my team", "--round", "lemons-round-1"])
    assert report.exit_code == 0, report.output
    assert "labeler_2" in report.output and "6 images" in report.output


def test_round_run_refuses_a_bad_file_with_exit_2_before_writing(crewed: SandboxServer, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    data = round_spec().model_dump(mode="json")
    data["labelers"][0]["weight"] = -1
    path.write_text(yaml.safe_dump(data))

    result = runner.invoke(app, ["round", "run", "--config", str(path)])

    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "labelers[0].weight" in result.output
    assert write_requests(crewed) == {}


def test_round_run_exits_1_when_the_round_fails_with_one_message_and_debug_shows_the_traceback(
    sandbox: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    prefect_backend: None,
) -> None:
    monkeypatch.setenv("SERVER_ADDRESS", sandbox.url)
    monkeypatch.setenv("API_TOKEN", sandbox.admin_token.get_secret_value())
    monkeypatch.setenv("LABELROUNDS_ANNOTATOR_PASSWORD", PASSWORD.get_secret_value())
    config = spec_file(tmp_path, timeout_seconds=0.2)  # no crew: nobody works

    terminal = io.StringIO()  # what Prefect's console handler prints (to stderr outside the test)
    for handler in logging.getLogger().handlers:
        if "Console" in type(handler).__name__:
            monkeypatch.setattr(handler.console, "file", terminal)

    result = runner.invoke(app, ["round", "run", "--config", str(config)])

    assert result.exit_code == 1
    assert "RoundTimeoutError" in result.output and "left as they are" in result.output
    assert "RoundTimeoutError" in terminal.getvalue() and "Traceback" not in result.output + terminal.getvalue()

    debugged = runner.invoke(app, ["round", "run", "--config", str(config), "--debug"])
    assert debugged.exit_code == 1 and "Traceback" in debugged.output and "Traceback" in terminal.getvalue()


#: Gold images per labeler in the demo: `per_job: 1` and one first-pass job per labeler (one dataset, ds1).
DEMO_GOLD_PER_LABELER = 1
DEMO_GOLD_HEADERS = ("gold images", "gold precision", "gold recall", "gold f1")


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """`labelrounds demo` run once in a subprocess (fresh directory, no Prefect or API settings inherited)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("PREFECT_", "API_TOKEN"))}
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    return subprocess.run(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / "labelrounds"), "demo"],
        cwd=tmp_path_factory.mktemp("demo"),
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def demo_gold_problems(stdout: str) -> list[str]:
    """What is wrong with the gold columns of the demo's printed per-labeler table (read from the text alone)."""
    lines = stdout.splitlines()
    header = next((line for line in lines if line.startswith("┃ labeler ")), "")
    cells = [cell.strip() for cell in header.strip("┃").split("┃")]
    if list(DEMO_GOLD_HEADERS) != cells[-len(DEMO_GOLD_HEADERS) :]:
        return [f"the per-labeler table's last columns are {cells[-4:]}, not the gold columns"]
    problems = []
    rows = [line for line in lines if line.startswith("│ labeler_") and line.count("│") == len(cells) + 1]
    if {row.split("│")[1].strip() for row in rows} != {"labeler_1", "labeler_2"}:
        problems.append(f"per-labeler rows: {rows}")
    for row in rows:
        labeler, *_, images, precision, recall, f1 = (cell.strip() for cell in row.strip("│").split("│"))
        if images != str(DEMO_GOLD_PER_LABELER):
            problems.append(f"{labeler} got {images} gold images, not {DEMO_GOLD_PER_LABELER}")
        for figure in (precision, recall, f1):
            if not re.fullmatch(r"[01]\.\d\d", figure) or float(figure) > 1:
                problems.append(f"{labeler}'s gold figure {figure!r} is not a score in [0, 1]")
    return problems


def test_the_demo_command_finishes_a_round_with_rework_and_gold_scores(
    demo_output: subprocess.CompletedProcess[str],
) -> None:
    result = demo_output
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        "Gold set: dataset 'gold' with 3 lemons images of ds2 (not pictures of the round's ds1) and their truth"
        in result.stdout
    )
    rework = re.search(r"\((\d+) rework", result.stdout)
    assert rework is not None and int(rework.group(1)) >= 1
    assert demo_gold_problems(result.stdout) == []
    assert (
        "report checks: all 6 images of ds1 counted (no gold copy left), every gold figure in [0, 1], "
        "no impossible figure" in result.stdout
    )


#: A labeler row's gold cells (images, precision, recall, F1) at the end of the line, in groups.
GOLD_CELLS = r"(│ +)(\d+)( +│ +)([\d.]+)( +│ +[\d.]+ +│ +[\d.]+ +│)$"


@pytest.mark.parametrize(
    ("pattern", "corrupted"),
    [
        (r"┃ gold f1 ┃", "┃ gold fx ┃"),  # a gold column missing
        (r"│ labeler_2 │", "│ labeler_9 │"),  # a labeler's row missing
        (GOLD_CELLS, r"\g<1>\g<2>\g<3>1.20\g<5>"),  # a score out of [0, 1]
        (GOLD_CELLS, r"\g<1>2\g<3>\g<4>\g<5>"),  # more gold images than the round gave a labeler
    ],
)
def test_mutant_demo_output_with_corrupted_gold_columns_fails_the_check(
    demo_output: subprocess.CompletedProcess[str], pattern: str, corrupted: str
) -> None:
    mutant, changed = re.subn(pattern, corrupted, demo_output.stdout, count=1, flags=re.MULTILINE)
    assert changed == 1, demo_output.stdout[-3000:]
    assert demo_gold_problems(mutant) != []


def test_the_example_round_file_parses() -> None:
    spec = round_spec()
    assert spec.round_name == "lemons-round-1" and [labeler.login for labeler in spec.labelers] == [
        "labeler_1",
        "labeler_2",
    ]
    assert (REPO_DIR / "examples" / "round.yaml").is_file()

