"""Security regressions: a revoked or expired token must stop receiving changes on its live responses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from mnwd.oauth.bearer_cache import BEARERS
from mnwd.services import Services
from tests.support.oauth import RegisteredApp
from tests.support.queries import notifications_heard
from tests.sync.streams import SyncApi, open_event_stream, tokens_for_user

pytestmark = pytest.mark.usefixtures("notes_app")

SECRET = b"after-revocation"


@dataclass
class Laptop:
    api: SyncApi
    refresh_token: str


@pytest.fixture
async def laptop(alice_api: SyncApi, client: TestClient, aiohttp_client: Any, notes_app: RegisteredApp) -> Laptop:  # type: ignore[type-arg]
    """alice's laptop, whose refresh token the test keeps (to revoke its whole grant)."""
    tokens = await tokens_for_user(aiohttp_client, client, "alice", notes_app)
    api = SyncApi(client, tokens["access_token"])
    await api.register("laptop-2")
    return Laptop(api, tokens["refresh_token"])


REVOCATIONS = ["device", "access token", "grant"]


async def _revoke(how: str, laptop: Laptop, alice_phone: SyncApi, app: RegisteredApp) -> None:
    """Revoke the laptop: its device from the phone, or its access token or whole grant (refresh token) the
    way its app would, through RFC 7009."""
    if how == "device":
        deleted = await alice_phone.client.delete(
            f"/sync/v1/devices/{laptop.api.device_id}", headers=alice_phone.headers
        )
        assert deleted.status == 204
        return
    token, hint = (
        (laptop.api.token, "access_token") if how == "access token" else (laptop.refresh_token, "refresh_token")
    )
    revoked = await alice_phone.client.post(
        "/oauth/revoke", data={"token": token, "token_type_hint": hint, "client_id": str(app.id)}
    )
    assert revoked.status == 200


@pytest.mark.parametrize("revoke", REVOCATIONS)
async def test_an_open_event_stream_gets_no_change_pushed_after_its_revocation(
    laptop: Laptop, alice_phone: SyncApi, notes_app: RegisteredApp, revoke: str
) -> None:
    """Attack: a stolen laptop keeps its SSE stream open; the user revokes the laptop (its device, or its
    grant) from the phone and goes on writing. Pokes arrive more often than the 15 s heartbeat, so the old
    stream re-checked its token never and carried every new row to the thief."""
    stream = await open_event_stream(laptop.api)
    await _revoke(revoke, laptop, alice_phone, notes_app)
    assert (await alice_phone.push([alice_phone.mutation("r", {"text": SECRET.decode()})])).status == 200
    rest = await asyncio.wait_for(stream.content.read(), 5)
    assert SECRET not in rest
    assert stream.content.at_eof()


@pytest.mark.parametrize("revoke", REVOCATIONS)
async def test_an_open_websocket_gets_no_change_pushed_after_its_revocation(
    laptop: Laptop, alice_phone: SyncApi, notes_app: RegisteredApp, revoke: str
) -> None:
    """Attack: as above, over the WebSocket form of the event stream."""
    async with laptop.api.client.ws_connect("/sync/v1/events", headers=laptop.api.headers) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
        await _revoke(revoke, laptop, alice_phone, notes_app)
        assert (await alice_phone.push([alice_phone.mutation("r", {"text": SECRET.decode()})])).status == 200
        while True:
            message = await ws.receive(timeout=5)
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            assert SECRET.decode() not in message.data
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)


@pytest.mark.parametrize("revoke", REVOCATIONS)
async def test_a_long_poll_started_before_a_revocation_answers_401(
    laptop: Laptop, alice_phone: SyncApi, notes_app: RegisteredApp, revoke: str, services: Services
) -> None:
    """Attack: the laptop waits in a long poll; it is revoked, then the phone pushes. The wait woke on the
    push and returned the new row to the revoked token."""
    # Devices bound while the laptop and phone were set up make this daemon forget remembered token checks,
    # which wakes waiting pulls: heard before the pull starts, such a wake cannot end it early (empty, 200).
    await notifications_heard(services)
    waiting = asyncio.create_task(laptop.api.pull(0, wait=30))
    await asyncio.sleep(0.3)
    await _revoke(revoke, laptop, alice_phone, notes_app)
    assert (await alice_phone.push([alice_phone.mutation("r", {"text": SECRET.decode()})])).status == 200
    response = await asyncio.wait_for(waiting, 10)
    assert response.status == 401
    assert SECRET not in await response.read()


async def test_an_event_stream_ends_when_its_token_expires(
    alice_api: SyncApi, pool: asyncpg.Pool, services: Services
) -> None:
    """A stream must not outlive its access token (the heartbeat is 15 s; expiry comes first here)."""
    await pool.execute("UPDATE oauth_access_tokens SET expires_at = now() + interval '1 second'")
    services[BEARERS].forget_all()  # without waiting for the trigger's notification
    stream = await open_event_stream(alice_api)
    assert await asyncio.wait_for(stream.content.read(), 5) == b""
    assert stream.content.at_eof()
