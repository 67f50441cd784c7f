"""A new version mails the followers of its project and of its creator (``notify_release``), once each, and
nobody for an item that is not public."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from mnwd.services import Services
from tests.outbound.conftest import SmtpSink
from tests.store.conftest import Api, _api
from tests.support.accounts import MakeUser
from tests.support.outbound import run_jobs


@pytest.fixture
async def maker_api(services: Services, client: TestClient, make_user: MakeUser) -> Api:  # type: ignore[type-arg]
    return await _api(services, client, make_user, "maker")


async def test_followers_of_the_project_or_creator_hear_of_a_new_version_once(
    maker_api: Api, make_user: MakeUser, services: Services, smtp: SmtpSink
) -> None:
    project = await maker_api.project("tools")
    item = await maker_api.item(project["id"], "app")
    hidden = await maker_api.item(project["id"], "secret")
    await services.pool.execute("UPDATE projects SET is_public = true")
    await services.pool.execute("UPDATE items SET is_public = (slug = 'app')")
    follows = []
    for name, target_type, target_id in [
        ("fan", "project", project["id"]),
        ("fan2", "user", maker_api.user_id),
        ("both", "project", project["id"]),
        ("both", "user", maker_api.user_id),
        ("quiet", "project", project["id"]),
    ]:
        user = await services.pool.fetchrow("SELECT id FROM users WHERE username = $1", name) or await make_user(name)
        follows.append((user["id"], target_type, target_id))
    await services.pool.executemany(
        "INSERT INTO follows (follower_id, target_type, target_id) VALUES ($1, $2, $3::uuid)", follows
    )
    await services.pool.execute("UPDATE users SET notify_release = false WHERE username = 'quiet'")

    status, _ = await maker_api.put_file(item["id"], b"v1", "version=1.0.0&filename=app.zip")
    assert status == 201
    status, _ = await maker_api.put_file(hidden["id"], b"v1", "version=1.0.0&filename=secret.zip")
    assert status == 201
    await run_jobs(services)
    await run_jobs(services)
    received = sorted((m["To"], m["Subject"]) for m in smtp.sink.messages())
    assert received == [
        ("both@example.org", "App 1.0.0 is out"),
        ("fan2@example.org", "App 1.0.0 is out"),
        ("fan@example.org", "App 1.0.0 is out"),
    ]
    assert all(m["List-Unsubscribe"].startswith("<http") for m in smtp.sink.messages())
