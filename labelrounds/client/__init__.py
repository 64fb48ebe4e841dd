"""Async client of the Supervisely public API v3: typed models, pagination, filters, retries and errors."""

from labelrounds.client import models
from labelrounds.client.client import SuperviselyClient
from labelrounds.client.config import ConnectionSettings, RetryPolicy
from labelrounds.client.errors import (
    AmbiguousWriteError,
    ConfigurationError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    NothingToRestartError,
    PaginationError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    SuperviselyError,
    TransportError,
    UnauthorizedError,
)
from labelrounds.client.filters import Filter
from labelrounds.client.stats import RequestStats

__all__ = [
    "AmbiguousWriteError",
    "ConfigurationError",
    "ConnectionSettings",
    "Filter",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "NothingToRestartError",
    "PaginationError",
    "RateLimitedError",
    "RequestStats",
    "ResponseFormatError",
    "RetryPolicy",
    "ServerError",
    "SuperviselyClient",
    "SuperviselyError",
    "TransportError",
    "UnauthorizedError",
    "models",
]
