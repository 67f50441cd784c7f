"""Behind reverse proxies (``MNWD_TRUSTED_PROXIES``): the client's address is the right-most address of
X-Forwarded-For that is not a trusted proxy, and X-Forwarded-Proto gives the scheme, only when the peer is a
trusted proxy. Rate limits, sessions and the access log see that address; headers from anyone else are
ignored; a trusted proxy's connections are not capped per address; nothing reads the peer elsewhere."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from mnwd.config import Config, ConfigError
from mnwd.services import Services
from mnwd.web.client_address import client_from
from tests.support.accounts import PASSWORD, MakeUser
from tests.support.daemon import free_port
from tests.support.db import MIGRATIONS_DIR
from tests.web.test_connections import Attacker, closed_within, healthz, running

Client = TestClient[web.Request, web.Application]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trusted_proxies() -> str:
    return "127.0.0.0/8, ::1"


@pytest.fixture
def config(tmp_path: Path, db_url: str, trusted_proxies: str) -> Config:
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1", "MNWD_TRUSTED_PROXIES": trusted_proxies, "MNWD_LICENSE_RATE_PER_ADDRESS": "3"},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )


def ranges(raw: str) -> Any:
    return Config.from_env({"MNWD_TRUSTED_PROXIES": raw}).trusted_proxies


def test_the_client_is_the_rightmost_untrusted_hop() -> None:
    proxies = ranges("10.0.0.0/8,192.0.2.1,2001:db8::/32")
    assert client_from(proxies, "10.0.0.5", ["203.0.113.9"]) == "203.0.113.9"
    # The client wrote a spoofed hop first: what our proxies appended is believed, nothing left of it.
    assert client_from(proxies, "10.0.0.5", ["1.2.3.4, 203.0.113.9, 10.1.1.1"]) == "203.0.113.9"
    assert client_from(proxies, "10.0.0.5", ["1.2.3.4", "203.0.113.9, 192.0.2.1"]) == "203.0.113.9"
    assert client_from(proxies, "10.0.0.5", ["203.0.113.9:4711"]) == "203.0.113.9"
    assert client_from(proxies, "10.0.0.5", ["[2001:db9::1]:443"]) == "2001:db9::1"
    assert client_from(proxies, "2001:db8::7", ["198.51.100.2"]) == "198.51.100.2"
    # All trusted: the left-most. None given, empty, or garbage: the last hop we can vouch for.
    assert client_from(proxies, "10.0.0.5", ["10.0.0.9, 10.0.0.8"]) == "10.0.0.9"
    assert client_from(proxies, "10.0.0.5", []) == "10.0.0.5"
    assert client_from(proxies, "10.0.0.5", [""]) == "10.0.0.5"
    assert client_from(proxies, "10.0.0.5", ["<script>, 10.0.0.8"]) == "10.0.0.8"
    assert client_from(proxies, "10.0.0.5", ["unknown"]) == "10.0.0.5"
    assert client_from(proxies, "10.0.0.5", ["x" * 10_000]) == "10.0.0.5"
    # An untrusted peer is the client whatever it says; nothing trusted by default.
    assert client_from(proxies, "203.0.113.50", ["10.0.0.1"]) == "203.0.113.50"
    assert client_from(ranges(""), "10.0.0.5", ["203.0.113.9"]) == "10.0.0.5"


def test_the_setting_is_checked_and_shown() -> None:
    assert str(ranges("")) == "(none)"
    assert str(ranges(" 10.0.0.1 ,fd00::/8,")) == "10.0.0.1/32,fd00::/8"
    for bad in ("10.0.0.0/33", "proxy.example.org", "10.0.0.1;10.0.0.2", "../x"):
        with pytest.raises(ConfigError, match="MNWD_TRUSTED_PROXIES"):
            ranges(bad)


async def _activate(client: Client, n: int, **headers: str) -> int:
    body = {"key": f"NOKEY-{n:05d}", "fingerprint": "device"}
    async with client.post("/api/v1/licenses/activate", json=body, headers=headers) as response:
        return response.status


async def test_rate_limits_count_the_forwarded_client(client: Client) -> None:
    statuses = [await _activate(client, n, **{"X-Forwarded-For": "203.0.113.7"}) for n in range(4)]
    assert statuses == [404, 404, 404, 429]
    # Another client behind the same proxy has its own count.
    assert await _activate(client, 10, **{"X-Forwarded-For": "203.0.113.8"}) == 404
    # A client cannot dodge its count by writing hops of its own left of the proxy's.
    assert await _activate(client, 11, **{"X-Forwarded-For": "9.9.9.9, 203.0.113.7"}) == 429


@pytest.mark.parametrize("trusted_proxies", [""])
async def test_spoofed_headers_from_an_untrusted_peer_are_ignored(client: Client, services: Services) -> None:
    statuses = [await _activate(client, n, **{"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(4)]
    assert statuses == [404, 404, 404, 429]


@pytest.mark.parametrize("trusted_proxies", ["192.0.2.0/24"])
async def test_a_peer_outside_the_trusted_ranges_is_not_believed(client: Client, services: Services) -> None:
    statuses = [await _activate(client, n, **{"X-Forwarded-For": f"198.51.100.{n}"}) for n in range(4)]
    assert statuses == [404, 404, 404, 429]


async def _sign_in(client: Client, **headers: str) -> int:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token
    form = {"login": "alice", "password": PASSWORD, "csrf_token": token.group(1)}
    async with client.post("/login", data=form, headers=headers, allow_redirects=False) as response:
        return response.status


async def test_sessions_and_the_access_log_record_the_forwarded_client(
    client: Client, services: Services, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    await make_user("alice")
    with caplog.at_level(logging.INFO, logger="mnwd.access"):
        assert await _sign_in(client, **{"X-Forwarded-For": "203.0.113.44"}) == 303
    assert str(await services.pool.fetchval("SELECT ip_address FROM user_sessions")) == "203.0.113.44"
    assert any(getattr(r, "remote", None) == "203.0.113.44" for r in caplog.records)


@pytest.mark.parametrize("trusted_proxies", [""])
async def test_an_untrusted_peers_session_keeps_its_own_address(
    client: Client, services: Services, make_user: MakeUser
) -> None:
    await make_user("alice")
    assert await _sign_in(client, **{"X-Forwarded-For": "203.0.113.44"}) == 303
    assert str(await services.pool.fetchval("SELECT ip_address FROM user_sessions")) == "127.0.0.1"


async def test_forwarded_proto_counts_for_the_origin_check_only_from_a_trusted_proxy(
    client: Client, make_user: MakeUser
) -> None:
    """A TLS-terminating proxy forwards plain HTTP; the browser's Origin says https. Believed from a trusted
    proxy (the form works), it would be refused coming from anyone else (below)."""
    await make_user("alice")
    origin = f"https://{client.host}:{client.port}"
    headers = {"Origin": origin, "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    assert await _sign_in(client, **headers) == 303
    assert await _sign_in(client, Origin=origin) == 403


@pytest.mark.parametrize("trusted_proxies", [""])
async def test_forwarded_proto_from_an_untrusted_peer_is_ignored(client: Client, make_user: MakeUser) -> None:
    await make_user("alice")
    origin = f"https://{client.host}:{client.port}"
    assert await _sign_in(client, Origin=origin, **{"X-Forwarded-Proto": "https"}) == 403


@pytest.mark.parametrize("trusted_proxies", [""])
async def test_metrics_stay_loopback_only_whatever_is_forwarded(client: Client) -> None:
    async with client.get("/metrics") as response:
        assert response.status == 200
    async with client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}) as response:
        assert response.status == 403


async def test_metrics_refuse_a_client_forwarded_by_a_trusted_proxy(client: Client) -> None:
    async with client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"}) as response:
        assert response.status == 403


async def test_a_trusted_proxys_connections_are_not_capped_per_address(tmp_path: Path, db_url: str) -> None:
    """The proxy (127.0.0.2 here) carries many clients over its connections; the cap still holds others."""
    attacker = Attacker()
    try:
        env = {"MNWD_HTTP_MAX_CONNECTIONS_PER_ADDRESS": "3", "MNWD_TRUSTED_PROXIES": "127.0.0.2"}
        with running(tmp_path, db_url, **env) as daemon:
            opened = [await attacker.connect(daemon) for _ in range(8)]
            closed = await asyncio.gather(*(closed_within(reader, 0.5) for reader, _ in opened))
            assert closed.count(True) == 0
            assert healthz(daemon) == 200
    finally:
        await attacker.close()


def test_nothing_else_reads_the_peer_address() -> None:
    """Every place that reads the client's address goes through mnwd.web.client_address. Also allowed: the
    connection guard (the peer of a connection, before any request; it asks `trusts_peer`), the setting's help
    text, and /metrics' list of forwarding headers that refuse a forwarded call."""
    allowed = {
        "mnwd/web/client_address.py",
        "mnwd/web/connections.py",
        "mnwd/config.py",
        "mnwd/web/health.py",
    }
    found = []
    for source in sorted((ROOT / "mnwd").rglob("*.py")):
        name = source.relative_to(ROOT).as_posix()
        if name not in allowed and re.search(r"\.remote\b|peername|X-Forwarded-|X-Real-IP", source.read_text()):
            found.append(name)
    assert found == []
    assert "request.remote" not in (ROOT / "mnwd/web/health.py").read_text()
