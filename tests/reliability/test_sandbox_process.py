"""A subprocess sandbox writes its output to a log file (never an undrained pipe) and shows its tail on failure."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from labelrounds.sandbox.server import SandboxServer


def test_a_chatty_subprocess_never_blocks_and_its_access_log_lands_in_the_log_file() -> None:
    # Well over a pipe buffer (64 KiB) of access-log lines: with an undrained stderr pipe the server would hang.
    with SandboxServer(mode="subprocess", access_log=True) as server:
        headers = {"x-api-key": server.admin_token.get_secret_value()}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
            long_path = "/public/api/v3/" + "x" * 2000
            for _ in range(60):
                assert http.post(long_path, json={}).status_code == 404
            assert http.post("/public/api/v3/users.me", json={}).json()["login"] == server.admin_login
        assert server.log_file is not None
        log = server.log_file.read_text()
        assert log.count('"POST /public/api/v3/xxxx') == 60 and "users.me" in log
        assert server.admin_token.get_secret_value() not in log
    assert server.log_file is None  # removed with its temporary directory


def test_a_failed_start_shows_the_end_of_the_servers_output(tmp_path: Path) -> None:
    not_a_database = tmp_path / "garbage.db"
    not_a_database.write_bytes(b"this is not an SQLite file" * 100)
    with pytest.raises(RuntimeError, match=r"(?s)did not start \(exited\); its output ends:.*DatabaseError"):
        SandboxServer(mode="subprocess", db_path=not_a_database).start()
