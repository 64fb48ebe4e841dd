"""The typed API methods, grouped by resource; `SuperviselyClient` combines them."""
