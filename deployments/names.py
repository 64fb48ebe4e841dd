"""Default names and limits of what `labelrounds deploy` creates (no imports: the CLI reads them at start)."""

POOL_NAME = "labelrounds"
CREDENTIALS_BLOCK = "supervisely"
PASSWORD_SECRET = "labelrounds-annotator-password"  # noqa: S105 - the name of a Secret block, not a secret
POOL_LIMIT = 8
API_LIMIT = 4
SERVE_LIMIT = 4
RECEIVER_SECRET_ENV = "LABELROUNDS_RECEIVER_SECRET"  # noqa: S105 - the name of an environment variable
RECEIVER_SECRET_BLOCK = "labelrounds-receiver-secret"  # noqa: S105 - the name of a Secret block, not a secret
NO_PROGRESS_WINDOW = "24h"  # `deploy --notify`: alert when a round made no progress for this long
WATCH_INTERVAL_SECONDS = 300  # seconds between watcher passes (`deploy --watch-interval`)
