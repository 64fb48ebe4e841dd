"""The round benchmark at a tiny size: it runs both sides end to end and writes well-formed files.

Not a timed test: it checks the files' shapes and properties that do not depend on speed (request counts).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.phases import PHASES
from bench.round_scale import api_floor

REPO_ROOT = Path(__file__).resolve().parents[2]
SIDE_KEYS = {"requests", "requests_by_method", "setup_s", "wait_s", "teardown_s", "wall_s", "peak_rss_mb",
             "client_share", "server_busy_s", "client_cpu_s", "phases", "jobs"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """One run of `python -m bench.round_scale` at 60 images, 2 datasets, 3 labelers."""
    out = tmp_path_factory.mktemp("round-scale") / "tiny.json"
    command = [sys.executable, "-m", "bench.round_scale", "--images", "60", "--datasets", "2", "--labelers", "3",
               "--poll", "0.1", "--out", str(out)]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, f"the benchmark failed:\n{completed.stderr[-4000:]}"
    return out, json.loads(out.read_text())


def test_the_json_has_both_sides_with_every_figure(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    _, figures = tiny_run
    assert figures["sizes"] == {"images": 60, "datasets": 2, "labelers": 3, "poll_s": 0.1, "users": "new", "rtt_ms": 0}
    for side in ("ours", "sdk"):
        assert SIDE_KEYS <= figures[side].keys(), side
        assert set(figures[side]["phases"]) == set(PHASES)
        assert figures[side]["jobs"] == 4  # 3 contiguous runs over 2 datasets: one run spans both
        assert figures[side]["requests"] == sum(figures[side]["requests_by_method"].values())
        assert figures[side]["peak_rss_mb"] > 0
    assert figures["ours"]["images"] == 60
    assert set(figures["ratios"]) >= {"requests", "setup_s", "teardown_s", "wall_s", "peak_rss_mb"}


#: The tiny run's floor, by hand: 3 labelers + 1 reviewer = 4 new people; 3 even shares over 2 equal datasets cut
#: one share in two, 4 jobs; one page of images per dataset.
TINY_FLOOR = {"users.add": 4, "members.add": 4, "images.list": 2, "jobs.add": 4, "jobs.archive": 4}


def assert_not_below_floor(side: dict[str, Any], floor: dict[str, Any]) -> None:
    """The oracle: a side sends at least the floor of every method the floor counts."""
    for method, count in floor["requests_by_method"].items():
        assert side["requests_by_method"].get(method, 0) >= count, method


def test_the_api_floor_is_reported_beside_both_sides(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    _, figures = tiny_run
    floor = figures["floor"]
    assert floor["requests_by_method"] == TINY_FLOOR
    assert (floor["requests"], floor["jobs"], floor["teardown_requests"]) == (18, 4, 4)
    for side in ("ours", "sdk"):
        assert_not_below_floor(figures[side], floor)
        assert figures["over_floor"][side]["requests"] == round(figures[side]["requests"] / 18, 3)
    assert figures["over_floor"]["ours"]["requests"] < figures["over_floor"]["sdk"]["requests"]
    assert "client_cpu_5x_lower_than_the_sdk_way" in figures["targets"]


def test_the_floor_at_the_issue_sizes_and_with_existing_people() -> None:
    # 101 people, 100 jobs (100 shares of 1,000 align with 4 datasets of 25,000), 4 x 2 pages of 20,000
    assert api_floor(100_000, 4, 100, "new")["requests"] == 101 + 101 + 8 + 100 + 100
    assert api_floor(10_000, 4, 50, "new")["jobs"] == 50 + 4 - 2  # shares of 200 meet datasets of 2,500 twice
    assert api_floor(10_000, 4, 50, "existing")["requests_by_method"] == {"images.list": 4, "jobs.add": 52, "jobs.archive": 52}


def test_mutant_a_dropped_request_falls_below_the_floor(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    _, figures = tiny_run
    corrupted = {"requests_by_method": {**figures["ours"]["requests_by_method"]}}
    corrupted["requests_by_method"]["jobs.archive"] = TINY_FLOOR["jobs.archive"] - 1  # one job left unarchived
    with pytest.raises(AssertionError):
        assert_not_below_floor(corrupted, figures["floor"])


def test_ours_sends_fewer_requests_and_waits_with_one_listing_per_check(
    tiny_run: tuple[Path, dict[str, Any]],
) -> None:
    _, figures = tiny_run
    ours, sdk = figures["ours"], figures["sdk"]
    assert ours["requests"] < sdk["requests"]
    assert ours["phases"]["wait"]["requests_by_method"] == {"jobs.list": ours["wait_checks"]}
    assert sdk["phases"]["wait"]["requests_by_method"]["jobs.info"] >= sdk["jobs"]  # one job after another
    assert figures["targets"]["wait_one_list_request_per_check"] is True
    # each side created its own users and jobs: the crew's work is not counted
    assert ours["requests_by_method"]["users.add"] == sdk["requests_by_method"]["users.add"] == 4
    assert "jobs.entities.update-review-status" not in ours["requests_by_method"]


def test_the_markdown_table_and_the_chart_are_written(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    out, _ = tiny_run
    page = out.with_suffix(".md").read_text()
    assert "python -m bench.round_scale --images 60" in page
    assert "| 60 | 3 | ours | 4 |" in page and "| 60 | 3 | sdk | 4 |" in page and "**B/A**" in page
    assert "| 60 | 3 | API floor | 4 | 18 (14/0/4) | 1x |" in page
    assert out.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
