"""Settings read once from the environment into one frozen object.

Every setting is declared in a table of `Setting` (variable, default, help text): the core's in
``SETTINGS``, each domain's in the ``SETTINGS`` of its `Section` (a frozen dataclass, e.g.
``SyncSettings``), read with ``config.section(SyncSettings)``. The same tables feed `Config.from_env`,
``mnwd config`` and the documentation test. A bad value raises `ConfigError` naming the variable; the
daemon reads every domain's section at start, so a bad value stops it there.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from mnwd.mail import check_mailbox

__all__ = [
    "SETTINGS",
    "AddressRanges",
    "Config",
    "ConfigError",
    "Section",
    "Setting",
    "read_settings",
    "unknown_variables",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# HTTP_HOST values that mean "this machine": the default public URL names it localhost.
_LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"})


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the variable."""


def port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError("is not a port number (1-65535)")
    return int(raw)


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def non_negative_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number of seconds") from None
    if not 0 <= value <= 3600:
        raise ValueError("must be from 0 to 3600")
    return value


def positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if not value > 0:
        raise ValueError("must be greater than 0")
    return value


def log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("is not a log level (debug, info, warning, error, critical)")
    return level


def log_format(raw: str) -> str:
    if raw not in {"auto", "json", "text"}:
        raise ValueError("is not a log format (auto, json, text)")
    return raw


def postgres_url(raw: str) -> str:
    if urlsplit(raw).scheme not in {"postgres", "postgresql"}:
        raise ValueError("is not a postgresql:// URL")
    return raw


def http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("is not an http(s):// URL")
    return raw.rstrip("/")


def smtp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("is not an smtp:// or smtps:// URL")
    return raw


def host(raw: str) -> str:
    if not raw or any(c.isspace() for c in raw):
        raise ValueError("is not a host name or address")
    return raw


def path(raw: str) -> Path:
    if not raw:
        raise ValueError("is empty")
    return Path(raw).expanduser()


def secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("is too short: use at least 32 random characters")
    return raw


def text(raw: str) -> str:
    return raw


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRanges(tuple[IPNetwork, ...]):
    """IP networks read from a comma-separated list of addresses and CIDRs (``MNWD_TRUSTED_PROXIES``)."""

    def __str__(self) -> str:
        return ",".join(str(network) for network in self) or "(none)"


def address_ranges(raw: str) -> AddressRanges:
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"has {part!r}, which is not an IP address or CIDR such as 10.0.0.0/8") from None
    return AddressRanges(networks)


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    default: str | None
    help: str
    cast: Callable[[str], Any] = text
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        "MNWD_DATA_DIR",
        "./var",
        "Directory for the embedded database, blobs, git repositories and outbox.",
        path,
    ),
    Setting("http_host", "MNWD_HTTP_HOST", "127.0.0.1", "Address the HTTP server listens on.", host),
    Setting("http_port", "MNWD_HTTP_PORT", "8080", "Port the HTTP server listens on.", port),
    Setting(
        "http_header_timeout",
        "MNWD_HTTP_HEADER_TIMEOUT",
        "30",
        "Seconds an HTTP connection may take to send a request's headers, from opening or from its previous "
        "answer (an idle keep-alive connection is closed then too).",
        positive_float,
    ),
    Setting(
        "http_body_idle_timeout",
        "MNWD_HTTP_BODY_IDLE_TIMEOUT",
        "60",
        "Seconds a request body may stop arriving before its connection is closed.",
        positive_float,
    ),
    Setting(
        "http_max_connections_per_address",
        "MNWD_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
        "256",
        "Most open HTTP connections from one client IP address; more are closed at once (0: no cap; a peer in "
        "MNWD_TRUSTED_PROXIES is not capped; raise it behind an untrusted proxy, whose connections all come from "
        "one address).",
        non_negative_int,
    ),
    Setting("ssh_host", "MNWD_SSH_HOST", "127.0.0.1", "Address the git SSH server listens on.", host),
    Setting("ssh_port", "MNWD_SSH_PORT", "2222", "Port the git SSH server listens on.", port),
    Setting(
        "public_url",
        "MNWD_PUBLIC_URL",
        None,
        "Public base URL of the site (default: http://localhost:HTTP_PORT when HTTP_HOST is a loopback or "
        "wildcard address, else http://HTTP_HOST:HTTP_PORT; passkeys need a host name, not an IP address).",
        http_url,
    ),
    Setting(
        "database_url",
        "DATABASE_URL",
        None,
        "PostgreSQL URL; unset runs the embedded PostgreSQL in DATA_DIR/pg.",
        postgres_url,
        secret=True,
    ),
    Setting(
        "db_start_wait",
        "MNWD_DB_START_WAIT",
        "10",
        "Seconds to keep trying to reach DATABASE_URL at start (refused, unknown host) before giving up.",
        seconds,
    ),
    Setting(
        "job_concurrency",
        "MNWD_JOB_CONCURRENCY",
        "4",
        "Jobs (queued mail, builds, imports) one daemon runs at once.",
        positive_int,
    ),
    Setting("db_pool_min", "MNWD_DB_POOL_MIN", "2", "Connections the pool keeps open.", positive_int),
    Setting("db_pool_max", "MNWD_DB_POOL_MAX", "20", "Most connections the pool opens.", positive_int),
    Setting(
        "db_statement_timeout",
        "MNWD_DB_STATEMENT_TIMEOUT",
        "30",
        "Seconds a statement on a pool connection may run before PostgreSQL cancels it (0: no limit).",
        seconds,
    ),
    Setting(
        "db_lock_timeout",
        "MNWD_DB_LOCK_TIMEOUT",
        "10",
        "Seconds a statement on a pool connection may wait for a lock before PostgreSQL cancels it (0: no limit).",
        seconds,
    ),
    Setting(
        "listen_probe_interval",
        "MNWD_LISTEN_PROBE_INTERVAL",
        "5",
        "Seconds between probes of the LISTEN connection (a NOTIFY to itself; 0: no probe).",
        seconds,
    ),
    Setting(
        "listen_probe_timeout",
        "MNWD_LISTEN_PROBE_TIMEOUT",
        "5",
        "Seconds a probe may take to come back before the LISTEN connection counts as lost.",
        positive_float,
    ),
    Setting(
        "migrations_dir",
        "MNWD_MIGRATIONS_DIR",
        str(PROJECT_ROOT / "migrations"),
        "Directory of the numbered SQL migrations.",
        path,
    ),
    Setting("log_level", "MNWD_LOG_LEVEL", "info", "Log level: debug, info, warning, error, critical.", log_level),
    Setting(
        "log_format",
        "MNWD_LOG_FORMAT",
        "auto",
        "Log format: json (one object per line), text, or auto (text when stderr is a terminal, else json).",
        log_format,
    ),
    Setting(
        "shutdown_timeout",
        "MNWD_SHUTDOWN_TIMEOUT",
        "30",
        "Seconds to let in-flight requests finish on SIGTERM.",
        positive_float,
    ),
    Setting("s3_bucket", "MNWD_S3_BUCKET", None, "S3 bucket for blobs; unset stores blobs in DATA_DIR/blobs.", text),
    Setting("s3_prefix", "MNWD_S3_PREFIX", "", "Key prefix for blobs in the S3 bucket.", text),
    Setting(
        "s3_endpoint_url",
        "MNWD_S3_ENDPOINT_URL",
        None,
        "S3 endpoint for S3-compatible stores (credentials from the usual AWS_* variables).",
        http_url,
    ),
    Setting("s3_region", "MNWD_S3_REGION", None, "S3 region.", text),
    Setting(
        "secret_key",
        "MNWD_SECRET_KEY",
        None,
        "Key for CSRF tokens and secrets at rest (32+ chars); unset: generated once into DATA_DIR/secret_key.",
        secret_key,
        secret=True,
    ),
    Setting(
        "metrics_token",
        "MNWD_METRICS_TOKEN",
        None,
        "Bearer token that /metrics requires (Authorization: Bearer ...); unset: /metrics answers loopback only.",
        text,
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
        smtp_url,
        secret=True,
    ),
    Setting(
        "trusted_proxies",
        "MNWD_TRUSTED_PROXIES",
        "",
        "Comma-separated IP addresses and CIDRs of the reverse proxies in front of mnwd (empty: trust none). A "
        "request from one of them is taken to come from the right-most address of X-Forwarded-For that is not "
        "a trusted proxy, over the scheme X-Forwarded-Proto says; those headers from anyone else are ignored.",
        address_ranges,
    ),
)


def unknown_variables(env: Mapping[str, str], known: set[str]) -> list[str]:
    """One warning per ``MNWD_*`` variable that no setting reads (a misspelling is otherwise silently ignored)."""
    warnings = []
    for name in sorted(n for n in env if n.startswith("MNWD_") and n not in known):
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        warnings.append(f"unknown setting {name} is ignored{hint}")
    return warnings


def read_settings(settings: tuple[Setting, ...], env: Mapping[str, str]) -> dict[str, Any]:
    """Each setting's value by field name, from ``env`` or its default."""
    values: dict[str, Any] = {}
    for setting in settings:
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
    return values


@dataclass(frozen=True)
class Section:
    """A domain's settings: subclass as a frozen dataclass whose fields ``SETTINGS`` declares."""

    SETTINGS: ClassVar[tuple[Setting, ...]] = ()


S = TypeVar("S", bound=Section)


@dataclass(frozen=True)
class Config:
    data_dir: Path
    http_host: str
    http_port: int
    http_header_timeout: float
    http_body_idle_timeout: float
    http_max_connections_per_address: int
    ssh_host: str
    ssh_port: int
    public_url: str | None
    database_url: str | None
    db_start_wait: float
    job_concurrency: int
    db_pool_min: int
    db_pool_max: int
    db_statement_timeout: float
    db_lock_timeout: float
    listen_probe_interval: float
    listen_probe_timeout: float
    migrations_dir: Path
    log_level: str
    log_format: str
    shutdown_timeout: float
    s3_bucket: str | None
    s3_prefix: str
    s3_endpoint_url: str | None
    s3_region: str | None
    secret_key: str | None
    metrics_token: str | None
    mail_from: str
    smtp_url: str | None
    trusted_proxies: AddressRanges = dataclasses.field(default_factory=AddressRanges)
    env: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False, compare=False)
    _sections: dict[type[Section], Section] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        env = os.environ if env is None else env
        values = read_settings(SETTINGS, env)
        values["env"] = {k: v for k, v in env.items() if k.startswith("MNWD_") or k == "DATABASE_URL"}
        values.update(overrides)
        config = cls(**values)
        if config.db_pool_min > config.db_pool_max:
            raise ConfigError(
                f"MNWD_DB_POOL_MIN={config.db_pool_min} is larger than MNWD_DB_POOL_MAX={config.db_pool_max}"
            )
        return config

    def section(self, kind: type[S]) -> S:
        """A domain's settings, read from the same environment (once; a bad value raises `ConfigError`)."""
        found = self._sections.get(kind)
        if found is None:
            found = self._sections[kind] = kind(**read_settings(kind.SETTINGS, self.env))
        assert isinstance(found, kind)
        return found

    def with_section(self, value: Section) -> Config:
        """A copy of this config with ``value`` in place of its section (tests change limits this way)."""
        changed = dataclasses.replace(self)
        changed._sections.update(self._sections)
        changed._sections[type(value)] = value
        return changed

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = self.http_host
        # Browsers refuse an IP address as a passkey's relying party: on this machine, use the name.
        if host in _LOCAL_HOSTS:
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
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
            if f.repr
        )
        return f"Config({shown})"
