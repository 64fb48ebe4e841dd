"""SQLite storage of the sandbox: one connection, one transaction per request, instance-wide id allocation."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from labelrounds.sandbox.schema import ADDED_COLUMNS, ROLES_SQL, SCHEMA

MEMORY = ":memory:"


class Store:
    """The sandbox state in one SQLite database.

    One connection guarded by a lock serves every request: SQLite serialises writers anyway, and a single
    connection keeps `:memory:` databases and transactions simple and correct. Every request runs in
    `transaction()`, which commits on success and rolls back on any exception, so a rejected request
    writes nothing.

    Args:
        path: database file, created when missing; `":memory:"` for tests only.
    """

    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._connection = self._connect()

    def _connect(self) -> sqlite3.Connection:
        """Open the database and create the schema (idempotent)."""
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA foreign_keys = ON")
        connection.execute("PRAGMA case_sensitive_like = ON")
        if self.path != MEMORY:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA temp_store = MEMORY")
        connection.executescript(SCHEMA)
        connection.execute("BEGIN IMMEDIATE")
        add_missing_columns(connection)
        connection.execute("INSERT OR IGNORE INTO id_counter(singleton, last_id) VALUES (1, 0)")
        for statement in ROLES_SQL.splitlines():
            connection.execute(statement)
        connection.execute("COMMIT")
        return connection

    def wipe(self) -> None:
        """Drop every object and start from an empty schema (in-memory stores only: tests reuse a server)."""
        if self.path != MEMORY:
            raise ValueError("Only an in-memory store can be wiped; delete the database file instead")
        with self._lock:
            self._connection.close()
            self._connection = self._connect()

    def __repr__(self) -> str:
        return f"Store(path={self.path!r})"

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """Run a block in one transaction (`BEGIN IMMEDIATE` for writes) and commit it, or roll back on error."""
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def close(self) -> None:
        """Close the connection; the store is unusable afterwards."""
        with self._lock:
            self._connection.close()

    def is_empty(self) -> bool:
        """Whether no user exists yet (a fresh database that needs a seed)."""
        with self.transaction(write=False) as db:
            return db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None

    def api_token(self, login: str) -> SecretStr | None:
        """The API token of the user with this login, for in-process helpers such as the simulated crew."""
        with self.transaction(write=False) as db:
            row = db.execute("SELECT api_token FROM users WHERE login = ?", (login,)).fetchone()
        return SecretStr(row[0]) if row else None


def add_missing_columns(db: sqlite3.Connection) -> None:
    """Give a database made by an earlier version the columns added since (`schema.ADDED_COLUMNS`)."""
    for table, columns in ADDED_COLUMNS.items():
        present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column in columns:
            if column.split()[0] not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")  # fixed names from schema.py


def allocate_ids(db: sqlite3.Connection, count: int) -> int:
    """Reserve `count` consecutive new ids and return the first; the block never contains a reserved id."""
    (last_id,) = db.execute("SELECT last_id FROM id_counter WHERE singleton = 1").fetchone()
    first = int(last_id) + 1
    while True:
        clash = db.execute(
            "SELECT max(id) FROM reserved_ids WHERE id BETWEEN ? AND ?", (first, first + count - 1)
        ).fetchone()[0]
        if clash is None:
            break
        first = clash + 1
    db.execute("UPDATE id_counter SET last_id = ? WHERE singleton = 1", (first + count - 1,))
    return first


def allocate_id(db: sqlite3.Connection) -> int:
    """Reserve and return one new id."""
    return allocate_ids(db, 1)


def reserve_id(db: sqlite3.Connection, object_id: int) -> None:
    """Mark an id placed explicitly (by a seed) so that the counter never hands it out again."""
    db.execute("INSERT OR IGNORE INTO reserved_ids(id) VALUES (?)", (object_id,))
