"""Passkeys over HTTP, with a software authenticator (soft-webauthn) doing real WebAuthn cryptography.

`Authenticator` stands where the browser and passkeys.js stand: it turns our JSON options (base64url) into
what the device takes, and the device's answer into the JSON the page posts back.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import re
from typing import Any

import asyncpg
import pytest
from soft_webauthn import SoftWebauthnDevice
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

from mnwd.config import Config
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser, sign_in
from tests.support.browser import Browser, Page
from tests.support.outbound import run_jobs

JSON = {"Accept": "application/json"}
# A well-formed ECDSA signature (r = s = 1) that verifies for nothing.
WRONG_SIGNATURE = bytes_to_base64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")


class Authenticator:
    """One software authenticator holding one credential, answering for the page at ``origin``."""

    def __init__(self, origin: str) -> None:
        self.device = SoftWebauthnDevice()
        self.origin = origin

    @property
    def credential_id(self) -> bytes:
        credential_id: bytes = self.device.credential_id
        return credential_id

    @property
    def sign_count(self) -> int:
        count: int = self.device.sign_count
        return count

    def create(self, options: dict[str, Any]) -> dict[str, Any]:
        public_key = {
            **options,
            "challenge": base64url_to_bytes(options["challenge"]),
            "user": {**options["user"], "id": base64url_to_bytes(options["user"]["id"])},
            "excludeCredentials": [
                {**d, "id": base64url_to_bytes(d["id"])} for d in options.get("excludeCredentials", [])
            ],
        }
        return _browser_json(self.device.create({"publicKey": public_key}, self.origin))

    def get(self, options: dict[str, Any]) -> dict[str, Any]:
        public_key = {**options, "challenge": base64url_to_bytes(options["challenge"])}
        return _browser_json(self.device.get({"publicKey": public_key}, self.origin))

    def keep_credential(self) -> None:
        """From now on ``create`` answers with the credential it already holds (as a replayed registration would)."""
        self.device.cred_init = lambda rp_id, user_handle: None

    def clone(self) -> Authenticator:
        """A copy of the key material and counter, as if the authenticator had been duplicated."""
        twin = Authenticator(self.origin)
        twin.device = copy.copy(self.device)
        return twin


def _browser_json(result: dict[str, Any]) -> dict[str, Any]:
    raw_id = result["rawId"]
    response = {key: bytes_to_base64url(value) for key, value in result["response"].items() if value is not None}
    return {
        "id": bytes_to_base64url(raw_id),
        "rawId": bytes_to_base64url(raw_id),
        "type": result["type"],
        "response": response,
        "clientExtensionResults": {},
    }


def forge_signature(assertion: dict[str, Any]) -> dict[str, Any]:
    return {**assertion, "response": {**assertion["response"], "signature": WRONG_SIGNATURE}}


async def post_json(browser: Browser, path: str, body: Any, csrf: str | None) -> tuple[int, dict[str, Any]]:
    headers = {**browser.headers, **JSON}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    async with browser.client.post(path, json=body, headers=headers) as response:
        if response.status >= 400:
            assert response.content_type == "application/problem+json", await response.text()
        data: dict[str, Any] = await response.json(content_type=None)
        return response.status, data


async def add_passkey(
    browser: Browser, authenticator: Authenticator, name: str = "", reauth: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    """Register a passkey, re-authenticating with ``reauth`` (by default the password of `make_user`)."""
    reauth = {"password": PASSWORD} if reauth is None else reauth
    csrf = (await browser.get("/settings/passkeys")).csrf
    status, options = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    assert status == 200, options
    credential = authenticator.create(options)
    return await post_json(browser, "/settings/passkeys", {"name": name, "credential": credential, **reauth}, csrf)


async def login_csrf(browser: Browser) -> str:
    return (await browser.get("/login")).csrf


async def passkey_options(browser: Browser, csrf: str) -> dict[str, Any]:
    status, options = await post_json(browser, "/login/passkey/options", {}, csrf)
    assert status == 200, options
    return options


async def passkey_sign_in(
    browser: Browser, authenticator: Authenticator, next_url: str = "/settings"
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(status, answer, the assertion sent)."""
    csrf = await login_csrf(browser)
    credential = authenticator.get(await passkey_options(browser, csrf))
    status, body = await post_json(browser, "/login/passkey", {"credential": credential, "next": next_url}, csrf)
    return status, body, credential


async def sign_out(browser: Browser) -> None:
    page = await browser.submit("/settings", "/logout", {})
    assert page.status == 303


async def signed_in_as(browser: Browser) -> str | None:
    page = await browser.get("/settings", follow=False)
    if page.status != 200:
        return None
    match = re.search(r'<a href="/settings">@([a-z0-9_-]+)</a>', page.text)
    return match.group(1) if match else None


@pytest.fixture
def origin(config: Config) -> str:
    return config.base_url


@pytest.fixture
async def alice(make_user: MakeUser, browser: Browser) -> asyncpg.Record:
    """Alice, signed in with her password in ``browser``."""
    user = await make_user("alice")
    await sign_in(browser, "alice")
    return user


async def test_register_two_named_passkeys_then_sign_in_with_one(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str
) -> None:
    laptop, key = Authenticator(origin), Authenticator(origin)
    status, body = await add_passkey(browser, laptop, "Laptop")
    assert status == 201, body
    assert body["name"] == "Laptop"
    assert body["redirect"] == "/settings/passkeys?saved=added"

    csrf = (await browser.get("/settings/passkeys")).csrf
    status, options = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    assert options["rp"] == {"id": "localhost", "name": "mnwd"}
    assert options["user"]["name"] == "alice"
    assert base64url_to_bytes(options["user"]["id"]) == alice["id"].bytes
    assert [d["id"] for d in options["excludeCredentials"]] == [bytes_to_base64url(laptop.credential_id)]
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "name": "", "credential": key.create(options)}, csrf
    )
    assert status == 201, body
    assert body["name"] == "Passkey 2"

    page = await browser.get("/settings/passkeys?saved=added")
    assert page.has("Passkey added.")
    assert page.has('value="Laptop"')
    assert page.has('value="Passkey 2"')
    assert page.text.count('class="passkey"') == 2
    # Opened at the public URL's host (the test client's is 127.0.0.1), the page offers to add one.
    headers = {**browser.headers, "Host": "localhost:8080"}
    async with browser.client.get("/settings/passkeys", headers=headers) as response:
        at_localhost = await response.text()
    assert 'id="passkey-register"' in at_localhost
    assert "data-csrf-token=" in at_localhost
    assert "passkeys.js" in at_localhost
    assert 'id="passkey-host-problem"' not in at_localhost

    row = await pool.fetchrow("SELECT * FROM user_passkeys WHERE credential_id = $1", laptop.credential_id)
    assert row["user_id"] == alice["id"]
    assert row["sign_count"] == 0
    assert row["last_used_at"] is None
    stored = row["credential_json"]
    assert set(stored) >= {"public_key", "transports", "aaguid"}
    assert stored["aaguid"] == "00000000-0000-0000-0000-000000000000"
    assert stored["fmt"] == "none"

    await sign_out(browser)
    assert await signed_in_as(browser) is None
    status, body, _ = await passkey_sign_in(browser, laptop)
    assert status == 200, body
    assert body == {"redirect": "/settings"}
    assert await signed_in_as(browser) == "alice"
    row = await pool.fetchrow(
        "SELECT sign_count, last_used_at FROM user_passkeys WHERE credential_id = $1", laptop.credential_id
    )
    assert row["sign_count"] == laptop.sign_count == 1
    assert row["last_used_at"] is not None
    untouched = await pool.fetchrow("SELECT sign_count, last_used_at FROM user_passkeys WHERE name = 'Passkey 2'")
    assert (untouched["sign_count"], untouched["last_used_at"]) == (0, None)

    await sign_out(browser)
    status, body, _ = await passkey_sign_in(browser, laptop)
    assert status == 200, body
    assert await pool.fetchval("SELECT sign_count FROM user_passkeys WHERE name = 'Laptop'") == 2
    page = await browser.get("/settings/passkeys")
    assert page.text.count("UTC</time>") == 1, "last used is shown for the used passkey only"


async def test_a_user_with_two_factor_is_signed_in_by_the_passkey_alone(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str
) -> None:
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await pool.execute(
        "UPDATE users SET totp_enabled = true, totp_secret = 'JBSWY3DPEHPK3PXP' WHERE id = $1", alice["id"]
    )
    await sign_out(browser)
    status, body, _ = await passkey_sign_in(browser, laptop)
    assert status == 200, body
    assert await signed_in_as(browser) == "alice"


@pytest.mark.parametrize(
    ("next_url", "redirect"),
    [("/settings/sessions", "/settings/sessions"), ("https://evil.example/", "/settings"), ("//evil", "/settings")],
)
async def test_after_a_passkey_sign_in_only_local_next_addresses_are_followed(
    browser: Browser, alice: asyncpg.Record, origin: str, next_url: str, redirect: str
) -> None:
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await sign_out(browser)
    status, body, _ = await passkey_sign_in(browser, laptop, next_url)
    assert status == 200
    assert body == {"redirect": redirect}


async def test_a_replayed_assertion_is_refused(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str
) -> None:
    """Attack: capture the assertion a browser posted and post it again, with or without a fresh challenge."""
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await sign_out(browser)
    status, _, captured = await passkey_sign_in(browser, laptop)
    assert status == 200
    await sign_out(browser)
    sessions = await pool.fetchval("SELECT count(*) FROM user_sessions")

    csrf = await login_csrf(browser)
    status, body = await post_json(browser, "/login/passkey", {"credential": captured}, csrf)
    assert status == 401
    assert body["type"] == "https://mnwd.dev/problems/invalid-credentials"
    assert "No passkey sign-in is in progress" in body["detail"]

    await passkey_options(browser, csrf)
    status, body = await post_json(browser, "/login/passkey", {"credential": captured}, csrf)
    assert status == 401
    assert "challenge" in body["detail"]

    assert await signed_in_as(browser) is None
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == sessions
    assert await pool.fetchval("SELECT sign_count FROM user_passkeys") == 1


async def test_a_challenge_is_good_for_one_attempt_only(browser: Browser, alice: asyncpg.Record, origin: str) -> None:
    """Attack: after a failed answer, answer the same challenge again (say, after guessing what went wrong)."""
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await sign_out(browser)
    csrf = await login_csrf(browser)
    options = await passkey_options(browser, csrf)
    good = laptop.get(options)
    bad = forge_signature(good)
    status, body = await post_json(browser, "/login/passkey", {"credential": bad}, csrf)
    assert status == 401
    assert "signature" in body["detail"]
    status, body = await post_json(browser, "/login/passkey", {"credential": good}, csrf)
    assert status == 401
    assert "No passkey sign-in is in progress" in body["detail"]
    assert await signed_in_as(browser) is None


async def test_an_assertion_for_a_challenge_never_issued_is_refused(
    browser: Browser, alice: asyncpg.Record, origin: str
) -> None:
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await sign_out(browser)
    csrf = await login_csrf(browser)
    invented = {"rpId": "localhost", "challenge": bytes_to_base64url(os.urandom(32))}

    status, body = await post_json(browser, "/login/passkey", {"credential": laptop.get(invented)}, csrf)
    assert status == 401, "no challenge was asked for at all"

    issued = await passkey_options(browser, csrf)
    assert issued["allowCredentials"] == []
    assert issued["userVerification"] == "preferred"
    status, body = await post_json(browser, "/login/passkey", {"credential": laptop.get(invented)}, csrf)
    assert status == 401, "a challenge was issued, but another one was signed"
    assert body["detail"] == "The passkey's answer was not accepted: Client data challenge was not expected challenge"
    assert await signed_in_as(browser) is None


async def test_a_cloned_authenticator_is_refused_and_logged(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Attack: copy the authenticator's key; after the owner used the original, sign in with the copy."""
    original = Authenticator(origin)
    assert (await add_passkey(browser, original))[0] == 201
    twin = original.clone()
    await sign_out(browser)
    assert (await passkey_sign_in(browser, original))[0] == 200
    await sign_out(browser)

    with caplog.at_level(logging.WARNING, logger="mnwd.accounts.passkeys"):
        status, body, sent = await passkey_sign_in(browser, twin)
    assert status == 401
    assert "copied authenticator" in body["detail"]
    assert await signed_in_as(browser) is None
    [record] = [r for r in caplog.records if r.name == "mnwd.accounts.passkeys"]
    assert record.levelno == logging.WARNING
    assert "cloned" in record.getMessage()
    assert record.__dict__["stored_sign_count"] == 1
    assert record.__dict__["received_sign_count"] == 1
    logged = repr(record.__dict__)
    for secret in (sent["response"]["signature"], sent["response"]["clientDataJSON"], sent["rawId"]):
        assert secret not in logged
    assert await pool.fetchval("SELECT sign_count FROM user_passkeys") == 1

    assert (await passkey_sign_in(browser, original))[0] == 200, "the original still works"


async def test_a_forged_answer_with_a_low_counter_is_not_reported_as_a_clone(
    browser: Browser, alice: asyncpg.Record, origin: str, caplog: pytest.LogCaptureFixture
) -> None:
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await sign_out(browser)
    assert (await passkey_sign_in(browser, laptop))[0] == 200
    await sign_out(browser)
    csrf = await login_csrf(browser)
    laptop.device.sign_count = 0
    answer = laptop.get(await passkey_options(browser, csrf))
    forged = forge_signature(answer)
    with caplog.at_level(logging.WARNING, logger="mnwd.accounts.passkeys"):
        status, body = await post_json(browser, "/login/passkey", {"credential": forged}, csrf)
    assert status == 401
    assert "sign count" in body["detail"]
    assert not [r for r in caplog.records if r.name == "mnwd.accounts.passkeys"]


async def test_a_deleted_passkey_can_no_longer_sign_in(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str
) -> None:
    laptop, key = Authenticator(origin), Authenticator(origin)
    assert (await add_passkey(browser, laptop, "Laptop"))[0] == 201
    assert (await add_passkey(browser, key, "Key"))[0] == 201
    laptop_id = await pool.fetchval("SELECT id FROM user_passkeys WHERE name = 'Laptop'")

    question = await browser.get(f"/settings/passkeys/{laptop_id}/delete")
    assert question.has("Delete the passkey “Laptop”?")
    assert question.has("You keep 1 other passkey and your password.")
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 2
    page = await browser.post(f"/settings/passkeys/{laptop_id}/delete", {"csrf_token": question.csrf})
    assert page.status == 303
    assert page.location == "/settings/passkeys?saved=deleted"
    page = await browser.get(page.location)
    assert page.has("Passkey deleted.")
    assert not page.has('value="Laptop"')
    assert page.has('value="Key"')

    await sign_out(browser)
    status, body, _ = await passkey_sign_in(browser, laptop)
    assert status == 401
    assert "not registered here" in body["detail"]
    assert await signed_in_as(browser) is None
    assert (await passkey_sign_in(browser, key))[0] == 200


async def test_a_passkey_can_be_renamed_with_a_valid_name(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str
) -> None:
    assert (await add_passkey(browser, Authenticator(origin), "Laptop"))[0] == 201
    passkey_id = await pool.fetchval("SELECT id FROM user_passkeys")
    page = await browser.submit("/settings/passkeys", f"/settings/passkeys/{passkey_id}/rename", {"name": "  Work "})
    assert (page.status, page.location) == (303, "/settings/passkeys?saved=renamed")
    assert await pool.fetchval("SELECT name FROM user_passkeys") == "Work"
    for bad in ("", "   ", "x" * 65, "tab\there"):
        page = await browser.submit("/settings/passkeys", f"/settings/passkeys/{passkey_id}/rename", {"name": bad})
        assert page.status == 422
        assert page.has("Use 1 to 64 printable characters.")
    assert await pool.fetchval("SELECT name FROM user_passkeys") == "Work"


async def test_another_user_cannot_rename_or_delete_my_passkey(
    browser: Browser, alice: asyncpg.Record, make_user: MakeUser, pool: asyncpg.Pool, origin: str
) -> None:
    """Attack: Bob posts rename and delete forms naming Alice's passkey id."""
    assert (await add_passkey(browser, Authenticator(origin), "Laptop"))[0] == 201
    passkey_id = await pool.fetchval("SELECT id FROM user_passkeys")
    await sign_out(browser)
    await make_user("bob")
    await sign_in(browser, "bob")

    page = await browser.get("/settings/passkeys")
    assert page.has("You have no passkeys yet.")
    question = await browser.get(f"/settings/passkeys/{passkey_id}/delete")
    assert question.status == 404
    assert not question.has("Laptop")
    for action, data in (("rename", {"name": "Mine now"}), ("delete", {})):
        page = await browser.submit("/settings/passkeys", f"/settings/passkeys/{passkey_id}/{action}", data)
        assert page.status == 404, action
    page = await browser.submit("/settings/passkeys", "/settings/passkeys/not-a-uuid/delete", {})
    assert page.status == 404
    assert await pool.fetchval("SELECT name FROM user_passkeys WHERE id = $1", passkey_id) == "Laptop"


async def test_registering_the_same_credential_twice_is_a_conflict(
    browser: Browser, alice: asyncpg.Record, make_user: MakeUser, pool: asyncpg.Pool, origin: str
) -> None:
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    laptop.keep_credential()
    status, body = await add_passkey(browser, laptop, "Again")
    assert status == 409
    assert body["type"] == "https://mnwd.dev/problems/conflict"
    assert "already registered" in body["detail"]

    await sign_out(browser)
    await make_user("bob")
    await sign_in(browser, "bob")
    status, body = await add_passkey(browser, laptop, "Alice's")
    assert status == 409, "the same answer for a credential someone else registered"
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 1


async def test_passkey_requests_without_the_csrf_header_are_refused(
    browser: Browser, alice: asyncpg.Record, origin: str
) -> None:
    laptop = Authenticator(origin)
    csrf = (await browser.get("/settings/passkeys")).csrf
    status, options = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    assert status == 200
    credential = laptop.create(options)
    for path, body in (
        ("/settings/passkeys/options", {}),
        ("/settings/passkeys", {"password": PASSWORD, "credential": credential}),
    ):
        for token in (None, "forged"):
            status, problem = await post_json(browser, path, body, token)
            assert status == 403, (path, token)
            assert problem["type"] == "https://mnwd.dev/problems/csrf-failed"
    status, _ = await post_json(browser, "/settings/passkeys", {"password": PASSWORD, "credential": credential}, csrf)
    assert status == 201, "the refused requests did not use up the challenge"

    await sign_out(browser)
    csrf = await login_csrf(browser)
    answer = laptop.get(await passkey_options(browser, csrf))
    for path, body in (("/login/passkey/options", {}), ("/login/passkey", {"credential": answer})):
        status, problem = await post_json(browser, path, body, None)
        assert status == 403, path
        assert problem["type"] == "https://mnwd.dev/problems/csrf-failed"
    assert await signed_in_as(browser) is None

    browser.client.session.cookie_jar.clear()
    status, problem = await post_json(browser, "/login/passkey/options", {}, None)
    assert status == 403, "a ceremony is not started for a browser without the cookie either"


async def test_a_suspended_user_cannot_sign_in_with_a_passkey(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str
) -> None:
    laptop = Authenticator(origin)
    assert (await add_passkey(browser, laptop))[0] == 201
    await sign_out(browser)
    await pool.execute("UPDATE users SET suspended_at = now() WHERE id = $1", alice["id"])
    sessions = await pool.fetchval("SELECT count(*) FROM user_sessions")
    status, body, _ = await passkey_sign_in(browser, laptop)
    assert status == 403
    assert body["type"] == "https://mnwd.dev/problems/account-suspended"
    assert await signed_in_as(browser) is None
    assert await pool.fetchval("SELECT count(*) FROM user_sessions") == sessions


async def test_bad_registration_input_is_a_clear_problem(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    laptop = Authenticator(origin)
    csrf = (await browser.get("/settings/passkeys")).csrf
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "credential": {"id": "x"}}, csrf
    )
    assert status == 400
    assert "No passkey registration is in progress" in body["detail"]

    status, options = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    credential = laptop.create(options)
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "name": "x" * 65, "credential": credential}, csrf
    )
    assert status == 422
    assert body["errors"] == [{"field": "name", "message": "Use 1 to 64 printable characters."}]
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "credential": credential}, csrf
    )
    assert status == 201, "a refused name does not use up the challenge"

    await post_json(browser, "/settings/passkeys/options", {}, csrf)
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "credential": {"id": "x", "rawId": "y"}}, csrf
    )
    assert status == 400
    assert body["detail"].startswith("The passkey could not be registered:")

    status, options = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    other = Authenticator("https://evil.example")
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "credential": other.create(options)}, csrf
    )
    assert status == 400
    assert "origin" in body["detail"]

    status, body = await post_json(browser, "/settings/passkeys", {"nope": 1}, csrf)
    assert status == 422
    headers = {**browser.headers, **JSON, "X-CSRF-Token": csrf, "Content-Type": "application/json"}
    async with browser.client.post("/settings/passkeys", data=b"{not json", headers=headers) as response:
        assert response.status == 400
        assert (await response.json(content_type=None))["type"] == "https://mnwd.dev/problems/malformed-json"

    from mnwd.accounts import passkeys

    monkeypatch.setattr(passkeys, "CHALLENGE_SECONDS", -1)
    status, options = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    status, body = await post_json(
        browser, "/settings/passkeys", {"password": PASSWORD, "credential": Authenticator(origin).create(options)}, csrf
    )
    assert status == 400, "an expired challenge"
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 1


async def test_registration_needs_a_signed_in_user(browser: Browser, origin: str) -> None:
    csrf = await login_csrf(browser)
    status, body = await post_json(browser, "/settings/passkeys/options", {}, csrf)
    assert status == 401
    assert body["type"] == "https://mnwd.dev/problems/unauthorized"
    page = await browser.get("/settings/passkeys", follow=False)
    assert page.status == 303
    assert page.location == "/login?next=/settings/passkeys"


async def test_a_malformed_sign_in_answer_is_a_bad_request(browser: Browser, alice: asyncpg.Record) -> None:
    await sign_out(browser)
    csrf = await login_csrf(browser)
    await passkey_options(browser, csrf)
    status, body = await post_json(browser, "/login/passkey", {"credential": {"id": 1}}, csrf)
    assert status == 400
    assert body["detail"].startswith("The passkey's answer is malformed")


async def test_the_login_page_offers_the_passkey_button(browser: Browser, config: Config) -> None:
    at_ip = await browser.get("/login")
    assert at_ip.has(f"Open http://localhost:{config.http_port}/login to use them.")
    assert 'id="passkey-login"' not in at_ip.text
    headers = {**browser.headers, "Host": f"localhost:{config.http_port}"}
    async with browser.client.get("/login?next=/settings/sessions", headers=headers) as response:
        page = Page(response.status, await response.text(), None, response.headers)
    button = re.search(r'<button[^>]*id="passkey-login"[^>]*>', page.text)
    assert button is not None
    assert f'data-csrf-token="{page.csrf}"' in button.group(0)
    assert 'data-next="/settings/sessions"' in button.group(0)
    assert " hidden" in button.group(0), "shown by the script only where WebAuthn exists"
    script = re.search(r'<script src="(/static/passkeys\.js[^"]*)"', page.text)
    assert script is not None
    async with browser.client.get(script.group(1).replace("&amp;", "&")) as response:
        assert response.status == 200
        text = await response.text()
    assert "navigator.credentials.get" in text
    assert "X-CSRF-Token" in text


async def test_adding_a_passkey_asks_for_the_password_and_tells_the_owner(
    browser: Browser, alice: asyncpg.Record, pool: asyncpg.Pool, origin: str, config: Config, services: Services
) -> None:
    """Attack: with a stolen session cookie, add a passkey of one's own and keep the account for good."""
    for reauth in ({}, {"password": "not her password"}):
        status, body = await add_passkey(browser, Authenticator(origin), "Mallory's", reauth=reauth)
        assert status == 422, body
        assert body["errors"] == [{"field": "password", "message": "This is not your password."}]
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 0
    await run_jobs(services)
    assert read_outbox(config.data_dir / "outbox") == []

    status, body = await add_passkey(browser, Authenticator(origin), "Laptop")
    assert status == 201, body
    assert await pool.fetchval("SELECT count(*) FROM user_passkeys") == 1
    assert await run_jobs(services) == 1
    [mail] = read_outbox(config.data_dir / "outbox")
    assert mail["To"] == "alice@example.org"
    assert mail["Subject"] == "A passkey was added to your mnwd account"
    text = mail.get_body().get_content()
    assert '"Laptop"' in text
    assert f"{config.base_url}/settings/passkeys" in text


@pytest.mark.parametrize(
    ("public_url", "page_host", "explained"),
    [
        ("http://localhost:8080", "localhost:8080", None),
        ("http://localhost:8080", "127.0.0.1:8080", "Open http://localhost:8080/settings/passkeys to use them."),
        ("http://127.0.0.1:8080", "127.0.0.1:8080", "is an IP address, which browsers refuse"),
        ("https://mnw.example", "www.mnw.example", None),
    ],
)
def test_the_passkeys_page_explains_a_host_browsers_would_refuse(
    services: Services, monkeypatch: pytest.MonkeyPatch, public_url: str, page_host: str, explained: str | None
) -> None:
    """Browsers answer both cases with a bare "invalid domain" error from the passkey ceremony."""
    from mnwd.accounts.passkeys import host_problem

    monkeypatch.setattr(services, "config", dataclasses.replace(services.config, public_url=public_url))
    problem = host_problem(services, page_host)
    if explained is None:
        assert problem is None
    else:
        assert problem is not None
        assert explained in problem


async def test_the_default_public_url_is_localhost_so_passkeys_work_out_of_the_box(
    browser: Browser, alice: asyncpg.Record, config: Config
) -> None:
    assert config.public_url is None
    assert config.base_url == f"http://localhost:{config.http_port}"
    page = await browser.get("/settings/passkeys")
    # The test client's Host is 127.0.0.1: the page says where passkeys work instead of offering the button.
    assert page.has(f"Open http://localhost:{config.http_port}/settings/passkeys to use them.")
    assert not page.has('id="passkey-register"')
