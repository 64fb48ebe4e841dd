"""API method handlers; importing this package registers every method in `registry.API_METHODS`."""

from labelrounds.sandbox.handlers import images, instance, jobs, projects, review, teams, users

__all__ = ["images", "instance", "jobs", "projects", "review", "teams", "users"]
