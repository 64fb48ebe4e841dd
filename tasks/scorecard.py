"""Task: labeler scorecards across rounds as a table artifact, PNG charts per metric, a markdown artifact, a CSV."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.steps import scorecard as scorecards
from labelrounds.steps.scorecard import Scorecard
from labelrounds.steps.scorecard_charts import write_charts
from labelrounds.steps.tables import frame_markdown
from tasks.options import api_task, artifact_key
from tasks.report import table_rows

#: Columns of the markdown summary (the table artifact has them all).
SUMMARY_COLUMNS = [
    "round_key",
    "labeler",
    "images",
    "objects",
    "first_pass_acceptance",
    "rework_cycles",
    "images_per_hour",
    "objects_per_hour",
    "review_latency_seconds",
    "gold_f1",
]


@dataclass(frozen=True)
class PublishedScorecard:
    """A scorecard and where it went: artifact keys, chart and CSV paths (empty without an output directory)."""

    scorecard: Scorecard
    artifact_keys: list[str]
    chart_paths: dict[str, str] = field(default_factory=dict)
    csv_path: str | None = None


def scorecard_markdown(scorecard: Scorecard, title: str, chart_paths: dict[str, str]) -> str:
    """The markdown artifact: the rounds in order, the charts written (by path) and the summary table."""
    rounds = "\n".join(f"{position}. `{key}`" for position, key in enumerate(scorecard.rounds, start=1))
    charts = "\n".join(f"- {metric}: `{path}`" for metric, path in chart_paths.items()) or "- none (no out_dir)"
    view = scorecard.rows.loc[:, SUMMARY_COLUMNS]
    return (
        f"# {title}\n\n## Rounds (in order of their first job)\n\n{rounds or 'none'}\n\n"
        f"## Charts (one PNG per metric over rounds)\n\n{charts}\n\n## Per labeler per round\n\n{frame_markdown(view)}"
    )


@api_task("labeler-scorecard", "scorecard-{title}")
async def publish_scorecard(
    settings: ConnectionSettings,
    team: int | str,
    rounds: list[str] | None,
    labelers: list[str] | None,
    title: str,
    out_dir: str | None = None,
) -> PublishedScorecard:
    """Rebuild the labelers' scorecards from the server and publish them (artifacts keyed by `title`, files).

    Args:
        settings: the connection.
        team: the team's id or name.
        rounds: only these rounds (keys or names); None: every round with our lineage.
        labelers: only these labelers (logins); None: all.
        title: the scorecard's title; artifact keys and file names derive from it.
        out_dir: directory for one PNG chart per metric and `<title>.csv` (None: artifacts only).
    """
    async with SuperviselyClient(settings) as api:
        built = await scorecards.labeler_scorecard(api, team, rounds, labelers)
    prefix = artifact_key(title)
    charts: dict[str, str] = {}
    csv_path = None
    if out_dir is not None:
        charts = {metric: str(path) for metric, path in write_charts(built, out_dir, prefix=prefix).items()}
        csv_path = str(Path(out_dir) / f"{prefix}.csv")
        built.rows.to_csv(csv_path, index=False)
    keys = [artifact_key(title, "table"), artifact_key(title, "summary")]
    await acreate_table_artifact(
        table=table_rows(built.rows), key=keys[0], description=f"{title}: one row per labeler per round"
    )
    await acreate_markdown_artifact(
        markdown=scorecard_markdown(built, title, charts),
        key=keys[1],
        description=f"{title}: {len(built.rounds)} rounds, {built.rows['labeler'].nunique()} labelers",
    )
    get_run_logger().info(
        "scorecard %s: %d rounds, %d rows, %d charts", title, len(built.rounds), len(built.rows), len(charts)
    )
    return PublishedScorecard(scorecard=built, artifact_keys=keys, chart_paths=charts, csv_path=csv_path)
