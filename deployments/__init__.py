"""Prefect deployment definitions for the labelrounds flows."""
