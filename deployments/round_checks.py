"""What `round run` and `round plan` check before Prefect starts: the file, the connection, then the round.

Each failure becomes an `InputProblem` (exit 2): one readable message, the original error kept as its cause for
`--debug`. The connection check (`users.me`) is bounded to PREFLIGHT_SECONDS in all, so an unreachable server is
reported in seconds, not after the minutes a round's own retries would take.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from labelrounds.client import (
    ConfigurationError,
    ConnectionSettings,
    ForbiddenError,
    RetryPolicy,
    SuperviselyClient,
    SuperviselyError,
    UnauthorizedError,
)
from labelrounds.round_spec import RoundSpec, RoundSpecError, load_round_spec
from labelrounds.steps.errors import RoundValidationError
from labelrounds.steps.preview import RoundPreview, preview_round
from labelrounds.steps.users import PasswordSource

#: The whole connection check gives up after this many seconds (two attempts of at most PREFLIGHT_REQUEST_TIMEOUT).
PREFLIGHT_SECONDS = 6.0
PREFLIGHT_REQUEST_TIMEOUT = 3.0
PREFLIGHT_RETRIES = RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=0.5, max_total=PREFLIGHT_SECONDS)


class InputProblem(Exception):
    """The command's file, connection or round is wrong (exit 2); the message is for the user, the cause for --debug."""


def load_spec(config: Path) -> RoundSpec:
    """The round file, parsed and validated.

    Raises:
        InputProblem: the file is missing, not YAML/JSON, or has bad fields (all named).
    """
    try:
        return load_round_spec(config)
    except RoundSpecError as error:
        raise InputProblem(str(error)) from error


def load_settings(credentials_block: str | None) -> ConnectionSettings:
    """The connection: the named credentials block, else SERVER_ADDRESS and API_TOKEN.

    Raises:
        InputProblem: nothing configured, or the block does not exist.
    """
    try:
        if credentials_block is None:  # without a block, Prefect (seconds to import) waits until the checks passed
            return ConnectionSettings.from_env()
        from tasks.credentials import connection_settings

        return connection_settings(credentials_block)
    except (ConfigurationError, ValueError) as error:
        raise InputProblem(f"no connection: {error}") from error


def load_passwords(password_secret: str | None) -> PasswordSource:
    """Passwords for accounts the round creates: the named Secret block, else LABELROUNDS_ANNOTATOR_PASSWORD.

    Raises:
        InputProblem: the block does not exist or its value is unusable (the value is never shown).
    """
    from tasks.credentials import annotator_passwords

    try:
        return annotator_passwords(password_secret)
    except ValueError as error:
        raise InputProblem(f"no password for new accounts: {error}") from error


async def preflight(settings: ConnectionSettings) -> str:
    """Ask the server who the token belongs to, within PREFLIGHT_SECONDS; return that login.

    Raises:
        InputProblem: the server is unreachable or fails, or refuses the token.
    """
    address = settings.server_address
    try:
        async with asyncio.timeout(PREFLIGHT_SECONDS):
            client = SuperviselyClient(settings, retry_policy=PREFLIGHT_RETRIES, timeout=PREFLIGHT_REQUEST_TIMEOUT)
            async with client as api:
                return (await api.get_me()).login
    except TimeoutError as error:
        raise InputProblem(f"no answer from {address} within {PREFLIGHT_SECONDS:g} s") from error
    except (UnauthorizedError, ForbiddenError) as error:
        raise InputProblem(f"{address} refused the API token (HTTP {error.status_code}); check API_TOKEN") from error
    except SuperviselyError as error:
        raise InputProblem(f"cannot use the Supervisely API at {address}: {error}") from error


async def check_round(settings: ConnectionSettings, spec: RoundSpec, password_secret: str | None) -> RoundPreview:
    """The connection check, then the passwords and every check of the round and its plan; nothing is written.

    Raises:
        InputProblem: the connection, the passwords or the round is wrong (every problem of the round listed).
    """
    await preflight(settings)
    passwords = load_passwords(password_secret)
    try:
        async with SuperviselyClient(settings) as api:
            return await preview_round(api, spec, passwords)
    except RoundValidationError as error:
        raise InputProblem(str(error)) from error
    except SuperviselyError as error:
        raise InputProblem(f"checking round {spec.round_name!r} failed: {error}") from error
