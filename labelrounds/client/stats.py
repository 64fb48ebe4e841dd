"""Per-method request counters of one client, for benchmarks and tests."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RequestStats:
    """Counts, per API method, the logical calls, the HTTP requests sent, the retries and the failed calls."""

    calls: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def total_requests(self) -> int:
        """HTTP requests sent over all methods, retries included."""
        return sum(self.requests.values())

    def reset(self) -> None:
        """Forget every count."""
        for counter in (self.calls, self.requests, self.retries, self.failures):
            counter.clear()

    def as_dict(self) -> dict[str, dict[str, int]]:
        """A JSON-friendly copy: `{"calls": {...}, "requests": {...}, "retries": {...}, "failures": {...}}`."""
        return {
            "calls": dict(self.calls),
            "requests": dict(self.requests),
            "retries": dict(self.retries),
            "failures": dict(self.failures),
        }
