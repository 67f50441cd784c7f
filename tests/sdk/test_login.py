"""Signing in with the SDK: PKCE through a loopback redirect, the device registered and bound, tokens kept in a
0600 file, refreshed before expiry and after a 401, revoked on logout."""

from __future__ import annotations

import dataclasses
import stat

import aiohttp
import pytest
from mnw_synckit import FileTokenStore, LoginFailed, LoginRequired, SyncClient

from tests.sdk.conftest import MakeDevice, SdkApp, consent_as

pytestmark = pytest.mark.e2e


async def test_login_registers_the_device_and_keeps_tokens_private(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop = await make_device("laptop")
    token_file = sdk_app.tmp / "laptop.db.tokens.json"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    tokens = FileTokenStore(token_file).load()
    assert tokens is not None
    assert tokens.access_token.startswith("mnwd_at_")
    assert "mnwd_at_" not in repr(tokens)

    devices = await laptop.api.request("GET", "/sync/v1/devices")
    (device,) = devices["devices"]
    assert device["device_name"] == "laptop"
    assert device["current"] is True, "the token is bound to the device it registered"
    assert device["id"] == await laptop.device_id()


async def test_each_device_signs_in_on_its_own(make_device: MakeDevice) -> None:
    laptop, phone = await make_device("laptop"), await make_device("phone")
    assert laptop.api.tokens != phone.api.tokens
    names = {d["device_name"]: d["current"] for d in (await phone.api.request("GET", "/sync/v1/devices"))["devices"]}
    assert names == {"laptop": False, "phone": True}


async def test_a_reopened_client_is_still_signed_in(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop = await make_device("laptop")
    await laptop.put("notes", "n", {"v": 1})
    await laptop.close()
    again = SyncClient(sdk_app.base_url, sdk_app.client_id, sdk_app.tmp / "laptop.db", device_name="laptop")
    async with again:
        assert again.signed_in
        await again.sync()
        assert again.status.pending == 0


async def test_an_access_token_about_to_expire_is_refreshed_first(make_device: MakeDevice) -> None:
    laptop = await make_device("laptop")
    old = laptop.api.tokens
    assert old is not None
    laptop.api.set_tokens(dataclasses.replace(old, expires_at=0))
    await laptop.put("notes", "n", {"v": 1})
    await laptop.sync()
    new = laptop.api.tokens
    assert new is not None
    assert new.refresh_token != old.refresh_token, "refresh tokens rotate"
    assert not new.expires_within(3000)


async def test_a_401_refreshes_and_retries(make_device: MakeDevice) -> None:
    laptop = await make_device("laptop")
    old = laptop.api.tokens
    assert old is not None
    laptop.api.set_tokens(dataclasses.replace(old, access_token="mnwd_at_" + "x" * 43))
    await laptop.put("notes", "n", {"v": 1})
    await laptop.sync()
    assert laptop.status.pending == 0
    assert laptop.api.tokens is not None
    assert laptop.api.tokens.refresh_token != old.refresh_token


async def test_logout_revokes_the_sign_in(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop = await make_device("laptop")
    tokens = laptop.api.tokens
    assert tokens is not None
    await laptop.logout()
    assert not laptop.signed_in
    assert not (sdk_app.tmp / "laptop.db.tokens.json").exists()
    async with aiohttp.ClientSession() as http:
        me = await http.get(f"{sdk_app.base_url}/api/v1/me", headers={"Authorization": f"Bearer {tokens.access_token}"})
        assert me.status == 401
        refreshed = await http.post(
            f"{sdk_app.base_url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens.refresh_token, "client_id": sdk_app.client_id},
        )
        assert refreshed.status == 400
    with pytest.raises(LoginRequired):
        await laptop.sync()


async def test_a_refused_refresh_asks_for_login(make_device: MakeDevice) -> None:
    laptop = await make_device("laptop")
    old = laptop.api.tokens
    assert old is not None
    laptop.api.set_tokens(dataclasses.replace(old, expires_at=0, refresh_token="mnwd_rt_" + "y" * 43))
    with pytest.raises(LoginRequired):
        await laptop.pull()


async def test_a_denied_consent_fails_the_login(make_device: MakeDevice, sdk_app: SdkApp) -> None:
    laptop = await make_device("laptop", login=False)

    async def deny(url: str) -> None:
        async with aiohttp.ClientSession() as browser:
            # A page of the machine that is not the app calls the loopback with its own state: ignored.
            port_part = url.split("redirect_uri=http%3A%2F%2F127.0.0.1%3A", 1)[1].split("%2F", 1)[0]
            forged = await browser.get(f"http://127.0.0.1:{port_part}/callback?code=evil&state=guess")
            assert forged.status == 400
            state = url.split("state=", 1)[1].split("&", 1)[0]
            await browser.get(f"http://127.0.0.1:{port_part}/callback?error=access_denied&state={state}")

    with pytest.raises(LoginFailed, match="access_denied"):
        await laptop.login(open_url=deny, wait_seconds=10)
    assert not laptop.signed_in
    await laptop.login(open_url=consent_as(sdk_app.base_url), wait_seconds=30)
    assert laptop.signed_in
