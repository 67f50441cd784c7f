"""The buyer's side: their keys with each key's devices, for ``/library/keys``.

Interface::

    await list_owned_keys(services, owner_id) -> [OwnedKey]   # the key shown again, its activations
    await claim_at_sign_up(tx, user_id, extras)                # the accounts SIGNUP_HOOKS hook

**Comps to an address without an account** (``issued_to_email``, no owner) become the account's whose
*verified* e-mail it is: at sign-up when the address is verified then, else when the owner's keys are listed
after it is (a sign-in link, the verification link, an e-mail change all verify it). A sign-up alone does not
prove the mailbox: anyone could sign up with a friend's address and read the key meant for them.

Freeing devices is `activations.buyer_deactivate` and `activations.buyer_swap` (owner checked under the
key's row lock); another account's key or device is "not found".
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from mnwd.db.tx import Tx
from mnwd.licensing import keys, queries
from mnwd.licensing.model import Activation, License
from mnwd.services import Services

__all__ = ["OwnedKey", "claim_at_sign_up", "list_owned_keys"]


@dataclass(frozen=True)
class OwnedKey:
    license: License
    text: str | None  # None when the server's secret key changed since the key was issued
    status: str
    activations: list[Activation]


async def claim_at_sign_up(tx: Tx, user_id: uuid.UUID, extras: Mapping[str, str]) -> None:
    await queries.claim_comps(tx.conn, user_id)


async def list_owned_keys(services: Services, owner_id: uuid.UUID) -> list[OwnedKey]:
    await queries.claim_comps(services.pool, owner_id)
    found = await queries.list_keys_of_owner(services.pool, owner_id)
    seats = await queries.list_activations_of_keys(services.pool, [k.id for k in found])
    now = services.clock.now()
    return [
        OwnedKey(
            license=k,
            text=keys.decrypt_key(services.keyring, k.key_code),
            status=k.effective_status(now),
            activations=[a for a in seats if a.license_key_id == k.id],
        )
        for k in found
    ]
