"""Prefect tasks of labelrounds."""
