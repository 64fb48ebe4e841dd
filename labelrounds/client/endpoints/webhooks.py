"""Team webhooks: `webhooks.add/list/info/update/bulk.remove/test`, as `api.webhook` of the SDK calls them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import SecretStr

from labelrounds.client.core import ClientCore
from labelrounds.client.endpoints.validation import require_ids, require_text
from labelrounds.client.filters import Filter, filters_to_wire
from labelrounds.client.models import IdReply
from labelrounds.client.models.webhooks import WEBHOOK_ACTIONS, WebhookInfo
from labelrounds.client.parsing import parse_model


def _require_action(action: str) -> str:
    if action not in WEBHOOK_ACTIONS:
        raise ValueError(f"action must be one of {sorted(WEBHOOK_ACTIONS)}, not {action!r}")
    return action


def _meta(
    headers: Mapping[str, SecretStr] | None, retries_count: int | None, retries_delay: int | None
) -> dict[str, Any]:
    """The wire `meta` of the settings given (header values unwrapped only here, into the request body)."""
    meta: dict[str, Any] = {}
    if retries_count is not None:
        meta["retriesCount"] = retries_count
    if retries_delay is not None:
        meta["retriesDelay"] = retries_delay
    if headers is not None:
        if not all(isinstance(value, SecretStr) for value in headers.values()):
            raise TypeError("header values must be pydantic SecretStr (they may carry a receiver's secret)")
        meta["headers"] = {name: value.get_secret_value() for name, value in headers.items()}
    return meta


class WebhookEndpoints(ClientCore):
    """Typed methods over a team's webhooks."""

    async def list_webhooks(self, team_id: int, filters: Iterable[Filter] = ()) -> list[WebhookInfo]:
        """A team's webhooks matching every filter (`webhooks.list`; team admins and managers)."""
        return await self._list_models(
            WebhookInfo, "webhooks.list", {"teamId": team_id, "filter": filters_to_wire(filters)}
        )

    async def get_webhook(self, webhook_id: int) -> WebhookInfo | None:
        """One webhook (`webhooks.info`), or None when it does not exist."""
        return await self._get_or_none(WebhookInfo, "webhooks.info", {"id": webhook_id})

    async def add_webhook(
        self,
        team_id: int,
        url: str,
        action: str,
        *,
        headers: Mapping[str, SecretStr] | None = None,
        retries_count: int = 5,
        retries_delay: int = 10,
    ) -> int:
        """Register a webhook (`webhooks.add`) and return its id. Not idempotent: see `AmbiguousWriteError`.

        Args:
            team_id: the team whose events it receives.
            url: where events are posted.
            action: one of `WEBHOOK_ACTIONS`.
            headers: headers sent with every delivery (e.g. a shared secret).
            retries_count: retries of a failed delivery.
            retries_delay: seconds between retries.
        """
        body = {
            "teamId": team_id,
            "url": require_text("url", url),
            "action": _require_action(action),
            "meta": _meta(headers or {}, retries_count, retries_delay),
        }
        reply = await self.call("webhooks.add", body, idempotent=False)
        return parse_model(IdReply, reply, "webhooks.add").id

    async def update_webhook(
        self,
        webhook_id: int,
        *,
        url: str | None = None,
        action: str | None = None,
        headers: Mapping[str, SecretStr] | None = None,
        retries_count: int | None = None,
        retries_delay: int | None = None,
    ) -> WebhookInfo:
        """Change the settings given of a webhook (`webhooks.update`) and return it as stored."""
        body: dict[str, Any] = {"id": webhook_id}
        if url is not None:
            body["url"] = require_text("url", url)
        if action is not None:
            body["action"] = _require_action(action)
        meta = _meta(headers, retries_count, retries_delay)
        if meta:
            body["meta"] = meta
        return parse_model(WebhookInfo, await self._write("webhooks.update", body), "webhooks.update")

    async def remove_webhooks(self, webhook_ids: Iterable[int]) -> None:
        """Delete webhooks (`webhooks.bulk.remove`)."""
        await self._write("webhooks.bulk.remove", {"ids": require_ids("webhook_ids", webhook_ids)})

    async def test_webhook(self, team_id: int, webhook_id: int, payload: Mapping[str, Any] | None = None) -> None:
        """Have the server send a test event to a webhook (`webhooks.test`)."""
        body = {"teamId": team_id, "id": webhook_id, "payload": dict(payload or {})}
        await self.call("webhooks.test", body, idempotent=False)
