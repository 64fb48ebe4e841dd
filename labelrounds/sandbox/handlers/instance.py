"""`instance.version`: the instance version the SDK checks after its first non-200 reply."""

from __future__ import annotations

from labelrounds.sandbox.models import EmptyBody
from labelrounds.sandbox.registry import Context, api_method

INSTANCE_VERSION = "6.18.3"
"""The SDK's `MINIMUM_INSTANCE_VERSION_FOR_SDK`; anything lower makes it warn."""


@api_method("instance.version", EmptyBody, authenticated=False)
def instance_version(ctx: Context, body: EmptyBody) -> dict[str, str]:
    """The version this sandbox impersonates."""
    return {"version": INSTANCE_VERSION}
