"""The /source/ browser in headless Chromium against `mnwd serve`, on a real repository: a bare clone of this
project (or, where this checkout has no history, its files in one). Browses the tree, a highlighted file (and
a line anchor), the history and one commit, then opens an issue and comments on it. Screenshots are kept in
the test's tmp dir (``shots/``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.async_api import Page, ViewportSize, expect

from mnwd.git.repos import ensure_repo
from mnwd.services import Services
from tests.support.accounts import PASSWORD, MakeUser
from tests.support.daemon import RunningDaemon
from tests.support.docs import ROOT
from tests.support.e2e import capture_full_page

pytestmark = pytest.mark.e2e

DESKTOP = ViewportSize(width=1280, height=900)
PHONE = ViewportSize(width=390, height=844)


def project_repo(bare: Path) -> str:
    """A bare clone of this project at ``bare``, its checked-out commit on ``main``. Where this checkout cannot
    give one with a history of 30 commits or more (no git, a shallow clone), the project's own files in a
    history of 35 commits instead."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    count = subprocess.run(["git", "-C", str(ROOT), "rev-list", "--count", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0 and count.returncode == 0 and int(count.stdout) >= 30:
        subprocess.run(["git", "clone", "-q", "--bare", "--no-tags", str(ROOT), str(bare)], check=True, timeout=120)
        git = ["git", "--git-dir", str(bare)]
        subprocess.run([*git, "update-ref", "refs/heads/main", head.stdout.strip()], check=True)
        subprocess.run([*git, "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
        return "main"
    return files_repo(bare)


def files_repo(bare: Path) -> str:
    """A bare repository at ``bare`` holding this project's own files (README, pyproject.toml, the mnwd
    package) in a history of 35 commits, on ``main``."""
    work = bare.parent / "work"
    shutil.copytree(ROOT / "mnwd", work / "mnwd", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("README.md", "pyproject.toml"):
        shutil.copy(ROOT / name, work / name)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.org"}
    env |= {"GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.org"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(work), *args], check=True, env=env, capture_output=True, timeout=60)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "The project as it is")
    for n in range(1, 35):
        (work / "CHANGES.txt").write_text(f"change {n}\n")
        git("add", "CHANGES.txt")
        git("commit", "-q", "-m", f"Change number {n}")
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True, timeout=120)
    shutil.rmtree(work)
    return "main"


async def shoot(page: Page, shots: Path, name: str) -> None:
    """A full-page screenshot at desktop width; at phone width the page must not scroll sideways (code and
    diffs scroll inside their own boxes)."""
    path = shots / f"{name}.png"
    await capture_full_page(page, path)
    assert path.stat().st_size > 1000
    await page.set_viewport_size(PHONE)
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{name} at {page.url} is {widths[0]} px wide on a 390 px screen"
    await page.set_viewport_size(DESKTOP)


async def test_browse_a_real_repository_and_open_an_issue(
    page: Page, daemon: RunningDaemon, services: Services, make_user: MakeUser, tmp_path: Path
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    ada = await make_user("ada")
    repo = await ensure_repo(services, ada["id"], "mnwd", is_private=False)
    hex_id = repo.id.hex
    branch = project_repo(tmp_path / "daemon" / "git" / hex_id[:2] / f"{hex_id}.git")
    await services.pool.execute("UPDATE git_repos SET default_branch = $1 WHERE id = $2", branch, repo.id)

    # The tree, with the README rendered.
    await page.goto("/source/ada/mnwd")
    await expect(page.get_by_role("heading", name="ada / mnwd")).to_be_visible()
    await expect(page.locator("table.tree")).to_contain_text("pyproject.toml")
    await expect(page.locator("#readme")).to_contain_text("mnwd")
    await shoot(page, shots, "0-tree")

    # Into a directory, then a highlighted file, then a line anchor.
    await page.locator("table.tree").get_by_role("link", name="mnwd/", exact=True).click()
    await expect(page).to_have_url(re.compile(rf"/source/ada/mnwd/tree/{re.escape(branch)}/mnwd$"))
    await page.locator("table.tree").get_by_role("link", name="errors.py", exact=True).click()
    await expect(page.locator("#code")).to_contain_text("class Problem(MnwdError)")
    await expect(page.locator("#code span.k").first).to_be_visible()
    await shoot(page, shots, "1-file")
    await page.locator("#L5 a").click()
    await expect(page).to_have_url(re.compile(r"#L5$"))

    # The history, then one commit with its diff.
    await page.get_by_role("navigation", name="Repository").get_by_role("link", name="Commits").click()
    await expect(page.locator(".commit-row").first).to_be_visible()
    assert await page.locator(".commit-row").count() == 30
    await shoot(page, shots, "2-log")
    await page.locator(".commit-row a.summary").first.click()
    await expect(page.locator("section.diff").first).to_be_visible()
    await shoot(page, shots, "3-commit")

    # Sign in and open an issue with Markdown in it, then comment and close it.
    await page.goto("/login?next=/source/ada/mnwd/issues/new")
    await page.get_by_label("Username or email").fill("ada")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("main").get_by_role("button", name="Sign in", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/source/ada/mnwd/issues/new$"))
    await page.get_by_label("Title").fill("The log page needs a search box")
    await page.get_by_label("Description (Markdown)").fill("It would help **a lot** with `big` histories.")
    await page.get_by_role("button", name="Open the issue").click()
    await expect(page).to_have_url(re.compile(r"/source/ada/mnwd/issues/1$"))
    await expect(page.locator("#issue-body strong")).to_have_text("a lot")
    await page.get_by_label("Comment (Markdown)").fill("Agreed.")
    await page.get_by_role("button", name="Comment").click()
    await expect(page.locator("article.comment").nth(1)).to_contain_text("Agreed.")
    await page.get_by_role("button", name="Close the issue").click()
    await expect(page.locator("#issue-state")).to_have_text("closed")
    await shoot(page, shots, "4-issue")
    await page.goto("/source/ada/mnwd/issues?state=closed")
    await expect(page.locator("#issues")).to_contain_text("The log page needs a search box")
    await shoot(page, shots, "5-issues")
    assert sorted(p.name for p in shots.iterdir()) == [
        "0-tree.png", "1-file.png", "2-log.png", "3-commit.png", "4-issue.png", "5-issues.png",
    ]  # fmt: skip
