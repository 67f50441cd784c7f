"""The issue tracker over HTTP: pages, forms, labels, the JSON API, numbering under concurrency and the
owner's mail."""

from __future__ import annotations

import asyncio
from typing import Any

from mnwd.accounts.personal_tokens import create_token
from mnwd.config import Config
from mnwd.git import issues
from mnwd.mail import read_outbox
from mnwd.services import Services
from tests.git.repos_fixture import MakeGitRepo, make_git_repo
from tests.support.accounts import MakeUser, sign_in
from tests.support.browser import Browser
from tests.support.outbound import run_jobs

__all__ = ["make_git_repo"]


async def _token(services: Services, user_id: object, *scopes: str) -> dict[str, str]:
    issued = await create_token(services, user_id, name="t", scopes=list(scopes), expires_days=None)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {issued.secret}"}


async def test_open_comment_close_and_reopen_an_issue(
    browser: Browser, other_browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_user("bob")
    await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    # Signed out: the list shows, the form asks to sign in.
    assert (await other_browser.get("/source/ada/hello/issues")).has("No issues here.")
    assert (await other_browser.get("/source/ada/hello/issues/new", follow=False)).location.startswith("/login")

    await sign_in(other_browser, "bob")
    body = "It **crashes** <script>alert(1)</script>"
    opened = await other_browser.submit(
        "/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": "Crash on start", "body": body}
    )
    assert opened.status == 303
    assert opened.location == "/source/ada/hello/issues/1"
    page = await other_browser.get("/source/ada/hello/issues/1")
    assert page.has("Crash on start")
    assert "<strong>crashes</strong>" in page.text
    assert "<script>alert(1)" not in page.text
    assert page.has("Close the issue")

    commented = await other_browser.submit(
        "/source/ada/hello/issues/1", "/source/ada/hello/issues/1/comments", {"body": "Also on *Tuesday*."}
    )
    assert commented.status == 303
    assert (await other_browser.get("/source/ada/hello/issues/1")).has("<em>Tuesday</em>")
    empty = await other_browser.submit(
        "/source/ada/hello/issues/1", "/source/ada/hello/issues/1/comments", {"body": "   "}
    )
    assert empty.status == 422
    assert empty.has("Write something first.")

    closed = await other_browser.submit(
        "/source/ada/hello/issues/1", "/source/ada/hello/issues/1/status", {"state": "closed"}
    )
    assert closed.location == "/source/ada/hello/issues/1?saved=closed"
    listing = await browser.get("/source/ada/hello/issues")
    assert listing.has("0 open")
    assert not listing.has("Crash on start")
    assert (await browser.get("/source/ada/hello/issues?state=closed")).has("Crash on start")
    assert (await browser.get("/source/ada/hello/issues?state=all")).has("1 closed")

    # Someone else (neither author nor owner) cannot reopen it.
    await make_user("cy")
    third = Browser(browser.client)
    await sign_in(third, "cy")
    refused = await third.submit("/source/ada/hello/issues/1", "/source/ada/hello/issues/1/status", {"state": "open"})
    assert refused.status == 403
    # The owner can.
    await sign_in(third, "ada")
    reopened = await third.submit("/source/ada/hello/issues/1", "/source/ada/hello/issues/1/status", {"state": "open"})
    assert reopened.status == 303
    assert (await third.get("/source/ada/hello/issues")).has("1 open")


async def test_bad_issue_input(browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "hello")
    await sign_in(browser, "ada")
    for title, message in (("", "Give the issue a title."), ("x" * 201, "Use 1 to 200 characters")):
        page = await browser.submit("/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": title})
        assert page.status == 422
        assert page.has(message)
    assert (await browser.get("/source/ada/hello/issues?state=bogus")).status == 422
    assert (await browser.get("/source/ada/hello/issues/999")).status == 404
    assert (await browser.get("/source/ada/hello/issues/0")).status == 404
    assert (await browser.get("/source/ada/hello/issues?state=open")).has("No issues here.")
    bad_state = await browser.submit("/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": "T"})
    assert bad_state.status == 303
    page = await browser.submit("/source/ada/hello/issues/1", "/source/ada/hello/issues/1/status", {"state": "gone"})
    assert page.status == 422


async def test_labels_filter_and_only_the_owner_manages_them(
    browser: Browser, other_browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_user("bob")
    await make_git_repo(ada, "hello")
    await sign_in(browser, "ada")
    created = await browser.submit(
        "/source/ada/hello/labels", "/source/ada/hello/labels", {"name": "bug", "color": "#D73A4A"}
    )
    assert created.location == "/source/ada/hello/labels?saved=label-created"
    again = await browser.submit(
        "/source/ada/hello/labels", "/source/ada/hello/labels", {"name": "bug", "color": "#000000"}
    )
    assert again.status == 409
    bad = await browser.submit("/source/ada/hello/labels", "/source/ada/hello/labels", {"name": "x", "color": "red"})
    assert bad.status == 422
    assert bad.has("Use a color such as")
    css = await browser.get("/source/ada/hello/labels.css")
    assert "background: #d73a4a;" in css.text

    await browser.submit(
        "/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": "Labelled", "label": "bug"}
    )
    await browser.submit("/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": "Plain"})
    filtered = await browser.get("/source/ada/hello/issues?label=bug")
    assert filtered.has("Labelled")
    assert not filtered.has("Plain")
    unlabel = await browser.submit("/source/ada/hello/issues/1", "/source/ada/hello/issues/1/labels", {})
    assert unlabel.status == 303
    assert not (await browser.get("/source/ada/hello/issues?label=bug")).has("Labelled")

    # Bob may open issues but not label them or manage labels.
    await sign_in(other_browser, "bob")
    refused = await other_browser.submit(
        "/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": "Mine", "label": "bug"}
    )
    assert refused.status == 422
    assert refused.has("Only the repository's owner labels issues.")
    page = await other_browser.get("/source/ada/hello/labels")
    assert "New label" not in page.text
    label_post = await other_browser.post(
        "/source/ada/hello/labels", {"name": "mine", "color": "#000000", "csrf_token": page.csrf}
    )
    assert label_post.status == 403

    labels = await browser.get("/source/ada/hello/labels")
    delete_path = labels.text.split('href="/source/ada/hello/labels/')[1].split('"')[0]
    confirm = await browser.get(f"/source/ada/hello/labels/{delete_path}")
    assert confirm.has("Delete the label “bug”?")
    deleted = await browser.post(f"/source/ada/hello/labels/{delete_path}", {"csrf_token": confirm.csrf})
    assert deleted.location == "/source/ada/hello/labels?saved=label-deleted"


async def test_private_repo_issues_are_not_found_for_others(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo, services: Services
) -> None:
    ada = await make_user("ada")
    bob = await make_user("bob")
    await make_git_repo(ada, "secret", private=True)
    await sign_in(browser, "bob")
    assert (await browser.get("/source/ada/secret/issues")).status == 404
    assert (await browser.get("/source/ada/secret/issues/new")).status == 404
    headers = await _token(services, bob["id"], "issues:read", "issues:write")
    async with browser.client.get("/api/v1/repos/ada/secret/issues", headers=headers) as response:
        assert response.status == 404
    async with browser.client.post("/api/v1/repos/ada/secret/issues", json={"title": "x"}, headers=headers) as response:
        assert response.status == 404


async def test_json_api(browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo, services: Services) -> None:
    ada = await make_user("ada")
    bob = await make_user("bob")
    await make_git_repo(ada, "hello")
    owner = await _token(services, ada["id"], "issues:read", "issues:write")
    reader = await _token(services, bob["id"], "issues:read")
    writer = await _token(services, bob["id"], "issues:write", "issues:read")
    client = browser.client
    base = "/api/v1/repos/ada/hello"

    async with client.post(f"{base}/labels", json={"name": "bug", "color": "#d73a4a"}, headers=owner) as response:
        assert response.status == 201
    async with client.post(f"{base}/labels", json={"name": "x"}, headers=writer) as response:
        assert response.status == 403
    async with client.post(f"{base}/issues", json={"title": "From the API"}, headers=reader) as response:
        assert response.status == 403
        assert (await response.json())["type"].endswith("/insufficient-scope")
    async with client.post(f"{base}/issues", json={"title": "From the API", "body": "b"}, headers=writer) as response:
        assert response.status == 201
        created = await response.json()
        assert created["number"] == 1
        assert created["state"] == "open"
        assert response.headers["Location"] == f"{base}/issues/1"
    async with client.post(f"{base}/issues", json={"title": "  "}, headers=writer) as response:
        assert response.status == 422
    async with client.post(f"{base}/issues", json={"title": "t", "extra": 1}, headers=writer) as response:
        assert response.status == 422
    async with client.post(f"{base}/issues", data=b"{", headers={**writer, "Content-Type": "application/json"}) as r:
        assert r.status == 400
    async with client.post(f"{base}/issues/1/comments", json={"body": "me too"}, headers=owner) as response:
        assert response.status == 201
    async with client.patch(f"{base}/issues/1", json={"state": "closed", "labels": ["bug"]}, headers=owner) as r:
        assert r.status == 200
        changed = await r.json()
        assert changed["state"] == "closed"
        assert [label["name"] for label in changed["labels"]] == ["bug"]
    # A bad part changes nothing: neither the state nor the title.
    async with client.patch(
        f"{base}/issues/1", json={"state": "open", "title": "New", "labels": ["nope"]}, headers=owner
    ) as r:
        assert r.status == 422
    async with client.patch(f"{base}/issues/1", json={"state": "open", "title": ""}, headers=owner) as r:
        assert r.status == 422
    async with client.patch(f"{base}/issues/1", json={"labels": []}, headers=writer) as r:
        assert r.status == 403
    async with client.get(f"{base}/issues/1", headers=reader) as response:
        issue = await response.json()
        assert issue["state"] == "closed"
        assert issue["title"] == "From the API"
        assert [c["body"] for c in issue["comments"]] == ["me too"]
    async with client.get(f"{base}/issues?state=closed&label=bug", headers=reader) as response:
        assert [i["title"] for i in (await response.json())["issues"]] == ["From the API"]
    async with client.get(f"{base}/issues", headers=reader) as response:
        assert (await response.json())["issues"] == []
    async with client.get(f"{base}/issues/7", headers=reader) as response:
        assert response.status == 404
    async with client.get(f"{base}/issues") as response:
        assert response.status == 401
    async with client.get("/api/v1/repos/ada/none/issues", headers=reader) as response:
        assert response.status == 404


async def test_numbers_are_sequential_under_concurrent_openers(
    make_user: MakeUser, make_git_repo: MakeGitRepo, services: Services
) -> None:
    ada = await make_user("ada")
    repo, _ = await make_git_repo(ada, "hello")
    opened = await asyncio.gather(
        *(issues.open_issue(services, repo, ada["id"], title=f"Issue {n}", body="") for n in range(20))
    )
    assert sorted(i.number for i in opened) == list(range(1, 21))


async def test_the_owner_is_mailed_about_a_new_issue_once(
    make_user: MakeUser, make_git_repo: MakeGitRepo, services: Services, config: Config
) -> None:
    ada = await make_user("ada")
    bob = await make_user("bob")
    repo, _ = await make_git_repo(ada, "hello")
    await issues.open_issue(services, repo, ada["id"], title="By the owner", body="")
    await issues.open_issue(services, repo, bob["id"], title="Please fix", body="Details here")
    assert await run_jobs(services) == 1
    [mail] = read_outbox(config.data_dir / "outbox")
    assert mail["To"] == "ada@example.org"
    assert mail["Subject"] == "[ada/hello] Please fix (#2)"
    assert "/source/ada/hello/issues/2" in mail.get_content()

    await services.pool.execute("UPDATE users SET notify_issues = false WHERE id = $1", ada["id"])
    await issues.open_issue(services, repo, bob["id"], title="Another", body="")
    assert await run_jobs(services) == 1
    assert len(read_outbox(config.data_dir / "outbox")) == 1


async def test_json_api_from_the_signed_in_session_needs_the_csrf_header(
    browser: Browser, make_user: MakeUser, make_git_repo: MakeGitRepo
) -> None:
    ada = await make_user("ada")
    await make_git_repo(ada, "hello")
    await sign_in(browser, "ada")
    base = "/api/v1/repos/ada/hello/issues"
    async with browser.client.post(
        base, json={"title": "No token"}, headers={"Accept": "application/json"}
    ) as response:
        assert response.status == 403
        assert (await response.json())["type"].endswith("/csrf-failed")
    response = await browser.json(base, {"title": "With the header"}, csrf_from="/source/ada/hello/issues/new")
    assert response.status == 201
    async with browser.client.get(base, headers={"Accept": "application/json"}) as listed:
        assert [i["title"] for i in (await listed.json())["issues"]] == ["With the header"]


async def test_the_author_and_the_owner_edit_an_issue_from_its_page(
    browser: Browser,
    other_browser: Browser,
    aiohttp_client: Any,
    make_user: MakeUser,
    make_git_repo: MakeGitRepo,
    services: Services,
) -> None:
    ada = await make_user("ada")
    await make_user("bob")
    await make_user("carol")
    repo, _ = await make_git_repo(ada, "hello", {"a.txt": "a\n"})
    secret, _ = await make_git_repo(ada, "secret", {"a.txt": "a\n"}, private=True)
    await issues.open_issue(services, secret, ada["id"], title="Hidden", body="")
    await sign_in(other_browser, "bob")
    issue_url = "/source/ada/hello/issues/1"
    opened = await other_browser.submit(
        "/source/ada/hello/issues/new", "/source/ada/hello/issues", {"title": "Crash", "body": "old"}
    )
    assert opened.location == issue_url
    assert 'href="/source/ada/hello/issues/1/edit"' in (await other_browser.get(issue_url)).text

    # The author edits; HTML in the body is rendered sanitized.
    form = await other_browser.get(f"{issue_url}/edit")
    assert form.status == 200
    assert form.has("Crash")
    saved = await other_browser.submit(
        f"{issue_url}/edit",
        f"{issue_url}/edit",
        {"title": "Crash on start", "body": "**new** <img src=x onerror=alert(1)>"},
    )
    assert saved.location == f"{issue_url}?saved=edited"
    page = await other_browser.get(saved.location)
    assert page.has("Crash on start")
    assert page.has("The issue was saved.")
    assert "<strong>new</strong>" in page.text
    assert "onerror" not in page.text
    # Bad input changes nothing.
    for values, message in (
        ({"title": "", "body": "x"}, "title"),
        ({"title": "x" * 201, "body": "x"}, "title"),
        ({"title": "ok", "body": "x" * 65_537}, "body"),
    ):
        refused = await other_browser.submit(f"{issue_url}/edit", f"{issue_url}/edit", values)
        assert refused.status == 422, values
        assert 'id="' + message + '-error"' in refused.text
    forged = await other_browser.post(f"{issue_url}/edit", {"title": "Forged", "body": ""})
    assert forged.status == 403
    row = await services.pool.fetchrow("SELECT title, body FROM issues WHERE title LIKE 'Crash%'")
    assert (row["title"], row["body"]) == ("Crash on start", "**new** <img src=x onerror=alert(1)>")

    # The owner edits too.
    await sign_in(browser, "ada")
    owner = await browser.submit(f"{issue_url}/edit", f"{issue_url}/edit", {"title": "Crash at start", "body": "b"})
    assert owner.status == 303
    # Someone else who can read the repo: 403 and no link; on a private repo: 404, as if it did not exist.
    carol = Browser(await aiohttp_client(browser.client.server))
    await sign_in(carol, "carol")
    assert 'issues/1/edit"' not in (await carol.get(issue_url)).text
    assert (await carol.get(f"{issue_url}/edit")).status == 403
    page = await carol.get(issue_url)
    refused = await carol.post(f"{issue_url}/edit", {"title": "Mine now", "body": "", "csrf_token": page.csrf})
    assert refused.status == 403
    assert (await carol.get("/source/ada/secret/issues/1/edit")).status == 404
    assert (await carol.get("/source/ada/hello/issues/99/edit")).status == 404
    signed_out = Browser(await aiohttp_client(browser.client.server))
    assert (await signed_out.get(f"{issue_url}/edit", follow=False)).location.startswith("/login")
    assert await services.pool.fetchval("SELECT title FROM issues WHERE repo_id = $1", repo.id) == "Crash at start"
