"""End-to-end fixtures: the real daemon (``daemon`` from tests/support/daemon.py) driven by a real headless Chromium.

The browser is Debian's ``chromium`` (installed by ``scripts/setup``), launched through playwright's
``executable_path``; playwright never downloads a browser of its own here. When a test fails, its report
carries the page's URL, what went wrong in the browser, the tail of the daemon's log and the path of a
screenshot taken at teardown.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Response,
    ViewportSize,
    async_playwright,
    expect,
)

from tests.support.accounts import PASSWORD
from tests.support.daemon import RunningDaemon
from tests.support.docs import ROOT

TIMEOUT_MS = 10_000
LAUNCH_TIMEOUT_MS = 30_000
VIEWPORT = ViewportSize(width=1280, height=900)
# We run as root, hence --no-sandbox; the rest keeps Chromium quiet and from calling home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOG_TAIL_CHARS = 4000


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "Debian chromium is not installed (no `chromium` on PATH): `make test` installs it through "
            "scripts/setup, or run `apt-get install -y chromium`",
            pytrace=False,
        )
    return path


@dataclass
class BrowserRun:
    """One test's page and what the browser saw go wrong: JS errors, console errors, failed requests."""

    page: Page
    daemon: RunningDaemon
    failure_screenshot: Path
    problems: list[str] = field(default_factory=list)

    def watch(self) -> None:
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)
        self.page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.method} {r.url}"))
        self.page.on("response", self._response)

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type in {"error", "warning"}:
            self.problems.append(f"console {message.type}: {message.text} ({url})")


RUN = pytest.StashKey[BrowserRun]()
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """On a failed test, note that teardown should take a screenshot, and add what helps to the report."""
    report = yield
    assert isinstance(report, pytest.TestReport)
    run = item.stash.get(RUN, None)
    if report.when == "call" and report.failed and run is not None:
        item.stash[FAILED] = True
        report.sections.append(
            (
                "browser",
                f"page: {run.page.url}\nscreenshot (taken at teardown): {run.failure_screenshot}\n"
                + "".join(f"{problem}\n" for problem in run.problems),
            )
        )
        report.sections.append((f"daemon log, tail ({run.daemon.log_path})", run.daemon.log()[-LOG_TAIL_CHARS:]))
    return report


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS, timeout=LAUNCH_TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def browser_run(
    chromium: Browser, daemon: RunningDaemon, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BrowserRun]:
    """A fresh browser context (no cookies) whose relative URLs go to the daemon; 10 s timeouts throughout."""
    expect.set_options(timeout=TIMEOUT_MS)
    context = await chromium.new_context(base_url=daemon.base_url, viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    run = BrowserRun(await context.new_page(), daemon, tmp_path / "failure.png")
    run.watch()
    request.node.stash[RUN] = run
    try:
        yield run
    finally:
        if request.node.stash.get(FAILED, False):
            try:
                await run.page.screenshot(path=run.failure_screenshot, full_page=True)
            except Error as error:
                print(f"no screenshot at failure: {error}")
        await context.close()


@pytest.fixture
def page(browser_run: BrowserRun) -> Page:
    return browser_run.page


# Screenshots of pages, kept at the repository's root for a person to look at.
ARTIFACTS = ROOT / "var" / "test-artifacts" / "pages"
DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Path:
    """``var/test-artifacts/pages/<test>/``, emptied of an earlier run's screenshots."""
    directory = ARTIFACTS / request.node.name
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    return directory


async def shoot(page: Page, shots: Path, name: str) -> None:
    """Screenshots at both widths; at phone width nothing may stick out sideways."""
    for viewport in (DESKTOP, PHONE):
        await page.set_viewport_size(viewport)
        path = shots / f"{name}-{viewport['width']}.png"
        await capture_full_page(page, path)
        assert path.stat().st_size > 1000, path
        if viewport is PHONE:
            widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{name} at {page.url} is {widths[0]} px wide on a 390 px screen"
    await page.set_viewport_size(DESKTOP)


async def capture_full_page(page: Page, path: Path) -> None:
    """A full-page PNG of ``page`` at ``path``, as ``page.screenshot(full_page=True)`` takes it but encoded by
    Chromium's fast PNG encoder (CDP ``optimizeForSpeed``): the same pixels in a larger file, for about 40 %
    less CPU, which is most of what a screenshot costs."""

    cdp = await page.context.new_cdp_session(page)
    try:
        width, height = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        shot = await cdp.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "optimizeForSpeed": True,
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
        )
    finally:
        await cdp.detach()
    path.write_bytes(base64.b64decode(shot["data"]))


async def sign_in_page(page: Page, login: str, base_url: str, landing: str = "/settings") -> None:
    """Sign ``login`` in through the sign-in page of ``page``'s site (password `tests.support.accounts.PASSWORD`),
    and wait for ``landing``."""
    await page.goto("/login")
    await page.get_by_label("Username or email").fill(login)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(f"{base_url}{landing}")


@contextlib.asynccontextmanager
async def own_chromium_page(*extra_args: str) -> AsyncIterator[Page]:
    """A page of a Chromium of its own, launched with `CHROMIUM_ARGS` and ``extra_args`` (such as
    ``--host-resolver-rules=MAP shop.example.com 127.0.0.1`` to open a custom domain), closed after the block."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[*CHROMIUM_ARGS, *extra_args],
            timeout=LAUNCH_TIMEOUT_MS,
        )
        try:
            page = await chromium.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            await chromium.close()
