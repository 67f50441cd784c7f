"""Passkeys (WebAuthn): register several per user, sign in with one, rename and delete them.

A ceremony has two steps. The options step makes a random challenge and keeps it in this browser's
transient state (`browser.save_state`) for `CHALLENGE_SECONDS`; the verify step takes it out of that
state before looking at the answer, so a challenge is good for one attempt only. Sign-in uses
discoverable credentials (no user name first): the authenticator's answer names its credential id,
which finds the passkey and its public key.

The signature counter must go up at every use when an authenticator keeps one. A counter that does not
is what a copied authenticator looks like; that sign-in is refused and a warning logged. The new value is
written with ``UPDATE ... WHERE sign_count = <value read>`` so two concurrent uses cannot both win.

Errors (all `mnwd.errors.Problem`): a malformed or unverifiable registration is `BadRequest` (400); a
sign-in that fails for any reason is `PasskeyRejected` (401, ``invalid-credentials``); a credential id
registered already is `Conflict` (409); a bad name is `ValidationFailed` (422); an unknown or foreign
passkey id is `NotFound` (404); a suspended owner gets `AccountSuspended` (403).
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg

from mnwd.accounts import queries, reauth, totp
from mnwd.accounts.errors import AccountSuspended, ReauthenticationRequired
from mnwd.accounts.sessions import Viewer
from mnwd.db.jobs import Job, enqueue
from mnwd.errors import BadRequest, Conflict, NotFound, Unauthorized, ValidationFailed
from mnwd.mail import Mail
from mnwd.outbound import enqueue_mail
from mnwd.services import Services
from mnwd.web.browser import BrowserState

if TYPE_CHECKING:
    from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
    from webauthn.helpers.structs import AuthenticationCredential, PublicKeyCredentialDescriptor

__all__ = [
    "CHALLENGE_SECONDS",
    "MAX_NAME_CHARS",
    "NO_SUCH_PASSKEY",
    "PASSKEY_ADDED_MAIL",
    "PasskeyRejected",
    "RelyingParty",
    "authenticate_passkey",
    "begin_authentication",
    "begin_registration",
    "confirm_owner",
    "delete_passkey",
    "host_problem",
    "list_passkeys",
    "register_passkey",
    "relying_party",
    "rename_passkey",
    "send_passkey_added_mail",
]

log = logging.getLogger(__name__)

RP_NAME = "mnwd"
CHALLENGE_SECONDS = 180
MAX_NAME_CHARS = 64
REGISTRATION_STATE = "passkey_registration"
SIGN_IN_STATE = "passkey_sign_in"
NAME_MESSAGE = f"Use 1 to {MAX_NAME_CHARS} printable characters."
CLONED_MESSAGE = (
    "This passkey's signature counter went backwards, which is what a copied authenticator looks like, "
    "so it cannot sign you in. Sign in another way and replace the passkey."
)


def _malformed() -> tuple[type[Exception], ...]:
    """Anything the library or base64 decoding raises on a malformed credential. The library (py_webauthn,
    with fido2 and cryptography's X.509, a tenth of a second) is imported by the ceremonies that use it, not
    at start-up."""
    from webauthn.helpers.exceptions import WebAuthnException

    return (WebAuthnException, ValueError, TypeError, KeyError)


class PasskeyRejected(Unauthorized):
    def __init__(self, detail: str) -> None:
        super().__init__(detail, slug="invalid-credentials")


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    origin: str


def relying_party(services: Services) -> RelyingParty:
    """The RP ID is the host of the public URL; the origin its scheme, host and port as a browser writes it."""
    parts = urlsplit(services.config.base_url)
    host = parts.hostname or ""
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None and parts.port != default_port:
        netloc = f"{netloc}:{parts.port}"
    return RelyingParty(id=host, name=RP_NAME, origin=f"{parts.scheme}://{netloc}")


def host_problem(services: Services, page_host: str, path: str = "/settings/passkeys") -> str | None:
    """Why a browser on ``page_host`` (the request's Host, with any port) cannot make or use a passkey for this
    site, in words (pointing at ``path`` on the right host), or None. Browsers answer both cases only with a
    bare "invalid domain" error."""
    rp = relying_party(services)
    try:
        ipaddress.ip_address(rp.id)
    except ValueError:
        pass
    else:
        return (
            f"Passkeys need the site to have a name, and its address {rp.origin} is an IP address, which browsers "
            "refuse. Set MNWD_PUBLIC_URL to a name, such as http://localhost:PORT on this machine, restart, and "
            "open the site at that address."
        )
    host = (urlsplit(f"//{page_host}").hostname or "").lower()
    if host != rp.id and not host.endswith(f".{rp.id}"):
        return (
            f"Passkeys of this site belong to {rp.id}, and this page was opened at {host or 'another address'}. "
            f"Open {rp.origin}{path} to use them."
        )
    return None


# Challenges kept in the browser's transient state


async def _remember_challenge(
    services: Services, browser: BrowserState, key: str, challenge: bytes, **bound: str
) -> None:
    from webauthn.helpers import bytes_to_base64url

    state = await browser.load()
    until = services.clock.time() + CHALLENGE_SECONDS
    state[key] = {"challenge": bytes_to_base64url(challenge), "until": until, **bound}
    await browser.save(state)


async def _take_challenge(services: Services, browser: BrowserState, key: str) -> dict[str, Any] | None:
    """The pending challenge, removed from the state before anything is checked; None if none or expired."""
    pending = await browser.pop(key)
    if not isinstance(pending, dict) or pending.get("until", 0) < services.clock.time():
        return None
    return pending


# Registration


def _check_name(raw: str) -> str:
    name = raw.strip()
    if not 1 <= len(name) <= MAX_NAME_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValidationFailed(
            f"The passkey name was not accepted. {NAME_MESSAGE}", errors=[{"field": "name", "message": NAME_MESSAGE}]
        )
    return name


def _plain(value: str) -> str:
    # The library types these as str enums but hands some over as the plain str it decoded.
    return str(value.value) if isinstance(value, Enum) else str(value)


def _descriptor(row: asyncpg.Record) -> PublicKeyCredentialDescriptor:
    from webauthn.helpers.structs import AuthenticatorTransport, PublicKeyCredentialDescriptor

    transports = []
    for value in row["credential_json"].get("transports", []):
        try:
            transports.append(AuthenticatorTransport(value))
        except ValueError:
            continue
    return PublicKeyCredentialDescriptor(id=bytes(row["credential_id"]), transports=transports or None)


async def begin_registration(browser: BrowserState, services: Services, viewer: Viewer) -> str:
    """Options for ``navigator.credentials.create()`` as JSON; the challenge is kept for this user in this browser."""
    from webauthn import generate_registration_options, options_to_json
    from webauthn.helpers.structs import (
        AuthenticatorSelectionCriteria,
        ResidentKeyRequirement,
        UserVerificationRequirement,
    )

    rp = relying_party(services)
    existing = await queries.list_passkeys(services.pool, viewer.user_id)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        # A stable handle, so an authenticator replaces its old passkey for this account instead of adding one.
        user_id=viewer.user_id.bytes,
        user_name=viewer.username,
        user_display_name=viewer.display_name or viewer.username,
        timeout=CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(row) for row in existing],
    )
    await _remember_challenge(services, browser, REGISTRATION_STATE, options.challenge, user_id=str(viewer.user_id))
    return options_to_json(options)


# The durable job that tells the owner a passkey was added (payload: the user and passkey ids).
PASSKEY_ADDED_MAIL = "accounts.passkey_added_mail"


async def confirm_owner(services: Services, viewer: Viewer, *, password: str, code: str) -> None:
    """Before a passkey is added, ask again who this is, so a stolen session cookie cannot add a way in: the
    password, or a TOTP code for an account without one, every time (a passed check counts as a recent
    authentication, `reauth`). An account with neither has nothing to ask: its session must be recently
    authenticated (a link sign-in is, for such an account). The owner is mailed about every new passkey anyway.

    Raises `ValidationFailed` (422) naming the field, `ReauthenticationRequired` (403), or `TooManyRequests`.
    """
    user = await queries.get_user_by_id(services.pool, viewer.user_id)
    if user is not None and user["password_hash"] is None and not user["totp_enabled"]:
        # Nothing to type: the session must have proved itself lately (a sign-in link or a passkey).
        if not reauth.is_recently_authenticated(services, viewer):
            raise ReauthenticationRequired(reauth.confirm_url("/settings/passkeys"))
        return
    await totp.confirm_owner(services, viewer.user_id, password=password, code=code)
    await reauth.mark_recently_authenticated(services, viewer)


async def send_passkey_added_mail(services: Services, job: Job) -> None:
    """The job queued by `register_passkey`: nothing to do for an account or passkey gone meanwhile."""
    user = await queries.get_user_by_id(services.pool, uuid.UUID(job.payload["user_id"]))
    if user is None:
        return
    passkey_id = uuid.UUID(job.payload["passkey_id"])
    passkey = next(
        (row for row in await queries.list_passkeys(services.pool, user["id"]) if row["id"] == passkey_id), None
    )
    if passkey is None:
        return
    text = (
        f"Hello @{user['username']},\n\n"
        f'A passkey named "{passkey["name"]}" was added to your mnwd account. It can sign in to your account '
        "without a password.\n\n"
        f"If it was not you, delete it at {services.config.base_url}/settings/passkeys, change your password, "
        "and sign out your other sessions.\n"
    )
    await enqueue_mail(
        services.pool, Mail(to=user["email"], subject="A passkey was added to your mnwd account", text=text)
    )


async def register_passkey(
    browser: BrowserState, services: Services, viewer: Viewer, name: str, credential: dict[str, Any]
) -> asyncpg.Record:
    """Verify the authenticator's answer to the pending challenge and store the new passkey."""
    from webauthn import verify_registration_response
    from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_registration_credential_json

    name = _check_name(name) if name.strip() else ""
    pending = await _take_challenge(services, browser, REGISTRATION_STATE)
    if pending is None or pending.get("user_id") != str(viewer.user_id):
        raise BadRequest("No passkey registration is in progress in this browser, or it expired. Start again.")
    rp = relying_party(services)
    try:
        parsed = parse_registration_credential_json(credential)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=base64url_to_bytes(pending["challenge"]),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            require_user_verification=False,
        )
    except _malformed() as exc:
        raise BadRequest(f"The passkey could not be registered: {exc}") from None
    transports = [t.value for t in parsed.response.transports or []]
    stored = {
        "public_key": bytes_to_base64url(verified.credential_public_key),
        "transports": transports,
        "aaguid": verified.aaguid,
        "fmt": _plain(verified.fmt),
        "device_type": _plain(verified.credential_device_type),
        "backed_up": verified.credential_backed_up,
        "user_verified": verified.user_verified,
    }
    if not name:
        name = f"Passkey {await queries.count_passkeys(services.pool, viewer.user_id) + 1}"
    row = await queries.insert_passkey(
        services.pool,
        user_id=viewer.user_id,
        credential_id=verified.credential_id,
        credential_json=stored,
        name=name,
        sign_count=verified.sign_count,
    )
    if row is None:
        raise Conflict("This passkey is already registered. Use it to sign in, or register another one.")
    await enqueue(services.pool, PASSKEY_ADDED_MAIL, {"user_id": str(viewer.user_id), "passkey_id": str(row["id"])})
    services.jobs.wake()
    return row


# Sign-in


async def begin_authentication(browser: BrowserState, services: Services) -> str:
    """Options for ``navigator.credentials.get()`` as JSON: any passkey of this site may answer."""
    from webauthn import generate_authentication_options, options_to_json
    from webauthn.helpers.structs import UserVerificationRequirement

    options = generate_authentication_options(
        rp_id=relying_party(services).id,
        timeout=CHALLENGE_SECONDS * 1000,
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    await _remember_challenge(services, browser, SIGN_IN_STATE, options.challenge)
    return options_to_json(options)


def _counter_stale(credential: AuthenticationCredential, stored: int) -> bool:
    """The rule of the library's counter check, applied on its own (to tell a clone from other failures)."""
    from webauthn.helpers import parse_authenticator_data

    try:
        received = parse_authenticator_data(credential.response.authenticator_data).sign_count
    except _malformed():
        return False
    return (received > 0 or stored > 0) and received <= stored


def _verify_assertion(
    rp: RelyingParty, credential: AuthenticationCredential, challenge: bytes, passkey: asyncpg.Record
) -> VerifiedAuthentication:
    from webauthn import verify_authentication_response
    from webauthn.helpers import base64url_to_bytes
    from webauthn.helpers.exceptions import InvalidAuthenticationResponse

    public_key = base64url_to_bytes(passkey["credential_json"]["public_key"])

    def verify(current_count: int) -> VerifiedAuthentication:
        return verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=public_key,
            credential_current_sign_count=current_count,
            require_user_verification=False,
        )

    try:
        return verify(passkey["sign_count"])
    except _malformed() as exc:
        failure = f"The passkey's answer was not accepted: {exc}"
        maybe_cloned = isinstance(exc, InvalidAuthenticationResponse) and _counter_stale(
            credential, passkey["sign_count"]
        )
    if not maybe_cloned:
        raise PasskeyRejected(failure)
    # A stale counter on an answer that is otherwise genuine (signature included) is the clone signal;
    # forged answers with a low counter must not raise that alarm.
    try:
        stale = verify(0)
    except _malformed():
        raise PasskeyRejected(failure) from None
    log.warning(
        "passkey sign counter did not increase; possibly a cloned authenticator",
        extra={
            "passkey_id": str(passkey["id"]),
            "user_id": str(passkey["user_id"]),
            "stored_sign_count": passkey["sign_count"],
            "received_sign_count": stale.new_sign_count,
        },
    )
    raise PasskeyRejected(CLONED_MESSAGE)


async def authenticate_passkey(browser: BrowserState, services: Services, credential: dict[str, Any]) -> uuid.UUID:
    """The user whose passkey answered the pending challenge, its use recorded; or a problem."""
    from webauthn.helpers import base64url_to_bytes, parse_authentication_credential_json

    pending = await _take_challenge(services, browser, SIGN_IN_STATE)
    if pending is None:
        raise PasskeyRejected("No passkey sign-in is in progress in this browser, or it expired. Try again.")
    try:
        parsed = parse_authentication_credential_json(credential)
    except _malformed() as exc:
        raise BadRequest(f"The passkey's answer is malformed: {exc}") from None
    passkey = await queries.get_passkey_for_sign_in(services.pool, parsed.raw_id)
    if passkey is None:
        raise PasskeyRejected(
            "This passkey is not registered here (it may have been deleted). Sign in another way and add it again."
        )
    user_handle = parsed.response.user_handle
    if user_handle is not None and user_handle != passkey["user_id"].bytes:
        raise PasskeyRejected("The passkey's answer names another account than the passkey belongs to.")
    verified = _verify_assertion(relying_party(services), parsed, base64url_to_bytes(pending["challenge"]), passkey)
    if passkey["suspended_at"] is not None:
        raise AccountSuspended()
    recorded = await queries.update_passkey_sign_count(
        services.pool, passkey["id"], passkey["sign_count"], verified.new_sign_count
    )
    if not recorded:
        raise PasskeyRejected("This passkey was used by another sign-in at the same moment. Try again.")
    user_id: uuid.UUID = passkey["user_id"]
    return user_id


# Managing one's passkeys


async def list_passkeys(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await queries.list_passkeys(pool, user_id)


NO_SUCH_PASSKEY = "You have no such passkey."


async def rename_passkey(pool: asyncpg.Pool, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> None:
    if not await queries.update_passkey_name(pool, user_id, passkey_id, _check_name(name)):
        raise NotFound("You have no such passkey.")


async def delete_passkey(pool: asyncpg.Pool, user_id: uuid.UUID, passkey_id: uuid.UUID) -> None:
    if not await queries.delete_passkey(pool, user_id, passkey_id):
        raise NotFound("You have no such passkey.")
