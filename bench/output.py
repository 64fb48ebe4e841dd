"""Where a benchmark's figures go: the JSON file, a markdown page beside it, and the page on standard output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_figures(out: Path, figures: Any, page: str) -> None:
    """Write `figures` as JSON to `out` and `page` (their markdown) beside it as `.md`, then print the page."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(page, encoding="utf-8")
    print(page)
