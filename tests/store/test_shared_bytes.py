"""The blob store is shared: bytes named by a media file survive sync's collection of the same hash, and
the other way round (`mnwd.blobs.references`). Before the shared check, deleting a sync blob with the
bytes of someone's public image deleted the image's bytes."""

from __future__ import annotations

import hashlib
import re

from mnwd.services import Services
from mnwd.store.files import collect_file
from mnwd.sync.blobs import collect_blob
from tests.store.social_support import image_bytes, make_creator
from tests.store.test_media import upload_page
from tests.support.browser import Browser


async def test_sync_collection_keeps_bytes_a_media_file_names(alice: Browser, services: Services) -> None:
    await make_creator(services.pool, "alice")
    data = image_bytes("PNG", (3, 3))
    sha256 = hashlib.sha256(data).hexdigest()
    response = await upload_page(alice, data, "shared.png")
    assert response.status == 303, await response.text()
    page = await alice.get(response.headers["Location"])
    match = re.search(r"\((/media/[0-9a-f-]{36}/shared\.png)\)", page.text)
    assert match, page.text

    # What sync runs after someone deletes their sync blob holding the same bytes.
    assert await collect_blob(services, sha256) is False
    served = await alice.client.get(match.group(1))
    assert served.status == 200
    assert await served.read() == data

    # A sync blob naming the bytes keeps them when the media file goes.
    app_id = await services.pool.fetchval(
        "INSERT INTO sync_apps (creator_id, name, slug, api_key_hash, api_key_prefix) "
        "SELECT id, 'Notes', 'notes', sha256('k'::bytea), 'k' FROM users WHERE username = 'alice' RETURNING id"
    )
    await services.pool.execute(
        "INSERT INTO sync_blobs (app_id, user_id, hash, s3_key, size_bytes, content_type) "
        "SELECT $1, id, $2, $2, $3, 'image/png' FROM users WHERE username = 'alice'",
        app_id,
        sha256,
        len(data),
    )
    await services.pool.execute("DELETE FROM media_files")
    assert await collect_file(services, sha256) is False
    assert await services.blobs.exists(sha256)

    await services.pool.execute("DELETE FROM sync_blobs")
    assert await collect_blob(services, sha256) is True
    assert not await services.blobs.exists(sha256)
