from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mnwd.config import Config, ConfigError
from mnwd.domains import all_settings
from tests.support import forkserver

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_work_on_a_laptop() -> None:
    config = Config.from_env({})
    assert config.http_host == "127.0.0.1"
    assert config.http_port == 8080
    assert config.ssh_port == 2222
    assert config.data_dir == Path("var")
    assert config.database_url is None
    assert config.s3_bucket is None
    assert config.smtp_url is None
    assert config.base_url == "http://localhost:8080"
    assert config.pg_dir == Path("var/pg")


@pytest.mark.parametrize(
    ("host", "base_url"),
    [
        ("127.0.0.1", "http://localhost:8080"),
        ("::1", "http://localhost:8080"),
        ("0.0.0.0", "http://localhost:8080"),
        ("192.0.2.7", "http://192.0.2.7:8080"),
        ("2001:db8::7", "http://[2001:db8::7]:8080"),
    ],
)
def test_the_default_public_url_names_this_machine_localhost(host: str, base_url: str) -> None:
    """Browsers refuse an IP address as a passkey's relying party id: http://127.0.0.1:8080 had no passkeys."""
    assert Config.from_env({"MNWD_HTTP_HOST": host}).base_url == base_url


def test_values_are_read_and_cast() -> None:
    config = Config.from_env(
        {"MNWD_HTTP_PORT": "9000", "MNWD_LOG_LEVEL": "debug", "MNWD_PUBLIC_URL": "https://mnw.example/"}
    )
    assert config.http_port == 9000
    assert config.log_level == "DEBUG"
    assert config.base_url == "https://mnw.example"


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("MNWD_HTTP_PORT", "abc", "is not a port number"),
        ("MNWD_HTTP_PORT", "70000", "is not a port number"),
        ("MNWD_SSH_PORT", "-1", "is not a port number"),
        ("MNWD_LOG_LEVEL", "loud", "is not a log level"),
        ("MNWD_LOG_FORMAT", "xml", "is not a log format"),
        ("MNWD_DB_POOL_MAX", "0", "must be at least 1"),
        ("MNWD_SHUTDOWN_TIMEOUT", "soon", "is not a number"),
        ("DATABASE_URL", "mysql://x/y", "is not a postgresql:// URL"),
        ("MNWD_PUBLIC_URL", "mnw.example", "is not an http(s):// URL"),
        ("MNWD_SMTP_URL", "http://mail", "is not an smtp://"),
    ],
)
def test_a_bad_value_names_the_variable(env: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({env: value})
    assert str(caught.value).startswith(f"{env}=")
    assert message in str(caught.value)


def test_pool_bounds_are_checked_together() -> None:
    with pytest.raises(ConfigError, match="MNWD_DB_POOL_MIN=30 is larger than MNWD_DB_POOL_MAX=20"):
        Config.from_env({"MNWD_DB_POOL_MIN": "30"})


def test_secrets_stay_out_of_repr_and_errors() -> None:
    config = Config.from_env(
        {"DATABASE_URL": "postgresql://u:hunter2@db/x", "MNWD_SMTP_URL": "smtp://u:s3cret@mail:25"}
    )
    assert "hunter2" not in repr(config)
    assert "s3cret" not in repr(config)
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"DATABASE_URL": "mysql://u:hunter2@db/x"})
    assert "hunter2" not in str(caught.value)


def test_bad_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    result = forkserver.run(
        [sys.executable, "-m", "mnwd", "serve"],
        env={"PATH": "/usr/bin:/bin", "MNWD_HTTP_PORT": "abc", "MNWD_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["mnwd: configuration error: MNWD_HTTP_PORT='abc' is not a port number (1-65535)"]
    assert not (tmp_path / "pg").exists()


@pytest.mark.parametrize("document", ["README.md", "docs/configuration.md"])
def test_every_setting_is_documented(document: str) -> None:
    text = (ROOT / document).read_text()
    missing = [s.env for s in all_settings() if f"`{s.env}`" not in text]
    assert not missing, f"{document} does not document {missing}"


def test_config_command_lists_settings_with_secrets_hidden(tmp_path: Path) -> None:
    result = forkserver.run(
        [sys.executable, "-m", "mnwd", "config"],
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://u:hunter2@db/x"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout
    assert {line.split()[0] for line in result.stdout.splitlines()} == {s.env for s in all_settings()}
