"""Write the figures a reliability test measured to `bench/results/<name>.json` and `.md`."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


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
