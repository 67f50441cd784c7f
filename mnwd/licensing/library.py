"""The buyer's side: their keys with each key's devices, for ``/library/keys``.

Interface::

    await list_owned_keys(services, owner_id) -> [OwnedKey]   # the key shown again, its activations

Freeing devices is `activations.buyer_deactivate` and `activations.buyer_swap` (owner checked under the
key's row lock); another account's key or device is "not found".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mnwd.licensing import keys, queries
from mnwd.licensing.model import Activation, License
from mnwd.services import Services

__all__ = ["OwnedKey", "list_owned_keys"]


@dataclass(frozen=True)
class OwnedKey:
    license: License
    text: str | None  # None when the server's secret key changed since the key was issued
    status: str
    activations: list[Activation]


async def list_owned_keys(services: Services, owner_id: uuid.UUID) -> list[OwnedKey]:
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
