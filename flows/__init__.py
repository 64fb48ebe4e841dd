"""Prefect flows of labelrounds."""
