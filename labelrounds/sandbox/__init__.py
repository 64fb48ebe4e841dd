"""The embedded Supervisely-compatible sandbox server."""
