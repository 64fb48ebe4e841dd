"""Write the figures a reliability test measured to `<results>/<name>.json` and `.md`.

`<results>` is `bench/results` when `LABELROUNDS_RECORD_FIGURES=1` (how the published figures are made), else a
temporary folder, so that `make test` never rewrites tracked files.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RECORD = os.environ.get("LABELROUNDS_RECORD_FIGURES") == "1"
RESULTS = (
    Path(__file__).resolve().parents[2] / "bench" / "results"
    if RECORD
    else Path(tempfile.gettempdir()) / "labelrounds-figures"
)
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
