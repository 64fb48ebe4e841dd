"""Who is calling: API tokens, bcrypt passwords and the login JWT of `POST /api/account`."""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

import bcrypt
import jwt
from pydantic import SecretStr

from labelrounds.sandbox.errors import BadRequest, Unauthorized

if TYPE_CHECKING:
    from labelrounds.sandbox.store import Store

# Low enough that creating users in tests and demos stays fast, high enough to be a real bcrypt hash.
BCRYPT_ROUNDS = 10
BCRYPT_MAX_BYTES = 72
_JWT_SECRET_KEY = "jwt_secret"  # noqa: S105 - the settings key, not the secret


@dataclass(frozen=True)
class Actor:
    """The authenticated user of a request."""

    id: int
    login: str
    is_instance_admin: bool

    def __repr__(self) -> str:
        return f"Actor(id={self.id}, login={self.login!r})"


def new_api_token() -> str:
    """A fresh random API token (128 hex characters, like Supervisely's)."""
    return secrets.token_hex(64)


def hash_password(password: SecretStr) -> str:
    """The bcrypt hash of a password; one longer than bcrypt's 72 bytes → 400 (bcrypt itself raises)."""
    encoded = password.get_secret_value().encode()
    if len(encoded) > BCRYPT_MAX_BYTES:
        raise BadRequest(f"The password is longer than {BCRYPT_MAX_BYTES} bytes")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=BCRYPT_ROUNDS)).decode()


@dataclass(frozen=True)
class PendingHash:
    """A password hashed before its request's transaction (bcrypt is slow), or the error hashing it raised.

    The error is kept rather than raised so the handler raises it where it would have hashed: a caller who may
    not create users still gets its 403 first.
    """

    value: str | None = None
    error: BadRequest | None = None

    def __repr__(self) -> str:
        return f"PendingHash(hashed={self.value is not None})"

    def get(self) -> str:
        """The hash, or the error hashing raised."""
        if self.error is not None:
            raise self.error
        if self.value is None:
            raise ValueError("a PendingHash holds either a hash or an error")
        return self.value


def hash_ahead(password: SecretStr) -> PendingHash:
    """Hash a password outside any transaction (called in a worker thread); never raises a BadRequest."""
    try:
        return PendingHash(value=hash_password(password))
    except BadRequest as error:
        return PendingHash(error=error)


def password_matches(password: str, password_hash: str | None) -> bool:
    """Whether a password matches a stored bcrypt hash (never, for a user without a password, or one too long
    to have been stored)."""
    encoded = password.encode()
    if not password_hash or len(encoded) > BCRYPT_MAX_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode())


def authenticate(db: sqlite3.Connection, api_token: str | None) -> Actor:
    """The user owning an `x-api-key` token; missing, unknown or disabled → 401."""
    if not api_token:
        raise Unauthorized("Missing x-api-key header")
    row = db.execute(
        "SELECT id, login, is_instance_admin, disabled FROM users WHERE api_token = ?", (api_token,)
    ).fetchone()
    if row is None:
        raise Unauthorized("Invalid API token")
    user_id, login, is_instance_admin, disabled = row
    if disabled:
        raise Unauthorized(f"User {login!r} is disabled")
    return Actor(id=user_id, login=login, is_instance_admin=bool(is_instance_admin))


def _jwt_secret(db: sqlite3.Connection) -> str:
    """The instance's JWT signing secret, created on first use and kept in the database."""
    row = db.execute("SELECT value FROM sandbox_settings WHERE key = ?", (_JWT_SECRET_KEY,)).fetchone()
    if row:
        return str(row[0])
    secret = secrets.token_hex(32)
    db.execute("INSERT INTO sandbox_settings(key, value) VALUES (?, ?)", (_JWT_SECRET_KEY, secret))
    return secret


def login_with_password(store: Store, login: str, password: str, now: str) -> str:
    """Check a login/password pair and return the session JWT carrying `apiToken`, `group` and `workspace`.

    bcrypt's check runs between two transactions, so the store stays free for other requests meanwhile; the
    session is opened only if the user's hash and state did not change in between. Wrong login, wrong password
    and disabled user all give the same 401, so the reply reveals nothing.
    """
    with store.transaction(write=False) as db:
        checked = _login_row(db, login)
    matches = checked is not None and not checked[3] and password_matches(password, checked[1])
    with store.transaction(write=True) as db:
        if not matches or _login_row(db, login) != checked:
            raise Unauthorized("Wrong login or password")
        return _open_session(db, checked[0], checked[2], now)


def _login_row(db: sqlite3.Connection, login: str) -> tuple[int, str | None, str, int] | None:
    """(id, password hash, API token, disabled) of a login, or None."""
    row = db.execute(
        "SELECT id, password_hash, api_token, disabled FROM users WHERE login = ?", (login,)
    ).fetchone()
    return tuple(row) if row is not None else None  # type: ignore[return-value]


def _open_session(db: sqlite3.Connection, user_id: int, api_token: str, now: str) -> str:
    """Count the login and return the session JWT (see `login_with_password`)."""
    first_team = db.execute(
        "SELECT team_id FROM members WHERE user_id = ? ORDER BY team_id LIMIT 1", (user_id,)
    ).fetchone()
    team_id = first_team[0] if first_team else None
    first_workspace = (
        db.execute("SELECT id FROM workspaces WHERE team_id = ? ORDER BY id LIMIT 1", (team_id,)).fetchone()
        if team_id is not None
        else None
    )
    db.execute(
        "UPDATE users SET logins = logins + 1, last_login = ?, updated_at = ? WHERE id = ?",
        (now, now, user_id),
    )
    payload = {
        "apiToken": api_token,
        "group": {"id": team_id},
        "workspace": {"id": first_workspace[0] if first_workspace else None},
    }
    return jwt.encode(payload, _jwt_secret(db), algorithm="HS256")
