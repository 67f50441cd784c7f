"""Fixtures of the platform tests: ``maker_api``, a creator's JSON API client with a personal access token."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from mnwd.accounts.personal_tokens import create_token
from mnwd.services import Services
from tests.platform.clients import Api
from tests.support.accounts import MakeUser


@pytest.fixture
async def maker_api(services: Services, client: TestClient, make_user: MakeUser) -> Api:  # type: ignore[type-arg]
    user = await make_user("maker", can_create_projects=True)
    issued = await create_token(
        services, user["id"], name="tests", scopes=["store:read", "store:write"], expires_days=None
    )
    return Api(client, issued.secret)
