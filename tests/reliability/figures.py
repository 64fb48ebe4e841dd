"""Write the figures a reliability test measured to `<results>/<name>.json` and `.md`.

`<results>` is `bench/results` when `LABELROUNDS_RECORD_FIGURES=1` (how the published figures are made), else a
temporary folder, so that `make test` never rewrites tracked files.

Tests that publish a rate (chaos, load) record EVERY run, failed ones too: `record_run` appends one JSON line
per run to `<name>_runs.jsonl` (outcome, error, the commit, the counts) and rewrites `<name>.json|md` with runs,
passed, failed and the pass rate over all recorded runs, so a figure like "0 duplicates" can read otherwise.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECORD = os.environ.get("LABELROUNDS_RECORD_FIGURES") == "1"
REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results" if RECORD else Path(tempfile.gettempdir()) / "labelrounds-figures"
#: How the commands that made the figures are written down.
RECORD_PREFIX = "LABELROUNDS_RECORD_FIGURES=1 "


def write_figures(
    name: str, title: str, command: str, rows: list[dict[str, Any]], summary: dict[str, Any]
) -> Path:
    """Record one run: a JSON file with everything and a markdown table of `rows` (one row per run/seed)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    recorded = {
        "title": title,
        "command": command,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "summary": summary,
        "rows": rows,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(recorded, indent=2, sort_keys=False) + "\n")
    columns = list(rows[0]) if rows else []
    lines = [
        f"# {title}",
        "",
        f"Measured {recorded['measured_at']} on {recorded['machine']} by `{command}`.",
        "",
        *(f"- {key}: {value}" for key, value in summary.items()),
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(str(row[column]) for column in columns) + " |" for row in rows),
        "",
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    return RESULTS / f"{name}.json"


def code_version() -> dict[str, Any]:
    """The commit the run was made at, and whether the working tree had uncommitted changes (others' work too)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)  # noqa: S603, S607
        return done.stdout.strip()

    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain")),
    }


def record_run(name: str, title: str, command: str, record: dict[str, Any]) -> Path:
    """Append one run (passed or failed) to `<name>_runs.jsonl`; rewrite `<name>.json|md` from every run.

    Args:
        name: the figures' file stem (`chaos`, `load`).
        title: the markdown title.
        command: how the runs are made (written into the summary).
        record: the run: at least `test` and `outcome` (`passed`/`failed`), `error` for a failed one, and the
            counts the test measured before it passed or failed.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / f"{name}_runs.jsonl"
    line = {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **CODE_VERSION, **record}
    with log.open("a") as runs:
        runs.write(json.dumps(line, sort_keys=False) + "\n")
    rows = [json.loads(text) for text in log.read_text().splitlines() if text.strip()]
    passed = sum(row["outcome"] == "passed" for row in rows)
    summary = {
        "runs": len(rows),
        "passed": passed,
        "failed": len(rows) - passed,
        "pass rate": f"{passed / len(rows):.0%}",
        "commits": " ".join(dict.fromkeys(row["commit"] for row in rows)),
        "run log": log.name + " (one JSON line per run, failed runs included)",
    }
    columns = list(dict.fromkeys(key for row in rows for key in row if not isinstance(row[key], dict | list)))
    table = [{column: row.get(column, "") for column in columns} for row in rows]
    return write_figures(name, title, command, table, summary)


#: The commit when the tests were collected (their code was imported then; HEAD may move during a long run).
CODE_VERSION = code_version()
