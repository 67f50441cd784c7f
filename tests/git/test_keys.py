"""SSH keys as users and operators add them: the settings page, ``/api/v1/user/keys`` (session or token) and
``mnwd key``; malformed, weak and duplicate keys are refused with nothing written."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg
import asyncssh
import pytest
from aiohttp.test_utils import TestClient

from mnwd.accounts import personal_tokens
from mnwd.services import Services
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.daemon import daemon_env, mnwd


def public_key(alg: str = "ssh-ed25519", comment: str = "alice@laptop", **kw: int) -> tuple[str, str]:
    """An OpenSSH public key line and its SHA256 fingerprint."""
    key = asyncssh.generate_private_key(alg, comment=comment, **kw)
    return key.export_public_key("openssh").decode().strip(), key.get_fingerprint("sha256")


async def token(services: Services, user_id: uuid.UUID, *scopes: str) -> dict[str, str]:
    issued = await personal_tokens.create_token(
        services,
        user_id,
        name="script",
        scopes=list(scopes),
        expires_days=None,
    )
    return {"Authorization": f"Bearer {issued.secret}"}


async def test_add_list_and_delete_a_key_on_the_settings_page(alice: Browser, pool: asyncpg.Pool) -> None:
    line, fingerprint = public_key()
    page = await alice.get("/settings/keys")
    assert page.status == 200
    assert "You have no SSH keys." in page.text
    assert 'href="/settings/keys"' in page.text  # in the settings navigation
    added = await alice.submit("/settings/keys", "/settings/keys", {"title": "", "public_key": line + "\n"})
    assert added.status == 303
    assert added.location == "/settings/keys?saved=added"
    listing = await alice.get("/settings/keys?saved=added")
    assert fingerprint in listing.text
    assert "alice@laptop" in listing.text  # the comment is the default name
    assert "never" in listing.text  # not used yet
    key_id = await pool.fetchval("SELECT id FROM ssh_keys WHERE fingerprint = $1", fingerprint)
    for other in (uuid.uuid4(), "not-a-uuid"):  # someone else's key, or none: 404, nothing deleted
        refused = await alice.submit("/settings/keys", f"/settings/keys/{other}/delete", {})
        assert refused.status == 404
    assert await pool.fetchval("SELECT count(*) FROM ssh_keys") == 1
    deleted = await alice.submit("/settings/keys", f"/settings/keys/{key_id}/delete", {})
    assert deleted.status == 303
    assert await pool.fetchval("SELECT count(*) FROM ssh_keys") == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Paste a public key"),
        ("ssh-ed25519 AAAAnotbase64!!", "damaged"),
        ("ssh-ed25519 AAAAC3NzaC1yc2EAAAADAQABAAABAQ==", "damaged"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
            "private key",
        ),
        ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "DSA"),
        ("<script>alert(1)</script>", "not an OpenSSH public key"),
        ("x" * 20_000, "longer than any public key"),
    ],
)
async def test_malformed_keys_are_refused_on_the_page(
    alice: Browser, pool: asyncpg.Pool, text: str, message: str
) -> None:
    page = await alice.submit("/settings/keys", "/settings/keys", {"title": "x", "public_key": text})
    assert page.status == 422
    assert message in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert await pool.fetchval("SELECT count(*) FROM ssh_keys") == 0


async def test_two_keys_pasted_at_once_and_weak_rsa_are_refused(alice: Browser, pool: asyncpg.Pool) -> None:
    one, _ = public_key()
    two, _ = public_key()
    page = await alice.submit("/settings/keys", "/settings/keys", {"public_key": f"{one}\n{two}"})
    assert page.status == 422
    assert "one public key" in page.text
    weak, _ = public_key("ssh-rsa", key_size=1024)
    page = await alice.submit("/settings/keys", "/settings/keys", {"public_key": weak})
    assert page.status == 422
    assert "1024 bits" in page.text
    assert await pool.fetchval("SELECT count(*) FROM ssh_keys") == 0


async def test_the_api_adds_lists_and_deletes_keys_with_a_token(
    client: TestClient,  # type: ignore[type-arg]
    services: Services,
    make_user: MakeUser,
) -> None:
    alice = await make_user("alice")
    bob = await make_user("bob")
    writer = await token(services, alice["id"], "keys:write", "keys:read")
    reader = await token(services, alice["id"], "keys:read")
    line, fingerprint = public_key("ssh-rsa", comment="ci", key_size=2048)

    refused = await client.post("/api/v1/user/keys", json={"public_key": line}, headers=reader)
    assert refused.status == 403
    assert (await refused.json())["type"].endswith("/insufficient-scope")

    created = await client.post("/api/v1/user/keys", json={"public_key": line, "title": "build box"}, headers=writer)
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["fingerprint"] == fingerprint
    assert body["algorithm"] == "ssh-rsa"
    assert body["title"] == "build box"
    assert body["last_used_at"] is None
    assert body["public_key"] == " ".join(line.split()[:2])

    listed = await client.get("/api/v1/user/keys", headers=reader)
    assert [k["fingerprint"] for k in (await listed.json())["keys"]] == [fingerprint]

    # The same key again, by alice or by bob: 409, whoever has it.
    bob_writer = await token(services, bob["id"], "keys:write", "keys:read")
    for headers in (writer, bob_writer):
        again = await client.post("/api/v1/user/keys", json={"public_key": line}, headers=headers)
        assert again.status == 409
        problem = await again.json()
        assert problem["type"].endswith("/ssh-key-in-use")
        assert "alice" not in problem["detail"]

    # Bob cannot see or delete alice's key.
    bobs = await client.get("/api/v1/user/keys", headers=bob_writer)
    assert (await bobs.json())["keys"] == []
    gone = await client.delete(f"/api/v1/user/keys/{body['id']}", headers=bob_writer)
    assert gone.status == 404
    bad_id = await client.delete("/api/v1/user/keys/../../x", headers=writer)
    assert bad_id.status == 404
    deleted = await client.delete(f"/api/v1/user/keys/{body['id']}", headers=writer)
    assert deleted.status == 204
    assert (await (await client.get("/api/v1/user/keys", headers=reader)).json())["keys"] == []


async def test_the_api_refuses_bad_bodies_and_strangers(
    client: TestClient,  # type: ignore[type-arg]
    services: Services,
    make_user: MakeUser,
) -> None:
    alice = await make_user("alice")
    writer = await token(services, alice["id"], "keys:write")
    assert (await client.get("/api/v1/user/keys")).status == 401
    assert (await client.post("/api/v1/user/keys", json={"public_key": "x"})).status == 401
    for body, status in (
        ({}, 422),
        ({"public_key": 5}, 422),
        ({"public_key": "nope"}, 422),
        ({"public_key": "a", "x": 1}, 422),
    ):
        answer = await client.post("/api/v1/user/keys", json=body, headers=writer)
        assert answer.status == status, body
        assert answer.content_type == "application/problem+json"
    huge = await client.post(
        "/api/v1/user/keys",
        data=b'{"public_key": "' + b"A" * 100_000 + b'"}',
        headers={**writer, "Content-Type": "application/json"},
    )
    assert huge.status == 413


async def test_the_api_works_from_the_signed_in_session_with_csrf(browser: Browser, make_user: MakeUser) -> None:
    await make_user("alice")
    await sign_in(browser, "alice")
    line, fingerprint = public_key()
    answer = await browser.json("/api/v1/user/keys", {"public_key": line}, csrf_from="/settings/keys")
    assert answer.status == 201
    no_csrf = await browser.client.post("/api/v1/user/keys", json={"public_key": public_key()[0]})
    assert no_csrf.status == 403
    listed = await browser.client.get("/api/v1/user/keys")
    assert [k["fingerprint"] for k in (await listed.json())["keys"]] == [fingerprint]


async def test_operators_add_and_list_keys(
    db_url: str, tmp_path: Path, pool: asyncpg.Pool, make_user: MakeUser
) -> None:
    await make_user("alice")
    env = daemon_env(tmp_path, {"DATABASE_URL": db_url})
    line, fingerprint = public_key(comment="")
    added = mnwd(env, "key", "add", "Alice", "--name", "deploy", stdin=line + "\n")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == f"{fingerprint} added to Alice as 'deploy'"
    listed = mnwd(env, "key", "list", "alice")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "FINGERPRINT", "ADDED", "LAST", "USED"]
    assert "deploy" in row
    assert fingerprint in row
    assert row.endswith("never")
    garbage = mnwd(env, "key", "add", "alice", stdin="hello")
    assert garbage.returncode == 1
    assert "not an OpenSSH public key" in garbage.stderr
    nobody = mnwd(env, "key", "add", "nobody", stdin=line)
    assert nobody.returncode == 1
    assert "no user 'nobody'" in nobody.stderr
    assert await pool.fetchval("SELECT count(*) FROM ssh_keys") == 1
