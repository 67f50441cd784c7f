"""The owner's repository settings over HTTP: description, visibility, default branch, rename, delete; and
everyone else kept out."""

from __future__ import annotations

from mnwd.git.repos import repo_dir
from mnwd.services import Services
from tests.git.repos_fixture import MakeGitRepo, commit_files, git, make_git_repo, push
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser

__all__ = ["make_git_repo"]

SETTINGS = "/source/ada/hello/settings"


async def test_save_description_visibility_and_default_branch(
    browser: Browser, other_browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo, services: Services
) -> None:
    ada = await make_user("ada")
    repo, work = await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    git(work, "checkout", "-q", "-b", "dev")
    commit_files(work, {"dev.txt": "dev\n"}, "On dev")
    push(work, "dev")
    await sign_in(browser, "ada")
    page = await browser.get(SETTINGS)
    assert page.status == 200
    assert '<option value="dev">dev</option>' in page.text

    saved = await browser.submit(
        SETTINGS, SETTINGS, {"description": "A <b>greeting</b>", "is_private": "on", "default_branch": "dev"}
    )
    assert saved.location == f"{SETTINGS}?saved=saved"
    home = await browser.get("/source/ada/hello")
    assert home.has("A <b>greeting</b>")
    assert "<b>greeting" not in home.text
    assert home.has("private")
    assert home.has("dev.txt")
    head = (repo_dir(services, repo.id) / "HEAD").read_text()
    assert head == "ref: refs/heads/dev\n"
    # Now private: others see nothing.
    assert (await other_browser.get("/source/ada/hello")).status == 404

    for values, message in (
        ({"default_branch": "nope"}, "There is no branch nope."),
        ({"default_branch": "../x"}, "Use a branch name such as main."),
        ({"default_branch": "main", "description": "x" * 501}, "Use at most 500 characters"),
    ):
        refused = await browser.submit(SETTINGS, SETTINGS, values)
        assert refused.status == 422
        assert refused.has(message)
    public = await browser.submit(SETTINGS, SETTINGS, {"description": "", "default_branch": "main"})
    assert public.status == 303
    assert (await other_browser.get("/source/ada/hello")).status == 200


async def test_rename(browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    await make_git_repo(ada, "taken")
    await sign_in(browser, "ada")
    taken = await browser.submit(SETTINGS, f"{SETTINGS}/rename", {"name": "taken"})
    assert taken.status == 409
    assert taken.has("You already have a repository named taken.")
    for bad in ("", "a/b", "../x", "x.git", ".hidden", "x" * 101, "sp ace"):
        refused = await browser.submit(SETTINGS, f"{SETTINGS}/rename", {"name": bad})
        assert refused.status == 422, bad
    renamed = await browser.submit(SETTINGS, f"{SETTINGS}/rename", {"name": "world"})
    assert renamed.location == "/source/ada/world/settings?saved=renamed"
    assert (await browser.get("/source/ada/world/blob/main/a.txt")).status == 200
    assert (await browser.get("/source/ada/hello")).status == 404


async def test_delete_asks_then_removes_the_row_and_the_bare_repo(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo, services: Services
) -> None:
    ada = await make_user("ada")
    repo, _ = await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    await browser.get("/")
    path = repo_dir(services, repo.id)
    assert path.is_dir()
    # The repo's accounted size (kept after each push) goes back to the owner, once.
    await services.pool.execute("UPDATE users SET storage_used_bytes = 1000 WHERE id = $1", ada["id"])
    await services.pool.execute("UPDATE git_repos SET size_bytes = 400 WHERE id = $1", repo.id)
    await sign_in(browser, "ada")
    confirm = await browser.get(f"{SETTINGS}/delete")
    assert confirm.has("Delete ada/hello?")
    assert path.is_dir()
    deleted = await browser.post(f"{SETTINGS}/delete", {"csrf_token": confirm.csrf})
    assert deleted.location == "/source/ada"
    assert not path.exists()
    assert list(path.parent.iterdir()) == []
    assert (await browser.get("/source/ada/hello")).status == 404
    assert await services.pool.fetchval("SELECT count(*) FROM git_repos") == 0
    used = await services.pool.fetchval("SELECT storage_used_bytes FROM users WHERE id = $1", ada["id"])
    assert used == 600


async def test_others_get_not_found_and_forms_need_the_csrf_token(
    browser: Browser, other_browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_user("bob")
    await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    # Signed out: sent to sign in.
    assert (await other_browser.get(SETTINGS, follow=False)).location.startswith("/login")
    await sign_in(other_browser, "bob")
    assert (await other_browser.get(SETTINGS)).status == 404
    assert "Settings</a>" not in (await other_browser.get("/source/ada/hello")).text
    csrf = (await other_browser.get("/source/ada/hello/issues/new")).csrf
    for path, data in (
        (SETTINGS, {"description": "pwned", "default_branch": "main"}),
        (f"{SETTINGS}/rename", {"name": "pwned"}),
        (f"{SETTINGS}/delete", {}),
    ):
        refused = await other_browser.post(path, {**data, "csrf_token": csrf})
        assert refused.status == 404, path
    await sign_in(browser, "ada")
    no_token = await browser.post(f"{SETTINGS}/delete", {})
    assert no_token.status == 403
    assert (await browser.get("/source/ada/hello")).status == 200
