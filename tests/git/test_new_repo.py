"""The "New repository" form at /source/new: creates the row and the bare repo, which the real ``git``
then pushes to over SSH and clones over HTTP; names checked, a taken one is 409, CSRF and sign-in needed."""

from __future__ import annotations

from pathlib import Path

from mnwd.git.repos import repo_dir
from mnwd.services import Services
from tests.git.conftest import MakeGitUser, make_commits, run
from tests.support.accounts import sign_in
from tests.support.browser import Browser

NEW = "/source/new"


async def test_new_repository_form_creates_an_empty_repo_that_takes_a_push(
    browser: Browser,
    other_browser: Browser,
    git_user: MakeGitUser,
    services: Services,
    tmp_path: Path,
) -> None:
    ada = await git_user("ada")
    await git_user("bob")
    assert (await browser.get(NEW, follow=False)).status in {302, 303}  # signed out: to the sign-in page
    await sign_in(browser, "ada")
    owner_page = await browser.get("/source/ada")
    assert 'href="/source/new"' in owner_page.text
    assert 'href="/source/new"' not in (await other_browser.get("/source/ada")).text
    form = await browser.get(NEW)
    assert form.status == 200
    assert form.has("New repository")

    created = await browser.submit(
        NEW, NEW, {"name": "hello", "description": "A <b>greeting</b>", "visibility": "public"}
    )
    assert created.status == 303
    assert created.location == "/source/ada/hello"
    row = await services.pool.fetchrow("SELECT * FROM git_repos WHERE name = 'hello'")
    assert row["is_private"] is False
    assert row["description"] == "A <b>greeting</b>"
    assert (repo_dir(services, row["id"]) / "HEAD").is_file()
    home = await other_browser.get("/source/ada/hello")  # public: anyone sees it, empty
    assert home.status == 200
    assert home.has("A <b>greeting</b>")
    assert "<b>greeting" not in home.text

    work = tmp_path / "hello"
    head = await make_commits(ada, work, 2)
    pushed = await ada.git("push", ada.url("ada/hello.git"), "main", cwd=work)
    assert pushed.status == 0, pushed.stderr
    clone = tmp_path / "clone"
    url = str(browser.client.make_url("/source/ada/hello.git"))
    cloned = await run("git", "clone", "-q", url, str(clone), env={"GIT_TERMINAL_PROMPT": "0"})
    assert cloned.status == 0, cloned.stderr
    assert (await run("git", "-C", str(clone), "rev-parse", "HEAD")).stdout.strip() == head

    private = await browser.submit(NEW, NEW, {"name": "secret", "visibility": "private"})
    assert private.location == "/source/ada/secret"
    assert (await other_browser.get("/source/ada/secret")).status == 404

    taken = await browser.submit(NEW, NEW, {"name": "hello", "visibility": "public"})
    assert taken.status == 409
    assert taken.has("You already have a repository named hello.")
    for bad in ("", "a/b", "../x", "x.git", ".hidden", "x" * 101, "sp ace", "<script>"):
        refused = await browser.submit(NEW, NEW, {"name": bad, "visibility": "public"})
        assert refused.status == 422, bad
    long = await browser.submit(NEW, NEW, {"name": "fine", "description": "x" * 501})
    assert long.status == 422
    assert long.has("Use at most 500 characters")
    # Without the form's CSRF token nothing is created.
    forged = await browser.post(NEW, {"name": "forged", "visibility": "public"})
    assert forged.status == 403
    assert await services.pool.fetchval("SELECT array_agg(name ORDER BY name) FROM git_repos") == ["hello", "secret"]
    # Under one's own name only: bob's new repo is bob's.
    await sign_in(other_browser, "bob")
    bobs = await other_browser.submit(NEW, NEW, {"name": "hello", "visibility": "public"})
    assert bobs.location == "/source/bob/hello"
