"""Connection settings (server address and API token, found like the official SDK does) and the retry policy."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from dotenv import dotenv_values
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from labelrounds.client.errors import ConfigurationError

SERVER_ADDRESS_VAR = "SERVER_ADDRESS"
API_TOKEN_VAR = "API_TOKEN"  # noqa: S105 - the variable name, not a token
LOCAL_ENV_FILE = "local.env"
HOME_ENV_FILE = "supervisely.env"
_MAX_DOUBLINGS = 64  # keeps 2**n finite for absurd attempt counts; max_delay caps the result anyway


def normalize_server_address(address: str) -> str:
    """Normalise an address like the SDK: trim, drop trailing `/`, prepend `http://` when no scheme is given."""
    address = address.strip().rstrip("/")
    if not address:
        raise ConfigurationError("the Supervisely server address is empty")
    if "://" not in address:
        address = f"http://{address}"
    return address


class ConnectionSettings(BaseModel):
    """Where the Supervisely server is and which API token to use; the token never shows in a repr."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    server_address: str = Field(
        description="Base URL of the Supervisely instance, e.g. http://127.0.0.1:8089"
    )
    api_token: SecretStr = Field(description="API token of the acting user (sent as `x-api-key`)")

    @field_validator("server_address")
    @classmethod
    def _normalize_address(cls, value: str) -> str:
        return normalize_server_address(value)

    @field_validator("api_token")
    @classmethod
    def _require_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ConfigurationError("the API token is empty")
        return value

    @classmethod
    def from_env(
        cls,
        env_file: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> ConnectionSettings:
        """Read `SERVER_ADDRESS` and `API_TOKEN` like the official SDK, without touching `os.environ`.

        Each variable is taken from the first source that has it: the process environment, then `env_file`
        when given (otherwise `./local.env`, then `~/supervisely.env`).

        Args:
            env_file: a dotenv file to use instead of the default `./local.env` and `~/supervisely.env`.
            environ: the environment to read (default `os.environ`).

        Raises:
            ConfigurationError: a variable is missing everywhere (the message names the variables and the files
                searched) or a value is invalid.
        """
        environment = os.environ if environ is None else environ
        files = (
            [Path(env_file)]
            if env_file is not None
            else [Path.cwd() / LOCAL_ENV_FILE, Path.home() / HOME_ENV_FILE]
        )
        sources: list[Mapping[str, str | None]] = [environment]
        for path in files:
            if path.is_file():
                sources.append(dotenv_values(path))
            elif env_file is not None:
                raise ConfigurationError(f"the env file {path} does not exist")
        address = _first_value(SERVER_ADDRESS_VAR, sources)
        token = _first_value(API_TOKEN_VAR, sources)
        if address is None or token is None:
            found = {SERVER_ADDRESS_VAR: address, API_TOKEN_VAR: token}
            missing = " and ".join(name for name, value in found.items() if value is None)
            searched = ", ".join(["the environment", *(str(path) for path in files)])
            raise ConfigurationError(
                f"Supervisely connection not configured: {missing} not set (searched {searched})"
            )
        try:
            return cls(server_address=address, api_token=SecretStr(token))
        except ValidationError as exc:
            raise ConfigurationError(f"invalid Supervisely connection settings: {exc}") from None


def _first_value(name: str, sources: list[Mapping[str, str | None]]) -> str | None:
    for source in sources:
        value = source.get(name)
        if value and value.strip():
            return value.strip()
    return None


class RetryPolicy(BaseModel):
    """How transient failures are retried: bounded attempts and total time, exponential backoff, full jitter."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=6, ge=1, description="Attempts per call, the first one included")
    base_delay: float = Field(default=0.5, ge=0, description="Backoff before the first retry, in seconds")
    max_delay: float = Field(default=30.0, ge=0, description="Cap of one backoff, in seconds")
    max_total: float = Field(
        default=120.0, ge=0, description="No retry is started if it would end after this many seconds"
    )
    jitter: bool = Field(default=True, description="Full jitter: sleep a uniform random share of the backoff")

    @model_validator(mode="after")
    def _check_delays(self) -> RetryPolicy:
        if self.base_delay > self.max_delay:
            raise ValueError("base_delay must not exceed max_delay")
        return self

    @classmethod
    def no_retries(cls) -> RetryPolicy:
        """A policy that makes exactly one attempt."""
        return cls(max_attempts=1)

    def backoff(self, retry_number: int, random_fraction: float) -> float:
        """Seconds to wait before retry number `retry_number` (1-based).

        Args:
            retry_number: 1 for the first retry, 2 for the second, ...
            random_fraction: a uniform draw in [0, 1); ignored without jitter.
        """
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** min(retry_number - 1, _MAX_DOUBLINGS))
        return ceiling * random_fraction if self.jitter else ceiling
