"""Connection settings found like the SDK: environment, then ./local.env, then ~/supervisely.env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from labelrounds.client import ConfigurationError, ConnectionSettings, RetryPolicy


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean environment: no SERVER_ADDRESS/API_TOKEN, an empty home and working directory."""
    home = tmp_path / "home"
    project = tmp_path / "project"
    home.mkdir()
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(project)
    monkeypatch.delenv("SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("API_TOKEN", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("127.0.0.1:8089", "http://127.0.0.1:8089"),
        ("https://app.supervisely.com/", "https://app.supervisely.com"),
        ("  http://localhost:8000//  ", "http://localhost:8000"),
    ],
)
def test_address_is_normalized_like_the_sdk(given: str, normalized: str) -> None:
    assert ConnectionSettings(server_address=given, api_token=SecretStr("t")).server_address == normalized


def test_environment_wins(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (isolated / "project" / "local.env").write_text("SERVER_ADDRESS=http://local\nAPI_TOKEN=local-token\n")
    monkeypatch.setenv("SERVER_ADDRESS", "env-host:1/")
    monkeypatch.setenv("API_TOKEN", "env-token")
    settings = ConnectionSettings.from_env()
    assert settings.server_address == "http://env-host:1"
    assert settings.api_token.get_secret_value() == "env-token"


def test_local_env_then_home_file_per_variable(isolated: Path) -> None:
    (isolated / "project" / "local.env").write_text("SERVER_ADDRESS=http://local:9\n")
    (isolated / "home" / "supervisely.env").write_text(
        'SERVER_ADDRESS="http://home"\nAPI_TOKEN="home-token"\n'
    )
    settings = ConnectionSettings.from_env()
    assert settings.server_address == "http://local:9"
    assert settings.api_token.get_secret_value() == "home-token"
    assert "API_TOKEN" not in os.environ and "SERVER_ADDRESS" not in os.environ


def test_explicit_env_file_replaces_the_default_files(isolated: Path) -> None:
    (isolated / "home" / "supervisely.env").write_text("SERVER_ADDRESS=http://home\nAPI_TOKEN=home-token\n")
    custom = isolated / "custom.env"
    custom.write_text("SERVER_ADDRESS=http://custom\nAPI_TOKEN=custom-token\n")
    assert ConnectionSettings.from_env(custom).server_address == "http://custom"
    with pytest.raises(ConfigurationError, match="does not exist"):
        ConnectionSettings.from_env(isolated / "missing.env")


def test_missing_settings_name_the_variables_and_files(isolated: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ConnectionSettings.from_env()
    message = str(caught.value)
    assert "SERVER_ADDRESS and API_TOKEN not set" in message
    assert "the environment" in message
    assert str(isolated / "project" / "local.env") in message
    assert str(isolated / "home" / "supervisely.env") in message


def test_a_blank_token_is_missing(isolated: Path) -> None:
    with pytest.raises(ConfigurationError, match="API_TOKEN not set"):
        ConnectionSettings.from_env(environ={"SERVER_ADDRESS": "h", "API_TOKEN": "  "})
    with pytest.raises(ValueError, match="API token is empty"):
        ConnectionSettings(server_address="h", api_token=SecretStr(""))


def test_retry_policy_defaults_and_validation() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.max_total, policy.jitter) == (
        6,
        0.5,
        30.0,
        120.0,
        True,
    )
    assert RetryPolicy.no_retries().max_attempts == 1
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_delay must not exceed max_delay"):
        RetryPolicy(base_delay=5, max_delay=1)
    assert RetryPolicy(jitter=False, base_delay=1, max_delay=30).backoff(1000, 0.5) == 30.0
