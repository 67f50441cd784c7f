"""Settings read once from the environment into one frozen object.

Every setting is declared in ``SETTINGS`` with its variable, default and help text; the same table
feeds `Config.from_env`, ``mnwd config`` and the documentation test. A bad value raises
`ConfigError` naming the variable.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mnwd.mail import check_mailbox

__all__ = ["SETTINGS", "Config", "ConfigError", "Setting"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def _port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError("is not a port number (1-65535)")
    return int(raw)


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise ValueError("must be from 0 to 3600")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("is not a log level (debug, info, warning, error, critical)")
    return level


def _log_format(raw: str) -> str:
    if raw not in {"json", "text"}:
        raise ValueError("is not a log format (json, text)")
    return raw


def _postgres_url(raw: str) -> str:
    if urlsplit(raw).scheme not in {"postgres", "postgresql"}:
        raise ValueError("is not a postgresql:// URL")
    return raw


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("is not an http(s):// URL")
    return raw.rstrip("/")


def _smtp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("is not an smtp:// or smtps:// URL")
    return raw


def _host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("is not a host name or address")
    return raw


def _path(raw: str) -> Path:
    if not raw:
        raise ValueError("is empty")
    return Path(raw).expanduser()


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("is too short: use at least 32 random characters")
    return raw


def _text(raw: str) -> str:
    return raw


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    default: str | None
    help: str
    cast: Callable[[str], Any] = _text
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "MNWD_DATA_DIR",
        "./var",
        "Directory for the embedded database, blobs, git repositories and outbox.",
        _path,
    ),
    Setting("http_host", "MNWD_HTTP_HOST", "127.0.0.1", "Address the HTTP server listens on.", _host),
    Setting("http_port", "MNWD_HTTP_PORT", "8080", "Port the HTTP server listens on.", _port),
    Setting("ssh_host", "MNWD_SSH_HOST", "127.0.0.1", "Address the git SSH server listens on.", _host),
    Setting("ssh_port", "MNWD_SSH_PORT", "2222", "Port the git SSH server listens on.", _port),
    Setting(
        "public_url",
        "MNWD_PUBLIC_URL",
        None,
        "Public base URL of the site (default: http://HTTP_HOST:HTTP_PORT).",
        _http_url,
    ),
    Setting(
        "database_url",
        "DATABASE_URL",
        None,
        "PostgreSQL URL; unset runs the embedded PostgreSQL in DATA_DIR/pg.",
        _postgres_url,
        secret=True,
    ),
    Setting("db_pool_min", "MNWD_DB_POOL_MIN", "2", "Connections the pool keeps open.", _positive_int),
    Setting("db_pool_max", "MNWD_DB_POOL_MAX", "20", "Most connections the pool opens.", _positive_int),
    Setting(
        "migrations_dir",
        "MNWD_MIGRATIONS_DIR",
        str(PROJECT_ROOT / "migrations"),
        "Directory of the numbered SQL migrations.",
        _path,
    ),
    Setting("log_level", "MNWD_LOG_LEVEL", "info", "Log level: debug, info, warning, error, critical.", _log_level),
    Setting("log_format", "MNWD_LOG_FORMAT", "json", "Log format: json (one object per line) or text.", _log_format),
    Setting(
        "shutdown_timeout",
        "MNWD_SHUTDOWN_TIMEOUT",
        "30",
        "Seconds to let in-flight requests finish on SIGTERM.",
        _positive_float,
    ),
    Setting("s3_bucket", "MNWD_S3_BUCKET", None, "S3 bucket for blobs; unset stores blobs in DATA_DIR/blobs.", _text),
    Setting("s3_prefix", "MNWD_S3_PREFIX", "", "Key prefix for blobs in the S3 bucket.", _text),
    Setting(
        "s3_endpoint_url",
        "MNWD_S3_ENDPOINT_URL",
        None,
        "S3 endpoint for S3-compatible stores (credentials from the usual AWS_* variables).",
        _http_url,
    ),
    Setting("s3_region", "MNWD_S3_REGION", None, "S3 region.", _text),
    Setting("sync_max_batch", "MNWD_SYNC_MAX_BATCH", "1000", "Most mutations in one sync push.", _positive_int),
    Setting(
        "sync_max_mutation_bytes",
        "MNWD_SYNC_MAX_MUTATION_BYTES",
        "65536",
        "Largest `data` of one sync mutation, in bytes of JSON.",
        _positive_int,
    ),
    Setting(
        "sync_max_push_bytes",
        "MNWD_SYNC_MAX_PUSH_BYTES",
        "8388608",
        "Largest sync push request body, in bytes.",
        _positive_int,
    ),
    Setting(
        "sync_max_blob_bytes", "MNWD_SYNC_MAX_BLOB_BYTES", "104857600", "Largest sync blob, in bytes.", _positive_int
    ),
    Setting(
        "sync_quota_bytes",
        "MNWD_SYNC_QUOTA_BYTES",
        "1073741824",
        "Blob storage each user may use, in bytes (users.max_file_override_bytes raises it per user).",
        _positive_int,
    ),
    Setting(
        "sync_tombstone_days",
        "MNWD_SYNC_TOMBSTONE_DAYS",
        "30",
        "Days a DELETE stays in the sync log before compaction may drop it.",
        _positive_int,
    ),
    Setting(
        "bearer_cache_seconds",
        "MNWD_BEARER_CACHE_SECONDS",
        "60",
        "Seconds a checked access token is remembered (revocations still apply at once); 0 turns it off.",
        _seconds,
    ),
    Setting(
        "secret_key",
        "MNWD_SECRET_KEY",
        None,
        "Key for CSRF tokens and secrets at rest (32+ chars); unset: generated once into DATA_DIR/secret_key.",
        _secret_key,
        secret=True,
    ),
    Setting(
        "mail_from",
        "MNWD_MAIL_FROM",
        "mnwd <no-reply@localhost>",
        "Sender (From and envelope sender) of the mail mnwd sends.",
        check_mailbox,
    ),
    Setting(
        "smtp_url",
        "MNWD_SMTP_URL",
        None,
        "SMTP server, smtp://user:pass@host:port; unset writes mail to DATA_DIR/outbox.",
        _smtp_url,
        secret=True,
    ),
)


@dataclass(frozen=True)
class Config:
    data_dir: Path
    http_host: str
    http_port: int
    ssh_host: str
    ssh_port: int
    public_url: str | None
    database_url: str | None
    db_pool_min: int
    db_pool_max: int
    migrations_dir: Path
    log_level: str
    log_format: str
    shutdown_timeout: float
    s3_bucket: str | None
    s3_prefix: str
    s3_endpoint_url: str | None
    s3_region: str | None
    sync_max_batch: int
    sync_max_mutation_bytes: int
    sync_max_push_bytes: int
    sync_max_blob_bytes: int
    sync_quota_bytes: int
    sync_tombstone_days: int
    bearer_cache_seconds: float
    secret_key: str | None
    mail_from: str
    smtp_url: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.env)
            if raw is None or (raw == "" and setting.default is None):
                raw = setting.default
            if raw is None:
                values[setting.field] = None
                continue
            try:
                values[setting.field] = setting.cast(raw)
            except ValueError as exc:
                shown = "(hidden)" if setting.secret else repr(raw)
                raise ConfigError(f"{setting.env}={shown} {exc}") from None
        values.update(overrides)
        config = cls(**values)
        if config.db_pool_min > config.db_pool_max:
            raise ConfigError(
                f"MNWD_DB_POOL_MIN={config.db_pool_min} is larger than MNWD_DB_POOL_MAX={config.db_pool_max}"
            )
        return config

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return f"http://{host}:{self.http_port}"

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def log_level_number(self) -> int:
        return logging.getLevelNamesMapping()[self.log_level]

    def __repr__(self) -> str:
        secret = {s.field for s in SETTINGS if s.secret}
        shown = ", ".join(
            f"{f.name}={'***' if f.name in secret and getattr(self, f.name) else repr(getattr(self, f.name))}"
            for f in dataclasses.fields(self)
        )
        return f"Config({shown})"
