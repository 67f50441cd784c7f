"""The fake Stripe (`tests.fakes.stripe.FakeStripe`) set up for a test, in one place for every domain's tests.

- ``fake_stripe`` (fixture): the fake, started on loopback for the test and stopped after it;
- ``stripe_env`` (fixture): the ``MNWD_STRIPE_*`` settings pointing at it (`stripe_settings`); a module
  overrides it (``{}``) to run without payments;
- ``config`` (fixture): the test's `Config` with those settings. A test module or conftest imports the three and
  names them in its ``__all__`` (they are fixtures, used by name);
- `payments_daemon` (for an e2e ``daemon`` fixture): `mnwd serve` with payments on, the fake sending its
  events back to it;
- `connect_seller` (a signed-in creator connects Stripe: the fake's onboarding), `onward` (where a form's
  answer sends the browser) and `session_of` (the Checkout Session of the fake's pay page).
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mnwd.config import Config
from tests.fakes.stripe import FakeStripe
from tests.support.browser import Browser, Page
from tests.support.daemon import RunningDaemon, free_port, start_daemon
from tests.support.db import MIGRATIONS_DIR

__all__ = [
    "config",
    "connect_seller",
    "fake_stripe",
    "onward",
    "payments_daemon",
    "session_of",
    "stripe_env",
    "stripe_settings",
]


@pytest.fixture
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    fake = await FakeStripe().start()
    yield fake
    await fake.stop()


def stripe_settings(fake: FakeStripe) -> dict[str, str]:
    """The ``MNWD_STRIPE_*`` settings of a daemon paying through ``fake``."""
    return {
        "MNWD_STRIPE_SECRET_KEY": fake.secret_key,
        "MNWD_STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "MNWD_STRIPE_API_BASE": fake.url,
    }


@pytest.fixture
def stripe_env(fake_stripe: FakeStripe) -> dict[str, str]:
    """The MNWD_STRIPE_* settings; a test module overrides this fixture to run without payments."""
    return stripe_settings(fake_stripe)


@pytest.fixture
def config(tmp_path: Path, db_url: str, stripe_env: dict[str, str]) -> Config:
    return Config.from_env(
        {"MNWD_DB_POOL_MIN": "1", **stripe_env},
        data_dir=tmp_path / "var",
        ssh_port=free_port(),
        database_url=db_url,
        migrations_dir=MIGRATIONS_DIR,
        log_format="text",
    )


@contextlib.contextmanager
def payments_daemon(data_dir: Path, db_url: str, fake: FakeStripe) -> Iterator[RunningDaemon]:
    """`mnwd serve` with payments on, pointed at the fake Stripe, which sends its events back to it."""
    port = free_port()
    running = start_daemon(
        data_dir,
        {
            "DATABASE_URL": db_url,
            "MNWD_HTTP_PORT": str(port),
            "MNWD_PUBLIC_URL": f"http://127.0.0.1:{port}",
            **stripe_settings(fake),
        },
    )
    fake.webhook_url = f"{running.base_url}/stripe/webhook"
    try:
        yield running
    finally:
        running.stop()


def onward(page: Page) -> str:
    """Where a form's answer sends the browser: a 303's Location, or the link of our "continue" page."""
    if page.status == 303:
        assert page.location is not None
        return page.location
    assert page.status == 200, page.text
    match = re.search(r'id="continue" href="([^"]+)"', page.text)
    assert match, page.text
    return html.unescape(match.group(1))


def session_of(location: str) -> str:
    """The Checkout Session id in the fake's pay page address."""
    match = re.search(r"/pay/(cs_test_[0-9a-f]+)", location)
    assert match, location
    return match.group(1)


async def connect_seller(browser: Browser, fake: FakeStripe) -> str:
    """Connect the signed-in creator of ``browser`` to Stripe through the dashboard and the fake's onboarding:
    the connected account's id."""
    page = await browser.submit("/dashboard/commerce", "/dashboard/commerce/connect", {})
    location = onward(page)
    match = re.search(r"/connect/onboard/(acct_[0-9a-f]+)", location)
    assert match, location
    fake.complete_onboarding(match.group(1))
    await fake.settle()
    return match.group(1)
