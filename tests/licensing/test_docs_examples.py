"""docs/licensing.md as written: its request/response examples are sent one after another to a server holding
the key they use, and every documented field must be in the answer with that value (``<…>`` matches any);
its Python verification snippet verifies a real file and refuses altered, foreign and expired ones."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from mnwd.licensing import keys
from mnwd.services import Services
from tests.licensing.conftest import Client, MovableClock, Shop, api

DOC = Path(__file__).resolve().parents[2] / "docs" / "licensing.md"
EXAMPLE = re.compile(
    r"^<!-- licensing: example -->\n```http\n(.*?)\n```\n```http\n(.*?)\n```$", re.MULTILINE | re.DOTALL
)
SNIPPET = re.compile(r"^<!-- licensing: verify -->\n```python\n(.*?)\n```$", re.MULTILINE | re.DOTALL)
DOC_KEY = "ABCDE-FGHJK-MNPQR-STVWX"


def matches(documented: Any, actual: Any, where: str = "$") -> None:
    if isinstance(documented, dict):
        assert isinstance(actual, dict), where
        for name, value in documented.items():
            assert name in actual, f"{where}.{name} is missing from {actual}"
            matches(value, actual[name], f"{where}.{name}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), where
        assert len(documented) == len(actual), f"{where}: {actual}"
        for n, (d, a) in enumerate(zip(documented, actual, strict=True)):
            matches(d, a, f"{where}[{n}]")
    elif isinstance(documented, str) and re.search(r"<[^>]*>", documented):
        pattern = "".join(
            ".+" if re.fullmatch(r"<[^>]*>", part) else re.escape(part) for part in re.split(r"(<[^>]*>)", documented)
        )
        assert isinstance(actual, str), where
        assert re.fullmatch(pattern, actual, re.DOTALL), f"{where}: {actual!r} is not like {documented!r}"
    else:
        assert documented == actual, f"{where}: {actual!r}, documented {documented!r}"


async def give_doc_key(services: Services, shop: Shop, owner_id: uuid.UUID) -> None:
    await services.pool.execute(
        """
        INSERT INTO license_keys (item_id, owner_id, key_code, key_hash, key_last, max_activations, entitlements)
        VALUES ($1, $2, $3, $4, $5, 1, '{pro}')
        """,
        shop.item_id,
        owner_id,
        keys.encrypt_key(services.keyring, DOC_KEY),
        keys.key_hash(DOC_KEY),
        keys.key_last(DOC_KEY),
    )


async def test_the_examples_run_as_written(client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services) -> None:
    await give_doc_key(services, shop, buyer_id)
    examples = EXAMPLE.findall(DOC.read_text())
    assert len(examples) >= 7
    for request, response in examples:
        head, _, body = request.partition("\n\n")
        method, path = head.splitlines()[0].split()
        assert method == "POST"
        status_line, _, answer = response.partition("\n\n")
        status, doc = await api(client, path, json.loads(body))
        assert status == int(status_line.split()[1]), (request, doc)
        matches(json.loads(answer), doc)


@pytest.fixture
def verify() -> Any:
    snippet = SNIPPET.search(DOC.read_text())
    assert snippet is not None
    scope: dict[str, Any] = {}
    exec(snippet.group(1), scope)
    return scope["verify"]


async def test_the_verification_snippet(
    client: Client, shop: Shop, buyer_id: uuid.UUID, services: Services, verify: Any
) -> None:
    key = await shop.buy_key(buyer_id)
    _, activated = await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    async with client.get("/.well-known/mnwd-license-keys.json") as response:
        well_known = await response.json()
    document = verify(activated["license_file"], well_known, "laptop")
    assert document["license"]["status"] == "active"
    async with client.get("/api/v1/licenses/file", params={"key": key, "fingerprint": "laptop", "encrypt": "1"}) as r:
        encrypted = await r.text()
    assert verify(encrypted, well_known, "laptop", key)["activation"]["fingerprint"] == "laptop"

    with pytest.raises(ValueError, match="another device"):
        verify(activated["license_file"], well_known, "desktop")
    lines = activated["license_file"].splitlines()
    wrapper = json.loads(base64.b64decode("".join(lines[1:-1])))
    wrapper["enc"] = wrapper["enc"][:-4] + ("AAAA" if not wrapper["enc"].endswith("AAAA") else "BBBB")
    tampered = "\n".join([lines[0], base64.b64encode(json.dumps(wrapper).encode()).decode(), lines[-1]])
    with pytest.raises(Exception) as refused:  # noqa: PT011 - cryptography's InvalidSignature, as a reader sees it
        verify(tampered, well_known, "laptop")
    assert type(refused.value).__name__ == "InvalidSignature"


async def test_the_snippet_refuses_an_expired_file(
    client: Client, shop: Shop, buyer_id: uuid.UUID, clock: MovableClock, verify: Any
) -> None:
    key = await shop.buy_key(buyer_id)
    await api(client, "/api/v1/licenses/activate", {"key": key, "fingerprint": "laptop"})
    clock.advance(-7200)  # a file issued two hours ago with a one-hour ttl
    async with client.get("/api/v1/licenses/file", params={"key": key, "fingerprint": "laptop", "ttl": "3600"}) as r:
        text = await r.text()
    async with client.get("/.well-known/mnwd-license-keys.json") as response:
        well_known = await response.json()
    with pytest.raises(ValueError, match="expired"):
        verify(text, well_known, "laptop")
