"""The sandbox's default address, admin login and token variable: light constants the command line reads at start."""

LOOPBACK = "127.0.0.1"
ADMIN_TOKEN_ENV = "LABELROUNDS_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - a variable name
DEFAULT_ADMIN_LOGIN = "cxnt"
