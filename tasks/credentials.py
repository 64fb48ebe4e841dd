"""The Supervisely connection as a Prefect block (else the environment), and annotator passwords from a Secret."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from pydantic import Field, SecretStr

from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.steps.users import PasswordSource

#: Environment variable with the password of new annotator accounts (one password, or a JSON object login → password).
PASSWORD_ENV = "LABELROUNDS_ANNOTATOR_PASSWORD"  # noqa: S105 - a variable name, not a password


class SuperviselyCredentials(Block):
    """Connection to a Supervisely instance: its address and an API token (stored encrypted, never shown)."""

    _block_type_name = "Supervisely Credentials"
    _description = "Address and API token of a Supervisely instance, used by the labelrounds flows."
    _documentation_url = "https://docs.supervisely.com/"  # type: ignore[assignment]

    server_address: str = Field(
        description="Base URL of the instance, e.g. https://app.supervisely.com or http://127.0.0.1:8089."
    )
    api_token: SecretStr = Field(description="API token of the user the flows act as (a team admin or manager).")

    def settings(self) -> ConnectionSettings:
        """The client's connection settings."""
        return ConnectionSettings(server_address=self.server_address, api_token=self.api_token)

    def get_client(self, **kwargs: Any) -> SuperviselyClient:
        """A client for this instance (open it with `async with`); keyword arguments go to `SuperviselyClient`."""
        return SuperviselyClient(self.settings(), **kwargs)


def connection_settings(block_name: str | None) -> ConnectionSettings:
    """The named credentials block's settings; without a name SERVER_ADDRESS/API_TOKEN (env, ./local.env, ~/supervisely.env)."""
    if block_name is None:
        return ConnectionSettings.from_env()
    block = SuperviselyCredentials.load(block_name, _sync=True)  # type: ignore[call-arg]
    return block.settings()  # type: ignore[no-any-return]


async def aconnection_settings(block_name: str | None) -> ConnectionSettings:
    """`connection_settings` for async code."""
    if block_name is None:
        return ConnectionSettings.from_env()
    block = await SuperviselyCredentials.aload(block_name)
    return block.settings()


def annotator_passwords(secret_name: str | None) -> PasswordSource:
    """Passwords for new annotator accounts: the named Secret block, else the env variable, else None.

    The value is one password for every new account or a JSON object login → password.

    Raises:
        ValueError: the value is neither a non-empty string nor an object of strings (the value is never shown).
    """
    if secret_name is not None:
        value: Any = Secret.load(secret_name, _sync=True).get()  # type: ignore[call-arg]
        return parse_passwords(value, f"Secret block {secret_name!r}")
    from_env = os.environ.get(PASSWORD_ENV)
    return parse_passwords(from_env, f"environment variable {PASSWORD_ENV}") if from_env else None


def parse_passwords(value: Any, source: str) -> PasswordSource:
    """One password or a login → password mapping, from a string, a JSON object string or a mapping."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"{source} starts with '{{' but is not a JSON object") from None
    if isinstance(value, str) and value:
        return SecretStr(value)
    if isinstance(value, Mapping) and value and all(
        isinstance(login, str) and isinstance(password, str) and password for login, password in value.items()
    ):
        return {login: SecretStr(password) for login, password in value.items()}
    raise ValueError(f"{source} must hold one password or a JSON object login → password")
