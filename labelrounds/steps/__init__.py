"""The steps of a labeling round, one module each, as async functions over a `SuperviselyClient` (no Prefect)."""
