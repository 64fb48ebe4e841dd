"""Reliability fixtures: `run_record`, which records every run of a figures test with its real outcome."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from .figures import record_run

#: Each test item's phase reports (setup, call), so a fixture's teardown can tell a failed run from a passed one.
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
ERROR_CHARS = 240


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Keep each phase's report on the item (read by `run_record` at teardown)."""
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def error_summary(report: pytest.TestReport) -> str:
    """One line saying why a phase failed (the exception's first line), fit for a markdown table cell."""
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    first = text.strip().splitlines()[0] if text.strip() else "failed"
    return first.replace("|", "/")[:ERROR_CHARS]


@pytest.fixture
def run_record(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the test fills with its counts as it goes; at teardown the run is recorded, passed or failed.

    The module names its figures with `RUN_LOG` (file stem), `RUN_TITLE` and `RUN_COMMAND`
    (see `figures.record_run`). Fill the dict before asserting, so a failed run still shows what it measured.
    """
    record: dict[str, Any] = {}
    yield record
    phases = request.node.stash.get(PHASE_REPORTS, {})
    failed = [report for report in phases.values() if report.failed]
    outcome = {
        "test": request.node.name,
        "outcome": "failed" if failed else "passed",
        "error": error_summary(failed[0]) if failed else "",
    }
    module = request.module
    record_run(module.RUN_LOG, module.RUN_TITLE, module.RUN_COMMAND, {**outcome, **record})
